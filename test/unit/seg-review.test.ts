import { createHash } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { maskPath, predictionIou, reviewedMask } from '../../scoring/segmentation/review.js';

const labels = ['scratch', 'dent'];

/** Inflates the IDAT of an 8-bit grey PNG with node:zlib and drops the per-row filter bytes (fast-png writes filter 0). */
function pixels(png: Uint8Array, w: number): number[] {
  const b = Buffer.from(png);
  const idat: Buffer[] = [];
  for (let p = 8; p < b.length; ) {
    const len = b.readUInt32BE(p);
    if (b.toString('latin1', p + 4, p + 8) === 'IDAT') idat.push(b.subarray(p + 8, p + 8 + len));
    p += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const out: number[] = [];
  for (let r = 0; r < raw.length; r += w + 1) out.push(...raw.subarray(r + 1, r + 1 + w));
  return out;
}

describe('reviewed masks for snapshots', () => {
  // A 4×3 image. dent: the square (0,0)–(2,2) → pixels x 0..1, y 0..1. scratch: triangle (2,0),(4,0),(4,3) →
  // centres inside when y + 0.5 < 1.5·(x + 0.5 − 2): (2,0)? 0.5 < 0.75 yes; (3,0), (3,1) (1.5 < 2.25) yes; (3,2) 2.5 < 2.25 no.
  const spans = [
    {
      label: 'dent',
      type: 'polygon',
      points: [
        [0, 0],
        [2, 0],
        [2, 2],
        [0, 2],
      ],
    },
    {
      label: 'scratch',
      type: 'polygon',
      points: [
        [2, 0],
        [4, 0],
        [4, 3],
      ],
    },
  ];
  const expected = [2, 2, 1, 1, 2, 2, 0, 1, 0, 0, 0, 0];
  it('rasterises by hand-checked pixels, 0 = background, 1 + label position', () => {
    const r = reviewedMask(spans, 4, 3, labels);
    if (!r.ok) throw new Error(r.reason);
    expect(pixels(r.value.png, 4)).toEqual(expected);
    expect([...r.value.classes]).toEqual(expected);
    expect(r.value.sha256).toBe(createHash('sha256').update(r.value.png).digest('hex'));
  });
  it('same spans → same bytes (reruns rewrite the same object)', () => {
    const a = reviewedMask(spans, 4, 3, labels);
    const b = reviewedMask(structuredClone(spans), 4, 3, labels);
    expect(a.ok && b.ok && a.value.sha256 === b.value.sha256).toBe(true);
  });
  it('bad answers are rejects naming the field', () => {
    expect(reviewedMask(spans, undefined, 3, labels)).toMatchObject({ ok: false, field: 'width' });
    expect(
      reviewedMask(
        [
          {
            label: 'rust',
            points: [
              [0, 0],
              [1, 0],
              [1, 1],
            ],
          },
        ],
        4,
        3,
        labels,
      ),
    ).toMatchObject({ ok: false, field: 'spans[0].label' });
  });
  it('IoU of the shown prediction against the reviewed mask', () => {
    const r = reviewedMask(spans, 4, 3, labels);
    if (!r.ok) throw new Error(r.reason);
    // Prediction: dent only at x 0..1, y 0..0 (2 px); no scratch. dent IoU = 2 / 4; scratch predicted nowhere, reviewed 3 px → 0.
    const iou = predictionIou(
      [
        {
          label: 'dent',
          x: 0,
          y: 0,
          w: 2,
          h: 1,
          points: [
            [0, 0],
            [2, 0],
            [2, 1],
            [0, 1],
          ],
        },
      ],
      r.value.classes,
      4,
      3,
      labels,
    );
    expect(iou).toEqual({ ok: true, value: { perClass: [0, 0.5], meanIou: 0.25, intersection: [0, 2], union: [3, 4] } });
  });
  it('mask paths are stable per id and safe for URI ids', () => {
    expect(maskPath('gs://b/x.jpg')).toMatch(/^masks\/[0-9a-f]{32}\.png$/);
    expect(maskPath('gs://b/x.jpg')).toBe(maskPath('gs://b/x.jpg'));
    expect(maskPath('gs://b/x.jpg')).not.toBe(maskPath('gs://b/y.jpg'));
  });
});
