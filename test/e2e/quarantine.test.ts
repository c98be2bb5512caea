import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/reviewloop.js');

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, REVIEWLOOP_DEBUG: '' }, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const records = (tag: string, n: number) =>
  Array.from({ length: n }, (_, i) => JSON.stringify({ id: `${tag}-${i}`, text: `${tag} ${i}`, probs: { a: (i % 10) / 10, b: 1 - (i % 10) / 10 } })).join(
    '\n',
  ) + '\n';

describe('a round with an unreadable prediction object, as a user runs it', () => {
  let dir: string;
  let cfg: string;
  beforeAll(() => {
    expect(existsSync(path.join(ROOT, 'dist/worker/cli/main.js')), 'run `npm run build` first (npm test does)').toBe(true);
    dir = mkdtempSync(path.join(tmpdir(), 'rl-quarantine-e2e-'));
    const preds = path.join(dir, 'data/p/predictions');
    mkdirSync(preds, { recursive: true });
    writeFileSync(path.join(preds, 'good.jsonl'), records('g', 20));
    const gz = gzipSync(Buffer.from(records('t', 2000)));
    writeFileSync(path.join(preds, 'truncated.jsonl.gz'), gz.subarray(0, gz.length - 200));
    cfg = path.join(dir, 'reviewloop.yaml');
    writeFileSync(
      cfg,
      [
        `storage: { root: ${JSON.stringify(path.join(dir, 'data'))} }`,
        'stats: { sink: none }',
        'worker: { threads: 1, httpPort: 0 }',
        'projects:',
        '  - { name: p, task: textcat, labels: [a, b], strategy: { name: margin, topK: 5 } }',
        '',
      ].join('\n'),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('round exits 0, names the quarantined object, and status lists it', () => {
    const round = cli(['round', '-c', cfg, '--round', '20261101T0200Z']);
    expect(round.code, round.err).toBe(0);
    expect(round.err).toMatch(/1 object\(s\) could not be read and were quarantined/);
    expect(round.err).toMatch(/truncated\.jsonl\.gz \(GZIP_TRUNCATED, line \d+\)/);
    const status = JSON.parse(cli(['status', '-c', cfg, '--json']).out) as {
      projects: Array<{ rounds: Array<{ quarantinedObjects: number }>; quarantined: Array<{ object: string; code: string; line: number }> }>;
    };
    const p = status.projects[0];
    expect(p.rounds[0].quarantinedObjects).toBe(1);
    expect(p.quarantined).toHaveLength(1);
    expect(p.quarantined[0]).toMatchObject({ object: expect.stringMatching(/truncated\.jsonl\.gz$/), code: 'GZIP_TRUNCATED' });
    expect(p.quarantined[0].line).toBeGreaterThan(1);
    const text = cli(['status', '-c', cfg]);
    expect(text.out).toMatch(/quarantined objects: 1/);
    // The next round does not retry it.
    const next = cli(['round', '-c', cfg, '--round', '20261108T0200Z']);
    expect(next.code, next.err).toBe(0);
    expect(next.err).not.toMatch(/could not be read/);
    expect(next.out).toMatch(/0 queued/);
  });
});
