/**
 * Vertex AI image object detection batch output as Google documents it (no
 * image sizes; see test/fixtures/vertex-detection/README.md) through a round
 * on a local root, media outside the root: sizes come from the image
 * headers, a missing image is a reject counted like every other, an image
 * that cannot be read now defers its object to the next round, and the error
 * report beside the results is not read as predictions.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import type { ProjectConfig } from '../../config/schema.js';
import { main } from '../../worker/cli/main.js';
import { ReviewloopError } from '../../domain/errors.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { mediaHeadReader, type MediaHeadReader } from '../../worker/media/media-read.js';
import type { RoundManifest } from '../../domain/records.js';
import { projectStore } from '../../worker/store/open-store.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { runRound } from '../../worker/round/round.js';
import type { ObjectStore } from '../../worker/store/store.js';
import { makeJpeg, makePng } from '../helpers/images.js';
import { tempDir } from '../helpers/loop.js';
import { vertexFixture } from '../helpers/vertex.js';

type Task = Record<string, any>;
const RESULTS = 'prediction.results-00000-of-00001';
const ERRORS = 'prediction.errors_stats-00000-of-00001';
const lines = (b: Buffer) =>
  b
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Task);

describe('Vertex AI detection output without image sizes (local root, media elsewhere)', () => {
  let dir: string;
  let root: LocalStore;
  let pool: ScoringPool;
  let media: string;
  let mediaBase: string;

  beforeAll(() => {
    dir = tempDir('vertex-detection');
    root = new LocalStore(path.join(dir, 'root'));
    pool = new ScoringPool({ threads: 1 });
    media = path.join(dir, 'media');
    mkdirSync(path.join(media, 'images'), { recursive: true });
    writeFileSync(path.join(media, 'images', 'cat.jpg'), makeJpeg(64, 48));
    writeFileSync(path.join(media, 'images', 'street.png'), makePng(120, 80));
    mediaBase = `${pathToFileURL(media).href}/`;
  });
  afterAll(async () => {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const project = (name: string): ProjectConfig =>
    parseConfig({
      storage: { root: path.join(dir, 'root') },
      stats: { sink: 'none' },
      projects: [{ name, task: 'image-boxes', labels: ['cat', 'dog'], strategy: { name: 'box-min', topK: 10 }, predictions: { format: 'vertex' } }],
    }).projects[0];

  async function stage(name: string): Promise<{ p: ProjectConfig; store: ObjectStore }> {
    const p = project(name);
    const store = projectStore(root, p.name);
    await store.write(`predictions/job-1/${RESULTS}`, vertexFixture(RESULTS, mediaBase));
    await store.write(`predictions/job-1/${ERRORS}`, vertexFixture(ERRORS, mediaBase));
    return { p, store };
  }
  const round = (p: ProjectConfig, store: ObjectStore, roundId: string, read?: MediaHeadReader) =>
    runRound({ project: p, store, pool, sink: null, roundId, chunkBytes: 64 * 1024, mediaUrl: (u) => u, ...(read ? { media: read } : {}) });
  const uri = (f: string) => `${mediaBase}images/${f}`;

  it('queues the boxes in pixels from the image headers, rejects the missing image, counts rejects as rejects.jsonl lists them', async () => {
    const { p, store } = await stage('vx');
    const r = await round(p, store, '20261201T0200Z');
    const queue = lines(await store.read('rounds/20261201T0200Z/queue.jsonl'));
    const byId = new Map(queue.map((t) => [t.meta.id as string, t]));
    expect([...byId.keys()].sort()).toEqual([uri('cat.jpg'), uri('street.png')]);
    // cat.jpg is 64×48: [0.25, 0.75, 0.5, 1.0] → x 16, w 32, y 24, h 24.
    expect(byId.get(uri('cat.jpg'))).toMatchObject({
      width: 64,
      height: 48,
      spans: expect.arrayContaining([expect.objectContaining({ label: 'cat', x: 16, y: 24, width: 32, height: 24 })]),
    });
    // street.png is 120×80: [0.1, 0.6, 0.25, 0.75] → x 12, w 60, y 20, h 40.
    expect(byId.get(uri('street.png'))).toMatchObject({
      width: 120,
      height: 80,
      spans: [expect.objectContaining({ label: 'dog', x: 12, y: 20, width: 60, height: 40 })],
    });
    const rejects = lines(await store.read('rounds/20261201T0200Z/rejects.jsonl'));
    expect(rejects).toEqual([
      expect.objectContaining({ id: uri('gone.jpg'), field: 'instance.content', line: 3, reason: expect.stringContaining('no such file') }),
    ]);
    // The error report was never read: 3 records, all from the results file.
    expect(r.manifest.counts).toMatchObject({ read: 3, scored: 2, rejected: rejects.length, queued: 2 });
    expect(r.manifest.consumed.map((c) => c.name)).toEqual([`predictions/job-1/${RESULTS}`]);
    expect(r.manifest.deferred).toBeUndefined();
  });

  it('an image that cannot be read now defers its object: the next round reads it again and queues what was missing, once', async () => {
    const { p, store } = await stage('vx-defer');
    const healthy = mediaHeadReader({ localFiles: true });
    const flaky: MediaHeadReader = async (u, n) => {
      if (u.endsWith('street.png')) throw new ReviewloopError('STORE_UNAVAILABLE', `${u}: connection reset`, { retryable: true });
      return healthy(u, n);
    };
    const first = await round(p, store, '20261201T0200Z', flaky);
    expect(first.manifest.counts).toMatchObject({ queued: 1, rejected: 1, deferred: 1 });
    expect(first.manifest.deferred).toEqual([expect.objectContaining({ id: uri('street.png'), line: 2, reason: expect.stringContaining('connection reset') })]);
    expect(first.manifest.consumed).toEqual([]);
    expect(lines(await store.read('rounds/20261201T0200Z/queue.jsonl')).map((t) => t.meta.id)).toEqual([uri('cat.jpg')]);

    const second = await round(p, store, '20261202T0200Z', healthy);
    const queue2 = lines(await store.read('rounds/20261202T0200Z/queue.jsonl'));
    expect(queue2.map((t) => t.meta.id)).toEqual([uri('street.png')]);
    expect(queue2[0]).toMatchObject({ width: 120, height: 80 });
    // cat.jpg was queued by the first round: excluded, not queued twice.
    expect(second.manifest.counts).toMatchObject({ queued: 1, skipped: 1, rejected: 1 });
    expect(second.manifest.counts.deferred).toBeUndefined();
    expect(second.manifest.consumed.map((c) => c.name)).toEqual([`predictions/job-1/${RESULTS}`]);
  });

  it('a rerun after a crash uses the pinned lookups, so the round is the same bytes whatever the media does now', async () => {
    const { p, store } = await stage('vx-rerun');
    const failing: MediaHeadReader = async (u) => {
      throw new ReviewloopError('STORE_UNAVAILABLE', `${u}: timeout`, { retryable: true });
    };
    await round(p, store, '20261201T0200Z', failing);
    const files = ['queue.jsonl', 'rejects.jsonl', 'items.jsonl', 'manifest.json', 'image-sizes.json'];
    const before = await Promise.all(files.map((f) => store.read(`rounds/20261201T0200Z/${f}`)));
    // A crash just before the manifest, then a rerun with every image readable.
    await store.delete('rounds/20261201T0200Z/manifest.json');
    const again = await round(p, store, '20261201T0200Z', mediaHeadReader({ localFiles: true }));
    expect(again.status).toBe('created');
    const after = await Promise.all(files.map((f) => store.read(`rounds/20261201T0200Z/${f}`)));
    expect(after.map((b) => b.toString())).toEqual(before.map((b) => b.toString()));
    expect((JSON.parse(after[3].toString()) as RoundManifest).counts).toMatchObject({ queued: 0, deferred: 3, rejected: 0 });
  });

  it('the CLI summary line, the manifest and status give the rejects rejects.jsonl lists', async () => {
    const p = project('vx-cli');
    const store = projectStore(root, p.name);
    await store.write(`predictions/job-1/${RESULTS}`, vertexFixture(RESULTS, mediaBase));
    await store.write(`predictions/job-1/${ERRORS}`, vertexFixture(ERRORS, mediaBase));
    const cfg = path.join(dir, 'vx-cli.yaml');
    writeFileSync(
      cfg,
      JSON.stringify({
        storage: { root: path.join(dir, 'root') },
        stats: { sink: 'none' },
        worker: { threads: 1 },
        projects: [{ name: 'vx-cli', task: 'image-boxes', labels: ['cat', 'dog'], strategy: { name: 'box-min', topK: 10 } }],
      }),
    );
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t) };
    expect(await main(['node', 'reviewloop', 'round', '-c', cfg, '--round', '20261201T0200Z'], io)).toBe(0);
    const rejectLines = lines(await store.read('rounds/20261201T0200Z/rejects.jsonl')).length;
    expect(rejectLines).toBe(1);
    expect(out.join('')).toContain(`2 queued (0 audit) from 2 scored, ${rejectLines} rejected`);
    out.length = 0;
    expect(await main(['node', 'reviewloop', 'status', '-c', cfg, '--json'], io)).toBe(0);
    expect(JSON.parse(out.join('')).projects[0].rounds).toEqual([expect.objectContaining({ round: '20261201T0200Z', rejected: rejectLines, queued: 2 })]);
  });

  it('predictions.include narrows what a Vertex round reads', async () => {
    const p0 = project('vx-include');
    const p = { ...p0, predictions: { ...p0.predictions, include: ['**/nothing-*'] } };
    const store = projectStore(root, p.name);
    await store.write(`predictions/job-1/${RESULTS}`, vertexFixture(RESULTS, mediaBase));
    const r = await round(p, store, '20261201T0200Z');
    expect(r.manifest.counts).toMatchObject({ read: 0, queued: 0 });
    expect(r.manifest.consumed).toEqual([]);
  });
});
