/**
 * Cold start: a bucket of raw images (real JPEG/PNG bytes) across production
 * lines, labelled before any model exists. Two stratified rounds, a merge of a
 * db-out file, a later upload picked up; then the same flow on a local root
 * with text objects and raw JSONL records, and the switch to model predictions.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import { GcsStore } from '../../worker/store/gcs-store.js';
import { mediaUriOf } from '../../worker/media/task-media.js';
import { runMerge } from '../../worker/merge/merge.js';
import { openStore, projectStore } from '../../worker/store/open-store.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { inputHash, taskHash } from '../../domain/prodigy/tasks.js';
import type { RawRoundManifest } from '../../worker/round/raw-round.js';
import { runRound } from '../../worker/round/round.js';
import { readSnapshotRows } from '../../worker/snapshot/snapshot.js';
import type { ObjectStore } from '../../worker/store/store.js';
import { jsonLines } from '../../worker/store/write-once.js';
import { gcsEndpoint } from '../helpers/emulators.js';
import { makeTestBucket, type TestBucket } from '../helpers/gcs.js';
import { makeJpeg, makePng } from '../helpers/images.js';
import { tempDir } from '../helpers/loop.js';

const R1 = '20261101T0200Z';
const R2 = '20261108T0200Z';
const lines = (b: Buffer) =>
  b
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);

/** Records every read, to prove image sizes come from ranged header reads only. */
function spied(store: ObjectStore) {
  const reads: Array<{ name: string; range?: { start: number; end?: number } }> = [];
  const proxy = new Proxy(store, {
    get(target, prop) {
      if (prop === 'readStream')
        return (name: string, o?: { range?: { start: number; end?: number } }) => {
          reads.push({ name, range: o?.range });
          return target.readStream(name, o as never);
        };
      if (prop === 'read')
        return (name: string, o?: never) => {
          reads.push({ name });
          return target.read(name, o);
        };
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { store: proxy, reads };
}

async function uploadAll(store: ObjectStore, files: Array<[string, Buffer]>): Promise<void> {
  for (let i = 0; i < files.length; i += 16) await Promise.all(files.slice(i, i + 16).map(([n, b]) => store.write(n, b)));
}

/** db-out lines for a queue: every task accepted with one box, as Prodigy's image_manual exports it. */
function dbOut(queue: Array<Record<string, any>>, annotator: string): string {
  return jsonLines(
    queue.map((t, i) => ({
      ...t,
      answer: 'accept',
      _view_id: 'image_manual',
      _session_id: `parts-${annotator}`,
      _annotator_id: `parts-${annotator}`,
      _timestamp: 1_800_000_000 + i,
      spans: [
        {
          label: 'scratch',
          points: [
            [1, 1],
            [1, 4],
            [5, 4],
            [5, 1],
          ],
          x: 1,
          y: 1,
          width: 4,
          height: 3,
          type: 'rect',
        },
      ],
    })),
  );
}

describe('cold start on a gs:// bucket of images', () => {
  let bucket: TestBucket;
  let store: ObjectStore;
  let pool: ScoringPool;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const credentials = {
    client_email: 'signer@reviewloop-test.iam.gserviceaccount.com',
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
  const project = parseConfig({
    storage: { root: 'gs://unused' },
    stats: { sink: 'none' },
    projects: [
      {
        name: 'parts',
        task: 'image-boxes',
        labels: ['scratch', 'dent'],
        predictions: { prefix: 'raw/', format: 'objects', include: '**/*.{jpg,png}' },
        strategy: { name: 'stratified-random', topK: 40, seed: 7 },
      },
    ],
  }).projects[0];
  const lineSizes: Record<string, number> = { 'line-a': 120, 'line-b': 80, 'line-c': 60, 'line-d': 6 };
  /** object name → [width, height] */
  const dims = new Map<string, [number, number]>();

  function images(folder: string, n: number, from = 0): Array<[string, Buffer]> {
    return Array.from({ length: n }, (_, k) => {
      const i = from + k;
      const png = i % 3 === 0;
      // PNGs take any size; JPEGs cycle through 12 sizes because encoding is slow (see makeJpeg).
      const w = png ? 6 + ((i * 7 + folder.length) % 41) : [8, 16, 17, 24, 31, 40, 9, 13, 48, 20, 33, 7][i % 12];
      const h = png ? 5 + ((i * 3) % 29) : [6, 16, 9, 31, 12, 5, 40, 22, 8, 27, 14, 19][i % 12];
      const name = `raw/${folder}/img-${String(i).padStart(3, '0')}.${png ? 'png' : 'jpg'}`;
      dims.set(name, [w, h]);
      return [name, png ? makePng(w, h, i) : makeJpeg(w, h)];
    });
  }

  beforeAll(async () => {
    bucket = await makeTestBucket('cold');
    store = projectStore(new GcsStore(`gs://${bucket.name}/lib`, { apiEndpoint: gcsEndpoint() }), 'parts');
    pool = new ScoringPool({ threads: 1 });
    const files = Object.entries(lineSizes).flatMap(([f, n]) => images(f, n));
    files.push(['raw/line-b/broken.jpg', Buffer.from([0xff, 0xd8, 0xff, 0xda, 0, 2, 1, 2, 3])]);
    files.push(['raw/line-a/notes.csv', Buffer.from('not an image\n')], ['raw/_SUCCESS', Buffer.alloc(0)]);
    await uploadAll(store, files);
  }, 120_000);

  afterAll(async () => {
    await pool?.close();
    await bucket?.cleanup();
  });

  it('two rounds: even strata, sizes from header reads, Prodigy image_manual tasks, merge into the snapshot, a later upload picked up, no item twice', async () => {
    const spy = spied(store);
    const base = store.uri('raw/x').slice(0, -'raw/x'.length);
    const opts = { project, pool, sink: null, chunkBytes: 64 * 1024, mediaSigner: { credentials } };
    const r1 = await runRound({ ...opts, store: spy.store, roundId: R1 });
    const m1 = r1.manifest as RawRoundManifest;
    expect(r1.status).toBe('created');
    expect(m1.consumed).toHaveLength(267); // 266 images + broken.jpg; notes.csv and _SUCCESS are not included
    expect(m1.raw.discovered).toBe(266);
    expect(m1.counts).toMatchObject({ read: 267, rejected: 1, scored: 266, skipped: 0, queued: 40, audit: 0 });
    const rejects = lines(await store.read(`rounds/${R1}/rejects.jsonl`));
    expect(rejects).toEqual([
      {
        object: store.uri('raw/line-b/broken.jpg'),
        line: 0,
        id: store.uri('raw/line-b/broken.jpg'),
        reason: expect.stringContaining('cannot read the image size'),
      },
    ]);

    // Stratified: the 6 of line-d all in, the other 34 split 11/11/12.
    const picked1 = Object.fromEntries(m1.raw.strata.map((s) => [s.stratum, s.picked]));
    expect(picked1['line-d']).toBe(6);
    const big = [picked1['line-a'], picked1['line-b'], picked1['line-c']].sort();
    expect(big).toEqual([11, 11, 12]);

    // Only ranged reads of image headers: no image was downloaded whole.
    const imageReads = spy.reads.filter((r) => /\.(jpg|png)$/.test(r.name));
    expect(imageReads.length).toBeGreaterThanOrEqual(267);
    for (const r of imageReads) expect(r.range).toMatchObject({ start: 0 });

    const queue1 = lines(await store.read(`rounds/${R1}/queue.jsonl`));
    expect(queue1).toHaveLength(40);
    // Round-robin: the first four tasks come from four different lines.
    expect(new Set(queue1.slice(0, 4).map((t) => t.meta.stratum)).size).toBe(4);
    for (const [i, t] of queue1.entries()) {
      expect(Object.keys(t)).toEqual(['image', 'width', 'height', 'spans', 'meta', '_input_hash', '_task_hash']);
      const id = t.meta.id as string;
      const name = id.slice(base.length);
      expect(id).toBe(store.uri(name));
      expect(mediaUriOf(t.image)).toBe(id); // a V4 signed URL of exactly that object
      expect(new URL(t.image).searchParams.get('X-Goog-Signature')).toMatch(/^[0-9a-f]+$/);
      expect([t.width, t.height]).toEqual(dims.get(name));
      expect(t.spans).toEqual([]);
      expect(t.meta).toMatchObject({
        round: R1,
        rank: i + 1,
        strategy: 'stratified-random',
        model: null,
        audit: false,
        source: id,
        stratum: name.split('/')[1],
      });
      expect(t.meta.reason).toMatch(/^stratified sample: line-[a-d] \(\d+ of \d+\)$/);
      expect(t._input_hash).toBe(inputHash('parts', id));
      expect(t._task_hash).toBe(taskHash(t._input_hash, 'image_manual', ['scratch', 'dent']));
    }

    // A reviewer's db-out lands in the snapshot with the stable gs:// URI, size and box.
    await store.write(`annotations/${R1}/ann.jsonl`, dbOut(queue1, 'ann'));
    const merged = await runMerge({ project, store, sink: null });
    expect(merged.status).toBe('created');
    const rows = await readSnapshotRows(store, merged.version!);
    expect(rows).toHaveLength(40);
    for (const row of rows) {
      const name = row.id.slice(base.length);
      expect(row).toMatchObject({ image: row.id, status: 'labelled', provenance: 'round', round: R1, model: null, prediction_source: row.id });
      expect([row.width, row.height]).toEqual(dims.get(name));
      expect(row.boxes).toEqual([
        {
          label: 'scratch',
          points: [
            [1, 1],
            [1, 4],
            [5, 4],
            [5, 1],
          ],
          x: 1,
          y: 1,
          width: 4,
          height: 3,
        },
      ]);
    }

    // A new production line is uploaded; the next round lists the whole prefix (the default) and reads only what is new.
    await uploadAll(store, images('line-e', 5));
    const spy2 = spied(store);
    const r2 = await runRound({ ...opts, store: spy2.store, roundId: R2 });
    const m2 = r2.manifest as RawRoundManifest;
    const plan2 = JSON.parse((await store.read(`rounds/${R2}/plan.json`)).toString()) as { listedFrom: string | null };
    expect(plan2.listedFrom).toBeNull();
    expect(m2.consumed.map((c) => c.name)).toEqual(images('line-e', 5).map(([n]) => n));
    expect(m2.counts).toMatchObject({ read: 5, rejected: 0, scored: 271 - 40, skipped: 40, queued: 40 });
    const picked2 = Object.fromEntries(m2.raw.strata.map((s) => [s.stratum, s.picked]));
    expect(picked2['line-e']).toBe(5);
    expect(picked2['line-d'] ?? 0).toBe(0);
    expect([picked2['line-a'], picked2['line-b'], picked2['line-c']].sort()).toEqual([11, 12, 12]);
    const queue2 = lines(await store.read(`rounds/${R2}/queue.jsonl`));
    const ids1 = new Set(queue1.map((t) => t.meta.id as string));
    const ids2 = queue2.map((t) => t.meta.id as string);
    expect(new Set(ids2).size).toBe(40);
    expect(ids2.filter((id) => ids1.has(id))).toEqual([]);
    for (const t of queue2) expect([t.width, t.height]).toEqual(dims.get((t.meta.id as string).slice(base.length)));
    // Round 2 read no old image again: its earlier items came from round 1's objects.jsonl.
    const read2 = spy2.reads.filter((r) => r.name.startsWith('raw/')).map((r) => r.name);
    expect(read2.sort()).toEqual(
      images('line-e', 5)
        .map(([n]) => n)
        .sort(),
    );
    expect(spy2.reads.map((r) => r.name)).toContain(`rounds/${R1}/objects.jsonl`);
  }, 180_000);
});

describe('cold start on a local root: text objects, raw JSONL records, then model predictions', () => {
  const dir = tempDir('cold');
  let pool: ScoringPool;
  const base = {
    name: 'notes',
    task: 'textcat',
    labels: ['pos', 'neg'],
    predictions: { prefix: 'raw/', format: 'objects', maxTextBytes: 300 },
  };
  const config = (over: Record<string, unknown>) =>
    parseConfig({ storage: { root: dir }, stats: { sink: 'none' }, projects: [{ ...base, ...over }] }).projects[0];
  const root = openStore(dir);
  const store = projectStore(root, 'notes');

  beforeAll(() => {
    pool = new ScoringPool({ threads: 1 });
    const put = (name: string, body: string | Buffer) => {
      const p = path.join(dir, 'notes', name);
      mkdirSync(path.dirname(p), { recursive: true });
      writeFileSync(p, body);
    };
    for (const lang of ['de', 'en']) for (let i = 0; i < 10; i++) put(`raw/${lang}/doc-${String(i).padStart(2, '0')}.txt`, `${lang} note ${i}\n`);
    put('raw/en/readme.md', '# A heading\n\nSome *markdown*.\n');
    put('raw/big/huge.txt', 'x'.repeat(301));
    put('raw/img/photo.jpg', makeJpeg(4, 4));
    put(
      'raw/records/batch.jsonl',
      [
        JSON.stringify({ text: 'first raw record' }),
        JSON.stringify({ id: 'doc-7', text: 'a record with its own id', meta: { region: 'eu' } }),
        '{"text": "broken',
        JSON.stringify({ image: 'gs://x/y.jpg' }),
        '',
        JSON.stringify({ text: 'after a blank line', probs: { pos: 0.9, neg: 0.1 } }),
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await pool?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sequential then random rounds, text inlined, clear rejects, and model predictions later skip what was labelled', async () => {
    const seq = config({ strategy: { name: 'sequential', topK: 6 } });
    const r1 = await runRound({ project: seq, store, pool, sink: null, roundId: R1, chunkBytes: 4096 });
    const q1 = lines(await store.read(`rounds/${R1}/queue.jsonl`));
    expect(q1.map((t) => t.meta.id)).toEqual(Array.from({ length: 6 }, (_, i) => store.uri(`raw/de/doc-0${i}.txt`)));
    expect(q1.map((t) => t.text)).toEqual(Array.from({ length: 6 }, (_, i) => `de note ${i}\n`));
    expect(q1[0]).toMatchObject({
      options: [
        { id: 'pos', text: 'pos' },
        { id: 'neg', text: 'neg' },
      ],
      accept: [],
      meta: { strategy: 'sequential', reason: 'next in object-name order', score: 0 },
    });
    const rejects = lines(await store.read(`rounds/${R1}/rejects.jsonl`));
    const uri = (n: string) => store.uri(n);
    expect(rejects).toEqual([
      { object: uri('raw/big/huge.txt'), line: 0, reason: 'text object is 301 bytes, above predictions.maxTextBytes (300)' },
      { object: uri('raw/img/photo.jpg'), line: 0, reason: 'image object, but task textcat reviews text' },
      { object: uri('raw/records/batch.jsonl'), line: 3, reason: expect.stringContaining('malformed JSON') },
      { object: uri('raw/records/batch.jsonl'), line: 4, field: 'text', reason: 'missing: task reviews text' },
    ]);
    expect(r1.manifest.counts).toMatchObject({ read: 28, rejected: 4, scored: 24, queued: 6 });

    // A crash after the queue was written: the rerun writes the same bytes and completes the round.
    const queueBytes = await store.read(`rounds/${R1}/queue.jsonl`);
    await store.delete(`rounds/${R1}/manifest.json`);
    const again = await runRound({ project: seq, store, pool, sink: null, roundId: R1, chunkBytes: 4096 });
    expect(again.status).toBe('created');
    expect((await store.read(`rounds/${R1}/queue.jsonl`)).equals(queueBytes)).toBe(true);

    // Label round 1 (db-out of a choice view) and merge.
    await store.write(
      `annotations/${R1}/ann.jsonl`,
      jsonLines(
        q1.map((t, i) => ({
          ...t,
          accept: [i % 2 ? 'neg' : 'pos'],
          answer: 'accept',
          _view_id: 'choice',
          _annotator_id: 'notes-ann',
          _timestamp: 1_800_000_000 + i,
        })),
      ),
    );
    const merged = await runMerge({ project: seq, store, sink: null });
    expect(merged.manifest?.counts).toMatchObject({ items: 6, labelled: 6 });

    const rnd = config({ strategy: { name: 'random', topK: 100, seed: 1 } });
    const r2 = await runRound({ project: rnd, store, pool, sink: null, roundId: R2, chunkBytes: 4096 });
    const q2 = lines(await store.read(`rounds/${R2}/queue.jsonl`));
    expect(r2.manifest.counts).toMatchObject({ read: 0, scored: 18, skipped: 6, queued: 18 });
    const byId = new Map(q2.map((t) => [t.meta.id as string, t]));
    expect(byId.get(`${store.uri('raw/records/batch.jsonl')}#L1`)?.text).toBe('first raw record');
    expect(byId.get('doc-7')).toMatchObject({ text: 'a record with its own id', meta: { source: `${store.uri('raw/records/batch.jsonl')}#L2` } });
    expect(byId.get(`${store.uri('raw/records/batch.jsonl')}#L6`)?.text).toBe('after a blank line');
    expect(byId.get(store.uri('raw/en/readme.md'))?.text).toBe('# A heading\n\nSome *markdown*.\n');
    for (const t of q1) expect(byId.has(t.meta.id as string)).toBe(false);

    // A model arrives: predictions use the same ids; what cold start queued or labelled is not queued again.
    const model = parseConfig({
      storage: { root: dir },
      stats: { sink: 'none' },
      projects: [{ ...base, predictions: { prefix: 'predictions/' }, strategy: { name: 'least-confidence', topK: 50 } }],
    }).projects[0];
    const everything = [...q1, ...q2].map((t) => t.meta.id as string);
    const fresh = ['new-1', 'new-2'];
    await store.write(
      'predictions/v1/part-0.jsonl',
      jsonLines([...everything, ...fresh].map((id, i) => ({ id, text: `t${i}`, probs: { pos: 0.5 + i / 100, neg: 0.5 - i / 100 }, model: 'v1' }))),
    );
    const r3 = await runRound({ project: model, store, pool, sink: null, roundId: '20261115T0200Z', chunkBytes: 4096 });
    const q3 = lines(await store.read('rounds/20261115T0200Z/queue.jsonl'));
    expect(q3.map((t) => t.meta.id).sort()).toEqual(fresh);
    expect(r3.manifest.counts).toMatchObject({ scored: 2, skipped: everything.length });
  }, 120_000);
});
