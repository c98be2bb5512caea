/**
 * Persisted shapes: the round manifest, snapshot rows and their answers.
 * These are part of the storage contract (docs/storage.md): change them additively.
 */
import type { ChunkStats, Reject, StrategyName, TaskType } from '../scoring/types.js';
import type { SamplingName } from '../scoring/sampling.js';

export interface ConsumedObject {
  name: string;
  generation: string;
  size: number;
}

/** A planned object the round could not read: consumed (never retried), listed with why. A new generation of its name is planned again. */
export interface QuarantinedObject {
  name: string;
  generation: string;
  /** Why it was set aside: a quarantine code (worker/pool/score-run.ts quarantineCode). */
  code: string;
  /** Line (Arrow/Parquet: record) at which reading broke; records before it were read. */
  line: number;
  reason: string;
}

export interface RoundManifest {
  kind: 'reviewloop.round';
  schemaVersion: 1;
  project: string;
  round: string;
  /** ISO time of the round's slot (derived from the round id, never from "now"). */
  slotTime: string;
  task: TaskType;
  model: string | null;
  strategy: {
    /** A scoring strategy, for rounds over raw objects a sampling one (worker/round/raw-round.ts), or label-issues (worker/round/label-round.ts). */
    name: StrategyName | SamplingName | 'label-issues';
    /** label-issues: the order of the queue. */
    rankBy?: 'self-confidence' | 'normalized-margin';
    topK: number;
    auditFraction: number;
    seed: string;
    reduce: 'max' | 'mean';
    diversity?: { method: 'k-center'; candidates: number };
    quotas?: Record<string, number>;
  };
  labels: string[];
  consumed: ConsumedObject[];
  counts: {
    read: number;
    scored: number;
    rejected: number;
    skipped: number;
    queued: number;
    audit: number;
    /** Copies of queued ids listed in rejects.jsonl (duplicates; never queued twice). */
    duplicates?: number;
    /** Records left for the next round because their media could not be read now (absent = 0). */
    deferred?: number;
    /** Objects of the plan that could not be read (listed in `quarantined` and as object-level lines in rejects.jsonl). */
    quarantinedObjects?: number;
  };
  /** Those records, with why; their objects are not in `consumed`, so the next round reads them again. */
  deferred?: Reject[];
  /** Objects of `consumed` set aside unread or partly read, in plan order. */
  quarantined?: QuarantinedObject[];
  /** Number of valid, not-excluded records the audit slice was drawn from; inclusion p = audit / population. */
  auditPopulation: number;
  stats: ChunkStats;
  /** Scores of the queued uncertainty items (not audit), for quantiles. */
  queuedScores: number[];
  /** label-issues rounds: what confident learning estimated (docs/label-issues.md). */
  labelIssues?: LabelIssueSummary;
  /** Edges of `stats.scoreHist` bins: [min, max] of the strategy's range. */
  scoreRange: [number, number];
  /** `items` holds each queued item's full model prediction (the merge joins it back). */
  files: { queue: string[]; rejects: string; items?: string };
  /** Watermark: names listed after this one are new (lexicographic). */
  listedUpTo: string | null;
}

/** A label-issue round's estimates, per label in `labels` order. */
export interface LabelIssueSummary {
  /** Snapshot version the labels came from. */
  snapshotVersion: number;
  /** Items with a label and valid out-of-sample probabilities. */
  items: number;
  thresholds: number[];
  /** Calibrated confident joint, row-major labels × labels (row = given, column = estimated true). */
  confidentJoint: number[];
  /** P(true ≠ label | given = label); null for a label no item has. */
  noiseRates: Array<number | null>;
  noiseRate: number | null;
  /** Items the method flagged (before the topK cut), and those queued, per given label. */
  flagged: number[];
  queued: number[];
}

/** One human answer, as read from a Prodigy export line. */
export interface Answer {
  answer: 'accept' | 'reject' | 'ignore';
  /**
   * The reviewer: the session part of `_annotator_id` (else `_session_id`), which
   * Prodigy writes as `<dataset>-<session>`; for unnamed sessions the file's
   * owner (`push-annotations --name`), else null.
   */
  annotator: string | null;
  /** `_annotator_id`, else `_session_id`, as exported (absent in snapshot rows that do not record it). */
  annotator_raw?: string | null;
  session: string | null;
  /** Unix seconds, from `_timestamp` when present. */
  timestamp: number | null;
  /** Single-label / binary: the label the answer is about. */
  label: string | null;
  /** Choice views: selected option ids. */
  accept: string[] | null;
  /** Span views: the corrected spans. */
  spans: Array<{ start: number; end: number; label: string; token_start?: number; token_end?: number }> | null;
  /** image_manual: boxes and polygons in pixels. */
  boxes: Array<{ label: string; points?: number[][]; x?: number; y?: number; width?: number; height?: number }> | null;
  audio_spans: Array<{ start: number; end: number; label: string }> | null;
  view: string | null;
  /** `annotations/R/file.jsonl#L12`: where this answer came from (lineage). */
  source: string;
  /** True when taken from a Prodigy `review` recipe (adjudicated). */
  adjudicated: boolean;
}

