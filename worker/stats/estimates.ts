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
import { ECE_BINS, expectedCalibrationError, precisionRecallF1, type PrfItem } from './metrics.js';

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
    for (const round of rounds) out.push(...groupEstimates(mine.filter((u) => u.round === round), { model, round }, task, clip, labels, seedKey));
    if (rounds.length > 1) out.push(...groupEstimates(mine, { model, round: null }, task, clip, labels, seedKey));
  }
  if (models.length > 1) out.push(...groupEstimates(units, { model: '*', round: null }, task, clip, labels, seedKey));
  return out;
}

function groupEstimates(units: readonly AuditUnit[], who: { model: string; round: string | null }, task: TaskType, clip: boolean, labels: readonly string[], seedKey: string): EstimateRow[] {
  if (units.length === 0) return [];
  const strata = units.map((u) => `${u.model}\u0000${u.round}`);
  // Within one round's audit every item has the same inclusion probability (a simple random
  // sample), so weights cancel and the plain proportion with a Wilson interval is the estimator.
  const equalWeights = units.every((u) => u.weight === units[0].weight);
  const statFn = (sample: AuditUnit[]) => measures(sample, task, clip, labels);
  const point = statFn([...units]);
  const boot = bootstrapIntervals(units, statFn, { seed: seedOf(`${seedKey}\u0000${who.model}\u0000${who.round ?? '*'}`), strata });
  const bootMethod = `bootstrap percentile, ${BOOTSTRAP_REPLICATES} replicates${new Set(strata).size > 1 ? ' within rounds' : ''}${equalWeights ? '' : ', Hajek weights 1/inclusion_p'}`;
  const counts = sampleCounts(units);
  const whole = wholeItemMeasure(task, clip);
  const out: EstimateRow[] = [];
  for (const key of Object.keys(point)) {
    const [label, measure] = key.split('\u0000');
    const n = label === '*' ? units.length : counts.get(label) ?? 0;
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
    if (measure === 'ece') method = `${ECE_BINS} equal-width confidence bins; ${bootMethod}`;
    const small = n < LOW_N || (measure === 'ece' && n < ECE_MIN_ITEMS);
    out.push({
      model: who.model, round_id: who.round, slice: 'audit', label, measure,
      estimate: point[key], ci_low: point[key] === null ? null : ci?.low ?? null, ci_high: point[key] === null ? null : ci?.high ?? null,
      n_sample: n, method, flag: small ? 'low_n' : null,
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

/**
 * All point figures of one sample, keyed `label \0 measure` in a fixed order:
 * overall ("*") first, then per label.
 */
export function measures(sample: readonly AuditUnit[], task: TaskType, clip: boolean, labels: readonly string[]): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  const totalW = sample.reduce((s, u) => s + u.weight, 0);
  out[`*\u0000${wholeItemMeasure(task, clip)}`] = totalW > 0 ? sample.reduce((s, u) => s + (u.same ? u.weight : 0), 0) / totalW : null;
  const prefix = decisionPrefix(task, clip);
  const prf = precisionRecallF1(sample.map((u) => ({ ...u.item, weight: u.weight })), labels);
  const micro = prf[prf.length - 1];
  out[`*\u0000${prefix}precision`] = micro.precision;
  out[`*\u0000${prefix}recall`] = micro.recall;
  out[`*\u0000${prefix}f1`] = micro.f1;
  if (clip) {
    out['*\u0000kappa'] = weightedKappa(sample.map((u) => ({ a: u.predicted, b: u.gold, w: u.weight })));
    const calib = sample.filter((u) => u.confidence !== null).map((u) => ({ confidence: u.confidence!, correct: u.same, weight: u.weight }));
    out['*\u0000ece'] = expectedCalibrationError(calib);
  }
  for (const p of prf.slice(0, -1)) {
    out[`${p.label}\u0000${prefix}precision`] = p.precision;
    out[`${p.label}\u0000${prefix}recall`] = p.recall;
    out[`${p.label}\u0000${prefix}f1`] = p.f1;
  }
  return out;
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
