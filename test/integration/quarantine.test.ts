/**
 * Per-object isolation of rounds on a local root and on fake-gcs-server: an
 * object that cannot be read is quarantined (listed, consumed) while the rest
 * of the round proceeds, a new generation of it is read by the next round, a
 * rerun after a crash writes the same bytes, and objects stored with
 * `Content-Encoding: gzip` (gsutil -Z) are read as their bytes say.
 */
import { rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import { GcsStore } from '../../worker/store/gcs-store.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { projectStore } from '../../worker/store/open-store.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { runRound } from '../../worker/round/round.js';
import type { ObjectStore } from '../../worker/store/store.js';
import { jsonLines } from '../../worker/store/write-once.js';
import { gcsEndpoint } from '../helpers/emulators.js';
import { makeTestBucket, type TestBucket } from '../helpers/gcs.js';
import { tempDir } from '../helpers/loop.js';

const project = parseConfig({
  storage: { root: 'gs://unused' },
  stats: { sink: 'none' },
  projects: [
    {
      name: 'iso',
      task: 'textcat',
      labels: ['a', 'b'],
      // Queues every record, so what a round read shows in its queue; full listings keep this test about reading.
      strategy: { name: 'margin', topK: 10_000, auditFraction: 0 },
      predictions: { listing: { mode: 'full' } },
    },
  ],
}).projects[0];

const records = (tag: string, n: number) =>
  jsonLines(
    Array.from({ length: n }, (_, i) => ({ id: `${tag}-${i}`, text: `${tag} ${i}`, probs: { a: ((i * 7) % 100) / 100, b: 1 - ((i * 7) % 100) / 100 } })),
  );

async function queuedIds(store: ObjectStore, round: string): Promise<string[]> {
  const text = (await store.read(`rounds/${round}/queue.jsonl`)).toString();
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { meta: { id: string } }).meta.id)
    .sort();
}

