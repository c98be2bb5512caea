/**
 * Pure statistics for the stats tables: no I/O, no clock, no randomness, so
 * the same inputs always give the same numbers (re-runs write identical rows).
 * Every function returns `null` where a figure is undefined (empty input,
 * zero denominator) instead of NaN, because NaN does not survive JSON or SQL.
 */
import { chiSquareQuantile } from './intervals.js';

/**
 * Quantile with linear interpolation between order statistics (Hyndman & Fan
 * type 7, the default of R, NumPy and DuckDB's `quantile_cont`):
 * h = (n − 1)·q, result = x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]).
 * @param values any order; non-finite values are ignored.
 * @param q in [0, 1].
 * @returns null for an empty input.
 */
export function quantile(values: readonly number[], q: number): number | null {
  return quantiles(values, [q])[0];
}

/** {@link quantile} for several q at once (sorts once). */
export function quantiles(values: readonly number[], qs: readonly number[]): Array<number | null> {
  const xs = values
    .filter(Number.isFinite)
    .slice()
    .sort((a, b) => a - b);
  return qs.map((q) => {
    if (xs.length === 0) return null;
    const h = (xs.length - 1) * Math.min(1, Math.max(0, q));
    const lo = Math.floor(h);
    const hi = Math.min(lo + 1, xs.length - 1);
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo]);
  });
}

/** Default ε added to every bin share before PSI, so an empty bin gives a finite term. */
export const PSI_EPSILON = 1e-4;

/**
 * Population stability index between two histograms over the same fixed bins:
 * PSI = Σ (aᵢ − eᵢ)·ln(aᵢ / eᵢ), with shares smoothed as (cᵢ/N + ε) / (1 + k·ε)
 * (k = bin count) so they still sum to 1.
 * @param expected baseline counts (previous or reference round).
 * @param actual current counts; same length as `expected`.
 * @param epsilon smoothing per bin share. Default {@link PSI_EPSILON}.
 * @returns null when either histogram is empty or lengths differ.
 */
export function psi(expected: readonly number[], actual: readonly number[], epsilon = PSI_EPSILON): number | null {
  if (expected.length !== actual.length || expected.length === 0) return null;
  const e = smoothedShares(expected, epsilon);
  const a = smoothedShares(actual, epsilon);
  if (!e || !a) return null;
  let sum = 0;
  for (let i = 0; i < e.length; i++) sum += (a[i] - e[i]) * Math.log(a[i] / e[i]);
  return sum;
}

function smoothedShares(counts: readonly number[], epsilon: number): number[] | null {
  const total = counts.reduce((s, c) => s + c, 0);
  if (!(total > 0)) return null;
  return counts.map((c) => (c / total + epsilon) / (1 + counts.length * epsilon));
}

export type PsiBand = 'within-noise' | 'stable' | 'moderate' | 'significant';

/**
 * The usual PSI reading, < 0.1 stable, 0.1 to 0.25 moderate, > 0.25
 * significant (0.25 itself is moderate), after a noise check: a value at or
 * below `noiseP95` (see {@link psiNoiseP95}) is "within-noise" whatever its
 * size, because two samples of the same distribution reach it by chance.
 */
export function psiBand(value: number | null, noiseP95: number | null = null): PsiBand | null {
  if (value === null) return null;
  if (noiseP95 !== null && value <= noiseP95) return 'within-noise';
  if (value < 0.1) return 'stable';
  return value <= 0.25 ? 'moderate' : 'significant';
}

/** Quantile bins PSI aims for (deciles of the baseline). */
export const PSI_TARGET_BINS = 10;

/**
 * Bins at the baseline's quantiles, at the resolution of a stored histogram:
 * adjacent fine bins are grouped in order until each group holds at least
 * 1/`target` of the baseline's records; empty edge bins join their neighbour
 * and an under-filled last group joins the one before. So every group has
 * baseline mass (no bin that can never fill) and the grouping depends on the
 * baseline only.
 * @returns for each fine bin, its group index; empty when the baseline is empty.
 */
