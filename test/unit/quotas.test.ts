import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyQuotas, type QuotaCandidate } from '../../scoring/quotas.js';

// Ranked: a1 .9 cat, a2 .8 cat, a3 .7 cat, b1 .6 dog, a4 .5 cat, b2 .4 dog, c1 .3 bird
const cands: QuotaCandidate[] = [
  { id: 'a1', score: 0.9, label: 'cat' },
  { id: 'a2', score: 0.8, label: 'cat' },
  { id: 'a3', score: 0.7, label: 'cat' },
  { id: 'b1', score: 0.6, label: 'dog' },
  { id: 'a4', score: 0.5, label: 'cat' },
  { id: 'b2', score: 0.4, label: 'dog' },
  { id: 'c1', score: 0.3, label: 'bird' },
];
const sel = (k: number, q: Record<string, number>, c = cands) => applyQuotas(c, k, q).selected.map((x) => x.id);

describe('applyQuotas by hand', () => {
  it('no quotas: plain top K', () => {
    expect(sel(3, {})).toEqual(['a1', 'a2', 'a3']);
  });
  it('quotas first with each label’s best, the rest by global rank, output in rank order', () => {
    // dog ≥ 2 → b1, b2; bird ≥ 1 → c1; 1 slot left → a1.
    expect(sel(4, { dog: 2, bird: 1 })).toEqual(['a1', 'b1', 'b2', 'c1']);
  });
  it('a quota larger than the candidates: all of them, the shortfall reported, slots refilled by rank', () => {
    const r = applyQuotas(cands, 3, { bird: 2 });
    expect(r.selected.map((x) => x.id)).toEqual(['a1', 'a2', 'c1']);
    expect(r.shortfall).toEqual({ bird: 1 });
  });
  it('quotas summing past K share the slots round-robin (round picks in rank order)', () => {
    // Round 0: cat a1, dog b1, bird c1 → K = 2 reached after a1, b1 (rank order).
    expect(sel(2, { cat: 5, dog: 5, bird: 5 })).toEqual(['a1', 'b1']);
    // K = 4: round 0 → a1, b1, c1; round 1 → a2 (rank 2) before b2.
    const r = applyQuotas(cands, 4, { cat: 5, dog: 5, bird: 5 });
    expect(r.selected.map((x) => x.id)).toEqual(['a1', 'a2', 'b1', 'c1']);
    expect(r.shortfall).toEqual({ cat: 3, dog: 4, bird: 4 });
  });
  it('unlabelled candidates only fill by rank; bad quota values count as 0', () => {
    const c = [...cands, { id: 'z', score: 1, label: undefined }];
    expect(sel(2, { dog: Number.NaN, bird: -3, cat: 0.5 }, c)).toEqual(['z', 'a1']);
  });
  it('a label called __proto__ is an ordinary key', () => {
    const r = applyQuotas([{ id: 'x', score: 1, label: 'cat' }], 1, JSON.parse('{"__proto__": 2}') as Record<string, number>);
    expect(Object.keys(r.shortfall)).toEqual(['__proto__']);
  });
});

describe('applyQuotas properties', () => {
  const arb = fc.tuple(
    fc.uniqueArray(
      fc.record({
        id: fc.string({ maxLength: 3 }),
        score: fc.constantFrom(0.1, 0.5, 0.9),
        label: fc.constantFrom('x', 'y', 'z', undefined),
      }),
      { selector: (c) => c.id, maxLength: 30 },
    ),
    fc.integer({ min: 0, max: 35 }),
    fc.record({ x: fc.nat(5), y: fc.nat(5), z: fc.nat(5) }),
    fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 30 }),
  );

  it('deterministic, size min(K, n), rank-ordered, and quotas met whenever they fit in K', () => {
    fc.assert(
      fc.property(arb, ([cs, k, quotas, keys]) => {
        const r = applyQuotas(cs, k, quotas);
        const perm = cs
          .map((c, i) => ({ c, key: keys[i % keys.length] }))
          .sort((a, b) => a.key - b.key)
          .map((o) => o.c);
        expect(applyQuotas(perm, k, quotas)).toEqual(r);
        expect(r.selected.length).toBe(Math.min(k, cs.length));
        for (let i = 1; i < r.selected.length; i++) {
          const [a, b] = [r.selected[i - 1], r.selected[i]];
          expect(a.score > b.score || (a.score === b.score && a.id < b.id)).toBe(true);
        }
        const labels = ['x', 'y', 'z'] as const;
        const need = labels.reduce((s, l) => s + Math.min(quotas[l], cs.filter((c) => c.label === l).length), 0);
        if (need <= k) {
          for (const l of labels) {
            const avail = cs.filter((c) => c.label === l).length;
            const got = r.selected.filter((c) => c.label === l).length;
            expect(got).toBeGreaterThanOrEqual(Math.min(quotas[l], avail));
          }
        }
      }),
    );
  });
});
