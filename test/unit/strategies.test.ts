import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { uniform01 } from '../../scoring/hash.js';
import {
  STRATEGY_NAMES,
  bald,
  entropy,
  klDisagreement,
  leastConfidence,
  margin,
  ratio,
  requiredFields,
  scoreRange,
  scoreRecord,
  taskStrategies,
  variationRatio,
  voteEntropy,
} from '../../scoring/strategies.js';
import type { PredictionRecord, StrategyName, TaskType } from '../../scoring/types.js';

const seed = 'round-1';

function score(name: StrategyName, rec: Partial<PredictionRecord>, labels: string[] = [], reduce?: 'max' | 'mean'): number {
  const r = scoreRecord({ id: 'x', ...rec }, labels, { name, seed, reduce });
  if (!r.ok) throw new Error(`${r.field}: ${r.reason}`);
  return r.score;
}

describe('single-label strategies by hand', () => {
  // p = (0.7, 0.2, 0.1)
  const probs = { a: 0.7, b: 0.2, c: 0.1 };
  const labels = ['a', 'b', 'c'];

  it('least-confidence = 1 − 0.7 = 0.3', () => {
    expect(score('least-confidence', { probs }, labels)).toBeCloseTo(0.3, 14);
  });
  it('margin = 1 − (0.7 − 0.2) = 0.5', () => {
    expect(score('margin', { probs }, labels)).toBeCloseTo(0.5, 14);
  });
  it('ratio = 0.2 / 0.7 = 0.285714…', () => {
    expect(score('ratio', { probs }, labels)).toBeCloseTo(2 / 7, 14);
  });
  it('entropy = −(0.7 ln 0.7 + 0.2 ln 0.2 + 0.1 ln 0.1) = 0.249672 + 0.321888 + 0.230259 = 0.801819', () => {
    expect(score('entropy', { probs }, labels)).toBeCloseTo(0.8018185525, 9);
  });
  it('entropy of the uniform distribution over 4 labels is ln 4, and 0 ln 0 counts as 0', () => {
    expect(score('entropy', { probs: { a: 0.25, b: 0.25, c: 0.25, d: 0.25 } }, ['a', 'b', 'c', 'd'])).toBeCloseTo(Math.log(4), 14);
    expect(score('entropy', { probs: { a: 1, b: 0 } }, ['a', 'b'])).toBe(0);
  });
  it('ties: margin 1 and ratio 1 for (0.5, 0.5); one label: margin = 1 − p1', () => {
    expect(margin([0.5, 0.5])).toBe(1);
    expect(ratio([0.5, 0.5])).toBe(1);
    expect(margin([0.8])).toBeCloseTo(0.2, 14);
    expect(ratio([0, 0])).toBe(1); // documented: all-zero is a tie, not NaN
  });
  it('a label missing from probs counts as 0: (0.6, 0.4, –) scores like (0.6, 0.4, 0)', () => {
    expect(score('entropy', { probs: { a: 0.6, b: 0.4 } }, labels)).toBe(score('entropy', { probs: { a: 0.6, b: 0.4, c: 0 } }, labels));
  });
  it('without labels, the record keys sorted by code unit are the label order', () => {
    expect(score('entropy', { probs: { c: 0.1, a: 0.7, b: 0.2 } })).toBe(score('entropy', { probs }, labels));
  });
  it('kernels accept offsets into a row-major buffer', () => {
    const m = new Float64Array([0.9, 0.1, 0.7, 0.3]);
    expect(leastConfidence(m, 2, 2)).toBeCloseTo(0.3, 14);
    expect(entropy(m, 2, 2)).toBe(entropy([0.7, 0.3]));
  });
});

describe('multi-label strategies by hand', () => {
  const labels = ['a', 'b', 'c'];
  it('multilabel-entropy = mean(H(0.5), H(0.9), H(0)) = (0.693147 + 0.325083 + 0) / 3 = 0.339410', () => {
    // H(0.9) = −0.9 ln 0.9 − 0.1 ln 0.1 = 0.094824 + 0.230259 = 0.325083
    expect(score('multilabel-entropy', { probs: { a: 0.5, b: 0.9, c: 0 } }, labels)).toBeCloseTo(0.3394100513, 9);
  });
  it('multilabel-min-margin: q = 0.5 decides → 1; (0.9, 0.2) → 1 − min(0.8, 0.6) = 0.4', () => {
    expect(score('multilabel-min-margin', { probs: { a: 0.5, b: 0.9, c: 0 } }, labels)).toBe(1);
    expect(score('multilabel-min-margin', { probs: { a: 0.9, b: 0.2 } }, ['a', 'b'])).toBeCloseTo(0.4, 14);
  });
});

