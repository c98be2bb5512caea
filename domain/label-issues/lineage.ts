/**
 * What a label-issue verdict does to a snapshot row. A verdict is a reviewer's
 * answer to a label-issue task: the label they chose for an item whose label
 * (from snapshot `labelSnapshot`) the detector doubted.
 *
 * - the chosen label differs from the current one: the row takes it and keeps
 *   its lineage (`previous_label`, and the snapshot version and round it was
 *   corrected in);
 * - it is the current label: the row is marked verified (by that round);
 * - the current label is no longer the one the reviewer was shown (an
 *   uncertainty round changed it in between): a conflict. The row keeps its
 *   current label, the verdict stays among its answers, and the merge lists it.
 * Nothing is overwritten without a trace: every outcome is recorded.
 */

export interface LabelLineage {
  /** The label before the correction; null when the row was never corrected. */
  previous_label: string | null;
  /** Snapshot version and round of the latest correction. */
  corrected_version: number | null;
  corrected_round: string | null;
  /** A reviewer confirmed the label in a label-issue round. */
  verified: boolean;
  verified_round: string | null;
}

export const NO_LINEAGE: LabelLineage = Object.freeze({
  previous_label: null,
  corrected_version: null,
  corrected_round: null,
  verified: false,
  verified_round: null,
});

export interface LabelVerdict {
  /** The label shown pre-selected (the row's label in `labelSnapshot`). */
  shown: string;
  labelSnapshot: number;
  round: string;
  /** The reviewer's choice; null when they skipped or rejected the task (no verdict). */
  chosen: string | null;
}

export type VerdictOutcome =
  | { kind: 'changed'; label: string; lineage: LabelLineage }
  | { kind: 'verified'; label: string; lineage: LabelLineage }
  | { kind: 'conflict'; label: string | null; lineage: LabelLineage; reason: string }
  | { kind: 'no-verdict'; label: string | null; lineage: LabelLineage };

/**
 * `current` is the row's label before this merge (with its lineage so far);
 * `version` the snapshot version being written.
 */
export function applyVerdict(current: { label: string | null; lineage: LabelLineage }, v: LabelVerdict, version: number): VerdictOutcome {
  const { label, lineage } = current;
  if (v.chosen === null) return { kind: 'no-verdict', label, lineage };
  if (label !== v.shown) {
    return {
      kind: 'conflict',
      label,
      lineage,
      reason: `label is ${label === null ? 'unset' : JSON.stringify(label)} now, but the reviewer in round ${v.round} was shown ${JSON.stringify(v.shown)} from snapshot v${v.labelSnapshot}`,
    };
  }
  if (v.chosen === label) return { kind: 'verified', label, lineage: { ...lineage, verified: true, verified_round: v.round } };
  return {
    kind: 'changed',
    label: v.chosen,
    lineage: { previous_label: label, corrected_version: version, corrected_round: v.round, verified: false, verified_round: null },
  };
}
