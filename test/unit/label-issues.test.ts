import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { analyzeLabelIssues } from '../../scoring/label-issues/batch.js';
import { checkItem } from '../../scoring/label-issues/input.js';
import { calibrateJoint, confidentClass, noiseRates, pruneCounts } from '../../scoring/label-issues/joint.js';
import { pairwiseSum, roundHalfEven, roundPreservingSum } from '../../scoring/label-issues/numpy.js';
import { PruneSelector, itemScores, rankIssues } from '../../scoring/label-issues/prune.js';
import { addToClassSums, confidentThresholds, mergeClassSums, newClassSums } from '../../scoring/label-issues/sums.js';

interface Fixture {
  classes: number;
  labels: number[];
  predProbs: number[][];
  expected: {
    thresholds: number[];
    confidentJointRaw: number[][];
    confidentJoint: number[][];
    labelNoise: number[];
    numLabelIssuesCalibrated: number;
    selfConfidence: { indices: number[]; tiedScoresAmongIssues: number };
    normalizedMargin: { indices: number[]; tiedScoresAmongIssues: number };
  };
}

function fixture(name: string): Fixture {
  return JSON.parse(readFileSync(new URL(`../fixtures/label-issues/${name}.json`, import.meta.url), 'utf8')) as Fixture;
}

const UNTIED = ['blobs-4x3000', 'missing-class-5x600', 'minority-3x800'];

describe('agreement with cleanlab 2.x find_label_issues(filter_by="prune_by_noise_rate")', () => {
  for (const name of UNTIED) {
    const f = fixture(name);
    const probs = f.predProbs.flat();
    for (const [rankBy, key] of [
      ['self-confidence', 'selfConfidence'],
      ['normalized-margin', 'normalizedMargin'],
    ] as const) {
      it(`${name}: the same issues in the same order, ranked by ${rankBy}`, () => {
        expect(f.expected[key].tiedScoresAmongIssues).toBe(0); // the fixture has no ties, so order is fully determined
        const a = analyzeLabelIssues(f.labels, probs, f.classes, { rankBy, parts: 3 });
        expect(a.issues.map((x) => x.payload)).toEqual(f.expected[key].indices);
      });
    }
    it(`${name}: thresholds, confident joint and noise rates`, () => {
      const k = f.classes;
      const a = analyzeLabelIssues(f.labels, probs, k, { rankBy: 'self-confidence' });
      // numpy's pairwise mean and the exact mean may differ in the last ulp.
      for (const [j, t] of a.thresholds.entries()) expect(t).toBeCloseTo(f.expected.thresholds[j], 14);
      const rawClipped = a.rawJoint.map((c, cell) => (cell % (k + 1) === 0 ? Math.max(c, 1) : c));
      expect(rawClipped).toEqual(f.expected.confidentJointRaw.flat());
      expect(a.confidentJoint).toEqual(f.expected.confidentJoint.flat());
      expect(a.noise.issues).toBe(f.expected.numLabelIssuesCalibrated);
      for (const [j, r] of a.noise.perClass.entries()) {
        // cleanlab reports 0 for a class nobody labelled; reviewloop says it has no rate.
        if (a.labelCounts[j] === 0) expect(r).toBeNull();
        else expect(r).toBeCloseTo(f.expected.labelNoise[j], 12);
      }
    });
  }

  it("ties-3x1000 (probabilities on a 1/20 grid): the same issues; equal scores in input order, otherwise cleanlab's order", () => {
    const f = fixture('ties-3x1000');
    const probs = f.predProbs.flat();
    for (const [rankBy, key] of [
      ['self-confidence', 'selfConfidence'],
      ['normalized-margin', 'normalizedMargin'],
    ] as const) {
      const a = analyzeLabelIssues(f.labels, probs, f.classes, { rankBy, parts: 4 });
      expect(f.expected[key].tiedScoresAmongIssues).toBeGreaterThan(0); // the fixture does exercise ties
      const got = a.issues.map((x) => x.payload);
      const want = f.expected[key].indices;
      expect([...got].sort((x, y) => x - y)).toEqual([...want].sort((x, y) => x - y));
      const score = (i: number) => {
        const s = itemScores(f.labels[i], probs, i * f.classes, f.classes);
        return rankBy === 'self-confidence' ? s.selfConfidence : s.normalizedMargin;
      };
      // cleanlab's sequence of scores is ours; within a run of equal scores ours is in index order.
      expect(got.map(score)).toEqual(want.map(score));
      for (let r = 1; r < got.length; r++) if (score(got[r]) === score(got[r - 1])) expect(got[r]).toBeGreaterThan(got[r - 1]);
    }
  });
});

