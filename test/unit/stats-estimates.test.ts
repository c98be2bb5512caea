import { describe, expect, it } from 'vitest';
import { mergeRows } from '../../domain/quality/compute.js';
import { kishEffectiveN, measures, qualityEstimates, weightedKappa, type AuditUnit } from '../../domain/quality/estimates.js';
import { expectedCalibrationError, precisionRecallF1 } from '../../domain/quality/measures.js';
import { bootstrapIntervals, chiSquareQuantile, mulberry32, normalQuantile, wilsonInterval } from '../../domain/quality/intervals.js';
import { answer, LABELS, row } from '../fixtures/stats-sample.js';

describe('wilsonInterval', () => {
  // Newcombe (1998), Statistics in Medicine 17:857–872, table I, method 3 (Wilson score without continuity correction).
  it.each([
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
  ])('%i of %i → [%f, %f]', (x, n, lo, hi) => {
    const ci = wilsonInterval(x, n)!;
    expect(ci.low).toBeCloseTo(lo, 4);
    expect(ci.high).toBeCloseTo(hi, 4);
  });

  it('is undefined for n = 0 and stays in [0, 1] at the ends', () => {
    expect(wilsonInterval(0, 0)).toBeNull();
    expect(wilsonInterval(24, 24)!.high).toBe(1);
    // 23/24 (the demo's audit): centre and half-width by hand with z² = 3.8415: [0.7976, 0.9926].
    const ci = wilsonInterval(23, 24)!;
    expect(ci.low).toBeCloseTo(0.7976, 3);
    expect(ci.high).toBeCloseTo(0.9926, 3);
  });
});

describe('distribution quantiles', () => {
  it('matches the normal and chi-square tables', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 6);
    expect(normalQuantile(0.05)).toBeCloseTo(-1.644854, 6);
    // χ²₀.₉₅ from the standard tables: ν = 1, 2 exact; Wilson–Hilferty within 1% above.
    expect(chiSquareQuantile(0.95, 1)).toBeCloseTo(3.841, 3);
    expect(chiSquareQuantile(0.95, 2)).toBeCloseTo(5.991, 3);
    for (const [dof, table] of [
      [3, 7.815],
      [5, 11.07],
      [9, 16.919],
      [20, 31.41],
    ]) {
      expect(Math.abs(chiSquareQuantile(0.95, dof) / table - 1)).toBeLessThan(0.01);
    }
  });
});

describe('bootstrapIntervals', () => {
  it('is deterministic for a seed and agrees with the normal approximation on a large sample', () => {
    // 400 Bernoulli items with p̂ = 0.3: the bootstrap percentiles ≈ p̂ ± 1.96·√(p̂(1−p̂)/n) = [0.2551, 0.3449].
    const items = Array.from({ length: 400 }, (_, i) => (i < 120 ? 1 : 0));
    const mean = (s: number[]) => ({ mean: s.reduce((a, b) => a + b, 0) / s.length });
    const a = bootstrapIntervals(items, mean, { seed: 5 }).mean!;
    expect(bootstrapIntervals(items, mean, { seed: 5 }).mean).toEqual(a);
    expect(a.low).toBeGreaterThan(0.2551 - 0.01);
    expect(a.low).toBeLessThan(0.2551 + 0.01);
    expect(a.high).toBeGreaterThan(0.3449 - 0.01);
    expect(a.high).toBeLessThan(0.3449 + 0.01);
  });

  it('resamples within strata at their own sizes, and gives no interval for a mostly undefined statistic', () => {
    // Stratum x holds only 1s, y only 0s: every replicate keeps 3 ones and 1 zero, so the mean is exactly 0.75.
    const ci = bootstrapIntervals([1, 1, 1, 0], (s) => ({ m: s.reduce((a, b) => a + b, 0) / s.length, never: null }), {
      seed: 1,
      strata: ['x', 'x', 'x', 'y'],
    });
    expect(ci.m).toEqual({ low: 0.75, high: 0.75 });
    expect(ci.never).toBeNull();
  });

  it('mulberry32 gives uniforms in [0, 1) with mean ≈ 0.5', () => {
    const r = mulberry32(1);
    let s = 0;
    for (let i = 0; i < 10000; i++) {
      const u = r();
      expect(u >= 0 && u < 1).toBe(true);
      s += u;
    }
    expect(Math.abs(s / 10000 - 0.5)).toBeLessThan(0.01);
  });
});

