/**
 * The `label_issues` stats rows of a snapshot: for every label-issue round
 * so far, per given label, what it flagged and what the verdicts merged up to
 * this snapshot made of it (domain/label-issues/stats.ts).
 */
import { type LabelIssueRoundInput, labelIssueStats, verdictsIn } from '../../domain/label-issues/stats.js';
import type { Row } from '../../domain/quality/tables.js';
import type { SnapshotRow } from '../../domain/records.js';
import { listRounds } from '../round/history.js';
import { loadRoundItems } from '../round/round-items.js';
import type { ObjectStore } from '../store/store.js';

/** Rows for `label_issues`; none when the project has run no label-issue round. */
export async function labelIssueRows(
  store: ObjectStore,
  base: { event_time: string; project: string; batch_id: string; snapshot_version: number },
  all: readonly SnapshotRow[],
): Promise<Row[]> {
  const rounds: LabelIssueRoundInput[] = [];
  for (const m of await listRounds(store)) {
    if (m.strategy.name !== 'label-issues' || !m.labelIssues) continue;
    const items = (await loadRoundItems(store, m.round)) ?? new Map();
    const shown = new Map<string, string>();
    for (const [id, it] of items) {
      const label = (it as unknown as { label?: unknown }).label;
      if (typeof label === 'string') shown.set(id, label);
    }
    rounds.push({ round: m.round, labels: m.labels, flagged: m.labelIssues.queued, noiseRates: m.labelIssues.noiseRates, shown });
  }
  if (rounds.length === 0) return [];
  return labelIssueStats(rounds, verdictsIn(all, rounds)).map((r) => ({ ...base, round_id: r.round, ...withoutRound(r) }));
}

function withoutRound<T extends { round: string }>(r: T): Omit<T, 'round'> {
  const { round: _, ...rest } = r;
  return rest;
}