describe('per-class thresholds (pass 1)', () => {
  it('t_j is the mean of p_j over items labelled j; an absent class gets 2; a floor of 2e-6', () => {
    const s = newClassSums(4);
    for (const [label, p] of [
      [0, 0.9],
      [0, 0.7],
      [1, 0.6],
      [1, 0.8],
      [1, 0.4],
      [3, 0],
      [3, 0],
    ] as const)
      addToClassSums(s, label, p);
    expect(s.counts).toEqual([2, 3, 0, 2]);
    const t = confidentThresholds(s);
    expect(t[0]).toBeCloseTo(0.8, 15);
    expect(t[1]).toBeCloseTo(0.6, 15);
    expect(t[2]).toBe(2);
    expect(t[3]).toBe(2e-6);
  });
  it('partials merge to the same bits whatever the split and order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 299 }),
        (items, cut) => {
          const whole = newClassSums(3);
          for (const [l, p] of items) addToClassSums(whole, l, p);
          const a = newClassSums(3);
          const b = newClassSums(3);
          for (const [i, [l, p]] of items.entries()) addToClassSums(i < cut ? a : b, l, p);
          const reversed = newClassSums(3);
          for (const [l, p] of [...items].reverse()) addToClassSums(reversed, l, p);
          const t = confidentThresholds(whole);
          expect(confidentThresholds(mergeClassSums(b, a))).toEqual(t);
          expect(confidentThresholds(reversed)).toEqual(t);
        },
      ),
    );
  });
});

describe('confident joint (pass 2)', () => {
  it('counts an item into the one class above its threshold, the argmax when several are, none when none is', () => {
    expect(confidentClass([0.2, 0.35, 0.45], 0, 3, [0.5, 0.3, 0.3])).toBe(2);
    expect(confidentClass([0.6, 0.2, 0.2], 0, 3, [0.5, 0.3, 0.3])).toBe(0);
    expect(confidentClass([0.5, 0.5], 0, 2, [0.9, 0.9])).toBe(-1);
    // Within the 1e-6 slack counts as reaching the threshold.
    expect(confidentClass([0.2999995, 0.7000005], 0, 2, [0.3, 0.9])).toBe(0);
    // Classes 1 and 2 reach their thresholds; the argmax (class 0) does not, and still wins: cleanlab's rule.
    expect(confidentClass([0.8, 0.1, 0.1], 0, 3, [0.9, 0.1, 0.1])).toBe(0);
    // Equal maxima: the first.
    expect(confidentClass([0.1, 0.45, 0.45], 0, 3, [0.5, 0.4, 0.4])).toBe(1);
  });
  it('calibration: diagonal at least 1, rows rescaled to their label counts, rounded preserving row totals', () => {
    expect(calibrateJoint([3, 1, 0, 0], [8, 2])).toEqual([6, 2, 0, 2]);
    // 10/3 three times rounds to 3,3,3; the missing unit goes to the largest residual, equal residuals → the last index.
    expect(calibrateJoint([1, 1, 1, 0, 1, 0, 0, 0, 1], [10, 1, 1])).toEqual([3, 3, 4, 0, 1, 0, 0, 0, 1]);
  });
  it('prune counts: a zero diagonal is raised to 1 and taken back from the nonzero cells of its row', () => {
    expect(pruneCounts([0, 3, 2, 1, 5, 0, 0, 0, 4], 3)).toEqual([1, 2, 1, 1, 5, 0, 0, 0, 4]);
    expect(pruneCounts([0, 3, 2, 1, 1, 5, 0, 0, 0, 0, 4, 0, 0, 0, 0, 1], 4)).toEqual([1, 2, 1, 0, 1, 5, 0, 0, 0, 0, 4, 0, 0, 0, 0, 1]);
  });
  it('noise rates: off-diagonal share per row and overall; a class with no items has none', () => {
    expect(noiseRates([6, 2, 0, 2], 2)).toEqual({ perClass: [0.25, 0], overall: 0.2, issues: 2 });
    expect(noiseRates([4, 0, 0, 0], 2)).toEqual({ perClass: [0, null], overall: 0, issues: 0 });
  });
});

