import { describe, expect, it } from 'vitest';
import {
  acceptanceRate,
  agreement,
  cohensKappaPairs,
  expectedCalibrationError,
  fleissKappa,
  ignoreRate,
  interArrivalSeconds,
  jsDivergence,
  precisionRecallF1,
  psi,
  psiBand,
  quantile,
  quantiles,
  baselineQuantileGroups,
  psiNoiseP95,
  regroup,
} from '../../domain/quality/measures.js';
import { mulberry32 } from '../../domain/quality/intervals.js';

const single = (pred: string, gold: string, weight?: number) => ({ predicted: [{ label: pred, key: pred }], gold: [{ label: gold, key: gold }], weight });

describe('quantiles (type 7, linear interpolation)', () => {
  it('interpolates between order statistics', () => {
    // x = [1,2,3,4], n-1 = 3. q=.5: h=1.5 → 2 + .5·(3−2) = 2.5
    // q=.25: h=.75 → 1 + .75·1 = 1.75;  q=.9: h=2.7 → 3 + .7·1 = 3.7
    expect(quantiles([4, 1, 3, 2], [0.5, 0.25, 0.9, 0, 1])).toEqual([2.5, 1.75, expect.closeTo(3.7, 12), 1, 4]);
  });
  it('is null on empty input and ignores NaN', () => {
    expect(quantile([], 0.5)).toBeNull();
    expect(quantile([NaN, 5], 0.5)).toBe(5);
  });
});

describe('PSI', () => {
  it('is 0 for identical distributions', () => {
    expect(psi([10, 20, 30], [1, 2, 3])).toBeCloseTo(0, 12);
  });
  it('matches the hand computation with ε smoothing', () => {
    // e = (.8+ε, .2+ε)/(1+2ε), a = (.2+ε, .8+ε)/(1+2ε), ε = 1e-4
    // each term: (.6/1.0002)·ln(.8001/.2001) = .599880·1.385923 = .831387 → PSI = 1.662774
    expect(psi([80, 20], [20, 80])).toBeCloseTo(1.662774, 5);
  });
  it('stays finite with an empty bin, null for an empty histogram', () => {
    // e = (1+ε, ε)/(1+2ε), a = (.5+ε, .5+ε)/(1+2ε):
    // (−.5/1.0002)·ln(.5001/1.0001) + (.5/1.0002)·ln(.5001/.0001) = .346558 + 4.257283 = 4.603841
    expect(psi([10, 0], [5, 5])).toBeCloseTo(4.6038, 3);
    expect(psi([0, 0], [5, 5])).toBeNull();
    expect(psi([1], [1, 2])).toBeNull();
  });
  it('bands at 0.1 and 0.25', () => {
    expect([0.05, 0.1, 0.25, 0.2501, null].map((v) => psiBand(v))).toEqual(['stable', 'moderate', 'moderate', 'significant', null]);
    // Anything at or below the noise floor is within noise, however large.
    expect(psiBand(0.3, 0.3)).toBe('within-noise');
    expect(psiBand(0.31, 0.3)).toBe('significant');
  });
});

describe('PSI on baseline quantile bins', () => {
  it('groups fine bins so each holds ≥ 1/target of the baseline, never leaving an empty group', () => {
    // Six labels: max-probability never falls below 1/6, so bins 0 and 1 are empty in every round.
    const base = [0, 0, 5, 10, 20, 20, 20, 15, 5, 5];
    // target 4 → 25 each: [0,0,5,10,20]=35 | [20,20]=40 | [15,5,5]=25
    expect(baselineQuantileGroups(base, 4)).toEqual([0, 0, 0, 0, 0, 1, 1, 2, 2, 2]);
    expect(regroup([1, 1, 1, 1, 1, 1, 1, 1, 1, 1], baselineQuantileGroups(base, 4))).toEqual([5, 2, 3]);
    // An under-filled tail joins the group before: [50] | [40] | [10 < 25] → [50] | [40, 10].
    expect(baselineQuantileGroups([50, 40, 10], 4)).toEqual([0, 1, 1]);
    expect(baselineQuantileGroups([0, 0], 4)).toEqual([]);
  });

  it('has a noise floor equal to the simulated 95th percentile of PSI under no drift', () => {
    // Independent check: draw both rounds from one 6-bin distribution many times (seeded) and take the 95th percentile.
    const p = [0.05, 0.15, 0.3, 0.25, 0.15, 0.1];
    const rand = mulberry32(3);
    const sample = (n: number) => {
      const c = new Array<number>(p.length).fill(0);
      for (let i = 0; i < n; i++) {
        let u = rand();
        let k = 0;
        while (k < p.length - 1 && u >= p[k]) {
          u -= p[k];
          k++;
        }
        c[k]++;
      }
      return c;
    };
    const values = Array.from({ length: 2000 }, () => psi(sample(1500), sample(400))!).sort((a, b) => a - b);
    const simulated = values[Math.floor(0.95 * values.length)];
    const floor = psiNoiseP95(1500, 400, 6)!;
    // (1/1500 + 1/400)·χ²₀.₉₅(5) = 0.0031667·11.0705 = 0.03506 (Wilson–Hilferty's χ² is 0.25% low here).
    expect(floor).toBeCloseTo(0.03506, 3);
    expect(Math.abs(simulated / floor - 1)).toBeLessThan(0.1);
    expect(psiNoiseP95(0, 400, 6)).toBeNull();
    expect(psiNoiseP95(10, 400, 1)).toBeNull();
  });
});

