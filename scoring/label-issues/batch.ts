/**
 * The three passes of a label-issue round over arrays already in memory,
 * split into `parts` slices the way the pool splits chunks among threads
 * (each slice sums, counts and selects on its own, the partials merge). The
 * worker runs the same passes over its input objects; this is the reference
 * composition the unit tests check against cleanlab, and what small callers
 * (the demo's simulated data) use directly.
 */

import { type NoiseEstimate, addToJoint, calibrateJoint, mergeJointCounts, newJointCounts, noiseRates, pruneCounts } from './joint.js';
import { type LabelIssue, PruneSelector, type RankBy, rankIssues } from './prune.js';
import { type ClassSums, addToClassSums, confidentThresholds, mergeClassSums, newClassSums } from './sums.js';

export interface LabelIssueAnalysis {
  labelCounts: number[];
  thresholds: number[];
  /** Row-major k·k, row = given label, column = confidently-true label. */
  rawJoint: number[];
  confidentJoint: number[];
  prune: number[];
  noise: NoiseEstimate;
  /** Flagged items as indices into the input, ranked. */
  issues: LabelIssue<number>[];
}

export interface BatchOptions {
  rankBy: RankBy;
  /** How many slices to sum and select separately before merging (≥ 1). */
  parts?: number;
}

function slices(n: number, parts: number): [number, number][] {
  const out: [number, number][] = [];
  const size = Math.ceil(n / parts) || 1;
  for (let s = 0; s < n; s += size) out.push([s, Math.min(n, s + size)]);
  return out;
}

/**
 * `labels[r]` is the index of item r's given label; `probs` is row-major
 * n·k, already validated (`checkItem`).
 */
export function analyzeLabelIssues(labels: ArrayLike<number>, probs: ArrayLike<number>, k: number, opts: BatchOptions): LabelIssueAnalysis {
  const n = labels.length;
  const parts = slices(n, Math.max(1, opts.parts ?? 1));
  // Pass 1: per-class sums → thresholds.
  let sums: ClassSums = newClassSums(k);
  for (const [a, b] of parts) {
    const part = newClassSums(k);
    for (let r = a; r < b; r++) addToClassSums(part, labels[r], probs[r * k + labels[r]]);
    sums = mergeClassSums(sums, part);
  }
  const thresholds = confidentThresholds(sums);
  // Pass 2: raw confident joint → calibrated joint → prune counts.
  let rawJoint = newJointCounts(k);
  for (const [a, b] of parts) {
    const part = newJointCounts(k);
    for (let r = a; r < b; r++) addToJoint(part, labels[r], probs, r * k, k, thresholds);
    rawJoint = mergeJointCounts(rawJoint, part);
  }
  const confidentJoint = calibrateJoint(rawJoint, sums.counts);
  const prune = pruneCounts(confidentJoint, k);
  // Pass 3: per-cell bounded heaps → flagged items → ranking.
  const main = new PruneSelector<number>(k, prune, sums.counts);
  for (const [a, b] of parts) {
    const part = new PruneSelector<number>(k, prune, sums.counts);
    for (let r = a; r < b; r++) part.offer(labels[r], probs, r * k, { object: '', line: r }, () => r);
    main.absorb(part.exportEntries());
  }
  const issues = rankIssues(main.flagged(), opts.rankBy);
  return { labelCounts: sums.counts, thresholds, rawJoint, confidentJoint, prune, noise: noiseRates(confidentJoint, k), issues };
}
