/**
 * Design-based quality estimates from the audit slice: one figure per model
 * version, per round and cumulatively, with a 95% interval and the number of
 * items behind it. Pure: no I/O, no clock; the bootstrap is seeded from the
 * row's identity, so re-running a merge writes identical rows.
 *
 * Only the audit slice is a probability sample of the scored population, so
 * only it yields estimates; the reviewed-for-doubt items describe themselves
 * and nothing more (they stay in `label_quality`, slice `uncertainty`).
 */
import type { TaskType } from '../../scoring/types.js';
import { bootstrapIntervals, seedOf, wilsonInterval, BOOTSTRAP_REPLICATES, type Interval } from './intervals.js';
import { ECE_BINS, type PrfItem } from './measures.js';

/** Rows resting on fewer unweighted items than this carry the flag `low_n`. */
export const LOW_N = 10;
/** ECE is biased upward until every bin can hold several items: below this many items it is flagged `low_n` too. */
export const ECE_MIN_ITEMS = 10 * ECE_BINS;

/** One audited item: the model's decisions vs the human's, with its design weight. */
export interface AuditUnit {
  model: string;
  round: string;
  /** 1 / inclusion probability. */
  weight: number;
  item: PrfItem;
  /** Prediction equals the human answer as a whole (clip label, label set, all spans or regions). */
  same: boolean;
  /** Max predicted probability (clip tasks), else null. */
  confidence: number | null;
  /** Predicted and human category for kappa (clip tasks), else null. */
  predicted: string | null;
  gold: string | null;
}

/** One `quality_estimates` row without the key columns. */
export interface EstimateRow {
  model: string;
  round_id: string | null;
  slice: 'audit';
  label: string;
  measure: string;
  estimate: number | null;
  ci_low: number | null;
  ci_high: number | null;
  n_sample: number;
  method: string;
  flag: string | null;
}

/** What the whole-item match is called for a task: a share of items for clip and label-set tasks, an exact match of all spans or regions otherwise. */
function wholeItemMeasure(task: TaskType, clip: boolean): string {
  return clip || task === 'textcat-multilabel' ? 'accuracy' : 'exact_match';
}

/** Measure name prefix for decision-level figures: spans for NER, regions for boxes and audio regions. */
function decisionPrefix(task: TaskType, clip: boolean): string {
  if (clip || task === 'textcat-multilabel') return '';
  return task === 'ner' ? 'span_' : 'region_';
}

/**
 * Estimates per (model, round), per model over all its rounds (round_id null)
 * and pooled over models (model "*", round_id null: a separate row, never a
 * headline). `clip` says whether units are single-label classifications
 * (kappa and ECE apply).
 */
export function qualityEstimates(units: readonly AuditUnit[], task: TaskType, clip: boolean, labels: readonly string[], seedKey: string): EstimateRow[] {
  const out: EstimateRow[] = [];
  const models = [...new Set(units.map((u) => u.model))].sort();
  for (const model of models) {
    const mine = units.filter((u) => u.model === model);
    const rounds = [...new Set(mine.map((u) => u.round))].sort();
    for (const round of rounds)
      out.push(
        ...groupEstimates(
          mine.filter((u) => u.round === round),
          { model, round },
          task,
          clip,
          labels,
          seedKey,
        ),
      );
    if (rounds.length > 1) out.push(...groupEstimates(mine, { model, round: null }, task, clip, labels, seedKey));
  }
  if (models.length > 1) out.push(...groupEstimates(units, { model: '*', round: null }, task, clip, labels, seedKey));
  return out;
}