describe('Jensen–Shannon divergence (log2)', () => {
  it('is 0 for equal and 1 for disjoint distributions', () => {
    expect(jsDivergence({ a: 2, b: 2 }, { a: 5, b: 5 })).toBeCloseTo(0, 12);
    expect(jsDivergence({ a: 1 }, { b: 1 })).toBeCloseTo(1, 12);
  });
  it('matches the hand computation over the union of labels', () => {
    // p = (1, 0), q = (.5, .5), m = (.75, .25)
    // KL(p‖m) = log2(1/.75) = .415037;  KL(q‖m) = .5·log2(.5/.75) + .5·log2(.5/.25) = .207519
    // JS = (.415037 + .207519)/2 = .311278
    expect(jsDivergence({ a: 4 }, { a: 1, b: 1 })).toBeCloseTo(0.311278, 5);
    expect(jsDivergence({}, { a: 1 })).toBeNull();
  });
});

describe('rates and agreement', () => {
  it('acceptance = accept/(accept+reject), ignore = ignore/all', () => {
    // 3 accept, 1 reject, 2 ignore → 3/4 and 2/6
    expect(acceptanceRate({ accept: 3, reject: 1, ignore: 2 })).toBe(0.75);
    expect(ignoreRate({ accept: 3, reject: 1, ignore: 2 })).toBeCloseTo(1 / 3, 12);
    expect(acceptanceRate({ accept: 0, reject: 0, ignore: 2 })).toBeNull();
  });
  it('agreement is the share of equal pairs', () => {
    expect(
      agreement([
        { predicted: 'a', gold: 'a' },
        { predicted: 'a', gold: 'b' },
        { predicted: null, gold: null },
      ]),
    ).toBeCloseTo(1 / 3, 12);
    expect(agreement([])).toBeNull();
  });
});

describe('precision / recall / F1', () => {
  it('single label, per label and micro', () => {
    // a/a, a/b, b/b, c/a:
    // a: tp1 fp1 fn1 → P .5 R .5 F1 .5;  b: tp1 fp0 fn1 → P 1 R .5 F1 2/3;  c: tp0 fp1 fn0 → P 0, R undefined
    // micro: tp2 fp2 fn2 → .5 / .5 / .5
    const r = precisionRecallF1([single('a', 'a'), single('a', 'b'), single('b', 'b'), single('c', 'a')], ['a', 'b']);
    expect(r.map((x) => x.label)).toEqual(['a', 'b', 'c', null]);
    expect(r[0]).toMatchObject({ tp: 1, fp: 1, fn: 1, support: 2, precision: 0.5, recall: 0.5, f1: 0.5 });
    expect(r[1]).toMatchObject({ tp: 1, fp: 0, fn: 1, precision: 1, recall: 0.5 });
    expect(r[1].f1).toBeCloseTo(2 / 3, 12);
    expect(r[2]).toMatchObject({ precision: 0, recall: null, f1: null });
    expect(r[3]).toMatchObject({ tp: 2, fp: 2, fn: 2, precision: 0.5, recall: 0.5, f1: 0.5 });
  });
  it('multi-label sets', () => {
    // pred {a,b} gold {a,c}: a tp, b fp, c fn → micro P = 1/2, R = 1/2
    const r = precisionRecallF1([
      {
        predicted: [
          { label: 'a', key: 'a' },
          { label: 'b', key: 'b' },
        ],
        gold: [
          { label: 'a', key: 'a' },
          { label: 'c', key: 'c' },
        ],
      },
    ]);
    expect(r.find((x) => x.label === null)).toMatchObject({ tp: 1, fp: 1, fn: 1, precision: 0.5, recall: 0.5 });
  });
  it('spans by exact match', () => {
    // pred 0:5 PER, 10:15 ORG; gold 0:5 PER, 10:15 LOC, 20:22 PER → PER tp1 fn1; ORG fp1; LOC fn1
    const k = (s: number, e: number, l: string) => ({ label: l, key: `${s}:${e}:${l}` });
    const r = precisionRecallF1(
      [{ predicted: [k(0, 5, 'PER'), k(10, 15, 'ORG')], gold: [k(0, 5, 'PER'), k(10, 15, 'LOC'), k(20, 22, 'PER')] }],
      ['PER', 'ORG', 'LOC'],
    );
    expect(r[0]).toMatchObject({ label: 'PER', tp: 1, fp: 0, fn: 1, precision: 1, recall: 0.5 });
    expect(r[1]).toMatchObject({ label: 'ORG', tp: 0, fp: 1, precision: 0 });
    expect(r[2]).toMatchObject({ label: 'LOC', fn: 1, recall: 0 });
  });
  it('weighted by 1/inclusion_p (Hájek)', () => {
    // a/a with π = .1 (w 10), a/b with π = .5 (w 2): a: tp 10, fp 2 → P = 10/12; b: fn 2 → R = 0
    const r = precisionRecallF1([single('a', 'a', 10), single('a', 'b', 2)], ['a', 'b']);
    expect(r[0].precision).toBeCloseTo(10 / 12, 12);
    expect(r[1]).toMatchObject({ fn: 2, recall: 0 });
  });
});