describe('span strategies by hand', () => {
  const spans = [0.9, 0.6, 0.75].map((s, i) => ({ start: i, end: i + 1, label: 'PER', score: s }));
  it('span-min = 1 − 0.6 = 0.4; span-mean = 1 − (0.9 + 0.6 + 0.75) / 3 = 1 − 0.75 = 0.25', () => {
    expect(score('span-min', { spans })).toBeCloseTo(0.4, 14);
    expect(score('span-mean', { spans })).toBeCloseTo(0.25, 14);
  });
  it('no spans, no token marginals: 0', () => {
    expect(score('span-min', { spans: [] })).toBe(0);
    expect(score('span-mean', { spans: [] })).toBe(0);
  });
  it('no spans, token marginals [[0.9, 0.1], [0.6, 0.4]]: span-min = 1 − min(0.9, 0.6) = 0.4, span-mean = 1 − 0.75 = 0.25', () => {
    const token_probs = [
      [0.9, 0.1],
      [0.6, 0.4],
    ];
    expect(score('span-min', { spans: [], token_probs })).toBeCloseTo(0.4, 14);
    expect(score('span-mean', { spans: [], token_probs })).toBeCloseTo(0.25, 14);
  });
  it('token-entropy of [[1, 0], [0.5, 0.5]]: per token (0, ln 2) → max ln 2 = 0.693147, mean 0.346574; no tokens: 0', () => {
    const token_probs = [
      [1, 0],
      [0.5, 0.5],
    ];
    expect(score('token-entropy', { token_probs })).toBeCloseTo(Math.LN2, 14);
    expect(score('token-entropy', { token_probs }, [], 'max')).toBeCloseTo(Math.LN2, 14);
    expect(score('token-entropy', { token_probs }, [], 'mean')).toBeCloseTo(Math.LN2 / 2, 14);
    expect(score('token-entropy', { token_probs: [] })).toBe(0);
  });
});

describe('detection strategies by hand', () => {
  const boxes = [0.9, 0.5].map((s) => ({ x: 0, y: 0, w: 1, h: 1, label: 'car', score: s }));
  it('box-min = 1 − 0.5 = 0.5; box-mean = 1 − 0.7 = 0.3; box-count-weighted = 0.3 × ln 3 = 0.329584', () => {
    expect(score('box-min', { boxes })).toBeCloseTo(0.5, 14);
    expect(score('box-mean', { boxes })).toBeCloseTo(0.3, 14);
    expect(score('box-count-weighted', { boxes })).toBeCloseTo(0.3295836866, 9);
  });
  it('no boxes: 0 for all three', () => {
    for (const name of ['box-min', 'box-mean', 'box-count-weighted'] as const) expect(score(name, { boxes: [] })).toBe(0);
  });
  it('box-count-weighted grows with the number of equally uncertain boxes', () => {
    const mk = (n: number) => Array.from({ length: n }, () => ({ x: 0, y: 0, w: 1, h: 1, label: 'car', score: 0.5 }));
    expect(score('box-count-weighted', { boxes: mk(3) })).toBeGreaterThan(score('box-count-weighted', { boxes: mk(1) }));
  });
});