export function baselineQuantileGroups(baseline: readonly number[], target = PSI_TARGET_BINS): number[] {
  const total = baseline.reduce((a, b) => a + b, 0);
  if (!(total > 0)) return [];
  const groups: number[] = [];
  let g = 0;
  let mass = 0;
  for (let i = 0; i < baseline.length; i++) {
    if (mass >= total / target && baseline[i] > 0) {
      g++;
      mass = 0;
    }
    groups.push(g);
    mass += baseline[i];
  }
  // An under-filled last group (less than 1/target of the baseline) joins the one before.
  if (g > 0 && mass < total / target) for (let i = 0; i < groups.length; i++) if (groups[i] === g) groups[i] = g - 1;
  return groups;
}

/** Sums fine-bin counts into the groups of {@link baselineQuantileGroups}. */
export function regroup(counts: readonly number[], groups: readonly number[]): number[] {
  const k = groups.length === 0 ? 0 : Math.max(...groups) + 1;
  const out = new Array<number>(k).fill(0);
  groups.forEach((g, i) => {
    out[g] += counts[i] ?? 0;
  });
  return out;
}

/**
 * 95th percentile of PSI between two samples of one same distribution, of
 * sizes `nExpected` and `nActual`, over `bins` bins. PSI is the symmetrised
 * Kullback–Leibler divergence, whose second-order expansion Σ(aᵢ − eᵢ)²/pᵢ is
 * (1/n_e + 1/n_a)·χ²(bins − 1) under no drift, so the floor is
 * (1/n_e + 1/n_a)·χ²₀.₉₅(bins − 1).
 * @returns null when either sample is empty or there is a single bin.
 */
export function psiNoiseP95(nExpected: number, nActual: number, bins: number): number | null {
  if (!(nExpected > 0) || !(nActual > 0) || bins < 2) return null;
  return (1 / nExpected + 1 / nActual) * chiSquareQuantile(0.95, bins - 1);
}

/**
 * Jensen–Shannon divergence between two label distributions (counts or
 * shares), over the union of their labels; a missing label counts 0.
 * Uses log base 2, so the result lies in [0, 1] (1 = disjoint supports),
 * which makes it readable without knowing the label count.
 * @returns null when either side has no mass.
 */
export function jsDivergence(p: Readonly<Record<string, number>>, q: Readonly<Record<string, number>>): number | null {
  const labels = [...new Set([...Object.keys(p), ...Object.keys(q)])].sort();
  const sp = labels.reduce((s, l) => s + (p[l] ?? 0), 0);
  const sq = labels.reduce((s, l) => s + (q[l] ?? 0), 0);
  if (!(sp > 0) || !(sq > 0)) return null;
  let js = 0;
  for (const l of labels) {
    const a = (p[l] ?? 0) / sp;
    const b = (q[l] ?? 0) / sq;
    const m = (a + b) / 2;
    if (a > 0) js += 0.5 * a * Math.log2(a / m);
    if (b > 0) js += 0.5 * b * Math.log2(b / m);
  }
  // Rounding can leave a tiny negative for identical inputs.
  return Math.max(0, js);
}

/** Mean from a running sum and count; null when count is 0. */
export function meanOf(sum: number, count: number): number | null {
  return count > 0 ? sum / count : null;
}

/** current − baseline; null when either is null. Units are those of the inputs (entropy: nats, as scoring computes it). */
export function delta(current: number | null, baseline: number | null): number | null {
  return current === null || baseline === null ? null : current - baseline;
}

/** Share of pairs where model and human agree; null for none. */
export function agreement(pairs: ReadonlyArray<{ predicted: string | null; gold: string | null }>): number | null {
  if (pairs.length === 0) return null;
  return pairs.filter((x) => x.predicted !== null && x.predicted === x.gold).length / pairs.length;
}

/** Answer counts by kind. */
export interface AnswerCounts {
  accept: number;
  reject: number;
  ignore: number;
}

/** accept / (accept + reject); ignores do not count. null when there are neither. */
export function acceptanceRate(c: AnswerCounts): number | null {
  const d = c.accept + c.reject;
  return d > 0 ? c.accept / d : null;
}

/** ignore / all answers; null when there are none. */
export function ignoreRate(c: AnswerCounts): number | null {
  const d = c.accept + c.reject + c.ignore;
  return d > 0 ? c.ignore / d : null;
}