describe('weightedKappa', () => {
  it('matches the textbook 2×2 example (p_o 0.7, p_e 0.5 → κ 0.4)', () => {
    const pairs = [
      ...Array.from({ length: 20 }, () => ({ a: 'yes', b: 'yes', w: 1 })),
      ...Array.from({ length: 5 }, () => ({ a: 'yes', b: 'no', w: 1 })),
      ...Array.from({ length: 10 }, () => ({ a: 'no', b: 'yes', w: 1 })),
      ...Array.from({ length: 15 }, () => ({ a: 'no', b: 'no', w: 1 })),
    ];
    expect(weightedKappa(pairs)).toBeCloseTo(0.4, 12);
    // Doubling every weight changes nothing; an all-one-category table is undefined.
    expect(weightedKappa(pairs.map((p) => ({ ...p, w: 2 })))).toBeCloseTo(0.4, 12);
    expect(weightedKappa([{ a: 'x', b: 'x', w: 1 }])).toBeNull();
  });
});

function unit(model: string, round: string, predicted: string, gold: string, weight = 125, confidence = 0.8): AuditUnit {
  return {
    model,
    round,
    weight,
    item: { predicted: [{ label: predicted, key: predicted }], gold: [{ label: gold, key: gold }] },
    same: predicted === gold,
    confidence,
    predicted,
    gold,
  };
}

describe('qualityEstimates', () => {
  // Model v1, round r1: 9 of 10 right; v1 r2: 4 of 4 right (weight 50); model v2 r2: 1 of 2 right.
  const units: AuditUnit[] = [
    ...Array.from({ length: 9 }, () => unit('v1', 'r1', 'billing', 'billing')),
    unit('v1', 'r1', 'billing', 'shipping'),
    ...Array.from({ length: 4 }, () => unit('v1', 'r2', 'shipping', 'shipping', 50)),
    unit('v2', 'r2', 'returns', 'returns'),
    unit('v2', 'r2', 'returns', 'billing'),
  ];
  const rows = qualityEstimates(units, 'textcat', true, LABELS, 'p');
  const get = (model: string, round: string | null, label: string, measure: string) =>
    rows.find((r) => r.model === model && r.round_id === round && r.label === label && r.measure === measure);

  it('gives accuracy per model and round with the Wilson interval and the unweighted n', () => {
    const acc = get('v1', 'r1', '*', 'accuracy')!;
    const w = wilsonInterval(9, 10)!;
    expect(acc).toMatchObject({ estimate: 0.9, ci_low: w.low, ci_high: w.high, n_sample: 10, method: 'wilson score', flag: null, slice: 'audit' });
    expect(get('v2', 'r2', '*', 'accuracy')).toMatchObject({ estimate: 0.5, n_sample: 2, flag: 'low_n' });
  });

  it('weights rounds by 1/inclusion_p in the figure over all rounds (Hájek): Wilson at the Kish effective n, bootstrap within rounds for ratios', () => {
    // (9·125 + 4·50) / (10·125 + 4·50) = 1325 / 1450; n_eff = 1450² / (10·125² + 4·50²) = 2102500 / 166250 = 12.6466
    const all = get('v1', null, '*', 'accuracy')!;
    expect(all.estimate).toBeCloseTo(1325 / 1450, 12);
    expect(kishEffectiveN([...Array(10).fill(125), ...Array(4).fill(50)])).toBeCloseTo(12.6466, 4);
    const w = wilsonInterval((1325 / 1450) * (2102500 / 166250), 2102500 / 166250)!;
    expect(all).toMatchObject({ ci_low: expect.closeTo(w.low, 12), ci_high: expect.closeTo(w.high, 12), n_sample: 14 });
    expect(all.method).toBe('wilson score at Kish effective n, Hajek weights 1/inclusion_p');
    expect(get('v1', null, '*', 'kappa')!.method).toMatch(/bootstrap percentile, 1000 replicates within rounds, Hajek/);
  });

  it('gives an all-right sample a proper interval, not [1, 1]', () => {
    const r2 = get('v1', 'r2', '*', 'accuracy')!;
    expect(r2).toMatchObject({ estimate: 1, ci_high: 1, n_sample: 4, flag: 'low_n' });
    // Wilson 4 of 4: lower end n/(n + z²) = 4 / 7.8415 = 0.5101.
    expect(r2.ci_low).toBeCloseTo(0.5101, 4);
  });

  it('pools models only in a separate "*" row; per-label figures count the items they rest on', () => {
    expect(get('*', null, '*', 'accuracy')!.n_sample).toBe(16);
    expect(rows.filter((r) => r.model === '*').every((r) => r.round_id === null)).toBe(true);
    // billing in v1 r1: predicted 10 times, 9 right; gold 9 times → P 0.9, R 1, F1 2·0.9/1.9.
    const f1 = get('v1', 'r1', 'billing', 'f1')!;
    expect(f1.estimate).toBeCloseTo(1.8 / 1.9, 12);
    expect(f1.n_sample).toBe(10);
    expect(get('v1', 'r1', 'shipping', 'recall')).toMatchObject({ estimate: 0, n_sample: 1, flag: 'low_n' });
    // Per-label precision of a single-label task is a share of items: Wilson 9 of the 10 predicted billing.
    const w = wilsonInterval(9, 10)!;
    expect(get('v1', 'r1', 'billing', 'precision')).toMatchObject({
      estimate: 0.9,
      ci_low: w.low,
      ci_high: w.high,
      method: 'wilson score over items predicted the label',
    });
    // F1 is a ratio: bootstrap. v1 r2 has 4 of 4 shipping right, so every resample gives F1 1: no interval rather than [1, 1].
    expect(get('v1', 'r2', 'shipping', 'f1')).toMatchObject({
      estimate: 1,
      ci_low: null,
      ci_high: null,
      method: expect.stringMatching(/no interval: every resample gave the same value$/),
    });
  });

  it('flags ECE below ten items per bin and reports kappa, both with bootstrap intervals', () => {
    const ece = get('v1', 'r1', '*', 'ece')!;
    // All confidences 0.8, accuracy 0.9 → ECE |0.9 − 0.8| = 0.1.
    expect(ece.estimate).toBeCloseTo(0.1, 12);
    expect(ece).toMatchObject({ flag: 'low_n', n_sample: 10 });
    expect(ece.method).toMatch(/^10 equal-width confidence bins; bootstrap/);
    expect(get('v1', 'r1', '*', 'kappa')!.method).toMatch(/^bootstrap/);
  });

  it('is byte-identical on a re-run', () => {
    expect(JSON.stringify(qualityEstimates(units, 'textcat', true, LABELS, 'p'))).toBe(JSON.stringify(rows));
  });
});