describe('committee and MC strategies by hand', () => {
  const committee = [
    [0.8, 0.2],
    [0.3, 0.7],
    [0.6, 0.4],
  ];
  it('vote-entropy: votes (2, 1) → −(2/3 ln 2/3 + 1/3 ln 1/3) = 0.270310 + 0.366204 = 0.636514', () => {
    expect(score('vote-entropy', { committee }, ['a', 'b'])).toBeCloseTo(0.6365141683, 9);
  });
  it('vote-entropy ties split the vote: [[0.5, 0.5], [1, 0]] → votes (1.5, 0.5) → −(0.75 ln 0.75 + 0.25 ln 0.25) = 0.562335', () => {
    expect(
      voteEntropy([
        [0.5, 0.5],
        [1, 0],
      ]),
    ).toBeCloseTo(0.5623351446, 9);
    expect(
      voteEntropy([
        [0.5, 0.5],
        [0, 1],
      ]),
    ).toBe(
      voteEntropy([
        [0.5, 0.5],
        [1, 0],
      ]),
    );
  });
  it('kl-disagreement: consensus (1.7/3, 1.3/3); KLs 0.121234, 0.144904, 0.002278 → mean 0.089472', () => {
    // KL1 = 0.8 ln(0.8/0.566667) + 0.2 ln(0.2/0.433333) = 0.275872 − 0.154638
    // KL2 = 0.3 ln(0.3/0.566667) + 0.7 ln(0.7/0.433333) = −0.190797 + 0.335701
    // KL3 = 0.6 ln(0.6/0.566667) + 0.4 ln(0.4/0.433333) = 0.034295 − 0.032017
    expect(score('kl-disagreement', { committee }, ['a', 'b'])).toBeCloseTo(0.0894723009, 9);
  });
  it('bald: samples (0.9, 0.1), (0.1, 0.9) → H(0.5, 0.5) − mean(H(0.9, 0.1)) = 0.693147 − 0.325083 = 0.368064', () => {
    expect(
      score(
        'bald',
        {
          samples: [
            [0.9, 0.1],
            [0.1, 0.9],
          ],
        },
        ['a', 'b'],
      ),
    ).toBeCloseTo(0.3680642072, 9);
  });
  it('variation-ratio: argmax votes (2, 1) of 3 → 1 − 2/3; (1, 1) of 2 → 0.5', () => {
    expect(
      score(
        'variation-ratio',
        {
          samples: [
            [0.6, 0.4],
            [0.7, 0.3],
            [0.2, 0.8],
          ],
        },
        ['a', 'b'],
      ),
    ).toBeCloseTo(1 / 3, 14);
    expect(
      variationRatio([
        [0.9, 0.1],
        [0.1, 0.9],
      ]),
    ).toBe(0.5);
  });
  it('a single member / sample: no disagreement', () => {
    expect(voteEntropy([[0.3, 0.7]])).toBe(0);
    expect(klDisagreement([[0.3, 0.7]])).toBe(0);
    expect(bald([[0.3, 0.7]])).toBe(0);
    expect(variationRatio([[0.3, 0.7]])).toBe(0);
  });
});

describe('random', () => {
  it('is uniform01(seed, id)', () => {
    expect(scoreRecord({ id: 'abc' }, [], { name: 'random', seed: 's' })).toEqual({ ok: true, score: uniform01('s', 'abc') });
  });
});

describe('unscorable records are tagged values, never throws', () => {
  it('margin without probs', () => {
    expect(scoreRecord({ id: 'x' }, ['a'], { name: 'margin', seed })).toEqual({ ok: false, field: 'probs', reason: 'margin needs probs' });
  });
  it.each([
    ['entropy', { probs: { a: 0.5, z: 0.5 } }, 'probs', /unknown label "z"/],
    ['entropy', { probs: { a: Number.NaN, b: 1 } }, 'probs', /NaN/],
    ['entropy', { probs: { a: -0.1, b: 1.1 } }, 'probs', /negative/],
    ['entropy', { probs: {} }, 'probs', /at least one/],
    ['span-min', {}, 'spans', /needs spans/],
    ['span-mean', { spans: [{ start: 0, end: 1, label: 'X' }] }, 'spans', /score/],
    ['token-entropy', { token_probs: [[0.5, 0.5], [1]] }, 'token_probs', /expected 2/],
    ['box-min', { boxes: [{ x: 0, y: 0, w: 1, h: 1, label: 'a', score: 2 }] }, 'boxes', /above 1/],
    ['vote-entropy', { committee: [] }, 'committee', /at least 1/],
    ['kl-disagreement', { committee: [[0.5, 0.5], [1]] }, 'committee', /expected 2/],
    ['bald', {}, 'samples', /needs samples/],
  ] as const)('%s %j → %s', (name, rec, field, reason) => {
    const r = scoreRecord({ id: 'x', ...(rec as Partial<PredictionRecord>) }, name === 'entropy' ? ['a', 'b'] : [], { name, seed });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.field).toBe(field);
      expect(r.reason).toMatch(reason);
    }
  });
  it('a label called "constructor" absent from probs is 0, not Object.prototype.constructor', () => {
    expect(score('least-confidence', { probs: { a: 1 } }, ['a', 'constructor'])).toBe(0);
  });
});

describe('metadata', () => {
  it('every strategy has required fields, a range with max > min, and a task', () => {
    const tasks: TaskType[] = ['textcat', 'textcat-multilabel', 'ner', 'image-boxes', 'image', 'audio', 'image-segmentation'];
    for (const name of STRATEGY_NAMES) {
      expect(Array.isArray(requiredFields(name))).toBe(true);
      for (const k of [1, 2, 6]) {
        const [lo, hi] = scoreRange(name, k);
        expect(hi).toBeGreaterThan(lo);
      }
      expect(tasks.some((t) => taskStrategies(t).includes(name))).toBe(true);
    }
    expect(scoreRange('entropy', 6)).toEqual([0, Math.log(6)]);
    expect(requiredFields('margin')).toEqual(['probs']);
    expect(taskStrategies('ner')).toContain('token-entropy');
    expect(taskStrategies('textcat')).not.toContain('box-min');
  });
});

