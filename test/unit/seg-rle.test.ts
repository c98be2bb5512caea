import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countsFromString, countsToString, decodeRle, encodeRle, encodeRleCounts } from '../../scoring/segmentation/rle.js';

interface Case {
  kind: string;
  size: [number, number];
  counts: string;
  area: number;
  rows?: number[][];
  rects?: number[][];
}
const cases = JSON.parse(readFileSync(new URL('../fixtures/segmentation/coco-rle.json', import.meta.url), 'utf8')) as Case[];

function rowsOf(c: Case): Uint8Array {
  const [h, w] = c.size;
  if (c.rows) return Uint8Array.from(c.rows.flat());
  const out = new Uint8Array(h * w);
  for (const [y0, y1, x0, x1] of c.rects ?? []) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) out[y * w + x] = 1;
  return out;
}

describe('COCO RLE against pycocotools (fixtures from scripts/seg-fixtures.py)', () => {
  it.each(cases.map((c, i) => [`${i} ${c.kind} ${c.size.join('x')}`, c] as const))('%s: decode and encode agree with pycocotools', (_n, c) => {
    const mask = rowsOf(c);
    const d = decodeRle({ size: c.size, counts: c.counts }, 'rle');
    if (!d.ok) throw new Error(d.reason);
    expect([d.value.height, d.value.width]).toEqual(c.size);
    expect(Buffer.from(d.value.data).equals(Buffer.from(mask))).toBe(true);
    expect(d.value.data.reduce((a, b) => a + b, 0)).toBe(c.area);
    expect(encodeRle(mask, c.size[1], c.size[0])).toEqual({ size: c.size, counts: c.counts });
  });
});

describe('COCO RLE by hand', () => {
  it('column-major: h=2, w=3 rows [[0,1,1],[0,0,1]] → counts [2,1,1,2]', () => {
    expect(encodeRleCounts([0, 1, 1, 0, 0, 1], 3, 2)).toEqual([2, 1, 1, 2]);
    const d = decodeRle({ size: [2, 3], counts: [2, 1, 1, 2] }, 'rle');
    expect(d.ok && [...d.value.data]).toEqual([0, 1, 1, 0, 0, 1]);
  });
  it('a mask starting with foreground has an empty first run', () => {
    expect(encodeRleCounts([1, 0], 2, 1)).toEqual([0, 1, 1]);
  });
  // rleToString by hand: counts[3] = 100 is stored as 100 − counts[1] = 98 = 3·32 + 2 → groups 2|0x20 (+48 = 'R'), 3 ('3').
  it('[3, 2, 5, 100] ↔ "325R3"', () => {
    expect(countsToString([3, 2, 5, 100])).toBe('325R3');
    expect(countsFromString('325R3')).toEqual([3, 2, 5, 100]);
  });
  // 20 has the 0x10 bit set, so it needs a second group: 20|0x20 → 'd', then 0 → '0'.
  // counts[3] = 2 is stored as 2 − 20 = −18: low 5 bits 14, continue → 14|0x20 → '^'; then −1 → 31 → 'O'.
  it('[5, 20, 5, 2] ↔ "5d05^O" (sign bit and negative deltas)', () => {
    expect(countsToString([5, 20, 5, 2])).toBe('5d05^O');
    expect(countsFromString('5d05^O')).toEqual([5, 20, 5, 2]);
  });
  it('round-trips any counts', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 31 }), { maxLength: 30 }), (counts) => {
        expect(countsFromString(countsToString(counts))).toEqual(counts);
      }),
    );
  });
});

describe('bad RLE is a reject with field and reason', () => {
  it.each([
    [{ size: [2, 3], counts: [2, 1, 1] }, 'rle.counts', /runs cover 4 pixels but size \[2, 3\] has 6/],
    [{ size: [2, 3], counts: [2, 1, 1, 3] }, 'rle.counts', /cover 7 pixels/],
    [{ size: [2, 3], counts: [2, -1, 5] }, 'rle.counts', /run 1 is -1/],
    [{ size: [2, 3], counts: [2, 1.5, 2.5] }, 'rle.counts', /run 1 is 1.5/],
    [{ size: [2, 3], counts: '6 ' }, 'rle.counts', /outside the COCO RLE alphabet/],
    [{ size: [2, 3], counts: 'd' }, 'rle.counts', /end in the middle/],
    [{ size: [2], counts: [2] }, 'rle.size', /\[height, width\]/],
    [{ size: [0, 3], counts: [] }, 'rle.size', /positive/],
    [{ size: [2, 3] }, 'rle.counts', /array of run lengths or a compressed/],
    ['x', 'rle', /expected an RLE object/],
  ])('%j', (v, field, reason) => {
    const r = decodeRle(v, 'rle');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.field).toBe(field);
      expect(r.reason).toMatch(reason);
    }
  });
});
