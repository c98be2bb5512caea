/**
 * Uncertainty strategies: pure functions from one prediction to a score where
 * higher = more worth a human look.
 *
 * Two layers:
 * - kernels over plain numbers (`entropy(p, offset, k)` …), shared verbatim by
 *   the per-record path, the columnar path (`columnar.ts`) and, as the written
 *   definition, the SQL generator. They take an offset and a length so a
 *   row-major matrix row can be scored in place, without a copy;
 * - `scoreRecord`, which validates the fields a strategy needs, gathers them
 *   into a reusable scratch buffer in `labels` order and calls the kernel.
 *
 * Conventions (documented once here, tested in test/unit/strategies.test.ts):
 * - Probabilities are read in the order of the configured `labels`, never in
 *   the key order of the record's `probs` object, so permuting a record's keys
 *   cannot change a score by even one bit. Max-type scores (least-confidence,
 *   margin, ratio, multilabel-min-margin, span-min, box-min) do not depend on
 *   the label order at all; sum-type scores (entropies, KL) depend on it only
 *   through floating-point rounding (≤ a few ulp), and every thread and shard
 *   uses the same `labels`, so rankings stay reproducible.
 * - A label listed in `labels` but absent from `probs` counts as probability 0
 *   (what a dense vector would hold). A key of `probs` not in `labels` is an
 *   error. When `labels` is empty the record's own keys, sorted by UTF-16 code
 *   units, are the label order.
 * - Argmax ties (vote-entropy, variation-ratio) split the vote equally among
 *   the tied labels: deterministic and independent of label order.
 * - Empty inputs score 0 (nothing to be uncertain about), except that a NER
 *   record with no predicted spans falls back to its token marginals when it
 *   has them (see `scoreRecord`).
 * - Values computed from probabilities that sum to 1 only within the input
 *   tolerance can fall slightly outside `scoreRange`; histogram code clamps.
 *
 * Kernels keep their own scratch buffers (module-level, grown on demand) so
 * the hot loops allocate nothing. That is safe because JavaScript runs one
 * kernel at a time per thread and no kernel calls back into user code.
 */

import { uniform01 } from './hash.js';
import type { PredictionRecord, StrategyName, StrategyOptions, TaskType } from './types.js';

/** Outcome of scoring one record: a score, or which field made it unscorable and why. */
export type ScoreResult = { ok: true; score: number } | { ok: false; field: string; reason: string };

/** Every strategy name; config errors and help list them in this order. */
export const STRATEGY_NAMES = Object.freeze([
  'least-confidence',
  'margin',
  'ratio',
  'entropy',
  'multilabel-entropy',
  'multilabel-min-margin',
  'span-min',
  'span-mean',
  'token-entropy',
  'box-min',
  'box-mean',
  'box-count-weighted',
  'vote-entropy',
  'kl-disagreement',
  'bald',
  'variation-ratio',
  'mask-mean-uncertainty',
  'mask-low-confidence-area',
  'mask-min-instance',
  'random',
] as const) satisfies readonly StrategyName[];
// Compile-time check that no StrategyName is missing from the list above.
export const ALL_STRATEGIES_LISTED: [Exclude<StrategyName, (typeof STRATEGY_NAMES)[number]>] extends [never] ? true : never = true;

/** A kernel over one probability vector: `p[offset .. offset + k)`. */
export type ProbabilityKernel = (p: ArrayLike<number>, offset: number, k: number) => number;

/** The kernel `scoreRecord` applies for the probability strategies (also used column-wise), or null for the rest. */
export function probabilityKernel(name: StrategyName): ProbabilityKernel | null {
  switch (name) {
    case 'least-confidence':
      return leastConfidence;
    case 'margin':
      return margin;
    case 'ratio':
      return ratio;
    case 'entropy':
      return entropy;
    case 'multilabel-entropy':
      return multilabelEntropy;
    case 'multilabel-min-margin':
      return multilabelMinMargin;
    default:
      return null;
  }
}

/** True when `name` is one of `STRATEGY_NAMES`. */
export function isStrategyName(name: string): name is StrategyName {
  return (STRATEGY_NAMES as readonly string[]).includes(name);
}

