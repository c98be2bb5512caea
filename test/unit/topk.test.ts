import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BottomK, TopK, compareDrawn, compareRanked, mergeBottomK, mergeTopK } from '../../scoring/topk.js';
import type { SourceRef } from '../../scoring/types.js';

interface E {
  id: string;
  score: number;
  u: number;
  source?: SourceRef;
}

describe('TopK by hand', () => {
  it('keeps the K highest scores in rank order; ties go to the smaller id (code units)', () => {
    const t = new TopK<E>(3);
    for (const [id, score] of [
      ['b', 0.5],
      ['a', 0.5],
      ['z', 0.9],
      ['c', 0.1],
      ['B', 0.5],
    ] as const)
      t.push({ id, score, u: 0 });
    // 'B' (0x42) < 'a' (0x61) < 'b': the three 0.5s rank B, a, b; only two fit after z.
    expect(t.values().map((e) => e.id)).toEqual(['z', 'B', 'a']);
  });
  it('wouldKeep predicts push, NaN is never kept, K = 0 keeps nothing', () => {
    const t = new TopK<E>(1);
    expect(t.wouldKeep({ id: 'a', score: 0.5, u: 0 })).toBe(true);
    t.push({ id: 'a', score: 0.5, u: 0 });
    expect(t.wouldKeep({ id: 'b', score: 0.5, u: 0 })).toBe(false);
    expect(t.wouldKeep({ id: '0', score: 0.5, u: 0 })).toBe(true);
    expect(t.push({ id: 'n', score: Number.NaN, u: 0 })).toBe(false);
    const none = new TopK<E>(0);
    expect(none.push({ id: 'a', score: 1, u: 0 })).toBe(false);
    expect(none.values()).toEqual([]);
  });
  it('the same id with the same score resolves by source (object, then line)', () => {
    const t = new TopK<E>(1);
    t.push({ id: 'a', score: 1, u: 0, source: { object: 'f2', line: 1 } });
    t.push({ id: 'a', score: 1, u: 0, source: { object: 'f1', line: 9 } });
    t.push({ id: 'a', score: 1, u: 0, source: { object: 'f1', line: 3 } });
    expect(t.values()[0].source).toEqual({ object: 'f1', line: 3 });
  });
});

describe('TopK edge cases', () => {
  it('-0 and +0 are the same score (the id decides)', () => {
    const t = new TopK<E>(1);
    t.push({ id: 'b', score: 0, u: 0 });
    t.push({ id: 'a', score: -0, u: 0 });
    expect(t.values()[0].id).toBe('a');
  });
});

describe('BottomK by hand', () => {
  it('keeps the K smallest u; ties by id', () => {
    const b = new BottomK<E>(2);
    for (const [id, u] of [
      ['x', 0.3],
      ['y', 0.1],
      ['a', 0.3],
      ['w', 0.9],
    ] as const)
      b.push({ id, u, score: 0 });
    expect(b.values().map((e) => e.id)).toEqual(['y', 'a']);
  });
});

// Scores and u drawn from small sets so ties (and duplicate ids) are common.
const entry = fc.record(
  {
    id: fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'A', 'é', '😀'), maxLength: 3 }),
    score: fc.constantFrom(0, 0.25, 0.5, 1, -0, 0.125),
    u: fc.constantFrom(0, 0.5, 0.75),
    source: fc.option(fc.record({ object: fc.constantFrom('f1', 'f2'), line: fc.integer({ min: 1, max: 3 }) }), { nil: undefined }),
  },
  { requiredKeys: ['id', 'score', 'u'] },
);

// Entries equal on every key of the order are interchangeable; compare those keys
// (score −0 and +0 are one key value).
const rankKey = (e: E) => [e.score === 0 ? 0 : e.score, e.id, e.source ?? null];
const drawKey = (e: E) => [e.u, e.id, e.source ?? null];

/** Splits `xs` at the given cut points into contiguous chunks. */
function chunks<T>(xs: T[], cuts: number[]): T[][] {
  const at = [...new Set(cuts.map((c) => c % (xs.length + 1)))].sort((a, b) => a - b);
  const out: T[][] = [];
  let prev = 0;
  for (const c of at) {
    out.push(xs.slice(prev, c));
    prev = c;
  }
  out.push(xs.slice(prev));
  return out;
}

/** The reference: every id once, by its best copy, in rank order. */
function bestPerId(xs: E[], cmp: (a: E, b: E) => number): E[] {
  const seen = new Set<string>();
  return xs
    .slice()
    .sort(cmp)
    .filter((e) => !seen.has(e.id) && seen.add(e.id) !== undefined);
}

