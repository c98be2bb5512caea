import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildColorTable } from '../../scoring/segmentation/png/colors.js';
import { classIndexMaskFromPng } from '../../scoring/segmentation/png/decode.js';
import { encodeClassIndexPng } from '../../scoring/segmentation/png/png-write.js';
import { fromMaskFiles, type ParsedSegmentation, parseSegmentationRecord, type SegmentationPrediction } from '../../scoring/segmentation/record.js';
import { encodeRle } from '../../scoring/segmentation/rle.js';
import { scoreSegmentation } from '../../scoring/segmentation/score.js';
import { b64, png8, rgbMask } from '../helpers/seg-png.js';

const labels = ['scratch', 'dent'];
const colors = (() => {
  const t = buildColorTable({ scratch: '#ff0000', dent: '#00ff00' }, labels);
  if (!t.ok) throw new Error(t.reason);
  return t.value;
})();
const opts = { labels, colors };

// 4×2 image: scratch at (1,0), (2,0); dent at (3,1).
const classes = [0, 1, 1, 0, 0, 0, 0, 2];
const conf = [255, 204, 51, 255, 255, 255, 255, 102];

/** A Vertex AI image segmentation batch prediction line, as documented: base64 PNG masks under prediction. */
function vertexLine(over: Record<string, unknown> = {}) {
  return {
    instance: { content: 'gs://bucket/parts/p-17.jpg', mimeType: 'image/jpeg' },
    prediction: {
      categoryMask: b64(rgbMask(4, 2, classes, { 1: [255, 0, 0], 2: [0, 255, 0] })),
      confidenceMask: b64(png8(4, 2, 1, Uint8Array.from(conf))),
      ...over,
    },
  };
}

function decoded(r: ReturnType<typeof parseSegmentationRecord>): SegmentationPrediction {
  if (!r.ok) throw new Error(`${r.field}: ${r.reason}`);
  if (r.value.kind !== 'decoded') throw new Error('not decoded');
  return r.value.prediction;
}

function rejected(r: ReturnType<typeof parseSegmentationRecord>): { field: string; reason: string } {
  if (r.ok) throw new Error('expected a reject');
  return { field: r.field, reason: r.reason };
}

describe('Vertex AI segmentation lines', () => {
  it('decodes categoryMask and confidenceMask; the id is the content URI', () => {
    const p = decoded(parseSegmentationRecord(vertexLine(), opts));
    expect(p).toMatchObject({ id: 'gs://bucket/parts/p-17.jpg', image: 'gs://bucket/parts/p-17.jpg', width: 4, height: 2, instanceScores: [] });
    expect([...p.classes]).toEqual(classes);
    expect([...(p.confidence ?? [])]).toEqual(conf);
  });
  it('scores by hand: mean uncertainty over (0.8, 0.2, 0.4) = (0.2 + 0.8 + 0.6) / 3; low area below 0.5 = 2/3', () => {
    const p = decoded(parseSegmentationRecord(vertexLine(), opts));
    const o = { lowConfidenceBelow: 0.5 };
    expect(scoreSegmentation(p, 'mask-mean-uncertainty', o)).toEqual({ ok: true, score: expect.closeTo(1.6 / 3, 12) });
    expect(scoreSegmentation(p, 'mask-low-confidence-area', o)).toEqual({ ok: true, score: expect.closeTo(2 / 3, 12) });
    expect(scoreSegmentation(p, 'mask-min-instance', o)).toMatchObject({ ok: false, field: 'instances' });
  });
  it('without a confidenceMask the pixel strategies are a reject naming it', () => {
    const p = decoded(parseSegmentationRecord(vertexLine({ confidenceMask: undefined }), opts));
    expect(scoreSegmentation(p, 'mask-mean-uncertainty', { lowConfidenceBelow: 0.5 })).toMatchObject({ ok: false, field: 'confidence_mask' });
  });
  it.each([
    ['categoryMask not base64', { categoryMask: '@@@@' }, 'prediction.categoryMask', /not base64/],
    ['categoryMask corrupt', { categoryMask: b64(new Uint8Array(40)) }, 'prediction.categoryMask', /corrupt PNG/],
    [
      'unknown colour',
      { categoryMask: b64(rgbMask(4, 2, [0, 0, 0, 0, 0, 0, 0, 9], { 9: [1, 2, 3] })) },
      'prediction.categoryMask',
      /#010203 at pixel \(3, 1\)/,
    ],
    ['confidence size', { confidenceMask: b64(png8(3, 2, 1, new Uint8Array(6))) }, 'prediction.confidenceMask', /mask is 3x2 but the categoryMask is 4x2/],
    ['confidence RGB', { confidenceMask: b64(png8(4, 2, 3, new Uint8Array(24))) }, 'prediction.confidenceMask', /8-bit single-channel/],
    ['categoryMask missing', { categoryMask: undefined }, 'prediction.categoryMask', /expected a base64 string/],
  ])('%s → reject', (_n, over, field, reason) => {
    const r = rejected(parseSegmentationRecord(vertexLine(over), opts));
    expect(r.field).toBe(field);
    expect(r.reason).toMatch(reason);
  });
  it('a declared instance size that differs from the mask is a reject', () => {
    const line = vertexLine();
    const r = rejected(parseSegmentationRecord({ ...line, instance: { ...line.instance, width: 5, height: 2 } }, opts));
    expect(r).toEqual({ field: 'prediction.categoryMask', reason: 'mask is 4x2 but the image is 5x2' });
  });
});