/**
 * One evaluated item for precision/recall. `key` identifies one decision:
 * the label itself for textcat (single or multi-label), `start:end:label` for
 * spans (exact match). `weight` is 1 by default, or 1/inclusion_p for the
 * audit slice.
 */
export interface PrfItem {
  predicted: ReadonlyArray<{ label: string; key: string }>;
  gold: ReadonlyArray<{ label: string; key: string }>;
  weight?: number;
}

/** Precision/recall/F1 for one label, or micro-averaged over all labels (`label` = null). */
export interface PrfResult {
  label: string | null;
  /** Weighted counts (plain counts when all weights are 1). */
  tp: number;
  fp: number;
  fn: number;
  /** Weighted number of gold decisions with this label. */
  support: number;
  precision: number | null;
  recall: number | null;
  f1: number | null;
}

/**
 * Per-label and micro-averaged precision, recall and F1 of predicted vs gold
 * decisions. With weights wᵢ = 1/πᵢ (πᵢ = inclusion probability) each count
 * is a Horvitz–Thompson estimate of the population count, and precision =
 * TP̂/(TP̂+FP̂) is their ratio (the Hájek estimator): approximately unbiased for
 * the population figure, unlike the same ratio on the uncertainty slice.
 * @param labels labels to report, in order; labels seen only in the data are appended, sorted.
 * @returns per-label results followed by the micro average (label null).
 */
export function precisionRecallF1(items: readonly PrfItem[], labels: readonly string[] = []): PrfResult[] {
  const acc = new Map<string, { tp: number; fp: number; fn: number }>();
  const get = (l: string) => {
    let v = acc.get(l);
    if (!v) acc.set(l, (v = { tp: 0, fp: 0, fn: 0 }));
    return v;
  };
  labels.forEach(get);
  for (const item of items) {
    const w = item.weight ?? 1;
    const gold = new Map(item.gold.map((g) => [g.key, g.label]));
    const pred = new Map(item.predicted.map((p) => [p.key, p.label]));
    for (const [key, label] of pred) {
      if (gold.has(key)) get(label).tp += w;
      else get(label).fp += w;
    }
    for (const [key, label] of gold) if (!pred.has(key)) get(label).fn += w;
  }
  const extra = [...acc.keys()].filter((l) => !labels.includes(l)).sort();
  const out = [...labels, ...extra].map((l) => prf(l, acc.get(l)!));
  const micro = [...acc.values()].reduce((s, v) => ({ tp: s.tp + v.tp, fp: s.fp + v.fp, fn: s.fn + v.fn }), { tp: 0, fp: 0, fn: 0 });
  out.push(prf(null, micro));
  return out;
}

function prf(label: string | null, c: { tp: number; fp: number; fn: number }): PrfResult {
  const precision = c.tp + c.fp > 0 ? c.tp / (c.tp + c.fp) : null;
  const recall = c.tp + c.fn > 0 ? c.tp / (c.tp + c.fn) : null;
  const f1 =
    precision !== null && recall !== null && precision + recall > 0
      ? (2 * precision * recall) / (precision + recall)
      : precision !== null && recall !== null
        ? 0
        : null;
  return { label, tp: c.tp, fp: c.fp, fn: c.fn, support: c.tp + c.fn, precision, recall, f1 };
}

/** Number of equal-width confidence bins for {@link expectedCalibrationError}. */
export const ECE_BINS = 10;

/**
 * Expected calibration error over 10 equal-width confidence bins [0,0.1) … [0.9,1]:
 * ECE = Σ_b (W_b / W)·|accuracy_b − mean confidence_b|, with optional weights
 * (1/inclusion_p on the audit slice) so it estimates the population ECE.
 * @returns null for no items (or zero total weight).
 */