describe('expected calibration error', () => {
  it('matches the hand computation', () => {
    // bin 9: confidences .95, .95, one correct → acc .5, conf .95, gap .45, weight 2/3 → .30
    // bin 2: confidence .25, correct → acc 1, gap .75, weight 1/3 → .25;  ECE = .55
    expect(
      expectedCalibrationError([
        { confidence: 0.95, correct: true },
        { confidence: 0.95, correct: false },
        { confidence: 0.25, correct: true },
      ]),
    ).toBeCloseTo(0.55, 12);
  });
  it('puts confidence 1 in the last bin and honours weights', () => {
    // conf 1 correct (w 1): gap 0; conf .5 wrong (w 3): gap .5, weight 3/4 → .375
    expect(
      expectedCalibrationError([
        { confidence: 1, correct: true },
        { confidence: 0.5, correct: false, weight: 3 },
      ]),
    ).toBeCloseTo(0.375, 12);
    expect(expectedCalibrationError([])).toBeNull();
  });
});

describe('kappa', () => {
  it("Cohen's kappa for a pair", () => {
    // A: x x y y, B: x y y y → p_o = 3/4; marginals A (.5,.5), B (.25,.75): p_e = .125 + .375 = .5
    // κ = (.75 − .5)/(1 − .5) = .5
    const ratings = ['x', 'x', 'y', 'y'].flatMap((a, i) => [
      { item: `i${i}`, rater: 'A', category: a },
      { item: `i${i}`, rater: 'B', category: ['x', 'y', 'y', 'y'][i] },
    ]);
    expect(cohensKappaPairs(ratings)).toEqual([{ raterA: 'A', raterB: 'B', items: 4, observed: 0.75, kappa: 0.5 }]);
  });
  it('Cohen is null when chance agreement is 1', () => {
    expect(
      cohensKappaPairs([
        { item: '1', rater: 'a', category: 'x' },
        { item: '1', rater: 'b', category: 'x' },
      ])[0].kappa,
    ).toBeNull();
  });
  it("Fleiss' kappa", () => {
    // 3 raters. item 1: x x x → P = (9−3)/6 = 1; item 2: x x y → (4+1−3)/6 = 1/3; P̄ = 2/3
    // shares x 5/6, y 1/6 → P̄e = 26/36; κ = (2/3 − 26/36)/(1 − 26/36) = (−2/36)/(10/36) = −.2
    const r = fleissKappa([
      { item: '1', rater: 'a', category: 'x' },
      { item: '1', rater: 'b', category: 'x' },
      { item: '1', rater: 'c', category: 'x' },
      { item: '2', rater: 'a', category: 'x' },
      { item: '2', rater: 'b', category: 'x' },
      { item: '2', rater: 'c', category: 'y' },
      { item: '3', rater: 'a', category: 'y' },
    ]);
    expect(r).toMatchObject({ items: 2, raters: 3 });
    expect(r.observed).toBeCloseTo(2 / 3, 12);
    expect(r.kappa).toBeCloseTo(-0.2, 12);
  });
});

describe('inter-arrival times', () => {
  it('sorts each annotator by time and skips unknowns', () => {
    // a: 100, 130, 160 → [30, 30]; b: one answer → []
    const m = interArrivalSeconds([
      { annotator: 'a', timestamp: 100 },
      { annotator: 'a', timestamp: 160 },
      { annotator: 'a', timestamp: 130 },
      { annotator: 'b', timestamp: 5 },
      { annotator: null, timestamp: 7 },
      { annotator: 'a', timestamp: null },
    ]);
    expect([...m.entries()]).toEqual([
      ['a', [30, 30]],
      ['b', []],
    ]);
  });
});

describe('report labels', () => {
  it('drop the dataset prefix Prodigy puts on every session id', async () => {
    const { dropSharedPrefix } = await import('../../worker/stats/report.js');
    const short = dropSharedPrefix(['support-intents-alice', 'support-intents-bob']);
    expect(short('support-intents-alice')).toBe('alice');
    expect(dropSharedPrefix(['alice', 'bob'])('alice')).toBe('alice');
    expect(dropSharedPrefix(['team-a', 'team-a'])('team-a')).toBe('a');
  });
});
