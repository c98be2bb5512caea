/**
 * The `label_issues` stats table: per label-issue round and given label, how
 * many items the detector flagged, how many reviewers answered, how many of
 * those they changed (confirmed errors), the detector's precision
 * changed / reviewed with a 95 % Wilson interval, and the noise rate the
 * confident joint estimated for that label.
 */
import { wilsonInterval } from '../quality/intervals.js';

export interface LabelIssueStatsRow {
  round: string;
  label: string;
  flagged: number;
  reviewed: number;
  changed: number;
  /** changed / reviewed; null before any review. */
  precision: number | null;
  precision_low: number | null;
  precision_high: number | null;
  /** P(true ≠ label | given = label) from the round's confident joint; null when no item had the label. */
  noise_rate: number | null;
}

export interface RoundLabelIssues {
  round: string;
  labels: string[];
  /** Per label (same order): items queued. */
  flagged: number[];
  noiseRates: (number | null)[];
}

/** Verdicts of that round: the given label and whether the reviewer changed it. */
export interface VerdictCount {
  round: string;
  label: string;
  changed: boolean;
}

export function labelIssueStats(rounds: readonly RoundLabelIssues[], verdicts: readonly VerdictCount[]): LabelIssueStatsRow[] {
  const key = (round: string, label: string) => `${round}\u0000${label}`;
  const tally = new Map<string, { reviewed: number; changed: number }>();
  for (const v of verdicts) {
    const t = tally.get(key(v.round, v.label)) ?? { reviewed: 0, changed: 0 };
    t.reviewed++;
    if (v.changed) t.changed++;
    tally.set(key(v.round, v.label), t);
  }
  const rows: LabelIssueStatsRow[] = [];
  for (const r of [...rounds].sort((a, b) => (a.round < b.round ? -1 : a.round > b.round ? 1 : 0))) {
    r.labels.forEach((label, j) => {
      const t = tally.get(key(r.round, label)) ?? { reviewed: 0, changed: 0 };
      const ci = wilsonInterval(t.changed, t.reviewed);
      rows.push({
        round: r.round,
        label,
        flagged: r.flagged[j],
        reviewed: t.reviewed,
        changed: t.changed,
        precision: t.reviewed > 0 ? t.changed / t.reviewed : null,
        precision_low: ci?.low ?? null,
        precision_high: ci?.high ?? null,
        noise_rate: r.noiseRates[j],
      });
    });
  }
  return rows;
}

/** A label-issue round as the stats need it: its summary and the label each queued item was shown with. */
export interface LabelIssueRoundInput extends RoundLabelIssues {
  shown: ReadonlyMap<string, string>;
}

/**
 * Verdicts in a snapshot's rows: every accept answer that came from a
 * label-issue round's annotations (`annotations/R/…`) on an item that round
 * queued; changed when the chosen label is not the one shown.
 */
export function verdictsIn(
  rows: ReadonlyArray<{ id: string; answers: ReadonlyArray<{ answer: string; accept: string[] | null; source: string }> }>,
  rounds: readonly LabelIssueRoundInput[],
): VerdictCount[] {
  const byRound = new Map(rounds.map((r) => [r.round, r]));
  const out: VerdictCount[] = [];
  for (const row of rows) {
    for (const a of row.answers) {
      const m = /(?:^|\/)annotations\/([^/]+)\/[^/]+$/.exec(a.source.replace(/#L\d+$/, ''));
      const r = m ? byRound.get(m[1]) : undefined;
      const shown = r?.shown.get(row.id);
      if (r === undefined || shown === undefined || a.answer !== 'accept' || a.accept === null || a.accept.length !== 1) continue;
      out.push({ round: r.round, label: shown, changed: a.accept[0] !== shown });
    }
  }
  return out;
}
