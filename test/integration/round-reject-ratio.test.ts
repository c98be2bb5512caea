import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { projectStore } from '../../worker/store/open-store.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { runRound } from '../../worker/round/round.js';
import { writeOnce } from '../../worker/store/write-once.js';

const root = mkdtempSync(path.join(tmpdir(), 'rl-ratio-'));
const pool = new ScoringPool({ threads: 2 });
afterAll(async () => {
  await pool.close();
  rmSync(root, { recursive: true, force: true });
});

const good = (i: number) => JSON.stringify({ id: `g${i}`, text: `t ${i}`, probs: { a: 0.2 + (i % 7) * 0.1, b: 0.8 - (i % 7) * 0.1 } });

describe('an object of mostly invalid records', () => {
  it('is set aside whole with its counts; the round goes on over the rest, and the next round is not blocked', async () => {
    const config = parseConfig({
      storage: { root },
      stats: { sink: 'none' },
      projects: [{ name: 'p', task: 'textcat', labels: ['a', 'b'], strategy: { name: 'entropy', topK: 10, auditFraction: 0, seed: 1, maxRejectRatio: 0.2 } }],
    });
    const project = config.projects[0];
    const store = projectStore(new LocalStore(root), 'p');
    // A binary dump named .jsonl (60 lines of garbage) beside 100 good records with one bad line among them.
    const garbage = Array.from({ length: 60 }, (_, i) => `\u0001\u0002garbage ${i} \u00ff`).join('\n') + '\n';
    await writeOnce(store, 'predictions/a-good.jsonl', [...Array.from({ length: 100 }, (_, i) => good(i)), '{"id": "cut'].join('\n') + '\n');
    await writeOnce(store, 'predictions/b-dump.jsonl', garbage);
    const r = await runRound({ project, store, pool, sink: null, roundId: '20261101T0200Z', chunkBytes: 1024 });
    expect(r.manifest.counts).toMatchObject({ read: 101, scored: 100, rejected: 1, queued: 10, quarantinedObjects: 1 });
    expect(r.manifest.quarantined).toEqual([expect.objectContaining({ name: 'predictions/b-dump.jsonl', code: 'REJECTS_OVER_RATIO', line: 0 })]);
    expect(r.manifest.consumed.map((o) => o.name)).toEqual(['predictions/a-good.jsonl', 'predictions/b-dump.jsonl']);
    const rejects = (await store.read('rounds/20261101T0200Z/rejects.jsonl'))
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { object: string; line: number; code?: string; reason: string });
    expect(rejects.map((x) => [path.basename(x.object), x.line, x.code ?? null])).toEqual([
      ['a-good.jsonl', 101, null],
      ['b-dump.jsonl', 0, 'REJECTS_OVER_RATIO'],
    ]);
    expect(rejects[1].reason).toMatch(/^60 of 60 records invalid/);
    // The next round is not held back by it.
    await writeOnce(store, 'predictions/c-more.jsonl', Array.from({ length: 20 }, (_, i) => good(200 + i)).join('\n') + '\n');
    const r2 = await runRound({ project, store, pool, sink: null, roundId: '20261102T0200Z', chunkBytes: 1024 });
    expect(r2.manifest.counts).toMatchObject({ read: 20, scored: 20, rejected: 0, queued: 10 });
  });
});
