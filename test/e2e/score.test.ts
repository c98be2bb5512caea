import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'reviewloop.js');
const LABELS = 'billing,shipping,other';
const dir = mkdtempSync(join(tmpdir(), 'rl-score-'));

function cli(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, input, encoding: 'utf8', env: { ...process.env, METADATA_SERVER_DETECTION: 'none' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const base = ['--task', 'textcat', '--strategy', 'margin', '--labels', LABELS, '--top', '40', '--audit', '0.25', '--seed', 'r1'];

/** ~160 KB over three files so 64 KiB chunks split it across threads; a few bad lines in b.jsonl. */
beforeAll(() => {
  let s = 11;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  mkdirSync(join(dir, 'in', 'sub'), { recursive: true });
  const files = ['in/a.jsonl', 'in/sub/b.jsonl', 'in/c.jsonl'];
  let n = 0;
  for (const f of files) {
    const lines: string[] = [];
    for (let i = 0; i < 600; i++, n++) {
      const e = [rnd(), rnd(), rnd()];
      const t = e[0] + e[1] + e[2];
      lines.push(
        JSON.stringify({
          id: `x${n}`,
          text: `some text number ${n} padded ${'.'.repeat(Math.floor(rnd() * 60))}`,
          probs: { billing: e[0] / t, shipping: e[1] / t, other: e[2] / t },
        }),
      );
    }
    if (f === 'in/sub/b.jsonl') {
      lines[4] = '{"id": "bad-json", ';
      lines[9] = JSON.stringify({ id: 'neg', text: 't', probs: { billing: -0.2, shipping: 0.6, other: 0.6 } });
      lines[14] = JSON.stringify({ text: 'no id', probs: { billing: 1, shipping: 0, other: 0 } });
    }
    writeFileSync(join(dir, f), `${lines.join('\n')}\n`);
  }
  writeFileSync(join(dir, 'in', '_SUCCESS'), '');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('reviewloop score', () => {
  it('prints the selection in rank order, audit items with p, the same whatever the thread count', () => {
    const one = cli(['score', 'in', ...base, '--threads', '1', '--chunk-bytes', '65536']);
    expect(one.err).toContain('scored 1797 of 1800 records from 3 input(s): 3 rejected');
    expect(one.code).toBe(0);
    const lines = one.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(40);
    expect(lines.map((l) => l.rank)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const audit = lines.filter((l) => l.audit);
    expect(audit).toHaveLength(10);
    for (const a of audit) expect(Object.keys(a)).toEqual(['id', 'score', 'rank', 'audit', 'p']);
    expect(audit[0].p).toBeCloseTo(10 / 1797, 12);
    const ranked = lines.filter((l) => !l.audit);
    for (const r of ranked) expect(Object.keys(r)).toEqual(['id', 'score', 'rank', 'audit']);
    for (let i = 1; i < ranked.length; i++) expect(ranked[i - 1].score).toBeGreaterThanOrEqual(ranked[i].score);

    const two = cli(['score', 'in', ...base, '--threads', '2', '--chunk-bytes', '65536']);
    expect(two.code).toBe(0);
    expect(two.out).toBe(one.out);
    // A glob over the same files in the same order is the same run.
    expect(cli(['score', 'in/**/*.jsonl', ...base, '--threads', '2']).out).toBe(one.out);
  });

  it('shards + reduce give exactly the unsharded output; reduce names missing shards', () => {
    const whole = cli(['score', 'in', ...base, '--out', 'whole.jsonl']);
    expect(whole.code).toBe(0);
    for (const i of [0, 1]) expect(cli(['score', 'in', ...base, '--shard', `${i}/2`, '--out', `part${i}.json`]).code).toBe(0);
    const p0 = JSON.parse(readFileSync(join(dir, 'part0.json'), 'utf8'));
    const p1 = JSON.parse(readFileSync(join(dir, 'part1.json'), 'utf8'));
    expect([...p0.inputs, ...p1.inputs].sort()).toEqual(['in/a.jsonl', 'in/c.jsonl', 'in/sub/b.jsonl']);
    expect(p0.inputsHash).toBe(p1.inputsHash);
    expect(p0.population + p1.population).toBe(1797);

    const red = cli(['reduce', 'part1.json', 'part0.json', '--top', '40', '--audit', '0.25', '--out', 'reduced.jsonl']);
    expect(red.code).toBe(0);
    expect(readFileSync(join(dir, 'reduced.jsonl'), 'utf8')).toBe(readFileSync(join(dir, 'whole.jsonl'), 'utf8'));

    const missing = cli(['reduce', 'part0.json', '--top', '40']);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/SHARDS_MISSING: .*shard 1\/2 missing/);
    expect(cli(['reduce', 'part0.json', 'part1.json', '--top', '41']).code).toBe(2);
  });

  it('writes rejects with object, line and reason', () => {
    const r = cli(['score', 'in/sub/b.jsonl', ...base, '--rejects', 'rejects.jsonl']);
    expect(r.code).toBe(0);
    const rejects = readFileSync(join(dir, 'rejects.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rejects.map((x) => [x.object, x.line, x.field ?? null])).toEqual([
      ['in/sub/b.jsonl', 5, null],
      ['in/sub/b.jsonl', 10, 'probs.billing'],
      ['in/sub/b.jsonl', 15, 'id'],
    ]);
    expect(rejects[0].reason).toMatch(/malformed JSON/);
    expect(rejects[1].reason).toMatch(/negative/);
  });

  it('reads stdin and says what is wrong with bad usage', () => {
    const file = cli(['score', 'in/a.jsonl', ...base]);
    const stdin = cli(['score', '-', ...base], readFileSync(join(dir, 'in', 'a.jsonl'), 'utf8'));
    expect(stdin.code).toBe(0);
    expect(stdin.out).toBe(file.out);
    expect(stdin.out.split('\n').length).toBe(41);
    const noLabels = cli(['score', 'in', '--task', 'textcat', '--strategy', 'margin']);
    expect(noLabels.code).toBe(2);
    expect(noLabels.err).toMatch(/--labels/);
    const nothing = cli(['score', 'nope/*.jsonl', ...base]);
    expect(nothing.code).toBe(1);
    expect(nothing.err).toMatch(/matches no files/);
    // A .jsonl argument starts the pool before the command is parsed: bad usage and a missing file still end in errors.
    for (const args of [
      ['score', 'in/a.jsonl', '--task', 'nope', '--strategy', 'margin', '--labels', LABELS],
      ['score', 'in/a.jsonl', ...base, '--bogus'],
      ['score', 'missing.jsonl', ...base],
    ]) {
      const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
      expect(r.signal, args.join(' ')).toBeNull();
      expect(r.status, args.join(' ')).not.toBe(0);
    }
    // The early pool is used with the thread count asked for, and the output does not depend on it.
    expect(cli(['score', 'in/a.jsonl', ...base, '--threads', '1']).out).toBe(file.out);
    expect(cli(['score', 'in/a.jsonl', ...base, '--threads=3']).out).toBe(file.out);
  });
});