// ---------------------------------------------------------------------------
// Properties

const LABELS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
const SINGLE: StrategyName[] = ['least-confidence', 'margin', 'ratio', 'entropy'];
const MULTI: StrategyName[] = ['multilabel-entropy', 'multilabel-min-margin'];
const MAX_TYPE = new Set<StrategyName>(['least-confidence', 'margin', 'ratio', 'multilabel-min-margin']);
const EPS = 1e-12;

/** A probability value with plenty of exact 0s and 1s. */
const prob = fc.oneof(fc.constant(0), fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true }));

function normalise(w: number[]): number[] {
  const s = w.reduce((a, b) => a + b, 0);
  return s > 0 ? w.map((x) => x / s) : w.map(() => 1 / w.length);
}

/** k and a normalised vector of length k. */
const distribution = fc.integer({ min: 1, max: 8 }).chain((k) => fc.array(prob, { minLength: k, maxLength: k }).map(normalise));

/** A permutation of 0 … n−1. */
function permutation(n: number) {
  return fc
    .array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: n, maxLength: n })
    .map((keys) => keys.map((_, i) => i).sort((x, y) => keys[x] - keys[y] || x - y));
}

function toProbs(p: number[], order: number[]): Record<string, number> {
  const o: Record<string, number> = {};
  for (const i of order) o[LABELS[i]] = p[i];
  return o;
}

