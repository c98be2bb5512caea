/**
 * Nothing stranded by listing: an object under the prefix is read by the next
 * run wherever its name sorts (before, at and after the newest consumed
 * folder, a rewrite of an old object, a mistyped folder), on a local root and
 * on fake-gcs-server. With `listing: incremental` (opt-in), the same objects
 * are read within `fullRescanEvery` runs, and at once when a run finds nothing.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import { GcsStore } from '../../worker/store/gcs-store.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { runMerge } from '../../worker/merge/merge.js';
import { PrefixedStore } from '../../worker/store/open-store.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { runRound } from '../../worker/round/round.js';
import type { ObjectStore } from '../../worker/store/store.js';
import { jsonLines } from '../../worker/store/write-once.js';
import { gcsEndpoint } from '../helpers/emulators.js';
import { makeTestBucket, type TestBucket } from '../helpers/gcs.js';
import { tempDir } from '../helpers/loop.js';

const projectOf = (over: Record<string, unknown>) =>
  parseConfig({
    storage: { root: '/unused' },
    stats: { sink: 'none' },
    projects: [{ name: 'p', task: 'textcat', labels: ['a', 'b'], strategy: { name: 'margin', topK: 1000, auditFraction: 0, seed: 1 }, ...over }],
  }).projects[0];
const batch = (tag: string) => jsonLines([0, 1].map((i) => ({ id: `${tag}-${i}`, text: tag, probs: { a: 0.4 + i / 10, b: 0.6 - i / 10 } })));
const answer = (id: string) =>
  `${JSON.stringify({ text: id, meta: { id }, _input_hash: id.length, _task_hash: 7, answer: 'accept', accept: ['a'], _view_id: 'choice', _annotator_id: 'p-ann' })}\n`;
const rel = (prefix: string, names: Array<{ name: string }>) => names.map((c) => c.name.slice(prefix.length)).sort();

function suite(label: string, open: (name: string) => ObjectStore) {
  describe(`listing on ${label}`, () => {
    let pool: ScoringPool;
    beforeAll(() => {
      pool = new ScoringPool({ threads: 1 });
    });
    afterAll(async () => {
      await pool?.close();
    });

    it('rounds (default listing) read objects before, at and after the newest folder, and rewrites', async () => {
      const store = open('rounds');
      const project = projectOf({});
      await store.write('predictions/line-3/a.jsonl', batch('a'));
      const r1 = await runRound({ project, store, pool, sink: null, roundId: 'r1', chunkBytes: 4096 });
      expect(rel('predictions/', r1.manifest.consumed)).toEqual(['line-3/a.jsonl']);
      await store.write('predictions/line-1/before.jsonl', batch('before'));
      await store.write('predictions/line-3/at.jsonl', batch('at'));
      await store.write('predictions/line-4/after.jsonl', batch('after'));
      await store.write('predictions/line-3/a.jsonl', batch('a2'));
      const r2 = await runRound({ project, store, pool, sink: null, roundId: 'r2', chunkBytes: 4096 });
      expect(rel('predictions/', r2.manifest.consumed)).toEqual(['line-1/before.jsonl', 'line-3/a.jsonl', 'line-3/at.jsonl', 'line-4/after.jsonl']);
    });

    it('raw rounds (cold start) read a folder uploaded late that sorts before the newest one', async () => {
      const store = open('raw');
      const project = projectOf({ predictions: { prefix: 'raw/', format: 'objects', include: '**/*.txt' }, strategy: { name: 'random', topK: 100, seed: 1 } });
      await store.write('raw/line-3/x.txt', 'three\n');
      const r1 = await runRound({ project, store, pool, sink: null, roundId: 'r1', chunkBytes: 4096 });
      expect(rel('raw/', r1.manifest.consumed)).toEqual(['line-3/x.txt']);
      await store.write('raw/line-1/y.txt', 'one\n');
      const r2 = await runRound({ project, store, pool, sink: null, roundId: 'r2', chunkBytes: 4096 });
      expect(rel('raw/', r2.manifest.consumed)).toEqual(['line-1/y.txt']);
    });

    it('merges (default listing) read exports in older round folders after one in a mistyped folder', async () => {
      const store = open('merges');
      const project = projectOf({});
      await store.write('annotations/20261108T0200Z/ann.jsonl', answer('x1'));
      await store.write('annotations/zz-typo/ann.jsonl', answer('x2'));
      expect(rel('annotations/', (await runMerge({ project, store, sink: null })).manifest!.consumed)).toEqual([
        '20261108T0200Z/ann.jsonl',
        'zz-typo/ann.jsonl',
      ]);
      await store.write('annotations/20261101T0200Z/late.jsonl', answer('x3'));
      await store.write('annotations/20261108T0200Z/ann.jsonl', answer('x1') + answer('x4'));
      const m2 = await runMerge({ project, store, sink: null });
      expect(rel('annotations/', m2.manifest!.consumed)).toEqual(['20261101T0200Z/late.jsonl', '20261108T0200Z/ann.jsonl']);
      expect(m2.manifest!.counts.answers).toBe(2);
      expect((await runMerge({ project, store, sink: null })).status).toBe('nothing-new');
    });

    it('incremental listing (opt-in): a run that finds nothing lists everything; otherwise a full rescan within fullRescanEvery runs', async () => {
      const store = open('incremental');
      const project = projectOf({ merge: { listing: { mode: 'incremental', fullRescanEvery: 3 } } });
      // Merge 1 (full: no history) consumes the mistyped folder, which becomes the watermark.
      await store.write('annotations/zz-typo/ann.jsonl', answer('t0'));
      await runMerge({ project, store, sink: null });
      // Below the watermark only: the incremental listing finds nothing, so merge 2 lists everything.
      await store.write('annotations/20261101T0200Z/a.jsonl', answer('t1'));
      const m2 = await runMerge({ project, store, sink: null });
      expect(m2.status).toBe('created');
      expect(rel('annotations/', m2.manifest!.consumed)).toEqual(['20261101T0200Z/a.jsonl']);
      // Below and at the watermark together: the one below waits for the next full rescan (3 snapshots before → merge 4).
      await store.write('annotations/20261102T0200Z/b.jsonl', answer('t2'));
      await store.write('annotations/zz-typo/ann2.jsonl', answer('t3'));
      const m3 = await runMerge({ project, store, sink: null });
      expect(rel('annotations/', m3.manifest!.consumed)).toEqual(['zz-typo/ann2.jsonl']);
      await store.write('annotations/zz-typo/ann3.jsonl', answer('t4'));
      const m4 = await runMerge({ project, store, sink: null });
      expect(rel('annotations/', m4.manifest!.consumed)).toEqual(['20261102T0200Z/b.jsonl', 'zz-typo/ann3.jsonl']);
      expect((await runMerge({ project, store, sink: null })).status).toBe('nothing-new');
    });
  });
}

let dir: string;
let bucket: TestBucket | undefined;
beforeAll(async () => {
  dir = tempDir('listing');
  bucket = await makeTestBucket('listing-complete');
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await bucket?.cleanup();
});

suite('a local root', (name) => new PrefixedStore(new LocalStore(path.join(dir, name)), 'p'));
suite('fake-gcs-server', (name) => new PrefixedStore(new GcsStore(`gs://${bucket!.name}/${name}`, { apiEndpoint: gcsEndpoint() }), 'p'));