describe('mergeRows → quality_estimates', () => {
  it('uses only audit rows, per model and round, with the key columns', () => {
    const rows = [
      row('a1', { billing: 0.9, shipping: 0.05, returns: 0.05 }, 'billing', [answer('bob', 1, 'billing')], { audit: true, inclusion_p: 0.01 }),
      row('a2', { billing: 0.1, shipping: 0.8, returns: 0.1 }, 'billing', [answer('bob', 2, 'billing')], { audit: true, inclusion_p: 0.01 }),
      row('u1', { billing: 0.5, shipping: 0.4, returns: 0.1 }, 'billing', [answer('ann', 3, 'billing')]),
    ];
    const out = mergeRows({ project: 'p', version: 3, asOf: '2026-11-25T09:00:00Z', changed: rows, all: rows, task: 'textcat', labels: LABELS });
    const acc = out.quality_estimates!.find((r) => r.label === '*' && r.measure === 'accuracy')!;
    expect(acc).toMatchObject({
      project: 'p',
      snapshot_version: 3,
      model: 'v1',
      round_id: '20261125T0200Z',
      estimate: 0.5,
      n_sample: 2,
      flag: 'low_n',
      batch_id: 'merge:p:v000003',
    });
  });
});

describe('measures (the indexed fast path) against the reference implementations', () => {
  it('equals precisionRecallF1, weightedKappa and expectedCalibrationError on random weighted data, multi-decision items included', () => {
    const r = mulberry32(77);
    const labels = ['a', 'b', 'c', 'd'];
    const pick = () => labels[Math.floor(r() * labels.length)];
    const units: AuditUnit[] = Array.from({ length: 300 }, (_, i) => {
      const gold = pick();
      const pred = r() < 0.7 ? gold : pick();
      // Every fifth item has an extra predicted decision with its own key (an FP), like a spurious span.
      const predicted = [{ label: pred, key: pred }, ...(i % 5 === 0 ? [{ label: 'e', key: `x${i}` }] : [])];
      return {
        model: 'm',
        round: 'r',
        weight: 1 + Math.floor(r() * 4),
        item: { predicted, gold: [{ label: gold, key: gold }] },
        same: pred === gold && i % 5 !== 0,
        confidence: r(),
        predicted: pred,
        gold,
      };
    });
    const got = measures(units, 'textcat', true, labels);
    const ref = precisionRecallF1(
      units.map((u) => ({ ...u.item, weight: u.weight })),
      labels,
    );
    for (const p of ref) {
      const label = p.label ?? '*';
      expect(got[`${label}\u0000precision`], label).toBeCloseTo(p.precision!, 12);
      expect(got[`${label}\u0000recall`] ?? null, label).toEqual(p.recall === null ? null : expect.closeTo(p.recall, 12));
      expect(got[`${label}\u0000f1`] ?? null, label).toEqual(p.f1 === null ? null : expect.closeTo(p.f1, 12));
    }
    expect(got['*\u0000kappa']).toBeCloseTo(weightedKappa(units.map((u) => ({ a: u.predicted, b: u.gold, w: u.weight })))!, 12);
    expect(got['*\u0000ece']).toBeCloseTo(expectedCalibrationError(units.map((u) => ({ confidence: u.confidence!, correct: u.same, weight: u.weight })))!, 12);
    const W = units.reduce((s, u) => s + u.weight, 0);
    expect(got['*\u0000accuracy']).toBeCloseTo(units.reduce((s, u) => s + (u.same ? u.weight : 0), 0) / W, 12);
  });
});
