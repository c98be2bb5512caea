import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import { GcsStore } from '../../worker/store/gcs-store.js';
import { runMerge } from '../../worker/merge/merge.js';
import { PrefixedStore } from '../../worker/store/open-store.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { runRound } from '../../worker/round/round.js';
import type { ListOptions, ObjectInfo } from '../../worker/store/store.js';
import { jsonLines } from '../../worker/store/write-once.js';
import { gcsEndpoint } from '../helpers/emulators.js';
import { makeTestBucket, type TestBucket } from '../helpers/gcs.js';

/** Counts list calls and listed objects per top-level folder of the names listed. */
class CountingStore extends PrefixedStore {
  calls = new Map<string, number>();
  listed = new Map<string, number>();
  override async *list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
    const key = prefix.split('/')[0];
    this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
    for await (const o of super.list(prefix, options)) {
      this.listed.set(key, (this.listed.get(key) ?? 0) + 1);
      yield o;
    }
  }
  take(key: string): { calls: number; listed: number } {
    const r = { calls: this.calls.get(key) ?? 0, listed: this.listed.get(key) ?? 0 };
    this.calls.delete(key);
    this.listed.delete(key);
    return r;
  }
}

const config = (mode: 'incremental' | 'full') =>
  parseConfig({
    storage: { root: 'gs://unused' },
    stats: { sink: 'none' },
    projects: [
      {
        name: mode,
        task: 'textcat',
        labels: ['a', 'b'],
        strategy: { name: 'margin', topK: 2 },
        predictions: { listing: { mode, fullRescanEvery: 4 } },
        merge: { listing: { mode, fullRescanEvery: 4 } },
      },
    ],
  }).projects[0];

const batch = (tag: string, n = 3) =>
  jsonLines(Array.from({ length: n }, (_, i) => ({ id: `${tag}-${i}`, text: tag, probs: { a: 0.3 + i / 10, b: 0.7 - i / 10 } })));
const answer = (id: string) =>
  JSON.stringify({ text: id, meta: { id }, _input_hash: id.length, _task_hash: 7, answer: 'accept', accept: ['a'], _view_id: 'choice', _annotator_id: 'ann' });

describe('incremental listing on fake-gcs-server: cost grows with new objects, not history', () => {
  let bucket: TestBucket;
  let pool: ScoringPool;
  const open = (mode: string) => new CountingStore(new GcsStore(`gs://${bucket.name}/root`, { apiEndpoint: gcsEndpoint() }), mode);

  beforeAll(async () => {
    bucket = await makeTestBucket('listing');
    pool = new ScoringPool({ threads: 1 });
  });
  afterAll(async () => {
    await pool?.close();
    await bucket?.cleanup();
  });

  /** Seven rounds, one new folder of `sizes[i]` objects each; a late shard and an overwrite along the way. */
  async function rounds(mode: 'incremental' | 'full') {
    const store = open(mode);
    const project = config(mode);
    const sizes = [3, 3, 3, 3, 3, 6, 1];
    const out: Array<{ listed: number; calls: number; consumed: string[] }> = [];
    for (let i = 0; i < sizes.length; i++) {
      for (let k = 0; k < sizes[i]; k++) await store.write(`predictions/b${i}/part-${k}.jsonl`, batch(`b${i}p${k}`));
      if (i === 2) await store.write('predictions/b0/part-0.jsonl', batch('b0p0-v2')); // a pipeline rewrites an old object
      if (i === 3) await store.write('predictions/b2/part-late.jsonl', batch('b2-late')); // a shard of the newest folder lands late
      store.take('predictions');
      const r = await runRound({ project, store, pool, sink: null, roundId: `2026110${i + 1}T0200Z`, chunkBytes: 64 * 1024 });
      out.push({ ...store.take('predictions'), consumed: r.manifest.consumed.map((c) => c.name.slice('predictions/'.length)) });
    }
    return out;
  }

  it('rounds: list the newest folder and what follows; a full rescan every 4th round picks up rewrites', async () => {
    const inc = await rounds('incremental');
    const full = await rounds('full');
    // Objects listed per round. Full: the whole history. Incremental: newest folder + new ones (round 4 is a full rescan).
    expect(full.map((r) => r.listed)).toEqual([3, 6, 9, 13, 16, 22, 23]);
    expect(inc.map((r) => r.listed)).toEqual([3, 6, 6, 7, 16, 9, 7]);
    expect(inc.every((r) => r.calls === 1)).toBe(true);
    // Both consume the same objects in total, each (name, generation) once; the overwrite waits for the full rescan when incremental.
    expect(full[2].consumed).toEqual(['b0/part-0.jsonl', 'b2/part-0.jsonl', 'b2/part-1.jsonl', 'b2/part-2.jsonl']);
    expect(inc[2].consumed).toEqual(['b2/part-0.jsonl', 'b2/part-1.jsonl', 'b2/part-2.jsonl']);
    expect(inc[3].consumed).toEqual(['b2/part-late.jsonl', 'b3/part-0.jsonl', 'b3/part-1.jsonl', 'b3/part-2.jsonl']);
    expect(inc[4].consumed).toEqual(['b0/part-0.jsonl', 'b4/part-0.jsonl', 'b4/part-1.jsonl', 'b4/part-2.jsonl']);
    expect(inc.flatMap((r) => r.consumed).sort()).toEqual(full.flatMap((r) => r.consumed).sort());
    const plan = JSON.parse((await open('incremental').read('rounds/20261106T0200Z/plan.json')).toString());
    expect(plan.listedFrom).toBe('predictions/b4/');
  });

  it('merges: re-exports of the newest folder are seen at once, older ones at the full rescan', async () => {
    const listed: number[] = [];
    const counts: number[] = [];
    const store = open('merges');
    const project = { ...config('incremental'), name: 'merges' };
    for (let i = 0; i < 6; i++) {
      await store.write(`annotations/e${i}/ann.jsonl`, `${answer(`e${i}-x`)}\n`);
      if (i === 2) await store.write('annotations/e1/ann.jsonl', `${answer('e1-x')}\n${answer('e1-re')}\n`); // re-export of the newest folder
      if (i === 3) await store.write('annotations/e0/ann.jsonl', `${answer('e0-x')}\n${answer('e0-re')}\n`); // re-export of an old folder
      store.take('annotations');
      const m = await runMerge({ project, store, sink: null });
      listed.push(store.take('annotations').listed);
      counts.push(m.manifest!.counts.answers);
    }
    expect(listed).toEqual([1, 2, 2, 2, 5, 2]);
    // Merge 2 takes e2 and the e1 re-export's new line; merge 4 (full rescan) takes e4 and the old e0 re-export's new line.
    expect(counts).toEqual([1, 1, 2, 1, 2, 1]);
  });
});