function shuffled<T>(xs: T[], keys: number[]): T[] {
  return xs
    .map((x, i) => ({ x, k: keys[i % keys.length] ?? 0, i }))
    .sort((a, b) => a.k - b.k || a.i - b.i)
    .map((o) => o.x);
}

describe('order independence (what makes shards and threads invisible)', () => {
  const scenario = fc.tuple(
    fc.array(entry, { maxLength: 60 }),
    fc.integer({ min: 0, max: 20 }),
    fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 60 }),
    fc.array(fc.nat(), { maxLength: 8 }),
  );

  it('TopK: shuffle, split into chunks, local top-K, merge → the sorted prefix of the best copy per id', () => {
    fc.assert(
      fc.property(scenario, ([xs, k, keys, cuts]) => {
        const expected = bestPerId(xs, compareRanked).slice(0, k);
        const direct = new TopK<E>(k);
        for (const e of xs) direct.push(e);
        expect(direct.values().map(rankKey)).toEqual(expected.map(rankKey));
        const locals = chunks(shuffled(xs, keys), cuts).map((c) => mergeTopK(k, [c]));
        const merged = new TopK<E>(k).merge(shuffled(locals, keys)).values();
        expect(merged.map(rankKey)).toEqual(expected.map(rankKey));
      }),
    );
  });

  it('BottomK: the same for the audit sample by u', () => {
    fc.assert(
      fc.property(scenario, ([xs, k, keys, cuts]) => {
        const expected = bestPerId(xs, compareDrawn).slice(0, k);
        const locals = chunks(shuffled(xs, keys), cuts).map((c) => mergeBottomK(k, [c]));
        expect(mergeBottomK(k, shuffled(locals, keys)).map(drawKey)).toEqual(expected.map(drawKey));
      }),
    );
  });

  it('never keeps an id twice: ten copies of one id take one place', () => {
    const t = new TopK<E>(5);
    for (let i = 0; i < 10; i++) t.push({ id: 'same', score: 1, u: 0, source: { object: 'f', line: 10 - i } });
    for (const id of ['b', 'c', 'd', 'e']) t.push({ id, score: 0.5, u: 0 });
    const kept = t.values();
    expect(kept.map((e) => e.id)).toEqual(['same', 'b', 'c', 'd', 'e']);
    // Equal copies resolve by source: the first line wins, whichever arrived first.
    expect(kept[0].source).toEqual({ object: 'f', line: 1 });
  });

  it('copies(): the losing copies of kept ids that rank before the root, the same however the input was split', () => {
    const C = 2;
    fc.assert(
      fc.property(scenario, ([xs, k, keys, cuts]) => {
        const kept = bestPerId(xs, compareRanked).slice(0, k);
        const root = kept.length === k && k > 0 ? kept[k - 1] : undefined;
        const keptIds = new Set(kept.map((e) => e.id));
        const perId = new Map<string, E[]>();
        for (const e of xs.slice().sort(compareRanked)) if (keptIds.has(e.id)) perId.set(e.id, [...(perId.get(e.id) ?? []), e]);
        const expected = [...perId.values()]
          .flatMap((list) => list.slice(1, 1 + C))
          .filter((e) => root === undefined || compareRanked(e, root) < 0)
          .sort(compareRanked);
        const direct = new TopK<E>(k, { copiesPerId: C });
        for (const e of xs) direct.push(e);
        expect(direct.copies().map(rankKey)).toEqual(expected.map(rankKey));
        // Split, kept per chunk, merged as threads and the main thread merge: values first, then copies.
        const main = new TopK<E>(k, { copiesPerId: C });
        for (const c of chunks(shuffled(xs, keys), cuts)) {
          const local = new TopK<E>(k, { copiesPerId: C });
          for (const e of c) local.push(e);
          main.merge([local.values(), local.copies()]);
        }
        expect(main.values().map(rankKey)).toEqual(kept.map(rankKey));
        expect(main.copies().map(rankKey)).toEqual(expected.map(rankKey));
      }),
    );
  });

  it('wouldKeep always agrees with push', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 40 }), fc.integer({ min: 0, max: 5 }), (xs, k) => {
        const t = new TopK<E>(k);
        for (const e of xs) {
          const w = t.wouldKeep(e);
          expect(t.push(e)).toBe(w);
          expect(t.size).toBeLessThanOrEqual(k);
        }
      }),
    );
  });
});
