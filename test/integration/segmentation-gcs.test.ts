/**
 * image-segmentation end to end on a gs:// root (emulator): Vertex AI
 * segmentation lines → round (queue of image_manual polygon tasks, bad lines
 * rejected with object, line, field and reason) → reviewer `prodigy db-out`
 * lines with edited polygons → merge → snapshot mask PNGs. Each mask must equal
 * a rasterisation computed here independently (point-in-polygon per pixel
 * centre, even-odd), decoded here with node:zlib rather than fast-png.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import { openApp, type AppContext } from '../../worker/app/app.js';
import { silentLogger } from '../../worker/core/log.js';
import { runMerge } from '../../worker/merge/merge.js';
import { runRound } from '../../worker/round/round.js';
import { gcsEndpoint } from '../helpers/emulators.js';
import { makeTestBucket, type TestBucket } from '../helpers/gcs.js';
import { makePng } from '../helpers/images.js';
import { b64, png8, rgbMask } from '../helpers/seg-png.js';

const W = 40;
const H = 30;
const labels = ['scratch', 'dent'];
const lines = (b: Buffer) =>
  b
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);

/** Scratch: a ring (outer radius 10, hole radius 4) at (12, 14); dent: the rectangle x 28..35, y 5..12. */
function classes(): number[] {
  const out = new Array(W * H).fill(0);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const d = Math.hypot(x + 0.5 - 12, y + 0.5 - 14);
      if (d < 10 && d >= 4) out[y * W + x] = 1;
      if (x >= 28 && x < 36 && y >= 5 && y < 13) out[y * W + x] = 2;
    }
  }
  return out;
}

function vertexLine(bucket: string, name: string, conf: number): string {
  const cls = classes();
  return JSON.stringify({
    instance: { content: `gs://${bucket}/images/${name}.png`, mimeType: 'image/png' },
    prediction: {
      categoryMask: b64(rgbMask(W, H, cls, { 1: [255, 0, 0], 2: [0, 255, 0] })),
      confidenceMask: b64(
        png8(
          W,
          H,
          1,
          Uint8Array.from(cls, (k) => (k === 0 ? 255 : conf)),
        ),
      ),
    },
  });
}

/** Independent reference: even-odd crossing test at each pixel centre, spans painted in order. */
function reference(spans: Array<{ label: string; points: number[][] }>): number[] {
  const out = new Array(W * H).fill(0);
  for (const s of spans) {
    const k = 1 + labels.indexOf(s.label);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const px = x + 0.5;
        const py = y + 0.5;
        let inside = false;
        for (let i = 0, j = s.points.length - 1; i < s.points.length; j = i++) {
          const [xi, yi] = s.points[i];
          const [xj, yj] = s.points[j];
          if (yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) inside = !inside;
        }
        if (inside) out[y * W + x] = k;
      }
    }
  }
  return out;
}