// ---------------------------------------------------------------------------
// Scratch buffers. `gather` holds a record's values for the kernel; `work` is
// used inside multi-vector kernels, so a kernel may be handed `gather` safely.

let gather = new Float64Array(64);
let work = new Float64Array(64);

function gatherBuffer(n: number): Float64Array {
  if (gather.length < n) gather = new Float64Array(Math.max(n, gather.length * 2));
  return gather;
}

function workBuffer(n: number): Float64Array {
  if (work.length < n) work = new Float64Array(Math.max(n, work.length * 2));
  return work;
}

// ---------------------------------------------------------------------------
// Single-label kernels over p[offset … offset + k).

/**
 * `1 − p_max`. Empty input: 1 (p_max taken as 0), though `scoreRecord` never
 * calls it with an empty vector.
 */
export function leastConfidence(p: ArrayLike<number>, offset = 0, k = p.length - offset): number {
  let p1 = 0;
  const end = offset + k;
  for (let i = offset; i < end; i++) {
    const v = p[i];
    if (v > p1) p1 = v;
  }
  return 1 - p1;
}

/**
 * `1 − (p1 − p2)` with p1 ≥ p2 the two largest values, found in one pass.
 * One label: p2 = 0, so the score is `1 − p1`.
 */
export function margin(p: ArrayLike<number>, offset = 0, k = p.length - offset): number {
  let p1 = 0;
  let p2 = 0;
  const end = offset + k;
  for (let i = offset; i < end; i++) {
    const v = p[i];
    if (v > p1) {
      p2 = p1;
      p1 = v;
    } else if (v > p2) {
      p2 = v;
    }
  }
  return 1 - (p1 - p2);
}

/**
 * `p2 / p1` with p1 ≥ p2 the two largest values. All-zero (or empty) input is
 * a perfect tie between nothing, scored 1 rather than NaN.
 */
export function ratio(p: ArrayLike<number>, offset = 0, k = p.length - offset): number {
  let p1 = 0;
  let p2 = 0;
  const end = offset + k;
  for (let i = offset; i < end; i++) {
    const v = p[i];
    if (v > p1) {
      p2 = p1;
      p1 = v;
    } else if (v > p2) {
      p2 = v;
    }
  }
  return p1 > 0 ? p2 / p1 : 1;
}

/** Shannon entropy `−Σ p ln p` in nats, with `0 ln 0 = 0`. Empty input: 0. */
export function entropy(p: ArrayLike<number>, offset = 0, k = p.length - offset): number {
  let h = 0;
  const end = offset + k;
  for (let i = offset; i < end; i++) {
    const v = p[i];
    if (v > 0) h -= v * Math.log(v);
  }
  return h;
}

/**
 * Index (relative to `offset`) of the largest value; ties go to the lowest
 * index, i.e. the first label in `labels` order. Empty input: -1.
 */
