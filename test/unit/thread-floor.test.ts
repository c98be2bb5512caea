import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ThreadFloors } from '../../worker/pool/thread-floor.js';

describe('thread floors', () => {
  // Ids from a small set, so the same id is kept by several tasks (duplicated records).
  const kept = fc.record({ id: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), score: fc.double({ noNaN: true, min: -5, max: 5 }) });

  it('is the k-th best of the best score per id a run has kept on this thread, and nothing before k ids', () => {
    fc.assert(
      fc.property(fc.array(fc.array(kept, { maxLength: 30 }), { maxLength: 8 }), fc.integer({ min: 1, max: 8 }), (tasks, k) => {
        const f = new ThreadFloors();
        const best = new Map<string, number>();
        for (const entries of tasks) {
          f.note('r', k, entries);
          for (const e of entries) best.set(e.id, Math.max(best.get(e.id) ?? -Infinity, e.score));
          const sorted = [...best.values()].sort((a, b) => b - a);
          expect(f.floor('r', k)).toBe(sorted.length >= k ? sorted[k - 1] : -Infinity);
        }
      }),
    );
  });

  it('counts one id kept by two tasks once: two copies of a record never raise the floor', () => {
    const f = new ThreadFloors();
    f.note('r', 2, [{ id: 'x', score: 9 }]);
    f.note('r', 2, [{ id: 'x', score: 9 }]);
    expect(f.floor('r', 2)).toBe(-Infinity);
    f.note('r', 2, [{ id: 'y', score: 1 }]);
    expect(f.floor('r', 2)).toBe(1);
  });

  it('keeps runs apart, ignores unnamed runs and forgets the oldest of many', () => {
    const f = new ThreadFloors();
    const at = (...scores: number[]) => scores.map((score, i) => ({ id: `i${i}`, score }));
    f.note('a', 2, at(5, 4));
    f.note('b', 2, at(1, 0));
    f.note(undefined, 2, at(9, 9));
    expect([f.floor('a', 2), f.floor('b', 2), f.floor(undefined, 2)]).toEqual([4, 0, -Infinity]);
    // Another K for the same run is another heap (a floor is only valid for the K it was kept for).
    expect(f.floor('a', 3)).toBe(-Infinity);
    for (let i = 0; i < 64; i++) f.note(`x${i}`, 1, at(i));
    expect(f.floor('a', 2)).toBe(-Infinity);
    expect(f.floor('x63', 1)).toBe(63);
  });
});