describe('native instance records', () => {
  // 3×3; scratch RLE covers column 0 (COCO column-major: counts [0, 3, 6]); dent polygon covers the 2×2 block at (0..1, 0..1).
  const rle = { size: [3, 3], counts: [0, 3, 6] };
  const poly = [
    [0, 0],
    [2, 0],
    [2, 2],
    [0, 2],
  ];
  it('overlaps go to the higher score; confidence byte = round(255 · owner score)', () => {
    const p = decoded(
      parseSegmentationRecord(
        {
          id: 7,
          image: 'gs://b/i.png',
          instances: [
            { label: 'scratch', score: 0.9, rle },
            { label: 'dent', score: 0.6, polygon: poly },
          ],
        },
        opts,
      ),
    );
    expect(p.id).toBe('7');
    expect([...p.classes]).toEqual([1, 2, 0, 1, 2, 0, 1, 0, 0]);
    expect([...(p.confidence ?? [])]).toEqual([230, 153, 0, 230, 153, 0, 230, 0, 0]);
    expect(scoreSegmentation(p, 'mask-min-instance', { lowConfidenceBelow: 0.5 })).toEqual({ ok: true, score: expect.closeTo(0.4, 12) });
  });
  it('compressed RLE strings (pycocotools encode output) are read too', () => {
    const data = Uint8Array.from([1, 0, 0, 1, 1, 0]);
    const p = decoded(parseSegmentationRecord({ id: 'a', image: 'x.png', instances: [{ label: 'dent', score: 0.5, rle: encodeRle(data, 3, 2) }] }, opts));
    expect([...p.classes]).toEqual([2, 0, 0, 2, 2, 0]);
  });
  it.each([
    [{ instances: [{ label: 'scratch', score: 0.9, rle: { size: [3, 3], counts: [0, 3, 5] } }] }, 'instances[0].rle.counts', /cover 8 pixels/],
    [{ width: 4, height: 3, instances: [{ label: 'scratch', score: 0.9, rle }] }, 'instances[0].rle.size', /mask is 3x3 but the image is 4x3/],
    [{ instances: [{ label: 'rust', score: 0.9, rle }] }, 'instances[0].label', /not one of the project labels/],
    [{ instances: [{ label: 'dent', score: 1.5, rle }] }, 'instances[0].score', /0\.\.1/],
    [{ instances: [{ label: 'dent', score: 0.5, polygon: poly }] }, 'width', /needed when every instance is a polygon/],
    [{ instances: [{ label: 'dent', score: 0.5 }] }, 'instances[0]', /needs "rle".*or "polygon"/],
    [{}, 'instances', /needs "instances"/],
  ])('%j → reject', (rec, field, reason) => {
    const r = rejected(parseSegmentationRecord({ id: 'a', image: 'x.png', ...rec }, opts));
    expect(r.field).toBe(field);
    expect(r.reason).toMatch(reason);
  });
  it('no instances: empty foreground, every strategy scores 0', () => {
    const p = decoded(parseSegmentationRecord({ id: 'a', image: 'x.png', width: 2, height: 2, instances: [] }, opts));
    for (const s of ['mask-mean-uncertainty', 'mask-low-confidence-area', 'mask-min-instance'] as const) {
      expect(scoreSegmentation(p, s, { lowConfidenceBelow: 0.5 })).toEqual({ ok: true, score: 0 });
    }
  });
});

