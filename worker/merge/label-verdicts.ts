/**
 * Label-issue verdicts inside a merge. Answers to label-issue tasks (meta
 * `strategy: label-issues`) join their rows like any answer, but the row's
 * label then follows `applyVerdict` (domain/label-issues/lineage.ts), not the
 * project's conflict policy: a verdict changes the label with lineage, marks
 * it verified, or, when the label changed since the reviewer was shown it,
 * leaves it and is listed as a conflict.
 */
import { type LabelLineage, type LabelVerdict, type VerdictOutcome, NO_LINEAGE, applyVerdict } from '../../domain/label-issues/lineage.js';
import type { ParsedExportLine } from '../../domain/prodigy/exports.js';
import type { ResolvedStatus, SnapshotManifest, SnapshotRow } from '../../domain/records.js';

/** The meta fields a label-issue verdict needs, kept when the merge slims an export line. */
export const VERDICT_META_KEYS = ['strategy', 'label', 'label_snapshot'] as const;

/** The verdict a parsed export line carries, or null for an answer to another kind of task. */
export function verdictOf(p: ParsedExportLine): LabelVerdict | null {
  const meta = (p.task.meta && typeof p.task.meta === 'object' ? p.task.meta : {}) as Record<string, unknown>;
  if (meta.strategy !== 'label-issues' || typeof meta.label !== 'string' || typeof meta.round !== 'string' || typeof meta.label_snapshot !== 'number')
    return null;
  const a = p.answer;
  const chosen = a.answer === 'accept' ? (a.accept?.length === 1 ? a.accept[0] : (a.label ?? null)) : null;
  return { shown: meta.label, labelSnapshot: meta.label_snapshot, round: meta.round, chosen };
}

interface Before {
  label: string | null;
  labels: string[];
  status: ResolvedStatus;
  lineage: LabelLineage;
}

function lineageOf(r: SnapshotRow): LabelLineage {
  return {
    previous_label: r.previous_label ?? null,
    corrected_version: r.corrected_version ?? null,
    corrected_round: r.corrected_round ?? null,
    verified: r.verified ?? false,
    verified_round: r.verified_round ?? null,
  };
}

/** Collects verdicts while answers are read, then sets the rows' labels after they are resolved. */
export class VerdictLedger {
  private readonly before = new Map<string, Before>();
  private readonly verdicts = new Map<string, LabelVerdict>();
  /** Items whose verdicts in this merge disagree, or that chose several labels: listed, never applied. */
  private readonly disputed = new Map<string, string>();

  /** Before `p`'s answer joins `row`: remembers the row as the merge found it, and the verdict if it is one. */
  note(row: SnapshotRow, p: ParsedExportLine): void {
    if (!this.before.has(row.id))
      this.before.set(row.id, { label: row.status === 'labelled' ? row.label : null, labels: row.labels, status: row.status, lineage: lineageOf(row) });
    const v = verdictOf(p);
    if (v === null) return;
    if (p.answer.answer === 'accept' && (p.answer.accept?.length ?? 0) > 1) {
      this.disputed.set(row.id, `a verdict chose ${p.answer.accept!.length} labels (${p.answer.accept!.join(', ')}); one is expected`);
    }
    const earlier = this.verdicts.get(row.id);
    // Two reviewers who disagree are a conflict for a person to settle, not a race the later export wins.
    if (earlier !== undefined && earlier.chosen !== v.chosen) {
      this.disputed.set(row.id, `verdicts disagree: ${earlier.chosen ?? '(skipped)'} and ${v.chosen ?? '(skipped)'}`);
    }
    this.verdicts.set(row.id, v);
  }

  /** After resolution: each verdict's outcome on its row; null when the merge held none. */
  apply(rows: Map<string, SnapshotRow>, version: number): NonNullable<SnapshotManifest['labelIssues']> | null {
    if (this.verdicts.size === 0) return null;
    const out: NonNullable<SnapshotManifest['labelIssues']> = { changed: 0, verified: 0, conflicts: [] };
    for (const id of [...this.verdicts.keys()].sort()) {
      const v = this.verdicts.get(id)!;
      const row = rows.get(id)!;
      const b = this.before.get(id) ?? { label: null, labels: [], status: 'ignored' as const, lineage: NO_LINEAGE };
      const dispute = this.disputed.get(id);
      if (dispute !== undefined) {
        Object.assign(row, { label: b.label, labels: b.labels, status: b.status }, b.lineage);
        out.conflicts.push({ id, round: v.round, reason: dispute });
        continue;
      }
      const o: VerdictOutcome = applyVerdict({ label: b.label, lineage: b.lineage }, v, version);
      if (o.kind === 'changed') {
        Object.assign(row, { label: o.label, labels: [o.label], status: 'labelled' }, o.lineage);
        out.changed++;
        continue;
      }
      // Verified, conflict or no verdict: the label stays what it was before this merge.
      Object.assign(row, { label: b.label, labels: b.labels, status: b.status }, o.lineage);
      if (o.kind === 'verified') out.verified++;
      if (o.kind === 'conflict') out.conflicts.push({ id, round: v.round, reason: o.reason });
    }
    return out;
  }
}
