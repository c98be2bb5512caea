/**
 * Streams sources through the worker pool with bounded memory: at most
 * `inflight` chunks are alive at once, each worker returns only its local
 * top-K, and the main thread merges. Local uncompressed JSONL files are not
 * streamed at all: threads read their own byte ranges (line-range.ts), and
 * large local Arrow files their own record batches. Rejects leave in input
 * order whatever order the threads finish in, so outputs are byte-for-byte
 * reproducible.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, readSync } from 'node:fs';
import { addStats, emptyStats } from '../../scoring/chunk.js';
import { BottomK, COPIES_PER_ID, TopK } from '../../scoring/topk.js';
import type { ChunkStats, Reject, ScoreChunkInput, ScoredEntry, SegmentationChunkOptions, StrategyOptions, TaskType } from '../../scoring/types.js';
import { ARROW_PARALLEL_MIN_BYTES, arrowFileBatchCount } from '../sources/arrow-footer.js';
import { chunkLines } from '../sources/chunker.js';
import { ReviewloopError, isReviewloopError } from '../../domain/errors.js';
import { openObjectFile, planRanges } from '../sources/line-range.js';
import type { ScoringPool } from './pool.js';
import type { ScoreTaskInput, ScoreTaskOutput } from './score-task.js';
import { decompressed, formatOf, isGzipName, type Source } from '../sources/sources.js';

export interface ScoreParams {
  task: TaskType;
  labels: string[];
  strategy: StrategyOptions;
  /** Entries kept for the uncertainty ranking (topK, or the diversity candidate count when larger). */
  topK: number;
  /** Entries kept for the audit sample. */
  auditK: number;
  keepEmbedding: boolean;
  /** false: entries' records hold their id only (see ScoreChunkInput.keepRecords). Default true. */
  keepRecords?: boolean;
  maxLineBytes: number;
  probTolerance: number;
  /** Bytes per chunk sent to a worker, or per byte range a worker reads itself from a local file. */
  chunkBytes: number;
  /** `auto` decides per object from its name (.arrow/.parquet) and per line (native vs Vertex AI); `arrow`/`parquet` force a columnar reader. */
  format: 'auto' | 'native' | 'vertex' | 'arrow' | 'parquet';
  /** Local Arrow IPC files at least this big (bytes) are scored batch by batch in the pool, smaller ones on the calling thread. Default 256 MiB. */
  arrowParallelMinBytes?: number;
  /** Sorted keys of (id, model) already queued or labelled; backed by a SharedArrayBuffer so threads share it. */
  exclude?: BigUint64Array;
  /** `image-segmentation`: colours, polygon cap, low-confidence threshold (ScoreChunkInput.segmentation). */
  segmentation?: SegmentationChunkOptions;
}

/** Exact totals of `confidenceNano` / `entropyNano` (decimal BigInt strings): partial runs add these, not the rounded Numbers. */
export interface ExactSums {
  confidenceNano: string;
  entropyNano: string;
}

export interface ScoreRunResult {
  top: ScoredEntry[];
  audit: ScoredEntry[];
  /** Losing copies of kept ids that rank before each heap's worst (scoring/topk.ts): what duplicate reports list. */
  copies: { top: ScoredEntry[]; audit: ScoredEntry[] };
  stats: ChunkStats;
  exact: ExactSums;
  /** Records read and rejected per object (by URI), in input order: what a per-object reject ratio is judged on. */
  objects: Array<{ uri: string; read: number; rejected: number }>;
}

export interface ScoreRunHooks {
  /** Receives rejects in input order (source order, then line). */
  onRejects?: (rejects: Reject[]) => void | Promise<void>;
  /** Called after each chunk with records read so far and bytes read so far. */
  onProgress?: (read: number, bytes: number) => void;
  /**
   * Given: an object that cannot be read (see {@link quarantineCode}) is quarantined instead of failing the run:
   * its object-level reject line goes to `onRejects` in input order, then this hook runs, and the run goes on
   * with the next object. Absent: such an object fails the run.
   */
  onQuarantine?: (q: QuarantinedSource) => void | Promise<void>;
  signal?: AbortSignal;
}

