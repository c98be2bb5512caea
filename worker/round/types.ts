/**
 * The shapes one round passes between its phases: options, the pinned plan,
 * an open round, what scoring produced, and the kind that tells rounds apart.
 */
import type { ProjectConfig } from '../../config/schema.js';
import type { ChunkStats, ScoredEntry } from '../../scoring/types.js';
import type { QuarantinedObject, RoundManifest } from '../../domain/records.js';
import type { Logger } from '../core/log.js';
import type { MediaHeadReader } from '../media/media-read.js';
import type { MediaSignerOptions } from '../media/signing.js';
import type { ImageSizeHook } from '../media/box-sizes.js';
import type { ScoringPool } from '../pool/pool.js';
import type { PlannedObject } from '../sources/raw-source.js';
import type { StatsSink } from '../stats/sinks/sink.js';
import type { ObjectInfo, ObjectStore } from '../store/store.js';
import type { ClaimOptions } from './claims.js';

export interface RoundOptions {
  project: ProjectConfig;
  /** The project's store (names relative to ROOT/<project>/). */
  store: ObjectStore;
  pool: ScoringPool;
  sink: StatsSink | null;
  roundId: string;
  /** Bytes per scoring chunk. */
  chunkBytes: number;
  logger?: Logger;
  signal?: AbortSignal;
  /** Rewrites gs:// media for reviewers; default for image/audio tasks: V4 signed URLs (worker/media/task-media.ts). */
  mediaUrl?: (uri: string) => string;
  /** Key or client that signs media URLs; its `now` is the wall clock. Default: Application Default Credentials. */
  mediaSigner?: MediaSignerOptions;
  /** Image size for Vertex AI boxes given without one. Default: `width`/`height` metadata of image objects in `store`, else the image's header read through `media`. */
  imageSize?: ImageSizeHook;
  /** Reads media headers in any bucket or local path (worker/media/media-read.ts). Default: URIs under `store`, and local files when `store` is local. */
  media?: MediaHeadReader;
  /**
   * Called as each scoring pass starts, with the objects and their bytes (undefined when some are
   * gzip: their stored size is not what is read). What it returns hears (records, bytes read) as
   * scoring goes, and `done` when the pass ends. The CLI draws its progress bar from it; the daemon passes none.
   */
  onScoring?: (plan: { objects: number; bytes: number | undefined }) => { update(records: number, bytes: number): void; done(): void };
  /** Claim TTL and clock for plan-time claims (worker/round/claims.ts); default 6 h (CLAIM_TTL_MS). */
  claims?: ClaimOptions;
}

export interface RoundResult {
  status: 'created' | 'exists';
  manifest: RoundManifest;
}

/** What a BigQuery round's plan pins about its table. */
export interface BigQueryPin {
  /** PROJECT.DATASET.TABLE. */
  table: string;
  /** The table's `lastModifiedTime` and `numRows` at planning, as the API returns them (strings); null when absent. */
  lastModifiedTime: string | null;
  numRows: string | null;
  /** `text` / `model` STRING columns found in the schema at planning: passed through / matched for exclusion. */
  textColumn: string | null;
  modelColumn: string | null;
  /** The plan's instant (ISO). */
  asOf: string;
  /** Whether the query reads the table `FOR SYSTEM_TIME AS OF asOf`. */
  timeTravel: boolean;
}

/**
 * Everything a round's output depends on besides config: the objects it
 * consumes and the history it excludes (earlier rounds, the snapshot version).
 * Pinned in plan.json so a rerun after a crash sees exactly the same inputs,
 * even if merges or new uploads happened in between.
 */
export interface RoundPlan {
  kind: PlanKind;
  round: string;
  objects: PlannedObject[];
  updatedMax: string | null;
  previousRounds: string[];
  snapshotVersion: number | null;
  /** Where the listing of the predictions prefix started; absent or null = a full listing (worker/store/listing.ts). */
  listedFrom?: string | null;
  /** Media tasks: the instant media URLs are signed at, pinned so a rerun writes the same queue bytes (worker/media/task-media.ts). */
  mediaSignedAt?: string;
  /** `strategy.engine: bigquery`: the table scored instead of objects, and its state at planning (worker/round/bq-round.ts). */
  bigquery?: BigQueryPin;
}

export type PlanKind = 'reviewloop.round-plan' | 'reviewloop.raw-round-plan';

/** The plan's fields before a kind puts them in its own order. */
export type PlanFields = Omit<RoundPlan, 'kind'> & { listedFrom: string | undefined };

/**
 * What tells one kind of round from another. Every kind goes through the same
 * lifecycle (round.ts): open (already complete? plan: pin inputs, claim
 * objects), then `run` produces candidates, selects and writes, and commits
 * the manifest last (commit.ts). Kinds differ only in what they pin and in
 * the part that produces candidates.
 */
export interface RoundKind {
  /** Named in logs and in errors about a plan of another kind. */
  label: string;
  planKind: PlanKind;
  /** Which objects under the predictions prefix the plan takes; absent: the kind reads no objects (BigQuery). */
  accept?: (project: ProjectConfig) => (name: string) => boolean;
  /** How a listed object is pinned in the plan. */
  planned: (o: ObjectInfo) => PlannedObject;
  /** Pins what the kind reads instead of objects, at `now` (ms). */
  pin?: (opts: RoundOptions, now: number) => Promise<BigQueryPin>;
  /** The plan's bytes, in this kind's field order (a rerun must write the same bytes). */
  planShape: (fields: PlanFields) => RoundPlan;
  /** Candidates, selection, files and the manifest of an open round. */
  run: (opts: RoundOptions, round: OpenRound) => Promise<RoundResult>;
}

/** A round whose plan is fixed but whose manifest is not written yet: what the later phases share. */
export interface OpenRound {
  roundId: string;
  plan: RoundPlan;
  /** Completed rounds the plan pins as history. */
  previous: RoundManifest[];
  seed: string;
  log: Logger;
}

/** What scoring produced: merged heaps, stats, and reject lines (JSON) in plan order. */
export interface RoundScores {
  top: ScoredEntry[];
  audit: ScoredEntry[];
  /** Losing copies of kept ids (see ScoreRunResult.copies): the duplicates a round reports. */
  copies: { top: ScoredEntry[]; audit: ScoredEntry[] };
  stats: ChunkStats;
  rejects: string[];
  /** Objects that could not be read, in plan order (their object-level lines are in `rejects`). */
  quarantined?: QuarantinedObject[];
}