function pngPixels(png: Buffer): { width: number; height: number; depth: number; colorType: number; pixels: number[] } {
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  const idat: Buffer[] = [];
  for (let p = 8; p < png.length; ) {
    const len = png.readUInt32BE(p);
    if (png.toString('latin1', p + 4, p + 8) === 'IDAT') idat.push(png.subarray(p + 8, p + 8 + len));
    p += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const pixels: number[] = [];
  for (let r = 0; r < height; r++) {
    expect(raw[r * (width + 1)], 'filter type 0').toBe(0);
    pixels.push(...raw.subarray(r * (width + 1) + 1, (r + 1) * (width + 1)));
  }
  return { width, height, depth: png[24], colorType: png[25], pixels };
}

describe('image-segmentation on a gs:// root (emulator)', () => {
  let bucket: TestBucket;
  let app: AppContext;

  beforeAll(async () => {
    bucket = await makeTestBucket('seg');
    const config = parseConfig({
      storage: { root: `gs://${bucket.name}/loop`, apiEndpoint: gcsEndpoint() },
      stats: { sink: 'duckdb', path: join(mkdtempSync(join(tmpdir(), 'seg-stats-')), 'stats.duckdb') },
      worker: { threads: 1 },
      projects: [
        {
          name: 'parts',
          task: 'image-segmentation',
          labels,
          strategy: { name: 'mask-mean-uncertainty', topK: 10 },
          segmentation: { colors: { scratch: '#ff0000', dent: '#00ff00' }, maxPoints: 60 },
        },
      ],
    });
    app = openApp(config, { logger: silentLogger });
  });
  afterAll(async () => {
    await app?.close();
    await bucket?.cleanup();
  });

  it('round → edited polygons in db-out → merge: snapshot masks equal an independent rasterisation', async () => {
    const project = app.project('parts');
    const store = app.projectStore(project);
    // The photos: p1..p3 match their masks; p4's photo is one pixel wider than its mask.
    for (const n of ['p1', 'p2', 'p3']) await bucket.storage.bucket(bucket.name).file(`images/${n}.png`).save(makePng(W, H));
    await bucket.storage
      .bucket(bucket.name)
      .file('images/p4.png')
      .save(makePng(W + 1, H));
    const predictions = [
      vertexLine(bucket.name, 'p4', 30),
      vertexLine(bucket.name, 'p1', 60),
      vertexLine(bucket.name, 'p2', 200),
      JSON.stringify({ instance: { content: `gs://${bucket.name}/images/bad.png`, mimeType: 'image/png' }, prediction: { categoryMask: 'not*base64' } }),
      JSON.stringify({
        id: 'rle',
        image: `gs://${bucket.name}/images/rle.png`,
        instances: [{ label: 'dent', score: 0.5, rle: { size: [2, 2], counts: [1, 1] } }],
      }),
      vertexLine(bucket.name, 'p3', 120),
    ];
    await store.write('predictions/job-1/prediction.results-00000-of-00001', `${predictions.join('\n')}\n`);
    const roundId = '20261203T2100Z';
    const r = await runRound({ project, store, pool: app.pool(), sink: null, roundId, chunkBytes: 64 * 1024, mediaUrl: (u) => u, media: app.media });
    expect(r.manifest.counts).toMatchObject({ read: 6, scored: 3, rejected: 3, queued: 3 });

    const rejects = lines(await store.read(`rounds/${roundId}/rejects.jsonl`));
    const object = `gs://${bucket.name}/loop/parts/predictions/job-1/prediction.results-00000-of-00001`;
    expect(rejects).toEqual([
      expect.objectContaining({ object, line: 4, field: 'prediction.categoryMask', reason: expect.stringMatching(/^not base64/) }),
      expect.objectContaining({ object, line: 5, id: 'rle', field: 'instances[0].rle.counts', reason: 'runs cover 2 pixels but size [2, 2] has 4' }),
      // Checked against the photo's header once p4 was selected: the most uncertain, yet never queued.
      expect.objectContaining({ object, line: 1, field: 'prediction.categoryMask', reason: `mask is ${W}x${H} but the image is ${W + 1}x${H}` }),
    ]);

    const queue = lines(await store.read(`rounds/${roundId}/queue.jsonl`));
    // Most uncertain first: confidence 60, 120, 200 of 255 on the foreground.
    expect(queue.map((t) => t.meta.id)).toEqual(['p1', 'p3', 'p2'].map((n) => `gs://${bucket.name}/images/${n}.png`));
    for (const t of queue) {
      expect(t).toMatchObject({ width: W, height: H });
      expect(t.spans.map((s: any) => [s.type, s.label])).toEqual([
        ['polygon', 'scratch'],
        ['polygon', 'dent'],
      ]);
      for (const s of t.spans) expect(s.points.length).toBeLessThanOrEqual(60);
    }
    // The predicted polygons, rasterised independently, are the model's mask (the ring's hole included).
    expect(reference(queue[0].spans)).toEqual(classes());

    // Reviewer: p1 keeps the scratch and redraws the dent smaller; p3 deletes the dent; p2 is accepted as shown.
    const edited = (t: any) => {
      if (t.meta.id.endsWith('p1.png'))
        return [
          t.spans[0],
          {
            label: 'dent',
            type: 'polygon',
            points: [
              [30, 6],
              [34.2, 6],
              [34.2, 11.7],
              [30, 11.7],
            ],
          },
        ];
      if (t.meta.id.endsWith('p3.png')) return [t.spans[0]];
      return t.spans;
    };
    const exported: Array<Record<string, any>> = queue.map((t, i) => ({
      ...t,
      spans: edited(t),
      answer: 'accept',
      _view_id: 'image_manual',
      _session_id: 'parts-ann',
      _annotator_id: 'parts-ann',
      _timestamp: 1_800_000_000 + i,
    }));
    await store.write(`annotations/${roundId}/ann.jsonl`, exported.map((l) => JSON.stringify(l)).join('\n'));
    const sink = await app.sink();
    const m = await runMerge({ project, store, sink });
    expect(m.status).toBe('created');
    const manifest = m.manifest!;
    expect(manifest.masks).toEqual({ encoding: 'png-8bit-grey-class-index', labels, count: 3 });

    const rows = lines(await store.read('snapshots/v000001/data.jsonl'));
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      const path = row.mask_path as string;
      expect(path).toMatch(/^masks\/[0-9a-f]{32}\.png$/);
      expect(row.reviewloop.mask_path).toBe(path);
      // As drawn, and typed as polygons again so `prodigy db-in` shows them as such.
      expect(row.spans.every((sp: { type: string; points: unknown[] }) => sp.type === 'polygon' && sp.points.length >= 3)).toBe(true);
      const bytes = await store.read(`snapshots/v000001/${path}`);
      expect(manifest.files[path]).toEqual({ sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length });
      const png = pngPixels(bytes);
      expect([png.width, png.height, png.depth, png.colorType]).toEqual([W, H, 8, 0]);
      const answer = exported.find((e) => e.meta.id === row.meta.id)!;
      expect(png.pixels).toEqual(reference(answer.spans));
    }
    // IoU in the stats tables. Scratch was kept on every item: IoU 1. Dent: p2 kept (IoU 1), p3 deleted (IoU 0),
    // p1 redrawn as x 30..34.2, y 6..11.7 (centres x 30..33, y 6..10 → 4×6 = 24 px) inside the predicted 8×8 = 64 px.
    const iou = await sink.query(
      "SELECT scope, label, items, iou, mean_image_iou FROM segmentation_iou WHERE project = 'parts' AND scope = 'snapshot' ORDER BY label",
      {},
    );
    const byLabel = new Map(iou.map((r) => [r.label, r]));
    expect(byLabel.get('scratch')).toMatchObject({ items: 3, iou: 1, mean_image_iou: 1 });
    expect(Number(byLabel.get('dent')?.iou)).toBeCloseTo((24 + 64) / (64 + 64 + 64), 12);
    expect(Number(byLabel.get('dent')?.mean_image_iou)).toBeCloseTo((24 / 64 + 1 + 0) / 3, 12);
    expect(Number(byLabel.get('*')?.iou)).toBeCloseTo((1 + 88 / 192) / 2, 12);
    // Reruns change nothing: the round exists, the merge finds nothing new, the mask bytes stay.
    const again = await runRound({ project, store, pool: app.pool(), sink: null, roundId, chunkBytes: 64 * 1024, mediaUrl: (u) => u, media: app.media });
    expect(again.status).toBe('exists');
    expect((await runMerge({ project, store, sink })).status).toBe('nothing-new');
    // The dent was deleted on p3: its mask holds scratch only.
    const p3 = rows.find((r) => r.meta.id.endsWith('p3.png'))!;
    expect(pngPixels(await store.read(`snapshots/v000001/${p3.mask_path}`)).pixels.filter((v) => v === 2)).toHaveLength(0);
  });
});
