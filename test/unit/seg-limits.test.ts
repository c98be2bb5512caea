import { describe, expect, it } from 'vitest';
import { buildColorTable } from '../../scoring/segmentation/png/colors.js';
import { MAX_INSTANCES, parseSegmentationRecord } from '../../scoring/segmentation/record.js';
import { MAX_REVIEW_POINTS, reviewedMask } from '../../scoring/segmentation/review.js';

const labels = ['scratch', 'dent'];
const table = buildColorTable({ scratch: '#ff0000', dent: '#00ff00' }, labels);
if (!table.ok) throw new Error(table.reason);
const opts = { labels, colors: table.value };
const square = {
  label: 'scratch',
  score: 0.7,
  polygon: [
    [1, 1],
    [3, 1],
    [3, 3],
    [1, 3],
  ],
};
const fieldOf = (r: { ok: boolean; field?: string }) => (r.ok ? null : r.field);

describe('crafted segmentation records are rejects, never an allocation the process cannot make', () => {
  it('a declared image of 10^10 pixels', () => {
    expect(fieldOf(parseSegmentationRecord({ id: 'a', image: 'gs://b/a.png', width: 100000, height: 100000, instances: [square] }, opts))).toBe('width');
  });

  it('an RLE whose size is negative, or unlike the image, is refused before it is decoded', () => {
    const neg = parseSegmentationRecord(
      { id: 'a', image: 'gs://b/a.png', instances: [{ label: 'dent', score: 0.5, rle: { size: [-1, 5], counts: [5] } }] },
      opts,
    );
    expect(fieldOf(neg)).toBe('width');
    const big = parseSegmentationRecord(
      { id: 'a', image: 'gs://b/a.png', width: 10, height: 10, instances: [{ label: 'dent', score: 0.5, rle: { size: [20000, 20000], counts: [0, 4e8] } }] },
      opts,
    );
    expect(fieldOf(big)).toBe('instances[0].rle.size');
  });

  it(`more than ${MAX_INSTANCES} instances`, () => {
    const many = Array.from({ length: MAX_INSTANCES + 1 }, () => square);
    expect(fieldOf(parseSegmentationRecord({ id: 'a', image: 'gs://b/a.png', width: 8, height: 8, instances: many }, opts))).toBe('instances');
  });

  it('a reviewer export with a 10^12-pixel image or millions of polygon points', () => {
    expect(fieldOf(reviewedMask([], 1e6, 1e6, labels))).toBe('width');
    const huge = [{ label: 'scratch', points: Array.from({ length: MAX_REVIEW_POINTS + 1 }, (_, i) => [i % 50, (i * 7) % 50]) }];
    expect(fieldOf(reviewedMask(huge, 64, 64, labels))).toBe('spans');
  });
});
