import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { projectStore } from '../../worker/store/open-store.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { runRound } from '../../worker/round/round.js';
import { writeOnce } from '../../worker/store/write-once.js';

const LABELS = ['a', 'b', 'c'];
const root = mkdtempSync(path.join(tmpdir(), 'rl-dups-'));
const pool = new ScoringPool({ threads: 2 });
afterAll(async () => {
  await pool.close();
  rmSync(root, { recursive: true, force: true });
});

const line = (id: string, p: number[]) => JSON.stringify({ id, text: `t ${id}`, probs: { a: p[0], b: p[1], c: p[2] }, model: 'm1' });

describe('duplicated ids in a round input', () => {
  it('take one queue place, and every other copy is a reject line naming the queued one', async () => {
    const config = parseConfig({
      storage: { root },
      stats: { sink: 'none' },
      projects: [{ name: 'p', task: 'textcat', labels: LABELS, strategy: { name: 'entropy', topK: 5, auditFraction: 0, seed: 1 } }],
    });
    const store = projectStore(new LocalStore(root), 'p');
    // Ten copies of the most uncertain item: six in a plain file, four in a gzip file (so they meet in different tasks).
    const others = Array.from({ length: 20 }, (_, i) => line(`o${i}`, [0.5 + i * 0.02, 0.3 - i * 0.01, 0.2 - i * 0.01]));
    const dup = line('dup', [0.34, 0.33, 0.33]);
    await writeOnce(store, 'predictions/a.jsonl', [...others.slice(0, 10), dup, dup, dup, dup, dup, dup].join('\n') + '\n');
    await writeOnce(store, 'predictions/b.jsonl.gz', gzipSync(Buffer.from([dup, ...others.slice(10), dup, dup, dup].join('\n') + '\n')));
    const r = await runRound({ project: config.projects[0], store, pool, sink: null, roundId: '20261101T0200Z', chunkBytes: 1024 });
    const queue = (await store.read('rounds/20261101T0200Z/queue.jsonl'))
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l).meta.id as string);
    expect(queue).toHaveLength(5);
    expect(new Set(queue).size).toBe(5);
    expect(queue[0]).toBe('dup');
    const rejects = (await store.read('rounds/20261101T0200Z/rejects.jsonl'))
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { object: string; line: number; field: string; id: string; reason: string });
    expect(rejects).toHaveLength(9);
    expect(rejects.every((x) => x.field === 'id' && x.id === 'dup' && x.reason.includes(`${store.uri('predictions/a.jsonl')}#L11`))).toBe(true);
    expect(rejects.map((x) => `${path.basename(x.object)}:${x.line}`)).toEqual([
      'a.jsonl:12',
      'a.jsonl:13',
      'a.jsonl:14',
      'a.jsonl:15',
      'a.jsonl:16',
      'b.jsonl.gz:1',
      'b.jsonl.gz:12',
      'b.jsonl.gz:13',
      'b.jsonl.gz:14',
    ]);
    expect(r.manifest.counts).toMatchObject({ queued: 5, duplicates: 9, rejected: 0 });
  });
});