export function argmax(p: ArrayLike<number>, offset = 0, k = p.length - offset): number {
  let best = -1;
  let bestV = -Infinity;
  for (let i = 0; i < k; i++) {
    const v = p[offset + i];
    if (v > bestV) {
      bestV = v;
      best = i;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------
// Multi-label kernels: q[i] is the independent probability of label i.

/** Binary entropy `−q ln q − (1−q) ln(1−q)` in nats; 0 at q ∈ {0, 1}. */
export function binaryEntropy(q: number): number {
  let h = 0;
  if (q > 0) h -= q * Math.log(q);
  const r = 1 - q;
  if (r > 0) h -= r * Math.log(r);
  return h;
}

/** Mean binary entropy over the labels. Empty input: 0. */
export function multilabelEntropy(q: ArrayLike<number>, offset = 0, k = q.length - offset): number {
  if (k <= 0) return 0;
  let s = 0;
  const end = offset + k;
  for (let i = offset; i < end; i++) s += binaryEntropy(q[i]);
  return s / k;
}

/**
 * `1 − min_l |2 q_l − 1|`: the label closest to 0.5 decides. Empty input: 0.
 */
export function multilabelMinMargin(q: ArrayLike<number>, offset = 0, k = q.length - offset): number {
  if (k <= 0) return 0;
  let m = Infinity;
  const end = offset + k;
  for (let i = offset; i < end; i++) {
    const d = Math.abs(2 * q[i] - 1);
    if (d < m) m = d;
  }
  return 1 - m;
}

// ---------------------------------------------------------------------------
// Confidence-list kernels (span scores, box scores). Empty input: 0.

/** `1 − min score`. Empty input: 0. */
export function oneMinusMin(s: ArrayLike<number>, offset = 0, n = s.length - offset): number {
  if (n <= 0) return 0;
  let m = Infinity;
  const end = offset + n;
  for (let i = offset; i < end; i++) if (s[i] < m) m = s[i];
  return 1 - m;
}

/** `1 − mean score`. Empty input: 0. */
export function oneMinusMean(s: ArrayLike<number>, offset = 0, n = s.length - offset): number {
  if (n <= 0) return 0;
  let t = 0;
  const end = offset + n;
  for (let i = offset; i < end; i++) t += s[i];
  return 1 - t / n;
}

/** `span-min` kernel over span confidences: `1 − min`. Empty: 0. */
export const spanMin = oneMinusMin;
/** `span-mean` kernel over span confidences: `1 − mean`. Empty: 0. */
export const spanMean = oneMinusMean;
/** `box-min` kernel over box scores: `1 − min`. Empty: 0. */
export const boxMin = oneMinusMin;
/** `box-mean` kernel over box scores: `1 − mean`. Empty: 0. */
export const boxMean = oneMinusMean;

/**
 * `box-count-weighted`: `(1 − mean score) × ln(1 + n)` for n boxes. Grows with
 * the number of boxes at a given mean uncertainty (ln, so the 20th box adds
 * far less than the 2nd); no boxes: 0.
 */
export function boxCountWeighted(s: ArrayLike<number>, offset = 0, n = s.length - offset): number {
  if (n <= 0) return 0;
  return oneMinusMean(s, offset, n) * Math.log(1 + n);
}

/**
 * Per-token entropy of token marginals, reduced by `max` (default: the most
 * confused token decides) or `mean`. No tokens: 0.
 */
export function tokenEntropy(tokenProbs: ArrayLike<ArrayLike<number>>, reduce: 'max' | 'mean' = 'max'): number {
  const n = tokenProbs.length;
  if (n === 0) return 0;
  let acc = 0;
  if (reduce === 'mean') {
    for (let t = 0; t < n; t++) acc += entropy(tokenProbs[t]);
    return acc / n;
  }
  for (let t = 0; t < n; t++) {
    const h = entropy(tokenProbs[t]);
    if (h > acc) acc = h;
  }
  return acc;
}

/** Maximum over tokens of `1 − max_l p(t, l)`, or its mean: token-level stand-ins for span confidence. */
function tokenLeastConfidence(tokenProbs: ArrayLike<ArrayLike<number>>, reduce: 'min' | 'mean'): number {
  const n = tokenProbs.length;
  if (n === 0) return 0;
  let acc = reduce === 'min' ? Infinity : 0;
  for (let t = 0; t < n; t++) {
    const row = tokenProbs[t];
    const c = 1 - leastConfidence(row); // = max_l p(t, l)
    if (reduce === 'min') {
      if (c < acc) acc = c;
    } else {
      acc += c;
    }
  }
  return reduce === 'min' ? 1 - acc : 1 - acc / n;
}

// ---------------------------------------------------------------------------
// Committee / MC-dropout kernels. `vs` is a non-empty list of equal-length
// probability vectors (committee members or dropout samples).

/** True when every vector equals the first, value for value. */
function allIdentical(vs: ArrayLike<ArrayLike<number>>, k: number): boolean {
  const first = vs[0];
  for (let m = 1; m < vs.length; m++) {
    const v = vs[m];
    for (let i = 0; i < k; i++) if (v[i] !== first[i]) return false;
  }
  return true;
}

/**
 * Fractional argmax votes into `out[0 … k)`: each vector gives 1 vote, split
 * equally among its tied maxima (so ties need no label-order rule).
 */
function votes(vs: ArrayLike<ArrayLike<number>>, k: number, out: Float64Array): void {
  out.fill(0, 0, k);
  for (let m = 0; m < vs.length; m++) {
    const v = vs[m];
    let best = -Infinity;
    for (let i = 0; i < k; i++) if (v[i] > best) best = v[i];
    let ties = 0;
    for (let i = 0; i < k; i++) if (v[i] === best) ties++;
    if (ties === 0) continue; // all NaN: abstains (unreachable after validation)
    const share = 1 / ties;
    for (let i = 0; i < k; i++) if (v[i] === best) out[i] += share;
  }
}

/** Sum of the vectors into `out[0 … k)`. */
function sumVector(vs: ArrayLike<ArrayLike<number>>, k: number, out: Float64Array): void {
  out.fill(0, 0, k);
  for (let m = 0; m < vs.length; m++) {
    const v = vs[m];
    for (let i = 0; i < k; i++) out[i] += v[i];
  }
}

/**
 * Vote entropy: entropy of the distribution of the members' argmax labels
 * (`−Σ_l (c_l / M) ln(c_l / M)`), ties split fractionally. No members: 0.
 */
export function voteEntropy(members: ArrayLike<ArrayLike<number>>): number {
  const n = members.length;
  if (n === 0) return 0;
  const k = members[0].length;
  const c = workBuffer(k);
  votes(members, k, c);
  let h = 0;
  for (let i = 0; i < k; i++) {
    const v = c[i] / n;
    if (v > 0) h -= v * Math.log(v);
  }
  return h;
}

/**
 * Mean KL divergence of each member from the consensus (the mean vector):
 * `(1/M) Σ_m Σ_l m_l ln(m_l / c_l)`, with `0 ln 0 = 0`. Mathematically ≥ 0
 * and 0 iff members agree; identical members return exactly 0 (rounding of
 * the mean would otherwise leave ~1e-17), and rounding below 0 is clamped.
 */
export function klDisagreement(members: ArrayLike<ArrayLike<number>>): number {
  const n = members.length;
  if (n === 0) return 0;
  const k = members[0].length;
  if (allIdentical(members, k)) return 0;
  const sum = workBuffer(k);
  sumVector(members, k, sum);
  let total = 0;
  for (let m = 0; m < n; m++) {
    const v = members[m];
    let kl = 0;
    for (let i = 0; i < k; i++) {
      const x = v[i];
      // x / c = x·n / Σ: the sum holds x itself, so it is > 0 whenever x is,
      // whereas the mean Σ/n can underflow to 0 for subnormal x.
      if (x > 0) kl += x * Math.log((x * n) / sum[i]);
    }
    total += kl;
  }
  const r = total / n;
  return r > 0 ? r : 0;
}

/**
 * BALD (mutual information between prediction and model parameters):
 * `H(mean_s p_s) − mean_s H(p_s)`. ≥ 0 by Jensen; identical samples return
 * exactly 0 and rounding below 0 is clamped. No samples: 0.
 */
export function bald(samples: ArrayLike<ArrayLike<number>>): number {
  const n = samples.length;
  if (n === 0) return 0;
  const k = samples[0].length;
  if (allIdentical(samples, k)) return 0;
  const c = workBuffer(k);
  sumVector(samples, k, c);
  for (let i = 0; i < k; i++) c[i] /= n;
  const hMean = entropy(c, 0, k);
  let hSum = 0;
  for (let s = 0; s < n; s++) hSum += entropy(samples[s], 0, k);
  const r = hMean - hSum / n;
  return r > 0 ? r : 0;
}

/**
 * Variation ratio: `1 − (votes for the modal label / number of samples)`,
 * argmax ties split fractionally. No samples: 0.
 */
export function variationRatio(samples: ArrayLike<ArrayLike<number>>): number {
  const n = samples.length;
  if (n === 0) return 0;
  const k = samples[0].length;
  const c = workBuffer(k);
  votes(samples, k, c);
  let mode = 0;
  for (let i = 0; i < k; i++) if (c[i] > mode) mode = c[i];
  return 1 - mode / n;
}

// ---------------------------------------------------------------------------
// Metadata: ranges, required fields, strategies per task.

/**
 * Natural range `[min, max]` of a strategy's scores, for fixed histogram bins.
 * `numLabels` is k, the width of the probability vectors. The range always
 * has max > min: where the natural range collapses (k < 2) it is [0, 1].
 * `box-count-weighted` is unbounded; its range stops at 100 boxes of mean
 * score 0, `ln 101`, and larger values belong in the top bin.
 */
export function scoreRange(name: StrategyName, numLabels: number): [number, number] {
  const k = Number.isFinite(numLabels) ? Math.floor(numLabels) : 0;
  switch (name) {
    case 'entropy':
    case 'token-entropy':
    case 'vote-entropy':
    case 'kl-disagreement': // = generalised Jensen–Shannon divergence ≤ H(mean) ≤ ln k
    case 'bald':
      return k >= 2 ? [0, Math.log(k)] : [0, 1];
    case 'least-confidence':
    case 'variation-ratio':
      return k >= 2 ? [0, 1 - 1 / k] : [0, 1];
    case 'multilabel-entropy':
      return [0, Math.LN2];
    case 'box-count-weighted':
      return [0, Math.log(101)];
    case 'margin':
    case 'ratio':
    case 'multilabel-min-margin':
    case 'span-min':
    case 'span-mean':
    case 'box-min':
    case 'box-mean':
    case 'mask-mean-uncertainty':
    case 'mask-low-confidence-area':
    case 'mask-min-instance':
    case 'random':
      return [0, 1];
  }
}

const REQUIRED: Readonly<Record<StrategyName, readonly string[]>> = Object.freeze({
  'least-confidence': ['probs'],
  margin: ['probs'],
  ratio: ['probs'],
  entropy: ['probs'],
  'multilabel-entropy': ['probs'],
  'multilabel-min-margin': ['probs'],
  'span-min': ['spans'],
  'span-mean': ['spans'],
  'token-entropy': ['token_probs'],
  'box-min': ['boxes'],
  'box-mean': ['boxes'],
  'box-count-weighted': ['boxes'],
  'vote-entropy': ['committee'],
  'kl-disagreement': ['committee'],
  bald: ['samples'],
  'variation-ratio': ['samples'],
  // Masks are read and scored by scoring/segmentation/ (docs/inputs.md), not from PredictionRecord fields.
  'mask-mean-uncertainty': ['prediction.categoryMask|instances|mask', 'prediction.confidenceMask|instances[].score|confidence_mask'],
  'mask-low-confidence-area': ['prediction.categoryMask|instances|mask', 'prediction.confidenceMask|instances[].score|confidence_mask'],
  'mask-min-instance': ['instances'],
  random: [],
});

/**
 * Record fields a strategy reads (besides `id`). `span-*` also read
 * `token_probs`, optionally, for records with no spans.
 */
export function requiredFields(name: StrategyName): readonly string[] {
  return REQUIRED[name];
}

const SINGLE_LABEL: readonly StrategyName[] = [
  'least-confidence',
  'margin',
  'ratio',
  'entropy',
  'vote-entropy',
  'kl-disagreement',
  'bald',
  'variation-ratio',
  'random',
];

const BY_TASK: Readonly<Record<TaskType, readonly StrategyName[]>> = Object.freeze({
  textcat: SINGLE_LABEL,
  image: SINGLE_LABEL,
  // Audio projects classify clips; committee and MC vectors are over labels too.
  audio: SINGLE_LABEL,
  'textcat-multilabel': ['multilabel-entropy', 'multilabel-min-margin', 'random'],
  ner: ['span-min', 'span-mean', 'token-entropy', 'random'],
  'image-boxes': ['box-min', 'box-mean', 'box-count-weighted', 'random'],
  'image-segmentation': ['mask-mean-uncertainty', 'mask-low-confidence-area', 'mask-min-instance', 'random'],
});

/** Strategies that make sense for a task type (`random` fits all). */
export function taskStrategies(task: TaskType): readonly StrategyName[] {
  return BY_TASK[task];
}

// ---------------------------------------------------------------------------
// Per-record scoring.

type Fail = { ok: false; field: string; reason: string };

function fail(field: string, reason: string): Fail {
  return { ok: false, field, reason };
}

function badProbability(v: number): string {
  if (Number.isNaN(v)) return 'is NaN';
  if (v < 0) return 'is negative';
  return 'is above 1';
}

/** Result of gathering a record's `probs` into the scratch buffer in label order. */
type Gathered = { ok: true; k: number } | Fail;

/**
 * Copies `probs` into `gather[0 … k)` in `labels` order, checking every value
 * is a number in [0, 1] and that no key is outside `labels`. Allocation-free
 * on the success path (keys are counted with for-in instead of Object.keys).
 */
function gatherProbs(name: StrategyName, probs: unknown, labels: readonly string[]): Gathered {
  if (typeof probs !== 'object' || probs === null || Array.isArray(probs)) {
    return fail('probs', `${name} needs probs`);
  }
  const obj = probs as Record<string, unknown>;
  const order = labels.length > 0 ? labels : Object.keys(obj).sort();
  const k = order.length;
  if (k === 0) return fail('probs', `${name} needs at least one probability`);
  const buf = gatherBuffer(k);
  let found = 0;
  for (let i = 0; i < k; i++) {
    const label = order[i];
    const v = obj[label];
    if (typeof v === 'number') {
      if (!(v >= 0 && v <= 1)) return fail('probs', `probability of "${label}" ${badProbability(v)}`);
      buf[i] = v;
      found++;
    } else if (v === undefined || !Object.hasOwn(obj, label)) {
      // Absent (or only inherited, e.g. a label named "constructor"): probability 0.
      buf[i] = 0;
    } else {
      return fail('probs', `probability of "${label}" is not a number`);
    }
  }
  if (found === 0) return fail('probs', `${name} needs at least one probability for the labels`);
  let keys = 0;
  for (const key in obj) if (Object.hasOwn(obj, key)) keys++;
  if (keys !== found) {
    const known = new Set(order);
    const unknown = Object.keys(obj).find((key) => !known.has(key));
    return fail('probs', `unknown label "${unknown ?? '?'}"`);
  }
  return { ok: true, k };
}

/** Collects `items[i].score` into `gather`; every item must carry a score in [0, 1]. */
function gatherScores(field: 'spans' | 'boxes', name: StrategyName, items: unknown): { ok: true; n: number } | Fail {
  if (!Array.isArray(items)) return fail(field, `${name} needs ${field}`);
  const n = items.length;
  const buf = gatherBuffer(n);
  for (let i = 0; i < n; i++) {
    const item: unknown = items[i];
    const s = typeof item === 'object' && item !== null ? (item as { score?: unknown }).score : undefined;
    if (typeof s !== 'number') return fail(field, `${name} needs a score on every item (${field}[${i}] has none)`);
    if (!(s >= 0 && s <= 1)) return fail(field, `${field}[${i}].score ${badProbability(s)}`);
    buf[i] = s;
  }
  return { ok: true, n };
}

/**
 * Checks a list of probability vectors: an array of arrays of numbers in
 * [0, 1], all of width `width` (or of the first vector's width when `width`
 * is 0). `minRows`: fewer rows is an error.
 */
function checkMatrix(field: string, name: StrategyName, m: unknown, width: number, minRows: number): Fail | null {
  if (!Array.isArray(m)) return fail(field, `${name} needs ${field}`);
  if (m.length < minRows) return fail(field, `${name} needs at least ${minRows} vector${minRows === 1 ? '' : 's'} in ${field}`);
  let w = width > 0 ? width : -1;
  for (let r = 0; r < m.length; r++) {
    const row: unknown = m[r];
    if (!Array.isArray(row)) return fail(field, `${field}[${r}] is not an array`);
    if (w < 0) w = row.length;
    if (row.length !== w) return fail(field, `${field}[${r}] has ${row.length} values, expected ${w}`);
    for (let i = 0; i < row.length; i++) {
      const v: unknown = row[i];
      if (typeof v !== 'number') return fail(field, `${field}[${r}][${i}] is not a number`);
      if (!(v >= 0 && v <= 1)) return fail(field, `${field}[${r}][${i}] ${badProbability(v)}`);
    }
  }
  return null;
}

/**
 * Scores one record with one strategy. Never throws: a record missing what
 * the strategy needs (or holding NaN, negative or >1 probabilities, unknown
 * labels, ragged vectors) comes back as `{ok: false, field, reason}` for the
 * rejects file.
 *
 * Edge cases:
 * - `span-min` / `span-mean` with `spans: []`: when the record has
 *   `token_probs`, the token marginals stand in for span confidences
 *   (`1 − min_t max_l p(t,l)` / `1 − mean_t max_l p(t,l)`), so a text where
 *   the model found nothing but hesitated on some token still ranks; without
 *   them the score is 0. A missing `spans` field is an error.
 * - `token-entropy` with no tokens, `box-*` with `boxes: []`: 0.
 * - `committee` / `samples` need at least one vector; width must equal
 *   `labels.length` when labels are given.
 */
/** mask-* strategies score image-segmentation lines in scoring/segmentation/, never a PredictionRecord. */
function unknownStrategy(name: string): Fail {
  return fail('strategy', name.startsWith('mask-') ? `${name} scores image-segmentation masks, not prediction records` : `unknown strategy "${name}"`);
}

export function scoreRecord(rec: PredictionRecord, labels: string[], opts: StrategyOptions): ScoreResult {
  const name = opts.name;
  switch (name) {
    case 'least-confidence':
    case 'margin':
    case 'ratio':
    case 'entropy':
    case 'multilabel-entropy':
    case 'multilabel-min-margin': {
      const g = gatherProbs(name, rec.probs, labels);
      if (!g.ok) return g;
      const p = gather;
      const k = g.k;
      switch (name) {
        case 'least-confidence':
          return { ok: true, score: leastConfidence(p, 0, k) };
        case 'margin':
          return { ok: true, score: margin(p, 0, k) };
        case 'ratio':
          return { ok: true, score: ratio(p, 0, k) };
        case 'entropy':
          return { ok: true, score: entropy(p, 0, k) };
        case 'multilabel-entropy':
          return { ok: true, score: multilabelEntropy(p, 0, k) };
        case 'multilabel-min-margin':
          return { ok: true, score: multilabelMinMargin(p, 0, k) };
      }
      break;
    }
    case 'span-min':
    case 'span-mean': {
      const g = gatherScores('spans', name, rec.spans);
      if (!g.ok) return g;
      if (g.n === 0) {
        const tp = rec.token_probs;
        if (tp === undefined) return { ok: true, score: 0 };
        const bad = checkMatrix('token_probs', name, tp, 0, 0);
        if (bad) return bad;
        return { ok: true, score: tokenLeastConfidence(tp, name === 'span-min' ? 'min' : 'mean') };
      }
      return { ok: true, score: name === 'span-min' ? spanMin(gather, 0, g.n) : spanMean(gather, 0, g.n) };
    }
    case 'token-entropy': {
      // Rows may be over BIO tags rather than labels: their width is checked
      // for consistency between tokens, not against labels.
      const bad = checkMatrix('token_probs', name, rec.token_probs, 0, 0);
      if (bad) return bad;
      const tp = rec.token_probs as number[][];
      return { ok: true, score: tokenEntropy(tp, opts.reduce ?? 'max') };
    }
    case 'box-min':
    case 'box-mean':
    case 'box-count-weighted': {
      const g = gatherScores('boxes', name, rec.boxes);
      if (!g.ok) return g;
      const score = name === 'box-min' ? boxMin(gather, 0, g.n) : name === 'box-mean' ? boxMean(gather, 0, g.n) : boxCountWeighted(gather, 0, g.n);
      return { ok: true, score };
    }
    case 'vote-entropy':
    case 'kl-disagreement': {
      const bad = checkMatrix('committee', name, rec.committee, labels.length, 1);
      if (bad) return bad;
      const m = rec.committee as number[][];
      return { ok: true, score: name === 'vote-entropy' ? voteEntropy(m) : klDisagreement(m) };
    }
    case 'bald':
    case 'variation-ratio': {
      const bad = checkMatrix('samples', name, rec.samples, labels.length, 1);
      if (bad) return bad;
      const s = rec.samples as number[][];
      return { ok: true, score: name === 'bald' ? bald(s) : variationRatio(s) };
    }
    case 'random':
      if (typeof rec.id !== 'string') return fail('id', 'random needs a string id');
      return { ok: true, score: uniform01(opts.seed, rec.id) };
  }
  return unknownStrategy(name);
}
