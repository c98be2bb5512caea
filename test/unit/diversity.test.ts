import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { kCenterGreedy, type DiversityCandidate } from '../../scoring/diversity.js';

function ids(r: ReturnType<typeof kCenterGreedy>): string[] {
  if (!r.ok) throw new Error(r.reason);
  return r.ids;
}

describe('kCenterGreedy by hand', () => {
  // On a line: A(0) B(0.1) C(10) D(5), scores A > B > C > D.
  const line: DiversityCandidate[] = [
    { id: 'A', score: 0.9, embedding: [0] },
    { id: 'B', score: 0.8, embedding: [0.1] },
    { id: 'C', score: 0.7, embedding: [10] },
    { id: 'D', score: 0.6, embedding: [5] },
  ];

  it('picks the best first, then the farthest from the picked set', () => {
    // After A: d²(B)=0.01, d²(C)=100, d²(D)=25 → C. Then nearest: B 0.01, D min(25, 25)=25 → D. Then B.
    expect(ids(kCenterGreedy(line, 3))).toEqual(['A', 'C', 'D']);
    expect(ids(kCenterGreedy(line, 10))).toEqual(['A', 'C', 'D', 'B']);
    expect(ids(kCenterGreedy(line, 0))).toEqual([]);
  });

  it('equal distances go to the higher score, then the smaller id', () => {
    const c: DiversityCandidate[] = [
      { id: 'O', score: 1, embedding: [0, 0] },
      { id: 'y', score: 0.5, embedding: [0, 1] },
      { id: 'x', score: 0.5, embedding: [1, 0] },
      { id: 'w', score: 0.7, embedding: [-1, 0] },
    ];
    expect(ids(kCenterGreedy(c, 4))).toEqual(['O', 'w', 'x', 'y']);
  });

  it('limits the pool to the top M candidates', () => {
    expect(ids(kCenterGreedy(line, 3, { candidates: 2 }))).toEqual(['A', 'B']);
  });

  it('cosine ignores vector length', () => {
    const c: DiversityCandidate[] = [
      { id: 'a', score: 3, embedding: [1, 0] },
      { id: 'b', score: 2, embedding: [100, 1] }, // same direction as a, far in L2
      { id: 'c', score: 1, embedding: [0, 1] },
    ];
    expect(ids(kCenterGreedy(c, 2))).toEqual(['a', 'b']);
    expect(ids(kCenterGreedy(c, 2, { metric: 'cosine' }))).toEqual(['a', 'c']);
  });

  it('a repeated id is picked once', () => {
    const c: DiversityCandidate[] = [
      { id: 'a', score: 1, embedding: [0] },
      { id: 'a', score: 0.5, embedding: [9] },
      { id: 'b', score: 0.4, embedding: [1] },
    ];
    expect(ids(kCenterGreedy(c, 3))).toEqual(['a', 'b']);
  });

  it('bad embeddings and scores are tagged values', () => {
    expect(
      kCenterGreedy(
        [
          { id: 'a', score: 1, embedding: [0, 1] },
          { id: 'b', score: 0, embedding: [1] },
        ],
        2,
      ),
    ).toMatchObject({ ok: false, id: 'b', field: 'embedding' });
    expect(kCenterGreedy([{ id: 'a', score: 1, embedding: [Number.NaN] }], 1)).toMatchObject({ ok: false, id: 'a', field: 'embedding' });
    expect(kCenterGreedy([{ id: 'a', score: 1, embedding: [] }], 1)).toMatchObject({ ok: false, field: 'embedding' });
    expect(kCenterGreedy([{ id: 'a', score: Number.NaN, embedding: [1] }], 1)).toMatchObject({ ok: false, field: 'score' });
  });
});

describe('kCenterGreedy properties', () => {
  const cands = fc.uniqueArray(
    fc.record({
      id: fc.string({ maxLength: 3 }),
      score: fc.constantFrom(0, 0.5, 1),
      embedding: fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 2, maxLength: 2 }),
    }),
    { selector: (c) => c.id, maxLength: 25 },
  );

  it('is independent of input order, starts with the best-ranked, returns distinct ids', () => {
    fc.assert(
      fc.property(
        cands,
        fc.integer({ min: 0, max: 30 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 25 }),
        (cs, k, keys) => {
          const a = ids(kCenterGreedy(cs, k));
          const perm = cs
            .map((c, i) => ({ c, key: keys[i % keys.length] }))
            .sort((x, y) => x.key - y.key)
            .map((o) => o.c);
          expect(ids(kCenterGreedy(perm, k))).toEqual(a);
          expect(a.length).toBe(Math.min(k, cs.length));
          expect(new Set(a).size).toBe(a.length);
          if (a.length > 0) {
            const best = cs.slice().sort((x, y) => y.score - x.score || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))[0];
            expect(a[0]).toBe(best.id);
          }
        },
      ),
    );
  });

  it('each pick is at least as far from the earlier picks as any later pick is (greedy farthest-first)', () => {
    fc.assert(
      fc.property(cands, (cs) => {
        const order = ids(kCenterGreedy(cs, cs.length));
        const emb = new Map(cs.map((c) => [c.id, c.embedding]));
        const d2 = (a: number[], b: number[]) => a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0);
        for (let t = 1; t < order.length; t++) {
          const picked = order.slice(0, t).map((id) => emb.get(id)!);
          const gap = (id: string) => Math.min(...picked.map((p) => d2(p, emb.get(id)!)));
          for (const later of order.slice(t)) expect(gap(order[t])).toBeGreaterThanOrEqual(gap(later));
        }
      }),
    );
  });
});