export function expectedCalibrationError(items: ReadonlyArray<{ confidence: number; correct: boolean; weight?: number }>): number | null {
  const w = new Array<number>(ECE_BINS).fill(0);
  const conf = new Array<number>(ECE_BINS).fill(0);
  const hit = new Array<number>(ECE_BINS).fill(0);
  let total = 0;
  for (const it of items) {
    if (!Number.isFinite(it.confidence)) continue;
    const weight = it.weight ?? 1;
    const b = Math.min(ECE_BINS - 1, Math.max(0, Math.floor(it.confidence * ECE_BINS)));
    w[b] += weight;
    conf[b] += weight * it.confidence;
    hit[b] += it.correct ? weight : 0;
    total += weight;
  }
  if (!(total > 0)) return null;
  let ece = 0;
  for (let b = 0; b < ECE_BINS; b++) if (w[b] > 0) ece += (w[b] / total) * Math.abs(hit[b] / w[b] - conf[b] / w[b]);
  return ece;
}

/** A rater's categorical judgement of one item. */
export interface Rating {
  item: string;
  rater: string;
  category: string;
}

/** Cohen's kappa for one pair of raters. */
export interface CohenResult {
  raterA: string;
  raterB: string;
  items: number;
  observed: number;
  kappa: number | null;
}

/**
 * Cohen's kappa for every pair of raters with at least one common item:
 * κ = (p_o − p_e)/(1 − p_e), p_e from each rater's marginals over the common
 * items. κ is null when p_e = 1 (both always used one same category).
 * A rater's last rating of an item counts when there are several.
 * Pairs are ordered raterA < raterB, sorted.
 */
export function cohensKappaPairs(ratings: readonly Rating[]): CohenResult[] {
  const byRater = new Map<string, Map<string, string>>();
  for (const r of ratings) {
    if (!byRater.has(r.rater)) byRater.set(r.rater, new Map());
    byRater.get(r.rater)!.set(r.item, r.category);
  }
  const raters = [...byRater.keys()].sort();
  const out: CohenResult[] = [];
  for (let i = 0; i < raters.length; i++) {
    for (let j = i + 1; j < raters.length; j++) {
      const a = byRater.get(raters[i])!;
      const b = byRater.get(raters[j])!;
      const common = [...a.keys()].filter((k) => b.has(k));
      if (common.length === 0) continue;
      const ma = new Map<string, number>();
      const mb = new Map<string, number>();
      let same = 0;
      for (const k of common) {
        const ca = a.get(k)!;
        const cb = b.get(k)!;
        if (ca === cb) same++;
        ma.set(ca, (ma.get(ca) ?? 0) + 1);
        mb.set(cb, (mb.get(cb) ?? 0) + 1);
      }
      const n = common.length;
      const po = same / n;
      let pe = 0;
      for (const [c, x] of ma) pe += (x / n) * ((mb.get(c) ?? 0) / n);
      out.push({ raterA: raters[i], raterB: raters[j], items: n, observed: po, kappa: pe >= 1 - 1e-12 ? null : (po - pe) / (1 - pe) });
    }
  }
  return out;
}

/** Fleiss' kappa result. */
export interface FleissResult {
  items: number;
  raters: number;
  observed: number | null;
  kappa: number | null;
}

/**
 * Fleiss' kappa over items rated by at least two raters (one rating per
 * rater and item, the last one). Items may have different rater counts: the
 * per-item agreement Pᵢ = (Σⱼ nᵢⱼ² − nᵢ)/(nᵢ(nᵢ − 1)) is averaged, and category
 * shares pⱼ are pooled over all ratings; with a constant count this is the
 * textbook formula. κ = (P̄ − P̄ₑ)/(1 − P̄ₑ), null when undefined.
 */
export function fleissKappa(ratings: readonly Rating[]): FleissResult {
  const byItem = new Map<string, Map<string, string>>();
  for (const r of ratings) {
    if (!byItem.has(r.item)) byItem.set(r.item, new Map());
    byItem.get(r.item)!.set(r.rater, r.category);
  }
  const raters = new Set<string>();
  const catTotals = new Map<string, number>();
  let sumP = 0;
  let items = 0;
  let total = 0;
  for (const perRater of byItem.values()) {
    const n = perRater.size;
    if (n < 2) continue;
    const counts = new Map<string, number>();
    for (const [rater, c] of perRater) {
      raters.add(rater);
      counts.set(c, (counts.get(c) ?? 0) + 1);
      catTotals.set(c, (catTotals.get(c) ?? 0) + 1);
    }
    let sq = 0;
    for (const x of counts.values()) sq += x * x;
    sumP += (sq - n) / (n * (n - 1));
    items++;
    total += n;
  }
  if (items === 0) return { items: 0, raters: 0, observed: null, kappa: null };
  const pBar = sumP / items;
  let pe = 0;
  for (const x of catTotals.values()) pe += (x / total) ** 2;
  return { items, raters: raters.size, observed: pBar, kappa: pe >= 1 - 1e-12 ? null : (pBar - pe) / (1 - pe) };
}

