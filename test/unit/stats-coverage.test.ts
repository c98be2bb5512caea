/**
 * Coverage of the 95% intervals: a seeded simulated population with a known
 * true value, many repeated audit draws (simple random samples without
 * replacement, as the audit slice is drawn), and the share of draws whose
 * interval covers the truth must be close to 95%.
 */
import { describe, expect, it } from 'vitest';
import { weightedKappa } from '../../domain/quality/estimates.js';
import { bootstrapIntervals, mulberry32, wilsonInterval } from '../../domain/quality/intervals.js';

const N = 2000;

/** Indices of a simple random sample of n from 0..N−1 (partial Fisher–Yates). */
function draw(rand: () => number, n: number): number[] {
  const idx = Array.from({ length: N }, (_, i) => i);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rand() * (N - i));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx.slice(0, n);
}

describe('interval coverage on a simulated population', () => {
  it('Wilson: the 95% interval covers the true accuracy in 93–97% of 2000 audit draws', () => {
    // True accuracy 0.816 exactly: 1632 of 2000 items right.
    const right = Array.from({ length: N }, (_, i) => i < 1632);
    const rand = mulberry32(42);
    const draws = 2000;
    let covered = 0;
    for (let d = 0; d < draws; d++) {
      const x = draw(rand, 50).filter((i) => right[i]).length;
      const ci = wilsonInterval(x, 50)!;
      if (ci.low <= 0.816 && 0.816 <= ci.high) covered++;
    }
    const coverage = covered / draws;
    expect(coverage).toBeGreaterThanOrEqual(0.93);
    expect(coverage).toBeLessThanOrEqual(0.97);
  });

  it('bootstrap: the 95% interval of model-human kappa covers the population kappa in 93–97% of 400 draws', () => {
    const labels = ['billing', 'shipping', 'returns'];
    const r0 = mulberry32(9);
    const pop = Array.from({ length: N }, () => {
      const gold = labels[Math.floor(r0() * 3)];
      const predicted = r0() < 0.8 ? gold : labels[Math.floor(r0() * 3)];
      return { a: predicted, b: gold, w: 1 };
    });
    const truth = weightedKappa(pop)!;
    const rand = mulberry32(123);
    const draws = 400;
    let covered = 0;
    for (let d = 0; d < draws; d++) {
      const sample = draw(rand, 80).map((i) => pop[i]);
      const ci = bootstrapIntervals(sample, (s) => ({ kappa: weightedKappa(s) }), { seed: d + 1, replicates: 400 }).kappa!;
      if (ci.low <= truth && truth <= ci.high) covered++;
    }
    const coverage = covered / draws;
    expect(coverage).toBeGreaterThanOrEqual(0.93);
    expect(coverage).toBeLessThanOrEqual(0.97);
  });
});
