/**
 * Shapes that cross the worker-thread boundary. Everything here is plain data
 * (structured-clone safe): no class instances, no functions.
 */

/** Task types a project can run; decides record validation, queue view and merge rules. */
export type TaskType = 'textcat' | 'textcat-multilabel' | 'ner' | 'image-boxes' | 'image' | 'audio' | 'image-segmentation';

export type StrategyName =
  | 'least-confidence'
  | 'margin'
  | 'ratio'
  | 'entropy'
  | 'multilabel-entropy'
  | 'multilabel-min-margin'
  | 'span-min'
  | 'span-mean'
  | 'token-entropy'
  | 'box-min'
  | 'box-mean'
  | 'box-count-weighted'
  | 'vote-entropy'
  | 'kl-disagreement'
  | 'bald'
  | 'variation-ratio'
  | 'mask-mean-uncertainty'
  | 'mask-low-confidence-area'
  | 'mask-min-instance'
  | 'random';

export interface Span {
  start: number;
  end: number;
  label: string;
  score?: number;
}
export interface Token {
  text: string;
  start: number;
  end: number;
  id: number;
  ws: boolean;
}
/** Pixels; (x, y) is the top-left corner. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
  label: string;
  score?: number;
  points?: number[][];
}

/** One prediction after validation and normalisation, whatever the input format was. */
export interface PredictionRecord {
  id: string;
  text?: string;
  image?: string;
  audio?: string;
  /** label → probability; for single-label tasks the values sum to 1 within tolerance. */
  probs?: Record<string, number>;
  spans?: Span[];
  tokens?: Token[];
  /** One probability vector per token (over `labels`), for `token-entropy`. */
  token_probs?: number[][];
  boxes?: Box[];
  width?: number;
  height?: number;
  /** Committee members' probability vectors, one per member (over `labels`). */
  committee?: number[][];
  /** MC-dropout samples, one probability vector per forward pass (over `labels`). */
  samples?: number[][];
  embedding?: number[];
  audio_spans?: Span[];
  model?: string;
  meta?: Record<string, unknown>;
}

/** Where a record came from; lines are 1-based. */
export interface SourceRef {
  object: string;
  line: number;
}

export interface ScoredEntry {
  id: string;
  score: number;
  /** Uniform hash in [0, 1) of (seed, id): decides the audit slice. */
  u: number;
  source: SourceRef;
  record: PredictionRecord;
}

export interface Reject {
  object: string;
  line: number;
  /** Record id when it could be read. */
  id?: string;
  /** The field at fault; null on an object-level line (an object that could not be read). */
  field?: string | null;
  reason: string;
  /** Object-level lines only: why the object could not be read (worker/pool/score-run.ts). */
  code?: string;
}

export interface ChunkStats {
  /** Records read (valid + rejected), excluding blank lines. */
  read: number;
  scored: number;
  rejected: number;
  /** Valid records skipped because already queued or labelled for the same model. */
  skipped: number;
  /** Histogram of max predicted confidence over 10 fixed bins [0,0.1) … [0.9,1]. */
  confidenceHist: number[];
  /** Histogram of scores over 20 bins of the strategy's natural range (see `scoreRange`). */
  scoreHist: number[];
  /** argmax label → count. */
  labelCounts: Record<string, number>;
  confidenceSum: number;
  entropySum: number;
  /**
   * The same sums in integer units of 1e-9, exact within a chunk. Floating-point
   * addition is not associative, so totals are summed from these (as BigInt) to
   * stay bit-identical whatever the chunk size or thread finishing order.
   */
  confidenceNano: number;
  entropyNano: number;
}

export interface StrategyOptions {
  name: StrategyName;
  /** For `token-entropy`: reduce per-token entropies by max or mean. Default max. */
  reduce?: 'max' | 'mean';
  /** Seed for `random` and the audit slice. */
  seed: string;
}

export interface ScoreChunkInput {
  kind: 'score-chunk';
  /** Raw bytes of whole lines (JSONL). */
  chunk: Uint8Array;
  object: string;
  /** 1-based line number of the chunk's first line. */
  firstLine: number;
  /** `auto` tells native records and Vertex AI lines apart per line. */
  format: 'native' | 'vertex' | 'auto';
  task: TaskType;
  labels: string[];
  strategy: StrategyOptions;
  /** Heap size kept per chunk for the uncertainty ranking. */
  topK: number;
  /** Heap size kept per chunk for the audit sample (smallest `u`). */
  auditK: number;
  /**
   * Score of the worst entry in the run's full top-K heap so far, when it is
   * full: records scoring below it cannot make the final top-K, so the chunk
   * need not keep them. Default: none (-Infinity).
   */
  topFloor?: number;
  /** The scoring run (one scoreSources call) the chunk belongs to: a thread shares a floor between a run's chunks (worker/pool/thread-floor.ts). */
  run?: string;
  /** Keep records' `embedding` in entries (only when diversity selection needs it). */
  keepEmbedding: boolean;
  /** false: kept entries' records hold their id only, for callers that need just ids and scores (`reviewloop score`). Default true. */
  keepRecords?: boolean;
  /** Lines longer than this (bytes) are rejected unparsed. */
  maxLineBytes: number;
  /** Allowed |Σp − 1| for single-label probabilities. */
  probTolerance: number;
  /** Sorted 64-bit keys (see `exclusionKey`) of (id, model) pairs not to queue again. */
  exclude?: BigUint64Array;
  /** `image-segmentation` only: how masks are read, scored and traced (scoring/segmentation/). */
  segmentation?: SegmentationChunkOptions;
}

export interface SegmentationChunkOptions {
  /** label → "#rrggbb" of Vertex AI category masks; null when the project reads native records only. */
  colors: Record<string, string> | null;
  /** Cap on points per traced polygon. */
  maxPoints: number;
  /** `mask-low-confidence-area`: confidence below this counts as low (0..1). */
  lowConfidenceBelow: number;
}

export type ScoreChunkOutput =
  | { ok: true; top: ScoredEntry[]; audit: ScoredEntry[]; rejects: Reject[]; stats: ChunkStats }
  | { ok: false; code: string; message: string };
