/**
 * A merge that dies after moving LATEST but before its stats reach the sink:
 * the next merge run (even one with nothing new) writes them, exactly once.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import { ReviewloopError, isReviewloopError } from '../../domain/errors.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { runMerge } from '../../worker/merge/merge.js';
import { PrefixedStore } from '../../worker/store/open-store.js';
import { readLatest } from '../../worker/snapshot/snapshot.js';
import type { StatsSink } from '../../worker/stats/sinks/sink.js';
import type { Rows } from '../../domain/quality/tables.js';
import type { ObjectStore } from '../../worker/store/store.js';
import { duckdbSink, tempDir } from '../helpers/loop.js';

const project = parseConfig({
  storage: { root: '/unused' },
  stats: { sink: 'none' },
  projects: [{ name: 'p', task: 'textcat', labels: ['a', 'b'], strategy: { name: 'margin', topK: 10 } }],
}).projects[0];
const answer = (id: string, label: string, t: number) =>
  `${JSON.stringify({ text: id, meta: { id }, _input_hash: id.length, _task_hash: 7, answer: 'accept', accept: [label], _view_id: 'choice', _annotator_id: 'p-ann', _timestamp: t })}\n`;

/** Idempotent per batch id, like the real sinks; `failNext` makes the next write die as a killed process would. */
class RecordingSink implements StatsSink {
  batches = new Map<string, Rows>();
  written: string[] = [];
  failNext = false;
  async write(batchId: string, rows: Rows): Promise<{ written: boolean }> {
    if (this.failNext) {
      this.failNext = false;
      throw new ReviewloopError('STATS_FAILED', 'simulated kill before the stats were written');
    }
    if (this.batches.has(batchId)) return { written: false };
    this.batches.set(batchId, rows);
    this.written.push(batchId);
    return { written: true };
  }
  query(): Promise<never> {
    throw new Error('not used');
  }
  async close(): Promise<void> {}
}

describe('stats of a snapshot whose merge stopped before writing them', () => {
  let dir: string;
  const open = (name: string): ObjectStore => new PrefixedStore(new LocalStore(path.join(dir, name)), 'p');
  beforeAll(() => {
    dir = tempDir('merge-stats');
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('are written by the next run with nothing new, once, with the rows an uninterrupted merge writes', async () => {
    const store = open('killed');
    const sink = new RecordingSink();
    await store.write('annotations/r1/a.jsonl', answer('i1', 'a', 1_800_000_000) + answer('i2', 'b', 1_800_000_100));
    sink.failNext = true;
    const err = await runMerge({ project, store, sink }).catch((e: unknown) => e);
    expect(isReviewloopError(err, 'STATS_FAILED')).toBe(true);
    expect((await readLatest(store))?.pointer.version).toBe(1);
    expect(sink.written).toEqual([]);

    const again = await runMerge({ project, store, sink });
    expect(again.status).toBe('nothing-new');
    expect(sink.written).toEqual(['merge:p:v000001']);
    expect((await runMerge({ project, store, sink })).status).toBe('nothing-new');
    expect(sink.written).toEqual(['merge:p:v000001']);

    // A merge that was never interrupted writes the same rows.
    const clean = open('clean');
    const cleanSink = new RecordingSink();
    await clean.write('annotations/r1/a.jsonl', answer('i1', 'a', 1_800_000_000) + answer('i2', 'b', 1_800_000_100));
    await runMerge({ project, store: clean, sink: cleanSink });
    expect(sink.batches.get('merge:p:v000001')).toEqual(cleanSink.batches.get('merge:p:v000001'));
  });

  it('a sink still down does not hold back the next snapshot; its stats come once the sink answers', async () => {
    const store = open('down');
    const sink = new RecordingSink();
    await store.write('annotations/r1/a.jsonl', answer('i1', 'a', 1_800_000_000));
    sink.failNext = true;
    await expect(runMerge({ project, store, sink })).rejects.toMatchObject({ code: 'STATS_FAILED' });
    // Down again for the recovery of v1: v2 is still committed and its stats written.
    await store.write('annotations/r1/b.jsonl', answer('i2', 'b', 1_800_000_100));
    sink.failNext = true;
    expect((await runMerge({ project, store, sink })).version).toBe(2);
    expect(sink.written).toEqual(['merge:p:v000002']);
    await runMerge({ project, store, sink });
    expect(sink.written).toEqual(['merge:p:v000002', 'merge:p:v000001']);
  });

  it('a snapshot missed between two later ones is found by its missing marker; DuckDB holds each batch once', async () => {
    const store = open('middle');
    const sink = new RecordingSink();
    await store.write('annotations/r1/a.jsonl', answer('i1', 'a', 1_800_000_000));
    await runMerge({ project, store, sink });
    await store.write('annotations/r1/b.jsonl', answer('i2', 'a', 1_800_000_200));
    sink.failNext = true;
    await expect(runMerge({ project, store, sink })).rejects.toMatchObject({ code: 'STATS_FAILED' });
    // The next run has something new: it writes v2's missing stats first, then v3's.
    await store.write('annotations/r1/c.jsonl', answer('i3', 'b', 1_800_000_300));
    const m3 = await runMerge({ project, store, sink });
    expect(m3.version).toBe(3);
    expect(sink.written).toEqual(['merge:p:v000001', 'merge:p:v000002', 'merge:p:v000003']);

    // The same recovery against the real DuckDB sink (markers lost: every version is looked at again),
    // then without the floor either (markers just switched on: only the newest); reruns add no rows.
    const db = await duckdbSink(path.join(dir, 'middle'));
    try {
      for (const v of [1, 2, 3]) await store.delete(`state/stats/v00000${v}`);
      await runMerge({ project, store, sink: db });
      await runMerge({ project, store, sink: db });
      for (const n of ['v000001', 'v000002', 'v000003', 'from']) await store.delete(`state/stats/${n}`);
      await runMerge({ project, store, sink: db });
      expect(JSON.parse((await store.read('state/stats/from')).toString())).toEqual({ version: 2 });
      const rows = await db.query(
        "SELECT snapshot_version, COUNT(*) AS n FROM snapshots WHERE project = 'p' GROUP BY snapshot_version ORDER BY snapshot_version",
      );
      expect(rows).toEqual([
        { snapshot_version: 1, n: 1 },
        { snapshot_version: 2, n: 1 },
        { snapshot_version: 3, n: 1 },
      ]);
    } finally {
      await db.close();
    }
  });
});
