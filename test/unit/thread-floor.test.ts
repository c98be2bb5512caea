import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ThreadFloors } from '../../worker/thread-floor.js';

describe('thread floors', () => {
  it('is the k-th best score a run has kept on this thread, and nothing before k scores', () => {
    fc.assert(fc.property(fc.array(fc.array(fc.double({ noNaN: true, min: -5, max: 5 }), { maxLength: 30 }), { maxLength: 8 }), fc.integer({ min: 1, max: 20 }), (tasks, k) => {
      const f = new ThreadFloors();
      const all: number[] = [];
      for (const scores of tasks) {
        f.note('r', k, scores);
        all.push(...scores);
        const sorted = [...all].sort((a, b) => b - a);
        expect(f.floor('r', k)).toBe(sorted.length >= k ? sorted[k - 1] : -Infinity);
      }
    }));
  });

  it('keeps runs apart, ignores unnamed runs and forgets the oldest of many', () => {
    const f = new ThreadFloors();
    f.note('a', 2, [5, 4]);
    f.note('b', 2, [1, 0]);
    f.note(undefined, 2, [9, 9]);
    expect([f.floor('a', 2), f.floor('b', 2), f.floor(undefined, 2)]).toEqual([4, 0, -Infinity]);
    // Another K for the same run is another heap (a floor is only valid for the K it was kept for).
    expect(f.floor('a', 3)).toBe(-Infinity);
    for (let i = 0; i < 8; i++) f.note(`x${i}`, 1, [i]);
    expect(f.floor('a', 2)).toBe(-Infinity);
    expect(f.floor('x7', 1)).toBe(7);
  });
});
