/**
 * The quality headline that `status`, the demo summary and the report lead
 * with: audit estimates with their 95% interval and sample size, per model
 * and round; then the reviewed-for-doubt figures, labelled as what they are.
 * The formatting functions are pure; {@link loadHeadline} is the one query.
 */
import type { EstimateRow } from '../../domain/quality/estimates.js';
import type { ResultValue, StatsSink } from './sinks/sink.js';

/** Label of every figure computed on items picked because the model doubted them. */
export const REVIEWED_NOTE = 'reviewed items, selected for doubt: not a quality estimate' as const;

/** The overall measure a headline shows, by preference: the first one a project has. */
export const HEADLINE_MEASURES = ['accuracy', 'span_f1', 'region_f1', 'f1'] as const;

/** One audit estimate, as stored in `quality_estimates` (its slice and label are the headline's). */
export type Estimate = Omit<EstimateRow, 'slice' | 'label'>;

/** Figures on the reviewed-for-doubt items (`label_quality`, slice uncertainty, cumulative). */
export interface ReviewedFigures {
  note: typeof REVIEWED_NOTE;
  items: number;
  f1: number | null;
  agreement: number | null;
  acceptance_rate: number | null;
}

export interface Headline {
  snapshot_version: number | null;
  /** Per model: its latest round's estimate, then its estimate over all rounds when it has several. Pooled ("*") rows are left out. */
  estimates: Estimate[];
  reviewed: ReviewedFigures | null;
}

type R = Record<string, ResultValue>;
const num = (v: ResultValue | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: ResultValue | undefined): string | null => (v === null || v === undefined ? null : String(v));

/**
 * Picks the headline rows from the overall ("*") estimates of one snapshot:
 * one measure (the first of {@link HEADLINE_MEASURES} present), per model the
 * latest round and the all-rounds row. Models sort by name.
 */
export function pickHeadline(rows: readonly Estimate[]): Estimate[] {
  const measure = HEADLINE_MEASURES.find((m) => rows.some((r) => r.measure === m));
  if (!measure) return [];
  const mine = rows.filter((r) => r.measure === measure && r.model !== '*');
  const out: Estimate[] = [];
  for (const model of [...new Set(mine.map((r) => r.model))].sort()) {
    const rounds = mine.filter((r) => r.model === model && r.round_id !== null).sort((a, b) => (a.round_id! < b.round_id! ? -1 : 1));
    if (rounds.length > 0) out.push(rounds[rounds.length - 1]);
    const all = mine.find((r) => r.model === model && r.round_id === null);
    if (all) out.push(all);
  }
  return out;
}

const f2 = (v: number | null) => (v === null ? '–' : v.toFixed(2));
const f3 = (v: number | null) => (v === null ? '–' : v.toFixed(3));

/** "model intent-v2, round 20261108T0200Z: accuracy 0.92 [0.74, 0.98], n = 24 audited" (+ " — LOW N" when flagged). */
export function formatEstimate(e: Estimate): string {
  const where = e.round_id === null ? 'all rounds' : `round ${e.round_id}`;
  const ci = e.ci_low === null || e.ci_high === null ? 'no interval' : `[${f2(e.ci_low)}, ${f2(e.ci_high)}]`;
  return `model ${e.model}, ${where}: ${e.measure.replace(/_/g, ' ')} ${f2(e.estimate)} ${ci}, n = ${e.n_sample} audited${e.flag ? ` — ${e.flag.toUpperCase().replace(/_/g, ' ')}` : ''}`;
}

/** "reviewed items, selected for doubt: not a quality estimate — 216 items: F1 0.846, agreement 0.846, acceptance 0.93". */
export function formatReviewed(r: ReviewedFigures): string {
  return `${r.note} — ${r.items} items: F1 ${f3(r.f1)}, agreement ${f3(r.agreement)}, suggestion kept ${f3(r.acceptance_rate)}`;
}

/** Headline lines, indented; a line saying so when the audit slice has no evaluated item yet. */
export function formatHeadline(h: Headline, indent = '  '): string[] {
  const lines =
    h.estimates.length > 0 ? h.estimates.map((e) => `${indent}${formatEstimate(e)}`) : [`${indent}no audit estimate yet (no audited item answered)`];
  if (h.reviewed) lines.push(`${indent}${formatReviewed(h.reviewed)}`);
  return lines;
}

/** Reads the headline of a project's latest snapshot (same SQL on both sinks). */
export async function loadHeadline(sink: StatsSink, project: string): Promise<Headline> {
  const p = { project };
  const [latest] = await sink.query('SELECT MAX(snapshot_version) AS v FROM snapshots WHERE project = @project', p);
  const version = num(latest?.v);
  if (version === null) return { snapshot_version: null, estimates: [], reviewed: null };
  const q = { project, version };
  const [rows, reviewed] = await Promise.all([
    sink.query(
      "SELECT model, round_id, measure, estimate, ci_low, ci_high, n_sample, method, flag FROM quality_estimates WHERE project = @project AND snapshot_version = @version AND label = '*' ORDER BY model, round_id, measure",
      q,
    ),
    sink.query(
      "SELECT items, f1_score, agreement, acceptance_rate FROM label_quality WHERE project = @project AND snapshot_version = @version AND scope = 'snapshot' AND slice = 'uncertainty' AND label = '*'",
      q,
    ),
  ]);
  const estimates = pickHeadline(rows.map(toEstimate));
  const r = reviewed[0] as R | undefined;
  return {
    snapshot_version: version,
    estimates,
    reviewed: r
      ? { note: REVIEWED_NOTE, items: num(r.items) ?? 0, f1: num(r.f1_score), agreement: num(r.agreement), acceptance_rate: num(r.acceptance_rate) }
      : null,
  };
}

function toEstimate(r: R): Estimate {
  return {
    model: String(r.model),
    round_id: str(r.round_id),
    measure: String(r.measure),
    estimate: num(r.estimate),
    ci_low: num(r.ci_low),
    ci_high: num(r.ci_high),
    n_sample: num(r.n_sample) ?? 0,
    method: String(r.method),
    flag: str(r.flag),
  };
}
