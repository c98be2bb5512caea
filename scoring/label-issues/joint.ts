/**
 * Pass 2 of a label-issue round: the confident joint C[i][j] = how many items
 * labelled i are confidently class j, and what follows from it (cleanlab
 * 2.x `count.compute_confident_joint`, `calibrate_confident_joint`,
 * `filter._keep_at_least_n_per_class`, `dataset.rank_classes_by_label_quality`).
 *
 * Matrices are row-major `number[]` of length k·k, row = given label,
 * column = true label, so they cross the thread boundary as plain data.
 * Raw counts are integers: partials from threads add exactly, in any order.
 */

import { pairwiseSum, roundPreservingSum } from './numpy.js';

/** cleanlab's slack when comparing a probability with a threshold. */
export const THRESHOLD_SLACK = 1e-6;

/**
 * The class an item confidently belongs to, or -1 when no p_j reaches its
 * threshold t_j − 1e-6. With one such class, that class; with several, the
 * argmax of the whole vector (first index among equal maxima, as
 * `np.argmax`), even if the argmax is not itself above its threshold — that
 * is what cleanlab computes.
 */
export function confidentClass(p: ArrayLike<number>, off: number, k: number, thresholds: readonly number[]): number {
  let confident = 0;
  let first = -1;
  let argmax = 0;
  for (let j = 0; j < k; j++) {
    const x = p[off + j];
    if (x >= thresholds[j] - THRESHOLD_SLACK) {
      if (confident++ === 0) first = j;
    }
    if (x > p[off + argmax]) argmax = j;
  }
  if (confident === 0) return -1;
  return confident === 1 ? first : argmax;
}

export function newJointCounts(k: number): number[] {
  return new Array(k * k).fill(0);
}

/** Counts one item labelled `label` into the raw joint (no-op when it is confident of no class). */
export function addToJoint(joint: number[], label: number, p: ArrayLike<number>, off: number, k: number, thresholds: readonly number[]): void {
  const j = confidentClass(p, off, k, thresholds);
  if (j >= 0) joint[label * k + j] += 1;
}

export function mergeJointCounts(a: number[], b: readonly number[]): number[] {
  if (a.length !== b.length) throw new RangeError(`joint counts of ${a.length} and ${b.length} cells`);
  for (let i = 0; i < a.length; i++) a[i] += b[i];
  return a;
}

/**
 * Calibrates raw counts: every diagonal cell at least 1, each row rescaled to
 * the number of items with that label, the whole rescaled to the number of
 * items, then rounded preserving row totals. Same float operations in the
 * same order as cleanlab, so the integers agree.
 */
export function calibrateJoint(raw: readonly number[], labelCounts: readonly number[]): number[] {
  const k = labelCounts.length;
  const cj = raw.slice();
  for (let i = 0; i < k; i++) cj[i * k + i] = Math.max(cj[i * k + i], 1);
  const scaled = new Array<number>(k * k);
  for (let i = 0; i < k; i++) {
    let rowSum = 0;
    for (let j = 0; j < k; j++) rowSum += cj[i * k + j];
    const denom = Math.max(rowSum, 1e-100);
    for (let j = 0; j < k; j++) scaled[i * k + j] = (cj[i * k + j] / denom) * labelCounts[i];
  }
  const total = Math.max(pairwiseSum(scaled), 1e-100);
  let n = 0;
  for (const c of labelCounts) n += c;
  const out = new Array<number>(k * k);
  for (let i = 0; i < k; i++) {
    const row = scaled.slice(i * k, i * k + k).map((v) => (v / total) * n);
    const rounded = roundPreservingSum(row);
    for (let j = 0; j < k; j++) out[i * k + j] = rounded[j];
  }
  return out;
}

/**
 * How many items labelled i to flag as truly j, for every off-diagonal cell
 * (`prune[i*k + j]`; the diagonal is how many stay). cleanlab's
 * `_keep_at_least_n_per_class(confident_joint.T, n=1, frac_noise=1)`: a
 * given-label class whose diagonal is 0 gets it raised to 1, and that 1 is
 * taken back from the class's nonzero cells, `1 / max(nonzero − 1, 1)` from
 * each (nonzero counts the whole row; the −1 stands for a diagonal that is in
 * fact 0 here, a quirk kept for agreement), clipped at 0 and truncated to an
 * integer.
 */
export function pruneCounts(cj: readonly number[], k: number): number[] {
  const out = new Array<number>(k * k).fill(0);
  for (let i = 0; i < k; i++) {
    const diag = cj[i * k + i];
    const raised = Math.max(diag, 1);
    const diff = raised - diag;
    let nonzero = 0;
    for (let j = 0; j < k; j++) if (cj[i * k + j] !== 0) nonzero++;
    const per = diff / Math.max(nonzero - 1, 1);
    for (let j = 0; j < k; j++) {
      const v = j === i ? raised : Math.max(cj[i * k + j] - per, 0);
      out[i * k + j] = Math.trunc(v);
    }
  }
  return out;
}

export interface NoiseEstimate {
  /** P(true ≠ i | given = i) per class: off-diagonal share of row i; null for a class no item has. */
  perClass: (number | null)[];
  /** Off-diagonal share of the whole joint: the estimated fraction of wrong labels. */
  overall: number | null;
  /** Off-diagonal total of the calibrated joint: cleanlab's `num_label_issues(estimation_method="off_diagonal")`. */
  issues: number;
}

/** Noise rates from the calibrated confident joint. */
export function noiseRates(cj: readonly number[], k: number): NoiseEstimate {
  const perClass: (number | null)[] = [];
  let total = 0;
  let off = 0;
  for (let i = 0; i < k; i++) {
    let row = 0;
    for (let j = 0; j < k; j++) row += cj[i * k + j];
    const wrong = row - cj[i * k + i];
    perClass.push(row > 0 ? wrong / row : null);
    total += row;
    off += wrong;
  }
  return { perClass, overall: total > 0 ? off / total : null, issues: off };
}