function groupEstimates(
  units: readonly AuditUnit[],
  who: { model: string; round: string | null },
  task: TaskType,
  clip: boolean,
  labels: readonly string[],
  seedKey: string,
): EstimateRow[] {
  if (units.length === 0) return [];
  const strata = units.map((u) => `${u.model}\u0000${u.round}`);
  // Within one round's audit every item has the same inclusion probability (a simple random
  // sample), so weights cancel and the plain proportion with a Wilson interval is the estimator.
  const equalWeights = units.every((u) => u.weight === units[0].weight);
  const prepared = prepare(units, labels);
  const statFn = (sample: Prepared[]) => prepared.measures(sample, task, clip);
  const point = statFn(prepared.items);
  const boot = bootstrapIntervals(prepared.items, statFn, { seed: seedOf(`${seedKey}\u0000${who.model}\u0000${who.round ?? '*'}`), strata });
  const bootMethod = `bootstrap percentile, ${BOOTSTRAP_REPLICATES} replicates${new Set(strata).size > 1 ? ' within rounds' : ''}${equalWeights ? '' : ', Hajek weights 1/inclusion_p'}`;
  const counts = sampleCounts(units);
  const whole = wholeItemMeasure(task, clip);
  const out: EstimateRow[] = [];
  for (const key of Object.keys(point)) {
    const [label, measure] = key.split('\u0000');
    const n = label === '*' ? units.length : (counts.get(label) ?? 0);
    if (n === 0) continue;
    let ci: Interval | null = boot[key] ?? null;
    let method = bootMethod;
    if (measure === whole && point[key] !== null) {
      // A proportion: Wilson at the Kish effective sample size (Σw)²/Σw², which is n itself for equal weights.
      // Unlike a bootstrap it does not collapse to [p̂, p̂] when every sampled item agrees.
      const nEff = kishEffectiveN(units.map((u) => u.weight));
      ci = wilsonInterval(point[key]! * nEff, nEff);
      method = equalWeights ? 'wilson score' : 'wilson score at Kish effective n, Hajek weights 1/inclusion_p';
    }
    const base = measure.replace(/^(span|region)_/, '');
    if (clip && (base === 'precision' || base === 'recall') && point[key] !== null) {
      // One decision per item: precision is the share of items predicted as the label that are right,
      // recall the share of items with that gold label the model found; both proportions of items.
      const side = base === 'precision' ? (u: AuditUnit) => u.item.predicted : (u: AuditUnit) => u.item.gold;
      const nEff = kishEffectiveN(units.filter((u) => side(u).some((d) => label === '*' || d.label === label)).map((u) => u.weight));
      ci = wilsonInterval(point[key]! * nEff, nEff);
      method = `${equalWeights ? 'wilson score' : 'wilson score at Kish effective n, Hajek weights 1/inclusion_p'} over items ${base === 'precision' ? 'predicted' : 'given'} the label`;
    } else if (method === bootMethod && ci !== null && ci.low === ci.high) {
      // Every resample gave the same value (e.g. all sampled items right): the bootstrap cannot size the
      // uncertainty, and a zero-width interval would claim certainty.
      ci = null;
      method = `${bootMethod}; no interval: every resample gave the same value`;
    }
    if (measure === 'ece') method = `${ECE_BINS} equal-width confidence bins; ${method}`;
    const small = n < LOW_N || (measure === 'ece' && n < ECE_MIN_ITEMS);
    out.push({
      model: who.model,
      round_id: who.round,
      slice: 'audit',
      label,
      measure,
      estimate: point[key],
      ci_low: point[key] === null ? null : (ci?.low ?? null),
      ci_high: point[key] === null ? null : (ci?.high ?? null),
      n_sample: n,
      method,
      flag: small ? 'low_n' : null,
    });
  }
  return out;
}

/** Kish's effective sample size of weighted items, (Σw)²/Σw². */
export function kishEffectiveN(weights: readonly number[]): number {
  const sw = weights.reduce((a, b) => a + b, 0);
  const sw2 = weights.reduce((a, b) => a + b * b, 0);
  return sw2 > 0 ? (sw * sw) / sw2 : 0;
}

/** Unweighted items in which each label occurs, predicted or gold. */
function sampleCounts(units: readonly AuditUnit[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const u of units) for (const l of new Set([...u.item.predicted, ...u.item.gold].map((d) => d.label))) m.set(l, (m.get(l) ?? 0) + 1);
  return m;
}

/** One unit reduced to what the measures need: label and category indices, so a bootstrap replicate only adds numbers. */
interface Prepared {
  w: number;
  same: boolean;
  confidence: number | null;
  /** Kappa categories (index into the category list), -1 when absent. */
  a: number;
  b: number;
  /** Flattened (label index, kind) pairs: kind 0 = TP, 1 = FP, 2 = FN. */
  decisions: number[];
}

/**
 * Indexes the units once: decisions are matched by key exactly as
 * {@link precisionRecallF1} matches them (per item, predicted keys found among
 * the gold keys are TPs, the rest FPs; unmatched gold keys are FNs).
 */
function prepare(units: readonly AuditUnit[], labels: readonly string[]) {
  const seen = new Set<string>();
  for (const u of units) for (const d of [...u.item.predicted, ...u.item.gold]) seen.add(d.label);
  const order = [...labels, ...[...seen].filter((l) => !labels.includes(l)).sort()];
  const labelIx = new Map(order.map((l, i) => [l, i]));
  const cats = new Map<string, number>();
  const cat = (c: string | null) => {
    if (c === null) return -1;
    if (!cats.has(c)) cats.set(c, cats.size);
    return cats.get(c)!;
  };
  const items: Prepared[] = units.map((u) => {
    const gold = new Map(u.item.gold.map((g) => [g.key, g.label]));
    const pred = new Map(u.item.predicted.map((p) => [p.key, p.label]));
    const decisions: number[] = [];
    for (const [key, label] of pred) decisions.push(labelIx.get(label)!, gold.has(key) ? 0 : 1);
    for (const [key, label] of gold) if (!pred.has(key)) decisions.push(labelIx.get(label)!, 2);
    const both = u.predicted !== null && u.gold !== null;
    return { w: u.weight, same: u.same, confidence: u.confidence, a: both ? cat(u.predicted) : -1, b: both ? cat(u.gold) : -1, decisions };
  });
  return { items, measures: (sample: readonly Prepared[], task: TaskType, clip: boolean) => measuresOf(sample, task, clip, order, cats.size) };
}

