/**
 * Builds stats rows from domain data (round manifests, snapshot rows). Pure:
 * event time comes from the data (round slot time, snapshot asOf), never from
 * the clock, so re-running a round or merge yields identical rows and the
 * sinks' batch idempotency holds.
 */
import { segmentationIouRows } from './segmentation-iou.js';
import type { TaskType } from '../../scoring/types.js';
import type { Answer, RoundManifest, SnapshotRow } from '../records.js';
import {
  cohensKappaPairs,
  delta,
  expectedCalibrationError,
  fleissKappa,
  ignoreRate,
  interArrivalSeconds,
  intervalIoU,
  jsDivergence,
  matchByIoU,
  meanOf,
  precisionRecallF1,
  psi,
  psiBand,
  psiNoiseP95,
  quantiles,
  baselineQuantileGroups,
  regroup,
  rectIoU,
  type AnswerCounts,
  type PrfItem,
  type Rating,
  type Rect,
} from './measures.js';
import { qualityEstimates, type AuditUnit } from './estimates.js';
import type { Row, Rows } from './tables.js';

/** Batch id of a round's stats: one round is written once. */
export function roundBatchId(project: string, round: string): string {
  return `round:${project}:${round}`;
}

/** Batch id of a merge's stats: one snapshot version is written once. */
export function mergeBatchId(project: string, version: number): string {
  return `merge:${project}:v${String(version).padStart(6, '0')}`;
}

/** Multi-label predictions count as "predicted" at or above this probability. */
export const MULTILABEL_THRESHOLD = 0.5;

const SCORE_QUANTILES = [0.1, 0.25, 0.5, 0.75, 0.9];

function iso(t: string): string {
  return new Date(t).toISOString();
}

/**
 * Rows for one round: `rounds`, `round_histograms`, `round_labels`, and
 * `drift` against `previous` and `reference` (each skipped when null or the
 * same round).
 */
export function roundRows(manifest: RoundManifest, previous: RoundManifest | null, reference: RoundManifest | null): Rows {
  const base = {
    event_time: iso(manifest.slotTime),
    project: manifest.project,
    batch_id: roundBatchId(manifest.project, manifest.round),
    round_id: manifest.round,
  };
  const s = manifest.stats;
  const meanConfidence = meanConfidenceOf(manifest);
  const meanEntropy = meanEntropyOf(manifest);
  const [p10, p25, p50, p75, p90] = quantiles(manifest.queuedScores, SCORE_QUANTILES);
  const rounds: Row[] = [
    {
      ...base,
      model: manifest.model,
      task: manifest.task,
      strategy: manifest.strategy.name,
      items_read: manifest.counts.read,
      items_scored: manifest.counts.scored,
      items_rejected: manifest.counts.rejected,
      items_skipped: manifest.counts.skipped,
      items_queued: manifest.counts.queued,
      items_audit: manifest.counts.audit,
      audit_population: manifest.auditPopulation,
      mean_confidence: meanConfidence,
      mean_entropy: meanEntropy,
      score_p10: p10,
      score_p25: p25,
      score_p50: p50,
      score_p75: p75,
      score_p90: p90,
    },
  ];

  const round_histograms = histogramRows(manifest, base);

  const labelled = Object.values(s.labelCounts).reduce((a, b) => a + b, 0);
  const labels = [
    ...manifest.labels,
    ...Object.keys(s.labelCounts)
      .filter((l) => !manifest.labels.includes(l))
      .sort(),
  ];
  const round_labels: Row[] = labels.map((label) => {
    const n = s.labelCounts[label] ?? 0;
    return { ...base, label, n, share: labelled > 0 ? n / labelled : null };
  });

  const drift = driftRows(manifest, base, previous, reference, meanConfidence, meanEntropy);
  return { rounds, round_histograms, round_labels, drift };
}

type RowBase = { event_time: string; project: string; batch_id: string; round_id: string };