describe('prune by noise rate (pass 3)', () => {
  it('takes the n_ij largest margins p_j − p_i in each cell; an equal margin at the cut goes to the earlier item', () => {
    const probs = [
      [0.2, 0.8],
      [0.3, 0.7],
      [0.3, 0.7],
      [0.9, 0.1],
      [0.1, 0.9],
      [0.2, 0.8],
    ];
    const labels = [0, 0, 0, 0, 1, 1];
    const sel = new PruneSelector<number>(2, [4, 2, 0, 2], [4, 2]);
    for (const [r, p] of probs.entries()) sel.offer(labels[r], p, 0, { object: 'o', line: r + 1 }, () => r);
    const ranked = rankIssues(sel.flagged(), 'self-confidence');
    expect(ranked.map((x) => x.payload)).toEqual([0, 1]);
    expect(ranked[0]).toMatchObject({ cells: [1], scores: { label: 0, suggested: 1, selfConfidence: 0.2 } });
  });
  it('an item that agrees with its label keeps its place at the cut but is never flagged', () => {
    const sel = new PruneSelector<string>(3, [9, 1, 0, 0, 9, 0, 0, 0, 9], [2, 0, 0]);
    sel.offer(0, [0.45, 0.4, 0.15], 0, { object: 'o', line: 1 }, () => 'agrees');
    sel.offer(0, [0.2, 0.1, 0.7], 0, { object: 'o', line: 2 }, () => 'argmax-2');
    expect(sel.flagged()).toEqual([]);
  });
  it('a class with one item is never pruned', () => {
    const sel = new PruneSelector<string>(2, [0, 1, 0, 5], [1, 5]);
    sel.offer(0, [0.1, 0.9], 0, { object: 'o', line: 1 }, () => 'only');
    expect(sel.flagged()).toEqual([]);
  });
  it('item scores: self-confidence, normalised margin, suggestion, and agreement within 1e-6 (first index wins ties)', () => {
    expect(itemScores(1, [0.5, 0.3, 0.2], 0, 3)).toEqual({ label: 1, suggested: 0, selfConfidence: 0.3, normalizedMargin: (0.3 - 0.5 + 1) / 2, agrees: false });
    expect(itemScores(1, [0.5, 0.5], 0, 2).agrees).toBe(true);
    expect(itemScores(0, [0.5, 0.5], 0, 2).agrees).toBe(true);
    expect(itemScores(1, [0.5000015, 0.4999985], 0, 2).agrees).toBe(false);
    expect(itemScores(1, [0.5000004, 0.4999996], 0, 2).agrees).toBe(true);
  });
  it('the result does not depend on how the input is split among threads', () => {
    const f = fixture('blobs-4x3000');
    const probs = f.predProbs.flat();
    const one = analyzeLabelIssues(f.labels, probs, f.classes, { rankBy: 'normalized-margin', parts: 1 });
    for (const parts of [2, 7, 64]) {
      const many = analyzeLabelIssues(f.labels, probs, f.classes, { rankBy: 'normalized-margin', parts });
      expect(many).toEqual(one);
    }
  });
});