describe('properties', () => {
  it('permuting the keys of probs never changes a score, bit for bit', () => {
    fc.assert(
      fc.property(
        distribution.chain((p) => fc.tuple(fc.constant(p), permutation(p.length))),
        ([p, perm]) => {
          const labels = LABELS.slice(0, p.length);
          const identity = p.map((_, i) => i);
          for (const name of [...SINGLE, ...MULTI]) {
            expect(score(name, { probs: toProbs(p, perm) }, labels)).toBe(score(name, { probs: toProbs(p, identity) }, labels));
          }
        },
      ),
    );
  });

  it('permuting the label order: max-type scores identical, sum-type equal within rounding', () => {
    fc.assert(
      fc.property(
        distribution.chain((p) => fc.tuple(fc.constant(p), permutation(p.length))),
        ([p, perm]) => {
          const labels = LABELS.slice(0, p.length);
          const shuffled = perm.map((i) => labels[i]);
          const probs = toProbs(
            p,
            p.map((_, i) => i),
          );
          for (const name of [...SINGLE, ...MULTI]) {
            const a = score(name, { probs }, labels);
            const b = score(name, { probs }, shuffled);
            if (MAX_TYPE.has(name)) expect(b).toBe(a);
            else expect(Math.abs(a - b)).toBeLessThanOrEqual(EPS);
          }
          const members = [p, [...p].reverse()];
          const permuted = members.map((m) => perm.map((i) => m[i]));
          for (const f of [voteEntropy, klDisagreement, bald, variationRatio]) {
            expect(Math.abs(f(members) - f(permuted))).toBeLessThanOrEqual(EPS);
          }
        },
      ),
    );
  });

  it('single-label and committee/MC scores stay within scoreRange(name, k)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }).chain((k) => fc.array(fc.array(prob, { minLength: k, maxLength: k }).map(normalise), { minLength: 1, maxLength: 6 })),
        (vs) => {
          const k = vs[0].length;
          const labels = LABELS.slice(0, k);
          const inRange = (name: StrategyName, s: number) => {
            const [lo, hi] = scoreRange(name, k);
            expect(s).toBeGreaterThanOrEqual(lo - EPS);
            expect(s).toBeLessThanOrEqual(hi + EPS);
          };
          for (const name of SINGLE)
            inRange(
              name,
              score(
                name,
                {
                  probs: toProbs(
                    vs[0],
                    vs[0].map((_, i) => i),
                  ),
                },
                labels,
              ),
            );
          for (const name of ['vote-entropy', 'kl-disagreement'] as const) inRange(name, score(name, { committee: vs }, labels));
          for (const name of ['bald', 'variation-ratio'] as const) inRange(name, score(name, { samples: vs }, labels));
          inRange('token-entropy', score('token-entropy', { token_probs: vs }));
        },
      ),
    );
  });

  it('multi-label, span and box scores stay within range', () => {
    fc.assert(
      fc.property(fc.array(prob, { minLength: 0, maxLength: 8 }), (q) => {
        const labels = LABELS.slice(0, q.length);
        if (q.length > 0) {
          for (const name of MULTI) {
            const [lo, hi] = scoreRange(name, q.length);
            const s = score(
              name,
              {
                probs: toProbs(
                  q,
                  q.map((_, i) => i),
                ),
              },
              labels,
            );
            expect(s).toBeGreaterThanOrEqual(lo - EPS);
            expect(s).toBeLessThanOrEqual(hi + EPS);
          }
        }
        const spans = q.map((s, i) => ({ start: i, end: i + 1, label: 'X', score: s }));
        const boxes = q.map((s) => ({ x: 0, y: 0, w: 1, h: 1, label: 'X', score: s }));
        for (const name of ['span-min', 'span-mean'] as const) {
          const s = score(name, { spans });
          expect(s).toBeGreaterThanOrEqual(0);
          expect(s).toBeLessThanOrEqual(1);
        }
        for (const name of ['box-min', 'box-mean'] as const) {
          const s = score(name, { boxes });
          expect(s).toBeGreaterThanOrEqual(0);
          expect(s).toBeLessThanOrEqual(1);
        }
        const bcw = score('box-count-weighted', { boxes });
        expect(bcw).toBeGreaterThanOrEqual(0);
        expect(bcw).toBeLessThanOrEqual(Math.log(1 + q.length) + EPS);
      }),
    );
  });

  it('two classes: entropy, least-confidence, margin and ratio grow as p → 0.5', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 0.5, noNaN: true }), fc.double({ min: 0, max: 0.5, noNaN: true }), (x, y) => {
        const [a, b] = x <= y ? [x, y] : [y, x];
        for (const name of SINGLE) {
          const fa = score(name, { probs: { a, b: 1 - a } }, ['a', 'b']);
          const fb = score(name, { probs: { a: b, b: 1 - b } }, ['a', 'b']);
          expect(fa).toBeLessThanOrEqual(fb + 1e-15);
        }
        // Multi-label: the label nearer 0.5 is the more uncertain one.
        for (const name of MULTI) {
          expect(score(name, { probs: { a } }, ['a'])).toBeLessThanOrEqual(score(name, { probs: { a: b } }, ['a']) + 1e-15);
          expect(score(name, { probs: { a: 1 - a } }, ['a'])).toBeLessThanOrEqual(score(name, { probs: { a: 1 - b } }, ['a']) + 1e-15);
        }
      }),
    );
  });

  it('bald ≥ 0 and kl-disagreement ≥ 0; both exactly 0 when members agree; and they agree (both are the Jensen–Shannon divergence)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }).chain((k) => fc.array(fc.array(prob, { minLength: k, maxLength: k }).map(normalise), { minLength: 1, maxLength: 6 })),
        fc.integer({ min: 1, max: 5 }),
        (vs, copies) => {
          expect(bald(vs)).toBeGreaterThanOrEqual(0);
          expect(klDisagreement(vs)).toBeGreaterThanOrEqual(0);
          expect(Math.abs(bald(vs) - klDisagreement(vs))).toBeLessThanOrEqual(1e-9);
          const same = Array.from({ length: copies }, () => vs[0].slice());
          expect(bald(same)).toBe(0);
          expect(klDisagreement(same)).toBe(0);
          // Hard-vote scores see agreement only when the shared argmax is unique:
          // a tied member splits its vote (documented), so [0.5, 0.5] × n is a coin flip.
          const top = Math.max(...vs[0]);
          if (vs[0].filter((x) => x === top).length === 1) {
            expect(voteEntropy(same)).toBe(0);
            expect(variationRatio(same)).toBe(0);
          }
        },
      ),
    );
  });

  it('scoreRecord never throws on arbitrary JSON-ish records', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...STRATEGY_NAMES),
        fc.record(
          { probs: fc.anything(), spans: fc.anything(), token_probs: fc.anything(), boxes: fc.anything(), committee: fc.anything(), samples: fc.anything() },
          { requiredKeys: [] },
        ),
        (name, rec) => {
          const r = scoreRecord({ id: 'x', ...(rec as object) } as PredictionRecord, ['a', 'b'], { name, seed });
          if (r.ok) expect(Number.isFinite(r.score)).toBe(true);
          else expect(typeof r.reason).toBe('string');
        },
      ),
    );
  });
});