/**
 * Seconds between consecutive answers of each annotator (from `_timestamp`,
 * Unix seconds), sorted by time. Answers without annotator or timestamp are skipped.
 * @returns annotator → gaps in seconds (length = answers − 1), annotators sorted.
 */
export function interArrivalSeconds(answers: ReadonlyArray<{ annotator: string | null; timestamp: number | null }>): Map<string, number[]> {
  const times = new Map<string, number[]>();
  for (const a of answers) {
    if (a.annotator === null || a.timestamp === null || !Number.isFinite(a.timestamp)) continue;
    if (!times.has(a.annotator)) times.set(a.annotator, []);
    times.get(a.annotator)!.push(a.timestamp);
  }
  const out = new Map<string, number[]>();
  for (const name of [...times.keys()].sort()) {
    const ts = times.get(name)!.sort((x, y) => x - y);
    out.set(
      name,
      ts.slice(1).map((t, i) => t - ts[i]),
    );
  }
  return out;
}

/** An axis-aligned rectangle in pixels; (x, y) is the top-left corner. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Intersection over union of two rectangles.
 * @returns a value in [0, 1]; 0 when the union is empty.
 */
export function rectIoU(a: Rect, b: Rect): number {
  const iw = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const ih = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  const inter = iw > 0 && ih > 0 ? iw * ih : 0;
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/** IoU of two intervals [start, end) (audio regions in seconds). */
export function intervalIoU(a: { start: number; end: number }, b: { start: number; end: number }): number {
  const inter = Math.max(0, Math.min(a.end, b.end) - Math.max(a.start, b.start));
  const union = a.end - a.start + (b.end - b.start) - inter;
  return union > 0 ? inter / union : 0;
}

/** Default IoU a predicted region needs to count as finding a human one (the PASCAL VOC rule). */
export const IOU_THRESHOLD = 0.5;

/**
 * One-to-one matching of predicted to gold regions of the same label by IoU:
 * greedy, highest IoU first (ties: lower predicted index, then lower gold
 * index), each region matched at most once, pairs below `threshold` never.
 * The result plugs into {@link precisionRecallF1}: a matched pair shares a
 * key (a TP), an unmatched prediction is an FP, an unmatched gold region an FN.
 * @param threshold minimum IoU, inclusive. Default {@link IOU_THRESHOLD}.
 */
export function matchByIoU<P extends { label: string }, G extends { label: string }>(
  predicted: readonly P[],
  gold: readonly G[],
  iou: (p: P, g: G) => number,
  threshold = IOU_THRESHOLD,
): { predicted: Array<{ label: string; key: string }>; gold: Array<{ label: string; key: string }>; matched: number } {
  const pairs: Array<{ i: number; j: number; v: number }> = [];
  predicted.forEach((p, i) =>
    gold.forEach((g, j) => {
      if (p.label !== g.label) return;
      const v = iou(p, g);
      if (v >= threshold) pairs.push({ i, j, v });
    }),
  );
  pairs.sort((a, b) => b.v - a.v || a.i - b.i || a.j - b.j);
  const pKey = predicted.map((_, i) => `p${i}`);
  const gKey = gold.map((_, j) => `g${j}`);
  const usedP = new Set<number>();
  const usedG = new Set<number>();
  for (const { i, j } of pairs) {
    if (usedP.has(i) || usedG.has(j)) continue;
    usedP.add(i);
    usedG.add(j);
    pKey[i] = gKey[j] = `m${i}:${j}`;
  }
  return {
    predicted: predicted.map((p, i) => ({ label: p.label, key: pKey[i] })),
    gold: gold.map((g, j) => ({ label: g.label, key: gKey[j] })),
    matched: usedP.size,
  };
}