export type ResolvedStatus = 'labelled' | 'negative-only' | 'ignored' | 'conflict' | 'rejected';

/** One item in a snapshot (one line of data.jsonl, one row of data.arrow). */
export interface SnapshotRow {
  id: string;
  task: TaskType;
  text: string | null;
  image: string | null;
  audio: string | null;
  width: number | null;
  height: number | null;
  /** Resolved single label (textcat, image) or null. */
  label: string | null;
  /** Resolved label set (multilabel) or the single label as a one-element list. */
  labels: string[];
  /** Labels a binary answer rejected. */
  negatives: string[];
  spans: Answer['spans'];
  boxes: Answer['boxes'];
  audio_spans: Answer['audio_spans'];
  tokens: unknown[] | null;
  /** A choice task's options (`[{id, text}]`) as the reviewer saw them; absent for other views. */
  options?: unknown[];
  status: ResolvedStatus;
  /** `round` (queued by reviewloop), `external` (an export of items it never queued), `import` (`reviewloop import-labels`). */
  provenance: 'round' | 'external' | 'import';
  round: string | null;
  model: string | null;
  score: number | null;
  audit: boolean;
  /** Inclusion probability of the audit slice (null outside it). */
  inclusion_p: number | null;
  /** gs:// or file URI of the prediction object and line. */
  prediction_source: string | null;
  /** The model's prediction the item was queued with (probs, spans, boxes). */
  prediction: Record<string, unknown> | null;
  annotators: string[];
  answered_at: number | null;
  answers: Answer[];
  input_hash: number;
  task_hash: number;
  /** Snapshot version that last changed this row. */
  version: number;
  /**
   * image-segmentation only: the reviewed class-index mask PNG, relative to the snapshot folder
   * (`masks/<hash of id>.png`); null when the row has no reviewed polygons. Absent on other tasks.
   */
  mask_path?: string | null;
  /** Lineage of label-issue verdicts (domain/label-issues/lineage.ts); absent = none. */
  previous_label?: string | null;
  corrected_version?: number | null;
  corrected_round?: string | null;
  verified?: boolean;
  verified_round?: string | null;
}

/** How to read a snapshot's masks: pixel value k is `labels[k - 1]`, 0 is background. */
export interface SnapshotMasks {
  encoding: 'png-8bit-grey-class-index';
  /** Index order: value 0 = background, value k = labels[k - 1]. */
  labels: string[];
  count: number;
}

export interface SnapshotManifest {
  kind: 'reviewloop.snapshot';
  schemaVersion: 1;
  project: string;
  version: number;
  parent: number | null;
  /** Time of the newest answer merged (deterministic; not wall-clock). */
  asOf: string | null;
  consumed: ConsumedObject[];
  /**
   * Exports that could not be read (not gzip, truncated, too large), each listed once, by the first
   * snapshot after its quarantine; absent when there are none.
   */
  quarantined?: Array<ConsumedObject & { reason: string }>;
  /** `duplicates`: answers skipped because an earlier export already held them (re-exports). */
  counts: { items: number; labelled: number; changed: number; added: number; answers: number; duplicates: number; badLines: number };
  /** `reviewloop import-labels`: the files this version imported (name as given, sha256 of its bytes, rows added). */
  imported?: Array<{ name: string; sha256: string; added: number }>;
  /** Label-issue verdicts merged into this version (domain/label-issues/lineage.ts); absent when none. */
  labelIssues?: { changed: number; verified: number; conflicts: Array<{ id: string; round: string; reason: string }> };
  files: Record<string, { sha256: string; bytes: number }>;
  /** image-segmentation only: the label ↔ index order of `masks/*.png` (each also listed in `files` with its sha256). */
  masks?: SnapshotMasks;
  sha256: string;
}

export interface LatestPointer {
  version: number;
  path: string;
  sha256: string;
}
