import { describe, expect, it } from 'vitest';
import { classIou } from '../../scoring/segmentation/iou.js';
import { lowConfidenceTable, maskLowConfidenceArea, maskMeanUncertainty, maskMinInstance } from '../../scoring/segmentation/kernels.js';

const u8 = (xs: number[]) => Uint8Array.from(xs);

describe('segmentation strategies by hand', () => {
  // Foreground = pixels 1, 2, 3 (classes 1, 2, 1); confidences 255, 102, 51 → 1, 0.4, 0.2.
  const classes = u8([0, 1, 2, 1, 0]);
  const conf = u8([0, 255, 102, 51, 7]);
  it('mask-mean-uncertainty = mean(1 − 1, 1 − 0.4, 1 − 0.2) = 1.4 / 3', () => {
    expect(maskMeanUncertainty(classes, conf)).toBeCloseTo(1.4 / 3, 14);
  });
  it('background confidence does not count', () => {
    expect(maskMeanUncertainty(classes, u8([255, 255, 102, 51, 255]))).toBeCloseTo(1.4 / 3, 14);
  });
  it('mask-low-confidence-area at 0.5 = 2 of 3 foreground pixels', () => {
    expect(maskLowConfidenceArea(classes, conf, 0.5)).toBeCloseTo(2 / 3, 14);
  });
  it('"below" is strict and exact at the byte boundary: 51/255 = 0.2 is not below 0.2', () => {
    expect(maskLowConfidenceArea(classes, conf, 0.2)).toBe(0);
    expect(lowConfidenceTable(0.2)[51]).toBe(0);
    expect(lowConfidenceTable(0.2)[50]).toBe(1);
  });
  it('empty foreground scores 0 for both pixel strategies', () => {
    expect(maskMeanUncertainty(u8([0, 0]), u8([10, 200]))).toBe(0);
    expect(maskLowConfidenceArea(u8([0, 0]), u8([10, 200]), 0.5)).toBe(0);
  });
  it('mask-min-instance = 1 − lowest score; no instances → 0', () => {
    expect(maskMinInstance([0.9, 0.35, 0.7])).toBeCloseTo(0.65, 14);
    expect(maskMinInstance([])).toBe(0);
  });
});

describe('per-class IoU', () => {
  // predicted: 1 1 2 0 ; reviewed: 1 2 2 2 ; labels: a(1), b(2), c(3)
  const pred = u8([1, 1, 2, 0]);
  const rev = u8([1, 2, 2, 2]);
  it('by hand: a = 1/2, b = 1/3, c absent from both → null; mean over a, b', () => {
    const r = classIou(pred, rev, 3);
    expect(r.perClass[0]).toBeCloseTo(0.5, 14);
    expect(r.perClass[1]).toBeCloseTo(1 / 3, 14);
    expect(r.perClass[2]).toBeNull();
    expect(r.meanIou).toBeCloseTo((0.5 + 1 / 3) / 2, 14);
    expect(r.intersection).toEqual([1, 1, 0]);
    expect(r.union).toEqual([2, 3, 0]);
  });
  it('a class only one side has scores 0, not null', () => {
    expect(classIou(u8([1, 0]), u8([0, 0]), 1).perClass).toEqual([0]);
  });
  it('identical masks → 1 for every present class; two empty masks → mean null', () => {
    expect(classIou(pred, pred, 3).perClass).toEqual([1, 1, null]);
    expect(classIou(u8([0, 0]), u8([0, 0]), 2)).toMatchObject({ perClass: [null, null], meanIou: null });
  });
  it('different sizes throw (a caller bug, not user input)', () => {
    expect(() => classIou(u8([0]), u8([0, 0]), 1)).toThrow(RangeError);
  });
});
