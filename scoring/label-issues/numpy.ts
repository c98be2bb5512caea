/**
 * The few numpy behaviours confident learning's integer counts depend on,
 * reproduced bit for bit so reviewloop's confident joint equals cleanlab's:
 *
 * - `np.sum` over a contiguous float64 array is numpy's pairwise summation
 *   (`pairwise_sum_DOUBLE`): fewer than 8 values add left to right; up to 128
 *   use 8 interleaved accumulators combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))
 *   and then the remainder left to right; longer runs split in two at a
 *   multiple of 8 below the half. Checked against numpy 2.x on random
 *   matrices by scripts/cleanlab-reference.py's fixtures.
 * - `np.round` / `ndarray.round()` rounds half to even.
 * - `np.argsort` is not stable on CPUs where numpy dispatches to its SIMD
 *   sorts, so cleanlab's order among exactly equal keys depends on the
 *   machine. Here equal keys keep their input order (a stable sort), the
 *   one reproducible choice.
 */

/** numpy's pairwise sum of `a[0 .. n)`. */
export function pairwiseSum(a: ArrayLike<number>, start = 0, n = a.length - start): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[start + i];
    return res;
  }
  if (n <= 128) {
    const r = [a[start], a[start + 1], a[start + 2], a[start + 3], a[start + 4], a[start + 5], a[start + 6], a[start + 7]];
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j] += a[start + i + j];
    }
    let res = r[0] + r[1] + (r[2] + r[3]) + (r[4] + r[5] + (r[6] + r[7]));
    for (; i < n; i++) res += a[start + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
}

/** Round half to even, as `np.round(x)` does. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // half up
  // Math.round rounds x.5 up; numpy rounds it to the even neighbour.
  if (r - x === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/** Indices of `keys` in ascending key order, equal keys in index order. */
export function stableArgsort(keys: ArrayLike<number>): number[] {
  const idx = Array.from({ length: keys.length }, (_, i) => i);
  return idx.sort((x, y) => keys[x] - keys[y] || x - y);
}

/**
 * cleanlab's `round_preserving_sum`: round each value, then move the rounded
 * total back to the rounded original total by adding ±1 to the values whose
 * rounding lost (or gained) the most, `changes` at a time.
 */
export function roundPreservingSum(floats: readonly number[]): number[] {
  const ints = floats.map(roundHalfEven);
  const origSum = roundHalfEven(pairwiseSum(floats));
  let intSum = roundHalfEven(pairwiseSum(ints));
  // Each pass moves the total by min(|diff|, n) toward origSum, so it ends.
  while (Math.abs(intSum - origSum) > 1e-6) {
    const diff = roundHalfEven(origSum - intSum);
    const increment = diff < 0 ? -1 : 1;
    const changes = Math.min(Math.trunc(Math.abs(diff)), floats.length);
    const order = stableArgsort(floats.map((f, i) => f - ints[i]));
    // `argsort(...)[::-increment]`: largest residuals first when adding.
    if (increment === 1) order.reverse();
    for (const i of order.slice(0, changes)) ints[i] += increment;
    intSum = roundHalfEven(pairwiseSum(ints));
  }
  return ints;
}
