/**
 * The Prodigy task a label-issue round queues: a `choice` over the project's
 * labels with the item's current label pre-selected (shared/prodigy-formats.md:
 * `options` + `accept`), so a reviewer who agrees with the label just accepts
 * and one who disagrees picks another. `meta` says where the label came from
 * and why the item was flagged.
 *
 * The task hash mixes in the question ("is <label> right?") so Prodigy's
 * dedup never takes it for an uncertainty task on the same item.
 */
import type { IssuePayload } from '../../scoring/label-issues/chunk.js';
import type { LabelIssue, RankBy } from '../../scoring/label-issues/prune.js';
import { inputHash, taskHash } from '../prodigy/tasks.js';

export interface LabelIssueTaskContext {
  project: string;
  round: string;
  labels: string[];
  rankBy: RankBy;
  /** Snapshot version the labels were read from. */
  snapshotVersion: number;
  mediaUrl?: (uri: string) => string;
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** One line a reviewer can read: what the label says, what the model says, and how sure. */
export function labelIssueReason(issue: LabelIssue<IssuePayload>, labels: readonly string[]): string {
  const s = issue.scores;
  const given = labels[s.label];
  const suggested = labels[s.suggested];
  const pSuggested = issue.payload.probs?.[suggested] ?? 0;
  return `labelled ${given}, but the model gives ${given} ${s.selfConfidence.toFixed(2)} and ${suggested} ${pSuggested.toFixed(2)} (out of sample)`;
}

/** One queue line; fixed key order so reruns write the same bytes. */
export function buildLabelIssueTask(ctx: LabelIssueTaskContext, issue: LabelIssue<IssuePayload>, rank: number): Record<string, unknown> {
  const rec = issue.payload;
  const given = ctx.labels[issue.scores.label];
  const suggested = ctx.labels[issue.scores.suggested];
  const media = (u: string) => (ctx.mediaUrl ? ctx.mediaUrl(u) : u);
  const ih = inputHash(ctx.project, rec.id);
  const t: Record<string, unknown> = {};
  if (rec.text !== undefined) t.text = rec.text;
  if (rec.image !== undefined) t.image = media(rec.image);
  if (rec.audio !== undefined) t.audio = media(rec.audio);
  if (rec.width !== undefined) t.width = rec.width;
  if (rec.height !== undefined) t.height = rec.height;
  t.options = ctx.labels.map((l) => ({ id: l, text: l }));
  t.accept = [given];
  const score = ctx.rankBy === 'self-confidence' ? issue.scores.selfConfidence : issue.scores.normalizedMargin;
  t.meta = {
    id: rec.id,
    round: ctx.round,
    strategy: 'label-issues',
    rank,
    score: round6(score),
    label: given,
    label_snapshot: ctx.snapshotVersion,
    self_confidence: round6(issue.scores.selfConfidence),
    suggested,
    reason: labelIssueReason(issue, ctx.labels),
    model: rec.model ?? null,
    source: `${issue.at.object}#L${issue.at.line}`,
  };
  t._input_hash = ih;
  t._task_hash = taskHash(ih, 'choice', ctx.labels, `label-issue\u0000${given}`);
  return t;
}
