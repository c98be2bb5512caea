import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/reviewloop.js');
const cli = (args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, REVIEWLOOP_DEBUG: '' }, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('push-annotations to a round that does not exist', () => {
  let dir: string;
  let cfg: string;
  let file: string;
  const answers = path.join('root', 'p', 'annotations');
  beforeAll(() => {
    expect(existsSync(path.join(ROOT, 'dist/worker/cli/main.js')), 'run `npm run build` first (npm test does)').toBe(true);
    dir = mkdtempSync(path.join(tmpdir(), 'rl-push-round-'));
    cfg = path.join(dir, 'reviewloop.yaml');
    writeFileSync(
      cfg,
      `storage:\n  root: ${path.join(dir, 'root')}\nstats:\n  sink: none\nprojects:\n  - name: p\n    task: textcat\n    labels: [a, b]\n    strategy: { name: entropy, topK: 5 }\n`,
    );
    for (const r of ['20261101T0200Z', '20261108T0200Z', 'relabel-3']) {
      mkdirSync(path.join(dir, 'root', 'p', 'rounds', r), { recursive: true });
      writeFileSync(path.join(dir, 'root', 'p', 'rounds', r, 'manifest.json'), '{}\n');
    }
    file = path.join(dir, 'alice.jsonl');
    writeFileSync(file, `${JSON.stringify({ text: 'x', label: 'a', meta: { id: 'x' }, _input_hash: 1, _task_hash: 2, answer: 'accept' })}\n`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is a usage error (exit 2) naming the nearest rounds; nothing is uploaded', () => {
    const r = cli(['push-annotations', file, '--round', '20261101T0200', '-c', cfg]);
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(/no round 20261101T0200 .*nearest known: 20261101T0200Z, 20261108T0200Z/);
    expect(r.err).toContain('--allow-unknown-round');
    expect(existsSync(path.join(dir, answers))).toBe(false);
  });

  it('uploads with --allow-unknown-round, and to a known round without it', () => {
    const forced = cli(['push-annotations', file, '--round', 'outside-1', '-c', cfg, '--allow-unknown-round']);
    expect(forced.code, forced.err).toBe(0);
    expect(existsSync(path.join(dir, answers, 'outside-1', 'alice.jsonl'))).toBe(true);
    const known = cli(['push-annotations', file, '--round', 'relabel-3', '-c', cfg]);
    expect(known.code, known.err).toBe(0);
    expect(existsSync(path.join(dir, answers, 'relabel-3', 'alice.jsonl'))).toBe(true);
  });
});
