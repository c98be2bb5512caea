import { describe, expect, it } from 'vitest';
import { editDistance, nearestRounds } from '../../worker/round/known-rounds.js';

describe('nearest known rounds for a mistyped --round', () => {
  it('measures edit distance', () => {
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('20261101T0200Z', '20261101T0200Z')).toBe(0);
    expect(editDistance('20261101T0200', '20261101T0200Z')).toBe(1);
    expect(editDistance('20261011T0200Z', '20261101T0200Z')).toBe(2);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('ranks by distance, then shared prefix, then name, and names at most n', () => {
    const known = ['20261101T0200Z', '20261108T0200Z', '20261115T0200Z', 'relabel-3', 'relabel-12'];
    expect(nearestRounds('20261101T0200', known)).toEqual(['20261101T0200Z', '20261108T0200Z', '20261115T0200Z']);
    expect(nearestRounds('2026-11-08T0200Z', known, 1)).toEqual(['20261108T0200Z']);
    expect(nearestRounds('relabel3', known, 2)).toEqual(['relabel-3', 'relabel-12']);
    // Same distance: the longer shared prefix wins.
    expect(nearestRounds('ab', ['xb', 'ax'])).toEqual(['ax', 'xb']);
    expect(nearestRounds('r1', [])).toEqual([]);
  });
});
