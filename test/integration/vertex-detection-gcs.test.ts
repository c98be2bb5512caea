/**
 * Vertex AI detection output on a gs:// root whose images live in another
 * bucket (as Vertex batch jobs name them): the app's media reader reads each
 * header with one ranged read through the root's client and endpoint; a
 * missing image is a reject that says which gs:// URI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import { openApp, type AppContext } from '../../worker/app/app.js';
import { silentLogger } from '../../worker/core/log.js';
import { runRound } from '../../worker/round/round.js';
import { gcsEndpoint } from '../helpers/emulators.js';
import { makeTestBucket, type TestBucket } from '../helpers/gcs.js';
import { makeJpeg, makePng } from '../helpers/images.js';
import { vertexFixture } from '../helpers/vertex.js';

const RESULTS = 'prediction.results-00000-of-00001';
const ERRORS = 'prediction.errors_stats-00000-of-00001';
const lines = (b: Buffer) =>
  b
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);

describe('Vertex AI detection output, images in another bucket (emulator)', () => {
  let rootBucket: TestBucket;
  let mediaBucket: TestBucket;
  let app: AppContext;

  beforeAll(async () => {
    [rootBucket, mediaBucket] = await Promise.all([makeTestBucket('vx-root'), makeTestBucket('vx-media')]);
    await mediaBucket.storage.bucket(mediaBucket.name).file('images/cat.jpg').save(makeJpeg(64, 48));
    await mediaBucket.storage.bucket(mediaBucket.name).file('images/street.png').save(makePng(120, 80));
    const config = parseConfig({
      storage: { root: `gs://${rootBucket.name}/loop`, apiEndpoint: gcsEndpoint() },
      stats: { sink: 'none' },
      worker: { threads: 1 },
      projects: [{ name: 'vx', task: 'image-boxes', labels: ['cat', 'dog'], strategy: { name: 'box-min', topK: 10 } }],
    });
    app = openApp(config, { logger: silentLogger });
  });
  afterAll(async () => {
    await app?.close();
    await Promise.all([rootBucket?.cleanup(), mediaBucket?.cleanup()]);
  });

  it('sizes boxes from headers read in the media bucket; the missing image is one reject, counted once', async () => {
    const project = app.project('vx');
    const store = app.projectStore(project);
    const base = `gs://${mediaBucket.name}/`;
    await store.write(`predictions/job-1/${RESULTS}`, vertexFixture(RESULTS, base));
    await store.write(`predictions/job-1/${ERRORS}`, vertexFixture(ERRORS, base));
    const r = await runRound({
      project,
      store,
      pool: app.pool(),
      sink: null,
      roundId: '20261201T0200Z',
      chunkBytes: 64 * 1024,
      mediaUrl: (u) => u,
      media: app.media,
    });
    const queue = lines(await store.read('rounds/20261201T0200Z/queue.jsonl'));
    const byId = new Map(queue.map((t) => [t.meta.id as string, t]));
    expect(byId.get(`${base}images/cat.jpg`)).toMatchObject({
      width: 64,
      height: 48,
      spans: expect.arrayContaining([expect.objectContaining({ label: 'cat', x: 16, y: 24, width: 32, height: 24 })]),
    });
    expect(byId.get(`${base}images/street.png`)).toMatchObject({ width: 120, height: 80 });
    const rejects = lines(await store.read('rounds/20261201T0200Z/rejects.jsonl'));
    expect(rejects).toEqual([
      expect.objectContaining({
        id: `${base}images/gone.jpg`,
        field: 'instance.content',
        reason: expect.stringContaining(`gs://${mediaBucket.name}/images/gone.jpg`),
      }),
    ]);
    expect(r.manifest.counts).toMatchObject({ read: 3, scored: 2, rejected: 1, queued: 2 });
    expect(r.manifest.consumed.map((c) => c.name)).toEqual([`predictions/job-1/${RESULTS}`]);
  });
});