describe('numpy behaviours reproduced', () => {
  it('round half to even', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 3.7].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2, 4]);
  });
  it('pairwise sum: < 8 left to right, then 8 accumulators', () => {
    const a = [1e16, 1, -1e16, 1, 1, 1, 1, 1, 1];
    expect(pairwiseSum(a.slice(0, 3))).toBe(0); // (1e16 + 1) − 1e16 in sequence loses the 1
    expect(pairwiseSum(a)).toBe(a[0] + a[1] + (a[2] + a[3]) + (a[4] + a[5] + (a[6] + a[7])) + a[8]);
  });
  it('round preserving sum moves the total back to the rounded original total', () => {
    expect(roundPreservingSum([0.6, 0.6, 0.8])).toEqual([0, 1, 1]);
    expect(roundPreservingSum([2.5, 2.5])).toEqual([2, 3]);
  });
});

describe('bad inputs are typed rejects', () => {
  const opts = { classes: ['billing', 'shipping', 'other'], sumTolerance: 1e-3 };
  it('accepts a vector or a probs object in any key order, read in label order', () => {
    const a = checkItem('shipping', [0.2, 0.7, 0.1], opts);
    const b = checkItem('shipping', { other: 0.1, billing: 0.2, shipping: 0.7 }, opts);
    expect(a).toEqual({ ok: true, label: 1, p: new Float64Array([0.2, 0.7, 0.1]) });
    expect(b).toEqual(a);
  });
  const cases: [string, unknown, unknown, string, string][] = [
    ['label not in the set', 'refund', [0.2, 0.7, 0.1], 'LABEL_NOT_IN_SET', 'label'],
    ['label of the wrong type', 3, [0.2, 0.7, 0.1], 'LABEL_NOT_IN_SET', 'label'],
    ['no label', undefined, [0.2, 0.7, 0.1], 'LABEL_MISSING', 'label'],
    ['no probabilities', 'billing', undefined, 'PROBS_MISSING', 'probs'],
    ['too few probabilities', 'billing', [0.3, 0.7], 'PROBS_WIDTH', 'probs'],
    ['too many probabilities', 'billing', [0.3, 0.6, 0.1, 0], 'PROBS_WIDTH', 'probs'],
    ['NaN', 'billing', [Number.NaN, 0.7, 0.3], 'PROBS_NOT_FINITE', 'probs[0]'],
    ['a string', 'billing', [0.3, '0.7', 0], 'PROBS_NOT_FINITE', 'probs[1]'],
    ['Infinity', 'billing', { billing: Number.POSITIVE_INFINITY, shipping: 0, other: 0 }, 'PROBS_NOT_FINITE', 'probs.billing'],
    ['negative', 'billing', [1.2, -0.2, 0], 'PROBS_OUT_OF_RANGE', 'probs[0]'],
    ['sum far from 1', 'billing', [0.3, 0.3, 0.3], 'PROBS_SUM', 'probs'],
    ['a label of another set', 'billing', { billing: 0.5, shipping: 0.4, refund: 0.1 }, 'PROBS_LABEL_SET', 'probs.refund'],
    ['a label missing', 'billing', { billing: 0.5, shipping: 0.5 }, 'PROBS_LABEL_SET', 'probs'],
    ['__proto__ as a key', 'billing', JSON.parse('{"billing":0.5,"shipping":0.5,"__proto__":0}'), 'PROBS_LABEL_SET', 'probs.__proto__'],
  ];
  for (const [what, label, probs, code, field] of cases) {
    it(`${what} → ${code} on ${field}`, () => {
      const r = checkItem(label, probs, opts);
      expect(r).toMatchObject({ ok: false, code, field });
      if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
    });
  }
});
