/**
 * Pass 1 of a label-issue round: per-class sums that give the per-class
 * thresholds t_j = mean p_j over the items labelled j (cleanlab's
 * `get_confident_thresholds`).
 *
 * Each pool thread sums its own chunks into a `ClassSums` (plain data, so it
 * crosses the thread boundary) and the main thread adds the partials with
 * `mergeClassSums`. The sums are exact fixed-point integers, not float
 * additions: every probability is cut into three 26-bit limbs (2^-78
 * resolution, exact for every double ≥ 2^-26 and off by < 2^-78 below), and
 * limbs add as integers. So the thresholds have the same bits however the
 * input is chunked, threaded or ordered, which keeps reruns byte-identical.
 * (numpy's pairwise mean can differ from the exact mean in the last ulp; the
 * thresholds are compared with a 1e-6 slack, so that never changes a count
 * unless a probability sits within ~1e-16 of t − 1e-6.)
 *
 * Memory: 4 numbers per class.
 */

const LIMB = 2 ** 26;
/** Limb sums stay exact below 2^53; carrying every 2^20 items keeps them far below it. */
const CARRY_EVERY = 2 ** 20;

export interface ClassSums {
  /** Items labelled j. */
  counts: number[];
  /** Σ p_j over items labelled j, as limbs: value = l0·2^-26 + l1·2^-52 + l2·2^-78. */
  l0: number[];
  l1: number[];
  l2: number[];
}

export function newClassSums(k: number): ClassSums {
  return { counts: new Array(k).fill(0), l0: new Array(k).fill(0), l1: new Array(k).fill(0), l2: new Array(k).fill(0) };
}

/** Adds one item labelled `label` whose probability of its own label is `pLabel` (in [0, 1]). */
export function addToClassSums(s: ClassSums, label: number, pLabel: number): void {
  let x = pLabel * LIMB; // scaling by a power of two is exact
  const a = Math.floor(x);
  x = (x - a) * LIMB; // x − a is exact (same binade or below), so is the scaling
  const b = Math.floor(x);
  const c = Math.floor((x - b) * LIMB);
  s.l0[label] += a;
  s.l1[label] += b;
  s.l2[label] += c;
  if (++s.counts[label] % CARRY_EVERY === 0) carry(s, label);
}

function carry(s: ClassSums, j: number): void {
  const c2 = Math.floor(s.l2[j] / LIMB);
  s.l2[j] -= c2 * LIMB;
  s.l1[j] += c2;
  const c1 = Math.floor(s.l1[j] / LIMB);
  s.l1[j] -= c1 * LIMB;
  s.l0[j] += c1;
}

/** Adds `b` into `a` (either order gives the same result). */
export function mergeClassSums(a: ClassSums, b: ClassSums): ClassSums {
  if (a.counts.length !== b.counts.length) throw new RangeError(`class sums over ${a.counts.length} and ${b.counts.length} classes`);
  for (let j = 0; j < a.counts.length; j++) {
    a.counts[j] += b.counts[j];
    a.l0[j] += b.l0[j];
    a.l1[j] += b.l1[j];
    a.l2[j] += b.l2[j];
    carry(a, j);
  }
  return a;
}

/** Σ p_j over items labelled j, rounded once to a double. */
export function classSum(s: ClassSums, j: number): number {
  const t: ClassSums = { counts: [0], l0: [s.l0[j]], l1: [s.l1[j]], l2: [s.l2[j]] };
  carry(t, 0);
  return t.l0[0] / LIMB + (t.l1[0] + t.l2[0] / LIMB) / (LIMB * LIMB);
}

/** cleanlab's value for a class nobody labelled: above any probability, so nothing is confidently counted into it. */
export const ABSENT_CLASS_THRESHOLD = 2;
/** cleanlab's floor on thresholds (2 × its 1e-6 comparison slack), so p ≥ t − 1e-6 never holds for p = 0. */
export const THRESHOLD_FLOOR = 2e-6;

/** Per-class thresholds t_j = mean p_j over items labelled j. */
export function confidentThresholds(s: ClassSums): number[] {
  return s.counts.map((n, j) => Math.max(n === 0 ? ABSENT_CLASS_THRESHOLD : classSum(s, j) / n, THRESHOLD_FLOOR));
}
