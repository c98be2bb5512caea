/**
 * Two `reviewloop round` processes with different round ids started at once
 * on one root: every prediction object is consumed by exactly one of them.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/reviewloop.js');
const OBJECTS = 40;

function cli(args: string[]): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, REVIEWLOOP_DEBUG: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('close', (code) => resolve({ code, err }));
  });
}

describe('two round processes with different ids on one root', () => {
  let dir: string;
  let cfg: string;
  beforeAll(() => {
    expect(existsSync(path.join(ROOT, 'dist/worker/cli/main.js')), 'run `npm run build` first (npm test does)').toBe(true);
    dir = mkdtempSync(path.join(tmpdir(), 'rl-round-race-'));
    cfg = path.join(dir, 'reviewloop.yaml');
    writeFileSync(
      cfg,
      `storage:\n  root: ${path.join(dir, 'root')}\nstats:\n  sink: none\nworker:\n  threads: 1\nprojects:\n  - name: p\n    task: textcat\n    labels: [a, b]\n    strategy: { name: margin, topK: 100000, auditFraction: 0 }\n`,
    );
    for (let o = 0; o < OBJECTS; o++) {
      const folder = path.join(dir, 'root', 'p', 'predictions', `f${o % 4}`);
      mkdirSync(folder, { recursive: true });
      const lines = [0, 1, 2].map((i) => JSON.stringify({ id: `o${o}-${i}`, text: 't', probs: { a: 0.3 + i / 10, b: 0.7 - i / 10 } }));
      writeFileSync(path.join(folder, `part-${String(o).padStart(3, '0')}.jsonl`), `${lines.join('\n')}\n`);
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('consume disjoint sets whose union is every object, and queue each item once', async () => {
    const ids = ['20261101T0200Z', 'manual-1'];
    const runs = await Promise.all(ids.map((id) => cli(['round', '-c', cfg, '--round', id])));
    for (const r of runs) expect(r.code, r.err).toBe(0);
    const manifest = (id: string) =>
      JSON.parse(readFileSync(path.join(dir, 'root', 'p', 'rounds', id, 'manifest.json'), 'utf8')) as {
        consumed: Array<{ name: string }>;
        counts: { queued: number };
      };
    const consumed = ids.flatMap((id) => manifest(id).consumed.map((c) => c.name));
    expect(consumed).toHaveLength(OBJECTS);
    expect(new Set(consumed).size).toBe(OBJECTS);
    expect(ids.reduce((n, id) => n + manifest(id).counts.queued, 0)).toBe(OBJECTS * 3);
  });
});