async function rejectLines(store: ObjectStore, round: string): Promise<Array<Record<string, unknown>>> {
  return (await store.read(`rounds/${round}/rejects.jsonl`))
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const roots: Array<[string, () => Promise<{ root: ObjectStore; cleanup: () => Promise<void> }>]> = [
  [
    'a local root',
    async () => {
      const dir = tempDir('quarantine');
      return { root: new LocalStore(dir), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  ],
  [
    'fake-gcs-server',
    async () => {
      const bucket: TestBucket = await makeTestBucket('quarantine');
      return { root: new GcsStore(`gs://${bucket.name}/root`, { apiEndpoint: gcsEndpoint() }), cleanup: () => bucket.cleanup() };
    },
  ],
];

describe.each(roots)('unreadable prediction objects on %s', (_label, open) => {
  let pool: ScoringPool;
  let store: ObjectStore;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    pool = new ScoringPool({ threads: 2 });
    const opened = await open();
    store = projectStore(opened.root, project.name);
    cleanup = opened.cleanup;
  });
  afterAll(async () => {
    await pool?.close();
    await cleanup?.();
  });
  const round = (roundId: string) => runRound({ project, store, pool, sink: null, roundId, chunkBytes: 64 * 1024 });

  it('are quarantined with a reason while the good objects are queued; a new generation is read next round', async () => {
    const full = gzipSync(Buffer.from(records('x', 2000)));
    await store.write('predictions/a-good.jsonl', records('g', 50));
    await store.write('predictions/b-truncated.jsonl.gz', full.subarray(0, Math.floor(full.length / 2)));
    await store.write('predictions/c-not-gzip.jsonl.gz', records('n', 10));
    await store.write('predictions/d-junk.jsonl.gz', Buffer.concat([gzipSync(Buffer.from(records('j', 5))), Buffer.from('<html>proxy error</html>\n')]));
    await store.write('predictions/e-good.jsonl.gz', gzipSync(Buffer.from(records('e', 30))));

    const r1 = await round('20261101T0200Z');
    const m1 = r1.manifest;
    expect(m1.consumed.map((c) => c.name)).toEqual(
      ['a-good.jsonl', 'b-truncated.jsonl.gz', 'c-not-gzip.jsonl.gz', 'd-junk.jsonl.gz', 'e-good.jsonl.gz'].map((n) => `predictions/${n}`),
    );
    expect(m1.counts.quarantinedObjects).toBe(3);
    expect(m1.quarantined!.map((q) => [q.name, q.code])).toEqual([
      ['predictions/b-truncated.jsonl.gz', 'GZIP_TRUNCATED'],
      ['predictions/c-not-gzip.jsonl.gz', 'GZIP_INVALID'],
      ['predictions/d-junk.jsonl.gz', 'GZIP_INVALID'],
    ]);
    const byName = new Map(m1.consumed.map((c) => [c.name, c.generation]));
    for (const q of m1.quarantined!) expect(q.generation).toBe(byName.get(q.name));

    // Good lines before the truncation are kept; the break is one object-level reject line.
    const ids = await queuedIds(store, '20261101T0200Z');
    const truncated = m1.quarantined![0];
    expect(ids.filter((id) => id.startsWith('x-'))).toHaveLength(truncated.line - 1);
    expect(truncated.line).toBeGreaterThan(1);
    expect(ids.filter((id) => id.startsWith('g-'))).toHaveLength(50);
    expect(ids.filter((id) => id.startsWith('e-'))).toHaveLength(30);
    expect(ids.filter((id) => id.startsWith('n-'))).toHaveLength(0);
    const objectLines = (await rejectLines(store, '20261101T0200Z')).filter((r) => r.code !== undefined);
    expect(objectLines).toEqual(m1.quarantined!.map((q) => ({ object: store.uri(q.name), line: q.line, field: null, reason: q.reason, code: q.code })));

    // The pipeline re-uploads the truncated object whole: a new generation, read by the next round.
    await store.write('predictions/b-truncated.jsonl.gz', full);
    const r2 = await round('20261108T0200Z');
    expect(r2.manifest.consumed.map((c) => c.name)).toEqual(['predictions/b-truncated.jsonl.gz']);
    expect(r2.manifest.counts.quarantinedObjects).toBe(0);
    expect(r2.manifest.quarantined).toEqual([]);
    // Records already queued by round 1 are excluded; the rest of the object is queued now.
    expect(await queuedIds(store, '20261108T0200Z')).toHaveLength(2000 - (truncated.line - 1));

    // Quarantined generations are consumed: nothing is retried.
    const r3 = await round('20261115T0200Z');
    expect(r3.manifest.consumed).toEqual([]);
  });

  it('reruns a crashed round with a quarantined object byte for byte', async () => {
    const full = gzipSync(Buffer.from(records('y', 3000)));
    await store.write('predictions/f-truncated.jsonl.gz', full.subarray(0, full.length - 1000));
    const first = await round('20261122T0200Z');
    expect(first.manifest.counts.quarantinedObjects).toBe(1);
    const names = ['manifest.json', 'rejects.jsonl', 'queue.jsonl', 'items.jsonl'].map((f) => `rounds/20261122T0200Z/${f}`);
    const before = await Promise.all(names.map((n) => store.read(n)));
    // A crash just before the manifest: the rerun rewrites the other files create-only (same bytes or CONFLICT).
    await store.delete(names[0]);
    const again = await round('20261122T0200Z');
    expect(again.status).toBe('created');
    const after = await Promise.all(names.map((n) => store.read(n)));
    after.forEach((b, i) => expect(b.equals(before[i]), names[i]).toBe(true));
  });
});

describe('objects stored with Content-Encoding: gzip on fake-gcs-server', () => {
  let bucket: TestBucket;
  let pool: ScoringPool;
  beforeAll(async () => {
    bucket = await makeTestBucket('transcoded');
    pool = new ScoringPool({ threads: 1 });
  });
  afterAll(async () => {
    await pool?.close();
    await bucket?.cleanup();
  });

  it('are read as their bytes say, whatever the name', async () => {
    const b = bucket.storage.bucket(bucket.name);
    const save = (name: string, body: Buffer, contentEncoding?: string) =>
      b
        .file(`root/iso/predictions/${name}`)
        .save(body, { resumable: false, metadata: { contentType: 'application/x-ndjson', ...(contentEncoding ? { contentEncoding } : {}) } });
    // gsutil -Z keeps the name and stores gzip bytes with Content-Encoding: gzip.
    await save('p-z.jsonl', gzipSync(Buffer.from(records('z', 40))), 'gzip');
    // A .gz file uploaded with Content-Encoding: gzip (a common pipeline setting).
    await save('q-gz-encoded.jsonl.gz', gzipSync(Buffer.from(records('q', 40))), 'gzip');
    // A plain gzip object and a plain JSONL object beside them.
    await save('r-plain.jsonl.gz', gzipSync(Buffer.from(records('r', 40))));
    await save('s-plain.jsonl', Buffer.from(records('s', 40)));
    const [meta] = await b.file('root/iso/predictions/p-z.jsonl').getMetadata();
    expect(meta.contentEncoding).toBe('gzip');

    const store = projectStore(new GcsStore(`gs://${bucket.name}/root`, { apiEndpoint: gcsEndpoint() }), project.name);
    const r = await runRound({ project, store, pool, sink: null, roundId: '20261101T0200Z', chunkBytes: 64 * 1024 });
    expect(r.manifest.counts).toMatchObject({ read: 160, scored: 160, rejected: 0, quarantinedObjects: 0 });
    const ids = await queuedIds(store, '20261101T0200Z');
    for (const tag of ['z', 'q', 'r', 's'])
      expect(
        ids.filter((id) => id.startsWith(`${tag}-`)),
        tag,
      ).toHaveLength(40);
  });
});