/** The round's score and confidence histograms, one row per bin. */
function histogramRows(manifest: RoundManifest, base: RowBase): Row[] {
  const s = manifest.stats;
  const round_histograms: Row[] = [];
  const [lo, hi] = manifest.scoreRange;
  const sBins = s.scoreHist.length;
  s.scoreHist.forEach((n, i) =>
    round_histograms.push({
      ...base,
      histogram: 'score',
      bin_index: i,
      bin_lower: lo + ((hi - lo) * i) / sBins,
      bin_upper: lo + ((hi - lo) * (i + 1)) / sBins,
      n,
    }),
  );
  const cBins = s.confidenceHist.length;
  s.confidenceHist.forEach((n, i) =>
    round_histograms.push({ ...base, histogram: 'confidence', bin_index: i, bin_lower: i / cBins, bin_upper: (i + 1) / cBins, n }),
  );
  return round_histograms;
}

/** Drift against the previous round and the reference round (PSI of confidence, JS of labels, mean deltas). */
function driftRows(
  manifest: RoundManifest,
  base: RowBase,
  previous: RoundManifest | null,
  reference: RoundManifest | null,
  meanConfidence: number | null,
  meanEntropy: number | null,
): Row[] {
  const s = manifest.stats;
  const drift: Row[] = [];
  for (const [kind, other] of [
    ['previous', previous],
    ['reference', reference],
  ] as const) {
    if (!other || other.round === manifest.round) continue;
    // Bins at the baseline's quantiles: equal-width bins of max-probability leave bins no record can reach (below 1/labels).
    const groups = baselineQuantileGroups(other.stats.confidenceHist);
    const expected = regroup(other.stats.confidenceHist, groups);
    const actual = regroup(s.confidenceHist, groups);
    const value = groups.length > 0 ? psi(expected, actual) : null;
    const noise = psiNoiseP95(sum(expected), sum(actual), expected.length);
    drift.push({
      ...base,
      baseline: kind,
      baseline_round_id: other.round,
      psi_confidence: value,
      psi_band: psiBand(value, noise),
      js_labels: jsDivergence(s.labelCounts, other.stats.labelCounts),
      mean_entropy_delta: delta(meanEntropy, meanEntropyOf(other)),
      mean_confidence_delta: delta(meanConfidence, meanConfidenceOf(other)),
      psi_bins: value === null ? null : expected.length,
      psi_noise_p95: value === null ? null : noise,
    });
  }
  return drift;
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * Mean max-probability over the records that have class probabilities (the
 * confidence histogram counts exactly those); null for span, box and region
 * predictions, where no such probability exists.
 */
function meanConfidenceOf(m: RoundManifest): number | null {
  return meanOf(m.stats.confidenceSum, sum(m.stats.confidenceHist));
}

/** Mean predictive entropy over records with class probabilities; null for multi-label and prob-less tasks (scoring does not sum it there). */
function meanEntropyOf(m: RoundManifest): number | null {
  return m.task === 'textcat-multilabel' ? null : meanOf(m.stats.entropySum, sum(m.stats.confidenceHist));
}

/** Input of {@link mergeRows}: one merge's result. */
export interface MergeStatsInput {
  project: string;
  version: number;
  /** Snapshot asOf (newest answer merged). When null: the newest `answered_at`, else the Unix epoch. */
  asOf: string | null;
  /** Rows this merge added or changed. */
  changed: SnapshotRow[];
  /** All rows of the new snapshot. */
  all: SnapshotRow[];
  task: TaskType;
  labels: string[];
}

/**
 * Rows for one merge: `label_quality` (scopes merge/snapshot × slices
 * all/uncertainty/audit, per label and "*"), cumulative `annotators` and
 * `annotator_agreement`, and the `snapshots` row.
 * Quality covers every task type (see {@link evaluateRow}). Rows count when
 * a prediction exists and the human answer says what the truth is.
 */
export function mergeRows(input: MergeStatsInput): Rows {
  const eventTime = input.asOf ? iso(input.asOf) : fallbackTime(input.all);
  const base = { event_time: eventTime, project: input.project, batch_id: mergeBatchId(input.project, input.version), snapshot_version: input.version };

  const label_quality: Row[] = [];
  for (const [scope, rows] of [
    ['merge', input.changed],
    ['snapshot', input.all],
  ] as const) {
    const slices: Array<[string, SnapshotRow[], boolean]> = [
      ['all', rows, false],
      ['uncertainty', rows.filter((r) => r.provenance === 'round' && !r.audit), false],
      ['audit', rows.filter((r) => r.audit), true],
    ];
    for (const [slice, sliceRows, weighted] of slices) {
      if (sliceRows.length === 0) continue;
      label_quality.push(...qualityRows(sliceRows, input.task, input.labels, weighted).map((q) => ({ ...base, scope, slice, weighted, ...q })));
    }
  }

  const segmentation_iou: Row[] =
    input.task === 'image-segmentation'
      ? (['merge', 'snapshot'] as const).flatMap((scope) =>
          segmentationIouRows(scope === 'merge' ? input.changed : input.all, input.labels).map((r) => ({ ...base, scope, ...r })),
        )
      : [];
  const answers = input.all.flatMap((r) => r.answers.map((a) => ({ row: r, a })));
  const annotators = annotatorRows(answers).map((a) => ({ ...base, ...a }));

  const ratings = ratingsOf(input.all);
  const annotator_agreement: Row[] = cohensKappaPairs(ratings).map((k) => ({
    ...base,
    metric: 'cohen',
    annotator_a: k.raterA,
    annotator_b: k.raterB,
    items: k.items,
    raters: 2,
    observed_agreement: k.observed,
    kappa: k.kappa,
  }));
  const fleiss = fleissKappa(ratings);
  if (fleiss.items > 0) {
    annotator_agreement.push({
      ...base,
      metric: 'fleiss',
      annotator_a: '*',
      annotator_b: '*',
      items: fleiss.items,
      raters: fleiss.raters,
      observed_agreement: fleiss.observed,
      kappa: fleiss.kappa,
    });
  }

  const snapshots: Row[] = [
    {
      ...base,
      task: input.task,
      items: input.all.length,
      labelled: input.all.filter((r) => r.status === 'labelled').length,
      changed: input.changed.length,
      audit_items: input.all.filter((r) => r.audit).length,
      external_items: input.all.filter((r) => r.provenance === 'external').length,
      conflicts: input.all.filter((r) => r.status === 'conflict').length,
      answers: answers.length,
    },
  ];
  const quality_estimates: Row[] = estimateRows(input).map((e) => ({ ...base, ...e }));
  return { label_quality, quality_estimates, annotators, annotator_agreement, snapshots, ...(segmentation_iou.length > 0 ? { segmentation_iou } : {}) };
}

/** The audit slice of the snapshot as estimation units, then {@link qualityEstimates}. */
function estimateRows(input: MergeStatsInput): Row[] {
  const units: AuditUnit[] = [];
  for (const r of input.all) {
    if (!r.audit) continue;
    const e = evaluateRow(r, input.task);
    if (!e) continue;
    // evaluateRow names a top label exactly for single-label classification (textcat, image, audio clips).
    const isClip = e.top !== null;
    units.push({
      model: r.model ?? 'unknown',
      round: r.round ?? 'external',
      weight: e.item.weight ?? 1,
      item: e.item,
      same: e.same,
      confidence: e.confidence,
      predicted: isClip ? e.top : null,
      // A binary reject of the predicted label: the human category is "not that label", never equal to the prediction.
      gold: isClip ? (e.item.gold[0]?.label ?? `not ${e.top}`) : null,
    });
  }
  const clip = units.length > 0 && units.every((u) => u.predicted !== null);
  // Spread into plain rows: the sinks take untyped cells.
  return qualityEstimates(units, input.task, clip, input.labels, input.project).map((e) => ({ ...e }));
}

function fallbackTime(rows: SnapshotRow[]): string {
  const t = rows.reduce((m, r) => (r.answered_at !== null && r.answered_at > m ? r.answered_at : m), 0);
  return new Date(t * 1000).toISOString();
}

interface Evaluated {
  item: PrfItem;
  same: boolean;
  confidence: number | null;
  top: string | null;
}

/**
 * Model prediction vs human label of one row, as decision sets; null when not evaluable.
 * - textcat, image, audio clips: the arg-max label vs the resolved label; a binary reject of
 *   the arg-max label (status `negative-only`) is a false positive with no gold label.
 * - textcat-multilabel: labels at or above {@link MULTILABEL_THRESHOLD} vs the accepted set.
 * - ner: spans by exact (start, end, label).
 * - image-boxes: boxes matched one-to-one by IoU ≥ {@link IOU_THRESHOLD} within a label
 *   (polygons by their bounding box); audio regions by interval IoU ≥ the same threshold.
 */
export function evaluateRow(row: SnapshotRow, task: TaskType): Evaluated | null {
  if (!row.prediction) return null;
  const weight = row.audit && row.inclusion_p && row.inclusion_p > 0 ? 1 / row.inclusion_p : 1;
  const probs = row.prediction.probs as Record<string, number> | undefined;
  // Audio is clip classification unless the reviewer answered with regions (audio_manual).
  const clip = task === 'textcat' || task === 'image' || (task === 'audio' && row.audio_spans === null);
  if (clip && row.status === 'negative-only' && probs) {
    const top = argmax(probs);
    if (top === null || !row.negatives.includes(top)) return null;
    return { item: { predicted: [{ label: top, key: top }], gold: [], weight }, same: false, confidence: probs[top], top };
  }
  if (row.status !== 'labelled') return null;
  if (clip) {
    if (!probs || row.label === null) return null;
    const top = argmax(probs);
    if (top === null) return null;
    return {
      item: { predicted: [{ label: top, key: top }], gold: [{ label: row.label, key: row.label }], weight },
      same: top === row.label,
      confidence: probs[top],
      top,
    };
  }
  if (task === 'image-boxes') {
    const boxes = row.prediction.boxes as Array<{ x: number; y: number; w: number; h: number; label: string }> | undefined;
    if (!Array.isArray(boxes) || !row.boxes) return null;
    const pred = boxes.map((b) => ({ label: b.label, rect: { x: b.x, y: b.y, width: b.w, height: b.h } }));
    const gold = row.boxes.flatMap((b) => {
      const rect = rectOf(b);
      return rect ? [{ label: b.label, rect }] : [];
    });
    return matched(
      matchByIoU(pred, gold, (p, g) => rectIoU(p.rect, g.rect)),
      pred.length,
      gold.length,
      weight,
    );
  }
  if (task === 'audio') {
    const spans = row.prediction.audio_spans as Array<{ start: number; end: number; label: string }> | undefined;
    if (!Array.isArray(spans) || !row.audio_spans) return null;
    return matched(matchByIoU(spans, row.audio_spans, intervalIoU), spans.length, row.audio_spans.length, weight);
  }
  if (task === 'textcat-multilabel') {
    if (!probs) return null;
    const pred = Object.keys(probs)
      .filter((l) => probs[l] >= MULTILABEL_THRESHOLD)
      .sort();
    const gold = [...row.labels].sort();
    return {
      item: { predicted: pred.map((l) => ({ label: l, key: l })), gold: gold.map((l) => ({ label: l, key: l })), weight },
      same: pred.join('\u0000') === gold.join('\u0000'),
      confidence: null,
      top: null,
    };
  }
  if (task === 'ner') {
    const spans = row.prediction.spans as Array<{ start: number; end: number; label: string }> | undefined;
    if (!Array.isArray(spans) || !row.spans) return null;
    const key = (s: { start: number; end: number; label: string }) => `${s.start}:${s.end}:${s.label}`;
    const pred = spans.map((s) => ({ label: s.label, key: key(s) }));
    const gold = row.spans.map((s) => ({ label: s.label, key: key(s) }));
    const same = [...new Set(pred.map((p) => p.key))].sort().join(',') === [...new Set(gold.map((g) => g.key))].sort().join(',');
    return { item: { predicted: pred, gold, weight }, same, confidence: null, top: null };
  }
  return null;
}

function matched(m: ReturnType<typeof matchByIoU>, nPred: number, nGold: number, weight: number): Evaluated {
  return { item: { predicted: m.predicted, gold: m.gold, weight }, same: m.matched === nPred && m.matched === nGold, confidence: null, top: null };
}

/** A human box as a rectangle: its x/y/width/height, else the bounding box of its points. */
function rectOf(b: NonNullable<SnapshotRow['boxes']>[number]): Rect | null {
  if (b.x !== undefined && b.y !== undefined && b.width !== undefined && b.height !== undefined) return { x: b.x, y: b.y, width: b.width, height: b.height };
  if (!b.points || b.points.length === 0) return null;
  const xs = b.points.map((p) => p[0]);
  const ys = b.points.map((p) => p[1]);
  const x = Math.min(...xs);
  const y = Math.min(...ys);
  return { x, y, width: Math.max(...xs) - x, height: Math.max(...ys) - y };
}

function argmax(probs: Record<string, number>): string | null {
  let best: string | null = null;
  // Ties go to the lexicographically first label, so the choice is stable.
  for (const l of Object.keys(probs).sort()) if (best === null || probs[l] > probs[best]) best = l;
  return best;
}

function qualityRows(rows: SnapshotRow[], task: TaskType, labels: string[], weighted: boolean): Row[] {
  const evals = rows
    .map((r) => evaluateRow(r, task))
    .filter((e): e is Evaluated => e !== null)
    .map((e) => (weighted ? e : { ...e, item: { ...e.item, weight: 1 } }));
  let kept = 0;
  let answered = 0;
  const counts: AnswerCounts = { accept: 0, reject: 0, ignore: 0 };
  for (const r of rows) {
    for (const a of r.answers) {
      counts[a.answer]++;
      if (a.answer === 'ignore') continue;
      const unchanged = answerUnchanged(a, r, task);
      if (unchanged === null) continue;
      answered++;
      if (unchanged) kept++;
    }
  }
  const prf = precisionRecallF1(
    evals.map((e) => e.item),
    labels,
  );
  const w = (e: Evaluated) => e.item.weight ?? 1;
  const totalW = evals.reduce((s, e) => s + w(e), 0);
  const exact = totalW > 0 ? evals.reduce((s, e) => s + (e.same ? w(e) : 0), 0) / totalW : null;
  const decisions = task === 'ner' || task === 'image-boxes' || (task === 'audio' && evals.some((e) => e.top === null));
  const micro = prf[prf.length - 1];
  // Span and region tasks: the share of predicted spans the reviewer kept (micro precision); the whole-document match is exact_match.
  const agree = decisions ? micro.precision : exact;
  const calib = evals.filter((e) => e.confidence !== null).map((e) => ({ confidence: e.confidence!, correct: e.same, weight: w(e) }));
  return prf.map((p) => {
    const overall = p.label === null;
    return {
      label: overall ? '*' : p.label,
      items: evals.length,
      support: p.support,
      tp: p.tp,
      fp: p.fp,
      fn: p.fn,
      precision_score: p.precision,
      recall_score: p.recall,
      f1_score: p.f1,
      agreement: overall ? agree : null,
      acceptance_rate: overall ? (answered > 0 ? kept / answered : null) : null,
      ignore_rate: overall ? ignoreRate(counts) : null,
      // Calibration is only estimated where items were drawn at random; on reviewed-for-doubt items it describes the selection.
      ece: overall && weighted ? expectedCalibrationError(calib) : null,
      exact_match: overall ? exact : null,
    };
  });
}

/**
 * Whether an accept/reject answer left the model's pre-filled suggestion as
 * it was shown (see domain/prodigy/tasks.ts buildTask): choice views pre-select the
 * arg-max label (multi-label: labels at or above the threshold), the binary
 * classification view shows one label, span and region views pre-draw the
 * predicted spans, boxes or regions. A reject of a rich task changed it.
 * @returns null when the row has no prediction to compare with.
 */
export function answerUnchanged(a: Answer, row: SnapshotRow, task: TaskType): boolean | null {
  const pred = row.prediction;
  if (!pred) return null;
  if (a.accept === null && a.spans === null && a.boxes === null && a.audio_spans === null) return a.label !== null ? a.answer === 'accept' : null;
  if (a.answer !== 'accept') return false;
  const probs = pred.probs as Record<string, number> | undefined;
  if (a.accept !== null) {
    if (!probs) return null;
    const shown =
      task === 'textcat-multilabel'
        ? Object.keys(probs).filter((l) => probs[l] >= MULTILABEL_THRESHOLD)
        : [argmax(probs)].filter((l): l is string => l !== null);
    return sameSet(a.accept, shown);
  }
  if (a.spans !== null && task !== 'image-boxes' && task !== 'image-segmentation') {
    const spans = pred.spans as Array<{ start: number; end: number; label: string }> | undefined;
    if (!Array.isArray(spans)) return null;
    const key = (s: { start: number; end: number; label: string }) => `${s.start}:${s.end}:${s.label}`;
    return sameSet(a.spans.map(key), spans.map(key));
  }
  if (a.boxes !== null) {
    const boxes = pred.boxes as Array<{ x: number; y: number; w: number; h: number; label: string }> | undefined;
    if (!Array.isArray(boxes)) return null;
    const p = boxes.map((b) => ({ label: b.label, rect: { x: b.x, y: b.y, width: b.w, height: b.h } }));
    const g = a.boxes.flatMap((b) => {
      const rect = rectOf(b);
      return rect ? [{ label: b.label, rect }] : [];
    });
    const m = matchByIoU(p, g, (x, y) => rectIoU(x.rect, y.rect));
    return m.matched === p.length && m.matched === a.boxes.length;
  }
  if (a.audio_spans !== null) {
    const spans = pred.audio_spans as Array<{ start: number; end: number; label: string }> | undefined;
    if (!Array.isArray(spans)) return null;
    const m = matchByIoU(spans, a.audio_spans, intervalIoU);
    return m.matched === spans.length && m.matched === a.audio_spans.length;
  }
  return null;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function annotatorRows(answers: Array<{ row: SnapshotRow; a: Answer }>): Row[] {
  const by = new Map<string, { accepts: number; rejects: number; ignores: number; items: Set<string>; times: number[] }>();
  for (const { row, a } of answers) {
    const name = a.annotator ?? 'unknown';
    let s = by.get(name);
    if (!s) by.set(name, (s = { accepts: 0, rejects: 0, ignores: 0, items: new Set(), times: [] }));
    if (a.answer === 'accept') s.accepts++;
    else if (a.answer === 'reject') s.rejects++;
    else s.ignores++;
    s.items.add(row.id);
    if (a.timestamp !== null) s.times.push(a.timestamp);
  }
  const gaps = interArrivalSeconds(answers.map(({ a }) => ({ annotator: a.annotator ?? 'unknown', timestamp: a.timestamp })));
  return [...by.keys()].sort().map((name) => {
    const s = by.get(name)!;
    const g = gaps.get(name) ?? [];
    const [p50, p90] = quantiles(g, [0.5, 0.9]);
    const ts = s.times.sort((x, y) => x - y);
    return {
      annotator: name,
      answers: s.accepts + s.rejects + s.ignores,
      accepts: s.accepts,
      rejects: s.rejects,
      ignores: s.ignores,
      items: s.items.size,
      gap_p50_s: p50,
      gap_p90_s: p90,
      gap_mean_s: g.length ? g.reduce((x, y) => x + y, 0) / g.length : null,
      first_answer_at: ts.length ? new Date(ts[0] * 1000).toISOString() : null,
      last_answer_at: ts.length ? new Date(ts[ts.length - 1] * 1000).toISOString() : null,
    };
  });
}

/** A canonical category for an answer, comparable across annotators; null for ignores. */
export function answerCategory(a: Answer): string | null {
  if (a.answer === 'ignore') return null;
  return JSON.stringify([
    a.answer,
    a.label,
    a.accept ? [...a.accept].sort() : null,
    a.spans ? a.spans.map((s) => `${s.start}:${s.end}:${s.label}`).sort() : null,
    a.boxes ? a.boxes.map((b) => JSON.stringify([b.label, b.x, b.y, b.width, b.height, b.points ?? null])).sort() : null,
    a.audio_spans ? a.audio_spans.map((s) => `${s.start}:${s.end}:${s.label}`).sort() : null,
  ]);
}

function ratingsOf(rows: SnapshotRow[]): Rating[] {
  const out: Rating[] = [];
  for (const r of rows) {
    // Time order so that an annotator's last answer wins in the kappa functions.
    const answers = [...r.answers].sort((x, y) => (x.timestamp ?? 0) - (y.timestamp ?? 0));
    for (const a of answers) {
      const category = answerCategory(a);
      if (a.annotator === null || category === null) continue;
      out.push({ item: r.id, rater: a.annotator, category });
    }
  }
  return out;
}