describe('native mask-file records', () => {
  it('returns the URIs for the worker to fetch, then decodes the bytes', () => {
    const r = parseSegmentationRecord(
      { id: 'm', image: 'gs://b/m.jpg', mask: 'gs://b/m.png', confidence_mask: 'gs://b/m-conf.png', width: 2, height: 1 },
      opts,
    );
    if (!r.ok) throw new Error(r.reason);
    const v = r.value as Extract<ParsedSegmentation, { kind: 'mask-files' }>;
    expect(v).toEqual({
      kind: 'mask-files',
      refs: { id: 'm', image: 'gs://b/m.jpg', mask: 'gs://b/m.png', confidenceMask: 'gs://b/m-conf.png', size: { width: 2, height: 1 } },
    });
    const p = fromMaskFiles(v.refs, png8(2, 1, 1, Uint8Array.from([2, 0])), png8(2, 1, 1, Uint8Array.from([128, 0])), labels);
    expect(p.ok && [[...p.value.classes], [...(p.value.confidence ?? [])]]).toEqual([
      [2, 0],
      [128, 0],
    ]);
    const wrong = fromMaskFiles(v.refs, png8(3, 1, 1, new Uint8Array(3)), null, labels);
    expect(wrong.ok ? null : [wrong.field, wrong.reason]).toEqual(['mask', 'mask is 3x1 but the image is 2x1']);
  });
});

describe('class-index PNG written for snapshots', () => {
  it('is 8-bit grey, one channel, byte-for-byte the raster (checked with node:zlib, not fast-png)', () => {
    const mask = { width: 5, height: 3, data: Uint8Array.from([0, 1, 2, 2, 0, 1, 1, 0, 0, 2, 0, 0, 0, 1, 1]) };
    const png = Buffer.from(encodeClassIndexPng(mask));
    expect(png.readUInt32BE(16)).toBe(5);
    expect(png.readUInt32BE(20)).toBe(3);
    expect([png[24], png[25]]).toEqual([8, 0]); // bit depth 8, colour type 0 (grey)
    const idat: Buffer[] = [];
    for (let p = 8; p < png.length; ) {
      const len = png.readUInt32BE(p);
      if (png.toString('latin1', p + 4, p + 8) === 'IDAT') idat.push(png.subarray(p + 8, p + 8 + len));
      p += 12 + len;
    }
    const raw = inflateSync(Buffer.concat(idat));
    const rows = [0, 1, 2].map((y) => [...raw.subarray(y * 6 + 1, y * 6 + 6)]);
    expect(rows.flat()).toEqual([...mask.data]);
    expect(Buffer.from(encodeClassIndexPng({ ...mask, data: mask.data.slice() })).equals(png)).toBe(true);
    const r = classIndexMaskFromPng(png, 'mask', 2);
    expect(r.ok && [...r.value.data]).toEqual([...mask.data]);
  });
});