/** An object set aside by a run: what its reject line says. */
export interface QuarantinedSource {
  source: Source;
  /** The line (record, for Arrow/Parquet) at which reading broke: records before it were read and kept. */
  line: number;
  code: string;
  reason: string;
}

/**
 * The quarantine code when `err` means the object itself cannot be read, else null (the run fails).
 * Bad bytes (INPUT_INVALID) are decided by the bytes alone, so a rerun quarantines the same object at
 * the same line. A pinned generation that is gone (NOT_FOUND) can only be read as a newer generation,
 * which the next round plans on its own. Anything else (a store outage, a crashed thread, an abort) may
 * pass, so it fails the run and the round is retried whole.
 */
export function quarantineCode(err: unknown): string | null {
  if (!isReviewloopError(err)) return null;
  if (err.code === 'NOT_FOUND') return 'OBJECT_GONE';
  if (err.code !== 'INPUT_INVALID') return null;
  const specific = err.details.unreadable;
  return typeof specific === 'string' ? specific : 'OBJECT_INVALID';
}

/** Copies sorted exclusion keys into shared memory so every task references, not clones, them. */
export function sharedKeys(keys: bigint[]): BigUint64Array {
  const sorted = [...new Set(keys)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const arr = new BigUint64Array(new SharedArrayBuffer(Math.max(8, sorted.length * 8)), 0, sorted.length);
  sorted.forEach((k, i) => {
    arr[i] = k;
  });
  return arr;
}

/** Whether an Arrow object is scored in the pool, batch by batch: a local, uncompressed file big enough to be worth it. */
function arrowInPool(source: Source, minBytes = ARROW_PARALLEL_MIN_BYTES): boolean {
  return source.path !== undefined && !/\.gz$/i.test(source.path) && (source.size ?? 0) >= minBytes;
}

/** Whether scoring `source` uses the pool's threads, so a caller can start them early. */
export function scoredInPool(source: Source, format: ScoreParams['format'], arrowParallelMinBytes?: number): boolean {
  const f = formatOf(source.name, format);
  return f === 'jsonl' || (f === 'arrow' && arrowInPool(source, arrowParallelMinBytes));
}

/** What a finished task leaves for the in-order apply step. */
interface Finished {
  out: ScoreTaskOutput | null;
  /** Rejects decided on this thread (a line too long to buffer). */
  rejects: Reject[];
  /** Bytes of input the task covered, for progress. */
  bytes: number;
  /** Set for byte-range tasks: their line numbers count from 1 and are shifted here. */
  ranged: boolean;
  /** First task of its source: line numbering starts again. */
  firstOfSource: boolean;
  object: string;
  /** First line of a streamed chunk (ranges learn theirs when applied). */
  firstLine?: number;
  /** The object broke here: quarantine it (its earlier tasks are applied, later ones dropped). */
  quarantine?: { source: Source; line: number; err: unknown };
}

/** True when a local file can be split into byte ranges its threads read themselves (not gzip, by name or by magic). */
function rangeable(source: Source, format: ScoreParams['format']): boolean {
  if (source.path === undefined || source.size === undefined || isGzipName(source.name) || format === 'arrow' || format === 'parquet') return false;
  const head = Buffer.alloc(2);
  const fd = openObjectFile(source.path, source.uri);
  try {
    return readSync(fd, head, 0, 2, 0) < 2 || head[0] !== 0x1f || head[1] !== 0x8b;
  } finally {
    closeSync(fd);
  }
}

function shiftLines(out: { top: ScoredEntry[]; audit: ScoredEntry[]; rejects: Reject[] }, by: number): void {
  if (by === 0) return;
  // Structured clone keeps shared references shared: an entry (or its source) kept by both heaps is one object here.
  const seen = new Set<object>();
  for (const e of [...out.top, ...out.audit]) {
    if (seen.has(e.source)) continue;
    seen.add(e.source);
    e.source.line += by;
  }
  for (const r of out.rejects) r.line += by;
}

export async function scoreSources(sources: Source[], params: ScoreParams, pool: ScoringPool, hooks: ScoreRunHooks = {}): Promise<ScoreRunResult> {
  return new ScoreRun(sources, params, pool, hooks).run();
}

const ABORTED = () => new ReviewloopError('ABORTED', 'scoring aborted');

/** One call of {@link scoreSources}: the heaps, totals and task bookkeeping every step of the run shares. */
class ScoreRun {
  private readonly top: TopK<ScoredEntry>;
  private readonly audit: BottomK<ScoredEntry>;
  private readonly stats = emptyStats();
  private readonly inflightLimit: number;
  // Names this run to the threads, which keep a floor per run (worker/pool/thread-floor.ts).
  private readonly runId = randomUUID();
  private readonly pending = new Map<number, Promise<void>>();
  // Results are applied in submission order: rejects leave in input order, and a range's line
  // numbers are only known once every range before it has reported how many lines it owned.
  private readonly finished = new Map<number, Finished>();
  private nextSeq = 0;
  private nextToApply = 0;
  private lineBase = 1;
  private bytesRead = 0;
  private failure: Error | null = null;
  // Exact totals past 2^53 units; converted once at the end so the result is the same bit for bit.
  private confidenceNano = 0n;
  private entropyNano = 0n;
  // Objects set aside so far (by URI): their later tasks are dropped when applied.
  private readonly quarantined = new Set<string>();
  private readonly byUri: Map<string, Source>;
  private readonly perObject: Map<string, { uri: string; read: number; rejected: number }>;

  constructor(
    private readonly sources: Source[],
    private readonly params: ScoreParams,
    private readonly pool: ScoringPool,
    private readonly hooks: ScoreRunHooks,
  ) {
    this.top = new TopK<ScoredEntry>(params.topK, { copiesPerId: COPIES_PER_ID });
    this.audit = new BottomK<ScoredEntry>(params.auditK, { copiesPerId: COPIES_PER_ID });
    this.inflightLimit = Math.max(2, pool.threads * 2);
    this.byUri = new Map(sources.map((src) => [src.uri, src]));
    this.perObject = new Map(sources.map((src) => [src.uri, { uri: src.uri, read: 0, rejected: 0 }]));
  }

  async run(): Promise<ScoreRunResult> {
    for (const source of this.sources) {
      if (this.failure) break;
      const cursor = { line: 1 };
      try {
        await this.readSource(source, cursor);
      } catch (err) {
        if (this.hooks.onQuarantine === undefined || quarantineCode(err) === null) throw err;
        // Queued behind the tasks already submitted for this object: their records are kept, in input order.
        this.submit(this.nextSeq++, null, {
          rejects: [],
          bytes: 0,
          ranged: false,
          firstOfSource: false,
          object: source.uri,
          quarantine: { source, line: cursor.line, err },
        });
      }
    }
    await this.waitForRoom(1);
    if (this.failure) throw this.failure;
    return this.result();
  }

  private result(): ScoreRunResult {
    const { stats, top, audit, confidenceNano, entropyNano } = this;
    this.hooks.onProgress?.(stats.read, this.bytesRead);
    stats.confidenceNano = Number(confidenceNano);
    stats.entropyNano = Number(entropyNano);
    stats.confidenceSum = Number(confidenceNano) / 1e9;
    stats.entropySum = Number(entropyNano) / 1e9;
    // Key order follows which chunk finished first; sort so the manifest bytes do not.
    stats.labelCounts = Object.fromEntries(Object.entries(stats.labelCounts).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return {
      top: top.values(),
      audit: audit.values(),
      copies: { top: top.copies(), audit: audit.copies() },
      stats,
      exact: { confidenceNano: confidenceNano.toString(), entropyNano: entropyNano.toString() },
      objects: [...this.perObject.values()],
    };
  }

  private countObject(uri: string, read: number, rejected: number): void {
    const o = this.perObject.get(uri);
    if (o !== undefined) {
      o.read += read;
      o.rejected += rejected;
    }
  }

  /** Adds a batch's stats to the run's totals and to its object's counts. */
  private addBatch(uri: string, b: ChunkStats): void {
    addStats(this.stats, b);
    this.countObject(uri, b.read, b.rejected);
    this.confidenceNano += BigInt(b.confidenceNano);
    this.entropyNano += BigInt(b.entropyNano);
  }

  private async quarantine(source: Source, line: number, err: unknown, code: string): Promise<void> {
    this.quarantined.add(source.uri);
    const reason = `object not read past line ${line - 1}: ${(err as Error).message}`;
    await this.hooks.onRejects?.([{ object: source.uri, line, field: null, reason, code }]);
    await this.hooks.onQuarantine?.({ source, line, code, reason });
  }

  /** The object of task `f` broke at `line`: quarantined when the caller takes quarantines and the cause is the bytes', else the run fails. */
  private async broke(f: Finished, line: number, err: ReviewloopError): Promise<void> {
    const qcode = this.hooks.onQuarantine === undefined ? null : quarantineCode(err);
    if (qcode !== null) await this.quarantine(this.byUri.get(f.object)!, line, err, qcode);
    else this.failure = err;
  }

  /** Applies finished tasks in submission order, stopping at the first one still running. */
  private async applyInOrder(): Promise<void> {
    while (this.finished.has(this.nextToApply)) {
      const f = this.finished.get(this.nextToApply)!;
      this.finished.delete(this.nextToApply);
      this.nextToApply++;
      if (f.firstOfSource) this.lineBase = 1;
      this.bytesRead += f.bytes;
      // Decided in task order, so a rerun keeps and drops exactly the same tasks of a broken object.
      if (this.failure || this.quarantined.has(f.object)) continue;
      if (f.quarantine) {
        await this.quarantine(f.quarantine.source, f.quarantine.line, f.quarantine.err, quarantineCode(f.quarantine.err)!);
        continue;
      }
      const rejects = f.out === null ? this.applyLocalRejects(f) : await this.applyOutput(f, f.out);
      if (rejects === null) continue;
      if (rejects.length > 0) await this.hooks.onRejects?.(rejects);
      this.hooks.onProgress?.(this.stats.read, this.bytesRead);
    }
  }

  /** A task with nothing run: lines rejected on this thread (too long to buffer) count when applied, as every other record. */
  private applyLocalRejects(f: Finished): Reject[] {
    const n = f.rejects.length;
    this.stats.read += n;
    this.stats.rejected += n;
    this.countObject(f.object, n, n);
    return f.rejects;
  }

  /** Merges one thread's output; returns its rejects, or null when the object broke (already handled). */
  private async applyOutput(f: Finished, out: ScoreTaskOutput): Promise<Reject[] | null> {
    if (!out.ok) {
      // Bad input and a replaced object keep their codes across the thread boundary (as the store's
      // stream would have raised them); anything else is a scoring failure.
      // A result that cannot cross to this thread comes from what the object holds (e.g. a record nested past
      // what deserialization can take): as deterministic as bad bytes, so it quarantines the object too.
      const undeliverable = out.code === 'RESULT_UNDELIVERABLE';
      const code = out.code === 'INPUT_INVALID' || out.code === 'NOT_FOUND' ? out.code : undeliverable ? 'INPUT_INVALID' : 'SCORING_FAILED';
      const line = f.firstLine ?? this.lineBase;
      await this.broke(
        f,
        line,
        new ReviewloopError(code, out.message, { details: { object: f.object, line, code: out.code, ...(undeliverable ? { unreadable: out.code } : {}) } }),
      );
      return null;
    }
    if (f.ranged) {
      shiftLines(out, this.lineBase - 1);
      this.lineBase += out.lines ?? 0;
    }
    for (const e of out.top) this.top.push(e);
    for (const e of out.audit) this.audit.push(e);
    this.addBatch(f.object, out.stats);
    if (out.broken !== undefined) {
      // Rows before the corrupt batch stay; the object is quarantined at the first row not read.
      if (out.rejects.length > 0) await this.hooks.onRejects?.(out.rejects);
      await this.broke(
        f,
        this.lineBase,
        new ReviewloopError('INPUT_INVALID', out.broken.message, {
          details: { object: f.object, ...(out.broken.unreadable ? { unreadable: out.broken.unreadable } : {}) },
        }),
      );
      return null;
    }
    return out.rejects;
  }

  private submit(seq: number, input: ScoreTaskInput | null, f: Omit<Finished, 'out'>): void {
    if (input === null) {
      // Nothing to run: finished now (an async wrapper would delete itself from `pending` before being added).
      this.finished.set(seq, { ...f, out: null });
      return;
    }
    this.pending.set(
      seq,
      this.pool.score(input).then((out) => {
        this.finished.set(seq, { ...f, out });
        this.pending.delete(seq);
      }),
    );
  }

  private async waitForRoom(limit: number): Promise<void> {
    while (this.pending.size >= limit) {
      await Promise.race(this.pending.values());
      await this.applyInOrder();
    }
    await this.applyInOrder();
  }

  /** Throws when aborted, waits for a free slot, and says whether `source` is still worth reading. */
  private async readyFor(source: Source): Promise<boolean> {
    if (this.hooks.signal?.aborted) throw ABORTED();
    await this.waitForRoom(this.inflightLimit);
    // A task of this object failed: its later tasks would be dropped anyway.
    return !(this.failure || this.quarantined.has(source.uri));
  }

  /** What every task of the run carries, JSONL chunk or Arrow batches. */
  private taskFields() {
    const { params, top } = this;
    return {
      task: params.task,
      labels: params.labels,
      strategy: params.strategy,
      topK: params.topK,
      auditK: params.auditK,
      // Once the run's heap is full, tasks drop what cannot beat its worst: far fewer entries built, cloned and merged.
      // Invariant: the heap is full only with K distinct ids (scoring/topk.ts), so its worst score is a lower
      // bound of the run's final K-th best, and a row scoring below it can never be kept; rows equal to it
      // still go to the heaps (ties break by id). The differential campaign (test/campaigns/) checks it.
      topFloor: top.size >= top.capacity && top.size > 0 ? top.worst()!.score : undefined,
      run: this.runId,
      keepRecords: params.keepRecords,
      probTolerance: params.probTolerance,
      exclude: params.exclude,
    };
  }

  private chunkInput(source: Source, lineFormat: ScoreChunkInput['format']): Omit<ScoreChunkInput, 'chunk' | 'firstLine'> {
    return {
      kind: 'score-chunk',
      object: source.uri,
      format: lineFormat,
      ...this.taskFields(),
      keepEmbedding: this.params.keepEmbedding,
      maxLineBytes: this.params.maxLineBytes,
      ...(this.params.segmentation ? { segmentation: this.params.segmentation } : {}),
    };
  }

  /** Submits one object's tasks (or scores it here); `cursor.line` follows the first line not read yet. */
  private async readSource(source: Source, cursor: { line: number }): Promise<void> {
    const { params } = this;
    const format = formatOf(source.name, params.format);
    const parallel = format === 'arrow' && arrowInPool(source, params.arrowParallelMinBytes);
    const batchCount = parallel ? arrowFileBatchCount(source.path!, source.uri, source.generation) : null;
    if (batchCount !== null) return this.readArrowBatches(source, batchCount);
    if (format !== 'jsonl') return this.readColumnarHere(source, format, cursor);
    const lineFormat = params.format === 'arrow' || params.format === 'parquet' ? 'auto' : params.format;
    if (rangeable(source, params.format)) return this.readRanges(source, lineFormat);
    return this.readStreamed(source, lineFormat, cursor);
  }

  /** A local Arrow IPC file: tasks of consecutive record batches, read by index on a scoring thread. */
  private async readArrowBatches(source: Source, batchCount: number): Promise<void> {
    // Guided sizes: each task takes 1/(2 x threads) of the batches left, down to one batch. The
    // first tasks are large, so there are few of them (per-task costs: messages, opening the file,
    // a fresh top heap filling up), and the last ones small, so the threads finish together. The groups
    // [from, to) partition [0, batchCount): every batch is scored once, whatever the sizes.
    let firstOfSource = true;
    for (let from = 0, group = 0; from < batchCount; from += group) {
      group = Math.max(1, Math.ceil((batchCount - from) / (this.pool.threads * 2)));
      if (!(await this.readyFor(source))) return;
      const to = Math.min(batchCount, from + group);
      const size = source.size ?? 0;
      this.submit(
        this.nextSeq++,
        {
          kind: 'score-arrow',
          object: source.uri,
          name: source.name,
          path: source.path!,
          ...(source.generation === undefined ? {} : { generation: source.generation }),
          batches: { from, to },
          ...this.taskFields(),
        },
        {
          rejects: [],
          bytes: Math.floor((size * to) / batchCount) - Math.floor((size * from) / batchCount),
          ranged: true,
          firstOfSource,
          object: source.uri,
        },
      );
      firstOfSource = false;
    }
  }

  /** Columnar objects are scored on this thread; earlier chunks finish first so rejects stay in input order. */
  private async readColumnarHere(source: Source, format: 'arrow' | 'parquet', cursor: { line: number }): Promise<void> {
    await this.waitForRoom(1);
    if (this.failure) return;
    // Loaded on first use: JSONL-only runs never pay for apache-arrow's memory.
    const { scoreColumnarSource } = await import('../sources/columnar-source.js');
    await scoreColumnarSource(
      source,
      format,
      this.params,
      {
        top: this.top,
        audit: this.audit,
        onStats: (b) => this.addBatch(source.uri, b),
        onRejects: async (r) => {
          await this.hooks.onRejects?.(r);
        },
        onProgress: (rows) => {
          cursor.line = rows + 1;
          this.hooks.onProgress?.(this.stats.read, this.bytesRead);
        },
      },
      this.hooks.signal,
    );
    this.bytesRead += source.size ?? 0;
    this.hooks.onProgress?.(this.stats.read, this.bytesRead);
  }

  /** A local uncompressed file: threads read their own byte ranges. */
  private async readRanges(source: Source, lineFormat: ScoreChunkInput['format']): Promise<void> {
    let firstOfSource = true;
    for (const range of planRanges(source.path!, source.size!, this.params.chunkBytes, source.generation, this.pool.threads)) {
      if (!(await this.readyFor(source))) return;
      this.submit(
        this.nextSeq++,
        { ...this.chunkInput(source, lineFormat), range },
        { rejects: [], bytes: range.end - range.start, ranged: true, firstOfSource, object: source.uri },
      );
      firstOfSource = false;
    }
  }

  /** Any other JSONL object: read here as a stream and sent to the threads chunk by chunk. */
  private async readStreamed(source: Source, lineFormat: ScoreChunkInput['format'], cursor: { line: number }): Promise<void> {
    const { params } = this;
    const bytes = decompressed(source.open(), source.name, source.size === undefined ? {} : { compressedBytes: source.size });
    let firstOfSource = true;
    for await (const item of chunkLines(bytes, { chunkBytes: params.chunkBytes, maxLineBytes: params.maxLineBytes, cursor })) {
      if (!(await this.readyFor(source))) return;
      const common = { ranged: false, firstOfSource, object: source.uri };
      firstOfSource = false;
      if ('oversized' in item) {
        this.submit(this.nextSeq++, null, {
          ...common,
          bytes: 0,
          rejects: [{ object: source.uri, line: item.line, reason: `line longer than ${params.maxLineBytes} bytes` }],
        });
        continue;
      }
      this.submit(
        this.nextSeq++,
        { ...this.chunkInput(source, lineFormat), chunk: item.bytes, firstLine: item.firstLine },
        { ...common, bytes: item.bytes.length, rejects: [], firstLine: item.firstLine },
      );
    }
  }
}
