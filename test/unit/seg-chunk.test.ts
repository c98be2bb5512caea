import { describe, expect, it } from 'vitest';
import { scoreChunkSync } from '../../scoring/chunk.js';
import { exclusionKey } from '../../scoring/hash.js';
import { rasterizeSpans, readPolygonSpans } from '../../scoring/segmentation/spans.js';
import type { ScoreChunkInput } from '../../scoring/types.js';
import { b64, png8, rgbMask } from '../helpers/seg-png.js';

const labels = ['scratch', 'dent'];
const colors = { scratch: '#ff0000', dent: '#00ff00' };
const W = 12;
const H = 8;

/** Scratch fills the rectangle x 2..7, y 2..5; dent the single pixel (10, 1). Confidence byte `c` on the foreground. */
function classes(): number[] {
  const out = new Array(W * H).fill(0);
  for (let y = 2; y < 6; y++) for (let x = 2; x < 8; x++) out[y * W + x] = 1;
  out[1 * W + 10] = 2;
  return out;
}

function vertex(name: string, c: number, over: Record<string, unknown> = {}): string {
  const cls = classes();
  return JSON.stringify({
    instance: { content: `gs://bucket/img/${name}.png`, mimeType: 'image/png' },
    prediction: {
      categoryMask: b64(rgbMask(W, H, cls, { 1: [255, 0, 0], 2: [0, 255, 0] })),
      confidenceMask: b64(
        png8(
          W,
          H,
          1,
          Uint8Array.from(cls, (k) => (k === 0 ? 255 : c)),
        ),
      ),
      ...over,
    },
    deployedModelId: 'seg-7',
  });
}

const input = (lines: string[], over: Partial<ScoreChunkInput> = {}): ScoreChunkInput => ({
  kind: 'score-chunk',
  chunk: new TextEncoder().encode(lines.join('\n')),
  object: 'gs://bucket/predictions/p.jsonl',
  firstLine: 1,
  format: 'auto',
  task: 'image-segmentation',
  labels,
  strategy: { name: 'mask-mean-uncertainty', seed: 's' },
  topK: 2,
  auditK: 0,
  keepEmbedding: false,
  maxLineBytes: 1 << 24,
  probTolerance: 1e-3,
  segmentation: { colors, maxPoints: 200, lowConfidenceBelow: 0.5 },
  ...over,
});

describe('image-segmentation chunks', () => {
  it('scores masks, keeps the top-K with traced polygons, and rejects bad lines with line, field and reason; the round goes on', () => {
    const out = scoreChunkSync(
      input([
        vertex('sure', 255),
        vertex('unsure', 51),
        vertex('broken-b64', 0, { categoryMask: 'not base64!' }),
        vertex('bad-colour', 0, { categoryMask: b64(rgbMask(W, H, [3], { 3: [9, 9, 9] })) }),
        JSON.stringify({ id: 'rle', image: 'gs://bucket/img/rle.png', instances: [{ label: 'dent', score: 0.9, rle: { size: [2, 2], counts: [1, 2] } }] }),
        vertex('mid', 153),
      ]),
    );
    expect(out.top.map((e) => [e.id, e.score])).toEqual([
      ['gs://bucket/img/unsure.png', expect.closeTo(0.8, 12)],
      ['gs://bucket/img/mid.png', expect.closeTo(0.4, 12)],
    ]);
    expect(out.rejects).toEqual([
      {
        object: 'gs://bucket/predictions/p.jsonl',
        line: 3,
        id: 'gs://bucket/img/broken-b64.png',
        field: 'prediction.categoryMask',
        reason: expect.stringMatching(/^not base64/),
      },
      {
        object: 'gs://bucket/predictions/p.jsonl',
        line: 4,
        id: 'gs://bucket/img/bad-colour.png',
        field: 'prediction.categoryMask',
        reason: expect.stringMatching(/#090909 at pixel \(0, 0\)/),
      },
      { object: 'gs://bucket/predictions/p.jsonl', line: 5, id: 'rle', field: 'instances[0].rle.counts', reason: 'runs cover 3 pixels but size [2, 2] has 4' },
    ]);
    expect(out.stats).toMatchObject({ read: 6, scored: 3, rejected: 3, labelCounts: { dent: 3, scratch: 3 } });
    const rec = out.top[0].record;
    expect(rec).toMatchObject({ id: 'gs://bucket/img/unsure.png', image: 'gs://bucket/img/unsure.png', width: W, height: H, model: 'seg-7' });
    expect(rec.boxes?.map((b) => b.label)).toEqual(['scratch', 'dent']);
    // The polygons rasterise back to the predicted mask.
    const spans = readPolygonSpans(
      rec.boxes?.map((b) => ({ label: b.label, points: b.points })),
      labels,
    );
    if (!spans.ok) throw new Error(spans.reason);
    expect([...rasterizeSpans(spans.value, W, H)]).toEqual(classes());
    // Outline vertices sit halfway between centres: on the pixel edges 2 and 8, 2 and 6 (corners cut by half a pixel).
    expect(rec.boxes?.[0]).toMatchObject({ x: 2, y: 2, w: 6, h: 4 });
  });
  it('a Vertex line without configured colours is a reject naming the config key', () => {
    const out = scoreChunkSync(input([vertex('a', 100)], { segmentation: { colors: null, maxPoints: 200, lowConfidenceBelow: 0.5 } }));
    expect(out.rejects[0]).toMatchObject({ line: 1, field: 'prediction.categoryMask', reason: expect.stringMatching(/segmentation\.colors/) });
  });
  it('mask-low-confidence-area and random score too; ids drawn for audit get polygons', () => {
    const low = scoreChunkSync(input([vertex('a', 100), vertex('b', 200)], { strategy: { name: 'mask-low-confidence-area', seed: 's' } }));
    expect(low.top.map((e) => [e.id, e.score])).toEqual([
      ['gs://bucket/img/a.png', 1],
      ['gs://bucket/img/b.png', 0],
    ]);
    const rnd = scoreChunkSync(input([vertex('a', 100), vertex('b', 200)], { strategy: { name: 'random', seed: 's' }, topK: 0, auditK: 1 }));
    expect(rnd.audit).toHaveLength(1);
    expect(rnd.audit[0].record.boxes?.length).toBe(2);
  });
  it('excluded (already queued for this model) items are skipped before any decoding', () => {
    const exclude = BigUint64Array.from([exclusionKey('gs://bucket/img/b.png', 'seg-7')]);
    const out = scoreChunkSync(input([vertex('a', 100), vertex('b', 100, { categoryMask: 'garbage!' })], { exclude }));
    expect(out.stats).toMatchObject({ read: 2, scored: 1, skipped: 1, rejected: 0 });
  });
});
