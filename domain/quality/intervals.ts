/**
 * Confidence intervals for quality estimates. Pure and deterministic: the
 * bootstrap draws from a seeded generator, so a re-run of a merge writes the
 * same bounds to the last digit (the sinks' batch idempotency needs that).
 */

/** Two-sided 95% normal quantile, Φ⁻¹(0.975). */
export const Z95 = 1.959963984540054;

/** Bootstrap replicates per interval: enough for stable 2.5/97.5 percentiles, cheap on audit-sized samples. */
export const BOOTSTRAP_REPLICATES = 1000;

export interface Interval {
  low: number;
  high: number;
}

/**
 * Wilson score interval for a binomial proportion (Wilson 1927):
 * centre (p̂ + z²/2n)/(1 + z²/n), half-width z·√(p̂(1−p̂)/n + z²/4n²)/(1 + z²/n).
 * Unlike p̂ ± z·SE it stays inside [0, 1] and keeps close to nominal coverage
 * at the small n of an audit slice.
 * @returns null when n is 0.
 */
export function wilsonInterval(successes: number, n: number, z = Z95): Interval | null {
  if (!(n > 0)) return null;
  const p = successes / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  // x = 0 and x = n give exactly 0 and 1 in exact arithmetic; floating point can land a hair inside.
  return { low: successes <= 0 ? 0 : Math.max(0, centre - half), high: successes >= n ? 1 : Math.min(1, centre + half) };
}

/** 32-bit FNV-1a of a string: turns a row's identity into a bootstrap seed. */
export function seedOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** mulberry32: a small, fast, seedable generator of uniforms in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options for {@link bootstrapIntervals}. */
export interface BootstrapOptions {
  seed: number;
  replicates?: number;
  /**
   * Stratum of each item (same length as the items). Resampling happens within
   * each stratum at its own size, which matches a design that drew each round's
   * audit slice separately.
   */
  strata?: readonly string[];
}

/**
 * Percentile bootstrap intervals for several statistics of one sample at once:
 * resample the items with replacement (within strata), compute every statistic
 * on each replicate, take the 2.5th and 97.5th percentiles (type 7) of the
 * defined replicate values. A statistic undefined (null) in more than half the
 * replicates gets no interval.
 * @param stats measure name → statistic of a sample (null when undefined).
 * @returns measure name → interval or null.
 */
export function bootstrapIntervals<T>(
  items: readonly T[],
  stats: (sample: T[]) => Record<string, number | null>,
  options: BootstrapOptions,
): Record<string, Interval | null> {
  const replicates = options.replicates ?? BOOTSTRAP_REPLICATES;
  const rand = mulberry32(options.seed);
  const groups = new Map<string, T[]>();
  items.forEach((it, i) => {
    const k = options.strata?.[i] ?? '';
    const g = groups.get(k);
    if (g) g.push(it);
    else groups.set(k, [it]);
  });
  const ordered = [...groups.keys()].sort().map((k) => groups.get(k)!);
  const draws = new Map<string, number[]>();
  const names = new Set<string>();
  for (let b = 0; b < replicates; b++) {
    const sample: T[] = [];
    for (const g of ordered) for (let i = 0; i < g.length; i++) sample.push(g[Math.floor(rand() * g.length)]);
    for (const [name, v] of Object.entries(stats(sample))) {
      names.add(name);
      if (v === null || !Number.isFinite(v)) continue;
      const list = draws.get(name);
      if (list) list.push(v);
      else draws.set(name, [v]);
    }
  }
  const out: Record<string, Interval | null> = {};
  for (const name of [...names].sort()) {
    const vs = (draws.get(name) ?? []).sort((x, y) => x - y);
    out[name] = vs.length * 2 <= replicates ? null : { low: percentileSorted(vs, 0.025), high: percentileSorted(vs, 0.975) };
  }
  return out;
}

function percentileSorted(xs: readonly number[], q: number): number {
  const h = (xs.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, xs.length - 1);
  return xs[lo] + (h - lo) * (xs[hi] - xs[lo]);
}

/**
 * Upper p-quantile of the chi-square distribution with ν degrees of freedom:
 * exact for ν = 1 (z²) and ν = 2 (−2·ln(1−p)), Wilson–Hilferty otherwise
 * (ν·(1 − 2/9ν + z·√(2/9ν))³, within 1% of the tables for ν ≥ 3 at p = 0.95).
 */
export function chiSquareQuantile(p: number, dof: number): number {
  if (!(dof >= 1)) return 0;
  const z = normalQuantile(p);
  if (dof === 1) return normalQuantile((1 + p) / 2) ** 2;
  if (dof === 2) return -2 * Math.log(1 - p);
  const a = 2 / (9 * dof);
  return dof * (1 - a + z * Math.sqrt(a)) ** 3;
}

/** Φ⁻¹(p), Acklam's rational approximation (relative error below 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lowP = 0.02425;
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  if (p < lowP) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lowP) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}