/**
 * All point figures of one sample, keyed `label \0 measure` in a fixed order:
 * overall ("*") first, then per label.
 */
export function measures(sample: readonly AuditUnit[], task: TaskType, clip: boolean, labels: readonly string[]): Record<string, number | null> {
  const p = prepare(sample, labels);
  return p.measures(p.items, task, clip);
}

function measuresOf(sample: readonly Prepared[], task: TaskType, clip: boolean, order: readonly string[], nCats: number): Record<string, number | null> {
  const L = order.length;
  const c = new Float64Array(3 * L);
  let totalW = 0;
  let sameW = 0;
  for (const u of sample) {
    totalW += u.w;
    if (u.same) sameW += u.w;
    for (let i = 0; i < u.decisions.length; i += 2) c[3 * u.decisions[i] + u.decisions[i + 1]] += u.w;
  }
  const out: Record<string, number | null> = {};
  out[`*\u0000${wholeItemMeasure(task, clip)}`] = totalW > 0 ? sameW / totalW : null;
  const prefix = decisionPrefix(task, clip);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let l = 0; l < L; l++) {
    tp += c[3 * l];
    fp += c[3 * l + 1];
    fn += c[3 * l + 2];
  }
  const put = (label: string, t: number, f: number, n: number) => {
    const precision = t + f > 0 ? t / (t + f) : null;
    const recall = t + n > 0 ? t / (t + n) : null;
    out[`${label}\u0000${prefix}precision`] = precision;
    out[`${label}\u0000${prefix}recall`] = recall;
    out[`${label}\u0000${prefix}f1`] =
      precision === null || recall === null ? null : precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  };
  put('*', tp, fp, fn);
  if (clip) {
    out['*\u0000kappa'] = kappaOf(sample, nCats);
    out['*\u0000ece'] = eceOf(sample);
  }
  for (let l = 0; l < L; l++) put(order[l], c[3 * l], c[3 * l + 1], c[3 * l + 2]);
  return out;
}

/** {@link expectedCalibrationError} without building an input list per bootstrap replicate (same bins, same arithmetic). */
function eceOf(sample: readonly Prepared[]): number | null {
  const w = new Float64Array(ECE_BINS);
  const conf = new Float64Array(ECE_BINS);
  const hit = new Float64Array(ECE_BINS);
  let total = 0;
  for (const u of sample) {
    if (u.confidence === null || !Number.isFinite(u.confidence)) continue;
    const b = Math.min(ECE_BINS - 1, Math.max(0, Math.floor(u.confidence * ECE_BINS)));
    w[b] += u.w;
    conf[b] += u.w * u.confidence;
    hit[b] += u.same ? u.w : 0;
    total += u.w;
  }
  if (!(total > 0)) return null;
  let ece = 0;
  for (let b = 0; b < ECE_BINS; b++) if (w[b] > 0) ece += (w[b] / total) * Math.abs(hit[b] / w[b] - conf[b] / w[b]);
  return ece;
}

/** {@link weightedKappa} on prepared category indices. */
function kappaOf(sample: readonly Prepared[], nCats: number): number | null {
  const ma = new Float64Array(nCats);
  const mb = new Float64Array(nCats);
  let W = 0;
  let same = 0;
  for (const u of sample) {
    if (u.a < 0 || u.b < 0 || !(u.w > 0)) continue;
    W += u.w;
    if (u.a === u.b) same += u.w;
    ma[u.a] += u.w;
    mb[u.b] += u.w;
  }
  if (!(W > 0)) return null;
  let pe = 0;
  for (let k = 0; k < nCats; k++) pe += (ma[k] / W) * (mb[k] / W);
  return pe >= 1 - 1e-12 ? null : (same / W - pe) / (1 - pe);
}

/**
 * Cohen's kappa between two raters (here model and human) with item weights:
 * p_o = Σw·[a = b]/W, p_e = Σ_c (Σw·[a = c]/W)(Σw·[b = c]/W), κ = (p_o − p_e)/(1 − p_e).
 * Items where either side is null are left out. null when undefined (no items, p_e = 1).
 */
export function weightedKappa(pairs: ReadonlyArray<{ a: string | null; b: string | null; w: number }>): number | null {
  const used = pairs.filter((p) => p.a !== null && p.b !== null && p.w > 0);
  const W = used.reduce((s, p) => s + p.w, 0);
  if (!(W > 0)) return null;
  const ma = new Map<string, number>();
  const mb = new Map<string, number>();
  let same = 0;
  for (const p of used) {
    if (p.a === p.b) same += p.w;
    ma.set(p.a!, (ma.get(p.a!) ?? 0) + p.w);
    mb.set(p.b!, (mb.get(p.b!) ?? 0) + p.w);
  }
  const po = same / W;
  let pe = 0;
  for (const [c, x] of ma) pe += (x / W) * ((mb.get(c) ?? 0) / W);
  return pe >= 1 - 1e-12 ? null : (po - pe) / (1 - pe);
}
