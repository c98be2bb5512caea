/**
 * Arrow IPC (file or stream) and Parquet inputs, scored column-wise: one
 * record batch at a time goes through the `scoring/columnar.ts` kernels, and
 * only rows that can still make a heap become JS objects. Memory stays
 * O(batch + K) whatever the object size.
 *
 * Expected columns: `id` (utf8 or integer), and either `probs` as a
 * List/FixedSizeList of floats over the configured `labels` order, or one
 * float column per label named after it; optional `model` and `text`. Rows
 * are validated like JSONL records (missing id, NaN/negative/above-1
 * probabilities, single-label sums off by more than the tolerance), each bad
 * row becomes a reject whose `line` is its 1-based row number.
 *
 * Unlike JSONL, a file without a `text` column is accepted for text tasks:
 * columnar predictions often carry ids only. Rows with a null `text` in a
 * file that has the column are rejected as JSONL would be.
 */
import { open } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { SCORE_BINS, CONFIDENCE_BINS, binIndex, emptyStats } from '../../scoring/chunk.js';
import { isColumnarStrategy, scoreRowMajor, type ProbArray } from '../../scoring/columnar.js';
import { isExcluded, uniform01 } from '../../scoring/hash.js';
import { scoreRange } from '../../scoring/strategies.js';
import type { BottomK, TopK } from '../../scoring/topk.js';
import type { ChunkStats, PredictionRecord, Reject, ScoredEntry, StrategyOptions, TaskType } from '../../scoring/types.js';
import { foldSettled, settleBatch, settleCounts, type NativeKeys, type NativeSettle, type SettleCounts } from '../../scoring/fast/settle.js';
import type { ColumnBatch, ColumnData, ColumnVector } from './arrow-column.js';
import { ArrowFileReader, fillBatch, type BatchColumns } from './arrow-file.js';
import { ArrowType } from './arrow-ipc.js';
import { checkGeneration } from './line-range.js';
import { ReviewloopError } from '../../domain/errors.js';
import { compiledModulePath } from '../core/module-path.js';
import { loadNativeKeys, loadNativeSettle, loadOffsetSpans } from '../core/native.js';
import type { ParquetOpen } from './parquet-thread.js';
import { decompressed, type Source } from './sources.js';

/** What a columnar object is scored with (a subset of `ScoreParams`). */
export interface ColumnarParams {
  task: TaskType;
  labels: string[];
  strategy: StrategyOptions;
  /** Allowed |Σp − 1| for single-label probabilities. */
  probTolerance: number;
  exclude?: BigUint64Array;
  /** false: kept entries' records hold their id only (ScoreChunkInput.keepRecords); text and model strings are then never read. Default true. */
  keepRecords?: boolean;
  /** Test hook: null runs without the native row settler (scoring/fast/settle.ts), to compare against. Default: the settler when built. */
  nativeSettle?: NativeSettle | null;
}

/** Where a scored batch goes: the run's heaps and stats, shared with the JSONL path. */
export interface ColumnarSink {
  top: TopK<ScoredEntry>;
  audit: BottomK<ScoredEntry>;
  /** Receives each batch's stats (nano sums stay exact per batch, as per JSONL chunk). */
  onStats: (stats: ChunkStats) => void;
  onRejects: (rejects: Reject[]) => void | Promise<void>;
  /** Rows read so far in this object. */
  onProgress?: (rows: number) => void;
  /** Score of the worst entry of the run's full top heap (see ScoreChunkInput.topFloor): rows below it are not kept. */
  topFloor?: number;
}

/** Rows per Parquet batch. */
const PARQUET_BATCH_ROWS = 65_536;
const MAX_ID_LENGTH = 1024;
const NO_PRESENT = new Uint8Array(0);
/** Up to this many visited rows in a batch, each reads its own strings; past it the batch's are read at once. */
const STRINGS_PER_ROW_MAX = 512;
const NO_DRAWS = new Float64Array(0);
const NO_KEYS = new BigUint64Array(0);
const NO_OFFSETS = new Int32Array(0);
const spans = loadOffsetSpans();

/** Whether the native key function can read these columns' bytes as they are: one UTF-8 chunk each, from offset 0. */
function keysReadable(keys: NativeKeys | undefined, ids: ColumnVector, model: ColumnVector | null): boolean {
  const plain = (v: ColumnVector) => v.type.typeId === ArrowType.Utf8 && v.data.length === 1 && v.data[0].offset === 0;
  return keys !== undefined && plain(ids) && (model === null || plain(model));
}

/** Batches [from, to) of an Arrow IPC file, read by index. */
export interface BatchRange {
  from: number;
  to: number;
}

/** Record batches of an Arrow IPC object: a local file is read by seeking (only `range` when given), anything else streamed. */
async function* arrowBatches(source: Source, range?: BatchRange, columns?: BatchColumns): AsyncGenerator<ColumnBatch> {
  if (source.path !== undefined && !/\.gz$/i.test(source.path)) {
    // Synchronous reads into one reused buffer where the file allows (arrow-file.ts); each batch is
    // consumed before the next is read, which that buffer requires. A pinned generation is checked there.
    const sync = ArrowFileReader.open(source.path, source.generation, source.uri, columns);
    if (sync === null && source.generation !== undefined) {
      // apache-arrow's own readers do not check generations: read a pinned object through its store.
      yield* streamBatches(source);
      return;
    }
    if (sync !== null) {
      try {
        const to = range?.to ?? sync.numBatches;
        for (let b = range?.from ?? 0; b < to; b++) {
          if (b >= sync.numBatches) throw invalid(source, `record batch ${b} is missing`);
          yield sync.readBatch(b) ?? (await readOneBatch(source.path, b, source));
        }
      } finally {
        sync.close();
      }
      return;
    }
    const { RecordBatchReader } = await import('apache-arrow');
    const fh = await open(source.path);
    try {
      const reader = await RecordBatchReader.from(fh);
      if (range === undefined) {
        for await (const batch of reader) yield batch;
        return;
      }
      await reader.open();
      if (!reader.isFile()) throw invalid(source, 'batches by index need the Arrow IPC file format');
      for (let b = range.from; b < range.to; b++) {
        const batch = await reader.readRecordBatch(b);
        if (batch === null) throw invalid(source, `record batch ${b} is missing`);
        yield batch;
      }
    } finally {
      await fh.close();
    }
    return;
  }
  yield* streamBatches(source);
}

/** Every batch, front to back, from the object's stream (the store's, which checks a pinned generation). */
async function* streamBatches(source: Source): AsyncGenerator<ColumnBatch> {
  const { RecordBatchReader } = await import('apache-arrow');
  const reader = await RecordBatchReader.from(decompressed(source.open(), source.name));
  for await (const batch of reader) yield batch;
}

/** One batch through apache-arrow's own reader (compressed bodies), from the pinned generation when there is one. */
async function readOneBatch(path: string, b: number, source: Source): Promise<ColumnBatch> {
  const { RecordBatchReader } = await import('apache-arrow');
  const fh = await open(path);
  try {
    if (source.generation !== undefined) checkGeneration((await fh.stat({ bigint: true })).mtimeNs, source.generation, source.uri);
    const reader = await RecordBatchReader.from(fh);
    await reader.open();
    const batch = reader.isFile() ? await reader.readRecordBatch(b) : null;
    if (batch === null) throw invalid(source, `record batch ${b} is missing`);
    return batch;
  } finally {
    await fh.close();
  }
}

/** The Parquet thread kept between objects (parquet-thread.ts), while no object is using it. */
let idleParquet: { worker: Worker; timer: NodeJS.Timeout } | undefined;
/** An idle Parquet thread ends after this long: a daemon between rounds should not hold its ~60 MB. */
const PARQUET_IDLE_MS = 5_000;

/** A Parquet thread: the idle one, or a new one (objects read at the same time get one each). */
function parquetThread(): Worker {
  if (idleParquet !== undefined) {
    const { worker, timer } = idleParquet;
    idleParquet = undefined;
    clearTimeout(timer);
    // Referenced while in use: a read waiting for its reply must keep the process alive.
    worker.ref();
    return worker;
  }
  return new Worker(compiledModulePath('worker/sources/parquet-thread.js'), {
    // A small young generation keeps its RSS down (as the pool's).
    resourceLimits: { maxYoungGenerationSizeMb: 8 },
  });
}

/** Keeps a thread that finished an object for the next one, or ends it when one is kept already. */
function releaseParquetThread(worker: Worker): void {
  if (idleParquet !== undefined) {
    void worker.terminate();
    return;
  }
  const timer = setTimeout(() => {
    if (idleParquet?.worker === worker) idleParquet = undefined;
    void worker.terminate();
  }, PARQUET_IDLE_MS);
  // Idle, neither it nor its timer keeps a finished process alive.
  timer.unref();
  worker.unref();
  idleParquet = { worker, timer };
}

/**
 * Record batches of a Parquet object, one row group at a time, decoded in a
 * worker thread (worker/sources/parquet-thread.ts) so a wasm trap on corrupt bytes
 * fails this object instead of killing the process.
 */
async function* parquetBatches(source: Source): AsyncGenerator<ColumnBatch> {
  const { tableFromIPC } = await import('apache-arrow');
  let bytes: Uint8Array | undefined;
  if (source.path === undefined) {
    // parquet-wasm needs random access; a remote object is buffered once.
    const parts: Uint8Array[] = [];
    // Through decompressed(): an object stored with `Content-Encoding: gzip` arrives as stored (worker/store/gcs-store.ts).
    for await (const p of decompressed(source.open(), source.name)) parts.push(p);
    bytes = Buffer.concat(parts);
  }
  const worker = parquetThread();
  type Reply = { groups?: number; length?: number; shared?: SharedArrayBuffer; error?: string };
  const ask = (msg: object) =>
    new Promise<Reply>((resolve, reject) => {
      const off = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      const onMessage = (m: Reply) => {
        off();
        if (m.error !== undefined) reject(new Error(m.error));
        else resolve(m);
      };
      const onError = (e: Error) => {
        off();
        reject(e);
      };
      const onExit = (code: number) => {
        off();
        reject(new Error(`parquet reader thread exited with code ${code}`));
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.postMessage(msg);
    });
  // Kept for the next object only when this one was read to the end without a failure.
  let reusable = false;
  try {
    const open: ParquetOpen = { path: source.path, bytes, exclude: ['meta', 'embedding'], batchRows: PARQUET_BATCH_ROWS };
    const { groups } = await ask({ open });
    let shared: SharedArrayBuffer | undefined;
    for (let g = 0; g < (groups ?? 0); g++) {
      const reply = await ask({ group: g });
      shared = reply.shared ?? shared;
      if (shared === undefined || reply.length === undefined || reply.length > shared.byteLength)
        throw new Error(`row group ${g}: the reader thread sent no bytes`);
      // Views into the thread's buffer: every batch of this group is scored (records copy what they keep) before the next group is asked for.
      for (const batch of tableFromIPC(new Uint8Array(shared, 0, reply.length)).batches) yield batch;
    }
    reusable = true;
  } finally {
    if (reusable) releaseParquetThread(worker);
    else await worker.terminate();
  }
}

/** Reader failures on corrupt bytes (apache-arrow TypeErrors, parquet-wasm error strings) become INPUT_INVALID naming the object. */
async function* typedErrors(source: Source, format: string, batches: AsyncGenerator<ColumnBatch>): AsyncGenerator<ColumnBatch> {
  try {
    yield* batches;
  } catch (err) {
    if (err instanceof ReviewloopError) throw err;
    throw new ReviewloopError('INPUT_INVALID', `${source.uri}: not a readable ${format} file: ${(err as Error)?.message ?? String(err)}`, {
      cause: err,
      details: { object: source.uri },
    });
  }
}

function invalid(source: Source, message: string): ReviewloopError {
  return new ReviewloopError('INPUT_INVALID', `${source.uri}: ${message}`, { details: { object: source.uri } });
}

function isFloat(v: ColumnVector | null): boolean {
  return v !== null && v.type.typeId === ArrowType.Float;
}

/** The typed values of a primitive Data, offset applied. */
function valuesOf(d: ColumnData): ProbArray {
  const vals = d.values as ProbArray;
  return vals.subarray(d.offset, d.offset + d.length);
}

interface ProbMatrix {
  /** Row-major n × k. */
  values: ProbArray;
  /** Per-row problem found while extracting (null probs, wrong length), else undefined. */
  rowError: Map<number, { field: string; reason: string }>;
}

/** Pulls the batch's probabilities into a row-major matrix over `labels`, zero-copy when the layout allows. */
function probMatrix(batch: ColumnBatch, labels: string[], source: Source): ProbMatrix {
  const n = batch.numRows;
  const k = labels.length;
  const rowError = new Map<number, { field: string; reason: string }>();
  const probs = batch.getChild('probs');
  if (probs !== null) {
    const t = probs.type.typeId;
    const d = probs.data[0];
    const child = d.children[0];
    if ((t !== ArrowType.List && t !== ArrowType.FixedSizeList) || child === undefined || child.typeId !== ArrowType.Float) {
      throw invalid(source, `column probs must be a list of floats, got ${String(probs.type)}`);
    }
    const childVals = child.values as ProbArray;
    if (t === ArrowType.FixedSizeList) {
      const width = probs.type.listSize;
      if (width !== k) throw invalid(source, `column probs has ${width} values per row for ${k} labels`);
      const start = child.offset + d.offset * k;
      const values = childVals.subarray(start, start + n * k);
      if (d.nullCount > 0) for (let i = 0; i < n; i++) if (!probs.isValid(i)) rowError.set(i, { field: 'probs', reason: 'probs is null' });
      return { values, rowError };
    }
    const offs = d.valueOffsets;
    const o0 = offs[d.offset];
    const regular = d.nullCount === 0 && offs[d.offset + n] - o0 === n * k && spans(offs, d.offset, n, k, k);
    if (regular) return { values: childVals.subarray(child.offset + o0, child.offset + o0 + n * k), rowError };
    // Ragged or null rows: copy, and let the bad rows fail validation with their reason.
    const values = new Float64Array(n * k);
    for (let i = 0; i < n; i++) {
      const a = offs[d.offset + i];
      const len = offs[d.offset + i + 1] - a;
      if (!probs.isValid(i)) rowError.set(i, { field: 'probs', reason: 'probs is null' });
      else if (len !== k) rowError.set(i, { field: 'probs', reason: `probs has ${len} values for ${k} labels` });
      else for (let j = 0; j < k; j++) values[i * k + j] = childVals[child.offset + a + j];
    }
    return { values, rowError };
  }
  const cols: ProbArray[] = [];
  for (const l of labels) {
    const c = batch.getChild(l);
    if (c === null) throw invalid(source, `no probs column and no column for label "${l}"`);
    if (!isFloat(c)) throw invalid(source, `column ${l} must be floats, got ${String(c.type)}`);
    cols.push(valuesOf(c.data[0]));
    if (c.nullCount > 0) for (let i = 0; i < n; i++) if (!c.isValid(i)) rowError.set(i, { field: `probs.${l}`, reason: `probability for ${l} is null` });
  }
  const values = new Float64Array(n * k);
  for (let j = 0; j < k; j++) {
    const col = cols[j];
    for (let i = 0, o = j; i < n; i++, o += k) values[o] = col[i];
  }
  return { values, rowError };
}

function describeBad(v: number): string {
  if (Number.isNaN(v)) return 'is NaN';
  if (!Number.isFinite(v)) return 'is infinite';
  if (v < 0) return `is negative (${v})`;
  return `is above 1 (${v})`;
}

function stringAt(v: ColumnVector | null, i: number): string | undefined {
  if (v === null || !v.isValid(i)) return undefined;
  const x: unknown = v.get(i);
  return x === null || x === undefined ? undefined : String(x);
}

/** Why row i's id is unusable, or its id. */
function idAt(ids: ColumnVector, i: number): { id: string } | { reason: string } {
  if (!ids.isValid(i)) return { reason: 'missing id' };
  const raw: unknown = ids.get(i);
  const id = typeof raw === 'bigint' || typeof raw === 'number' ? String(raw) : raw;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH)
    return { reason: `id must be a non-empty string (≤ ${MAX_ID_LENGTH} chars) or an integer` };
  return { id };
}

/** What one batch's row loop reads; a plain object so the loop runs in its own (synchronous, optimisable) function. */
interface BatchRows {
  /** Makes row `row`'s (or every row's) strings readable: a partly read Arrow batch reads them now (arrow-file.ts). Call before any id, text or model string. */
  strings: (row?: number) => void;
  /** Native row settler, when loaded (settle.ts), with its counts and a kinds buffer reused across batches. */
  settle:
    | { fn: NativeSettle; keys: NativeKeys | undefined; seedBytes: Uint8Array; counts: SettleCounts; kinds: Int32Array; visit: Int32Array; draws: Float64Array }
    | undefined;
  source: Source;
  params: ColumnarParams;
  sink: ColumnarSink;
  stats: ChunkStats;
  ids: ColumnVector;
  model: ColumnVector | null;
  text: ColumnVector | null;
  values: ProbArray;
  rowError: Map<number, { field: string; reason: string }>;
  scores: Float64Array;
  n: number;
  rowBase: number;
  labelN: Float64Array;
}

/**
 * True when every id is usable without looking at it as a string: integers,
 * or UTF-8 strings of 1…MAX_ID_LENGTH bytes (bytes ≥ UTF-16 units, so the
 * length rule holds). Anything else is checked row by row.
 */
function idsAllValid(ids: ColumnVector): boolean {
  const t = ids.type.typeId;
  if (t === ArrowType.Int) return true;
  if (t !== ArrowType.Utf8) return false;
  return ids.data.every((d) => spans(d.valueOffsets, d.offset, d.length, 1, MAX_ID_LENGTH));
}

/** Offers row i (valid, scored `s`) to the heaps, building its record only if one keeps it; true when the top heap is full after. */
function offer(b: BatchRows, i: number, id: string, s: number, mayTop: boolean): boolean {
  const { source, params, sink, rowBase } = b;
  const { strategy } = params;
  const { top, audit } = sink;
  const line = rowBase + i + 1;
  const u = audit.capacity > 0 ? uniform01(strategy.seed, id) : NaN;
  const probe = { id, score: s, u, source: { object: source.uri, line } };
  const keepTop = mayTop && top.wouldKeep(probe as ScoredEntry);
  const keepAudit = audit.capacity > 0 && audit.wouldKeep(probe as ScoredEntry);
  if (!keepTop && !keepAudit) return false;
  const record: PredictionRecord = { id };
  if (params.keepRecords !== false) fillRecord(b, record, i);
  // Kept entries always carry their audit draw, as JSONL entries do (partials and rounds read it).
  const entry: ScoredEntry = { ...probe, u: Number.isNaN(u) ? uniform01(strategy.seed, id) : u, record };
  if (keepTop) top.push(entry);
  if (keepAudit) audit.push(entry);
  return top.size >= top.capacity;
}

/** A kept row's probabilities, text and model, into its record. */
function fillRecord(b: BatchRows, record: PredictionRecord, i: number): void {
  const { text, model, values } = b;
  const { labels } = b.params;
  const k = labels.length;
  const off = i * k;
  record.probs = {};
  for (let j = 0; j < k; j++) record.probs![labels[j]] = values[off + j];
  const t = stringAt(text, i);
  if (t !== undefined) record.text = t;
  const m = stringAt(model, i);
  if (m !== undefined) record.model = m;
}

// long: the per-batch setup (what to check, the native settler) computes the locals the per-row
// loop reads, and the loop updates some of them per row (worstTop, the nano sums, labelN counts).
// A per-row helper would take and return that state on every row of every Arrow/Parquet batch;
// offering an entry, the rare branch, is already its own function (offer).
/** Validates, counts and offers to the heaps the rows of one batch; returns its rejects in row order. */
function scoreBatchRows(b: BatchRows): Reject[] {
  const { source, params, sink, stats, ids, model, text, values, rowError, scores, n, rowBase, labelN } = b;
  const { labels, task, strategy } = params;
  const k = labels.length;
  const singleLabel = task !== 'textcat-multilabel';
  const needsText = task === 'textcat' || task === 'textcat-multilabel' || task === 'ner';
  const [lo, hi] = scoreRange(strategy.name, k);
  const reuseEntropy = singleLabel && strategy.name === 'entropy';
  const { top, audit } = sink;
  const exclude = params.exclude !== undefined && params.exclude.length > 0 ? params.exclude : undefined;
  const idsClean = ids.nullCount === 0 && idsAllValid(ids);
  const checkRows = !idsClean || rowError.size > 0;
  const checkText = needsText && text !== null && text.nullCount > 0;
  // Single-label entropy over clean rows: the settler counts, in C, the rows that reach no heap.
  const floor = sink.topFloor ?? -Infinity;
  let worstTop = Math.max(floor, top.size >= top.capacity ? (top.worst()?.score ?? Infinity) : -Infinity);
  let kinds: Int32Array | undefined;
  let settled = 0;
  // Audits and exclusions need each row's draw and exclusion check, from its id (and model) bytes natively.
  const keyed = exclude !== undefined || audit.capacity > 0;
  const st = b.settle;
  if (st !== undefined && reuseEntropy && values instanceof Float64Array && !checkRows && !checkText && (!keyed || keysReadable(st.keys, ids, model))) {
    if (st.kinds.length < n) {
      st.kinds = new Int32Array(n);
      st.visit = new Int32Array(n);
      st.draws = new Float64Array(n);
    }
    kinds = st.kinds;
    let drawFloor = 0;
    if (keyed) {
      const idData = ids.data[0];
      const m = model?.data[0];
      st.keys!(
        st.seedBytes,
        exclude ?? NO_KEYS,
        n,
        idData.values as Uint8Array,
        idData.valueOffsets as Int32Array,
        (m?.values as Uint8Array | undefined) ?? NO_PRESENT,
        (m?.valueOffsets as Int32Array | undefined) ?? NO_OFFSETS,
        m !== undefined && m.nullCount > 0 ? m.nullBitmap! : NO_PRESENT,
        m !== undefined,
        audit.capacity > 0,
        st.draws,
      );
      // Rows drawn above the audit heap's worst cannot enter it; while it has room, none settle.
      const wa = audit.worst();
      drawFloor = audit.capacity === 0 ? 0 : audit.size < audit.capacity || wa === undefined ? Infinity : wa.u;
    }
    settled = settleBatch(
      st.fn,
      st.counts,
      values,
      NO_PRESENT,
      kinds,
      1,
      n,
      k,
      params.probTolerance,
      [lo, hi],
      worstTop,
      keyed ? st.draws : NO_DRAWS,
      drawFloor,
      st.visit,
    );
  }
  // Settled rows are counted already; the rest are scored exactly and visited by the loop below, which
  // so stays rarely run and cheap to optimise.
  const visits = kinds === undefined ? n : n - settled;
  const r = scoreRowMajor(strategy.name, values, k, scores, kinds === undefined ? undefined : { rows: b.settle!.visit, count: visits });
  // A few visited rows read their own strings (a few small reads each); many read the whole batch's once.
  let allStrings = false;
  const strings =
    visits <= STRINGS_PER_ROW_MAX
      ? b.strings
      : (row: number) => {
          if (!allStrings) {
            allStrings = true;
            b.strings();
          }
          void row;
        };
  const idString = (row: number) => {
    strings(row);
    return stringAt(ids, row);
  };
  if (!r.ok) throw invalid(source, `${r.field}: ${r.reason}`);
  const rejects: Reject[] = [];
  const reject = (line: number, reason: string, field?: string, id?: string) => {
    stats.rejected++;
    const rj: Reject = { object: source.uri, line, reason };
    if (field !== undefined) rj.field = field;
    if (id !== undefined) rj.id = id;
    rejects.push(rj);
  };
  // Per-label counts by index; turned into stats.labelCounts once per batch.
  labelN.fill(0);
  let confidenceNano = 0;
  let entropyNano = 0;
  const { scoreHist, confidenceHist } = stats;
  stats.read += n;
  for (let x = 0; x < visits; x++) {
    const i = kinds === undefined ? x : b.settle!.visit[x];
    if (checkRows) {
      strings(i);
      const idr = idAt(ids, i);
      if ('reason' in idr) {
        reject(rowBase + i + 1, idr.reason, 'id');
        continue;
      }
      const re = rowError.get(i);
      if (re !== undefined) {
        reject(rowBase + i + 1, re.reason, re.field, idr.id);
        continue;
      }
    }
    const s = scores[i];
    const off = i * k;
    if (Number.isNaN(s)) {
      let j = 0;
      while (j < k && values[off + j] >= 0 && values[off + j] <= 1) j++;
      reject(rowBase + i + 1, `probability ${describeBad(values[off + j])}`, `probs.${labels[j]}`, idString(i));
      continue;
    }
    let best = -1;
    let bestJ = 0;
    let sum = 0;
    for (let j = 0; j < k; j++) {
      const p = values[off + j];
      sum += p;
      if (p > best) {
        best = p;
        bestJ = j;
      }
    }
    if (singleLabel && Math.abs(sum - 1) > params.probTolerance) {
      reject(rowBase + i + 1, `probabilities sum to ${sum.toPrecision(6)}, not 1 (tolerance ${params.probTolerance})`, 'probs', idString(i));
      continue;
    }
    if (checkText && !text.isValid(i)) {
      reject(rowBase + i + 1, `task ${task} needs text`, 'text', idString(i));
      continue;
    }
    // Rows that cannot reach either heap never materialise their id (the common case once heaps are full).
    // Safe because worstTop is the floor or a full heap's worst, each the K-th best of K distinct ids
    // (see NativeSettle in scoring/fast/settle.ts); ties with it still go to the heap (ties break by id).
    const mayTop = s >= worstTop;
    let id: string | undefined;
    if (exclude !== undefined || mayTop || audit.capacity > 0 || !idsClean) {
      strings(i);
      const idr = idAt(ids, i);
      if ('reason' in idr) {
        reject(rowBase + i + 1, idr.reason, 'id');
        continue;
      }
      id = idr.id;
      if (exclude !== undefined && isExcluded(exclude, id, stringAt(model, i))) {
        stats.skipped++;
        continue;
      }
    }
    stats.scored++;
    scoreHist[binIndex(s, lo, hi, SCORE_BINS)]++;
    confidenceHist[binIndex(best, 0, 1, CONFIDENCE_BINS)]++;
    confidenceNano += Math.round(best * 1e9);
    if (singleLabel) {
      if (reuseEntropy) entropyNano += Math.round(s * 1e9);
      else {
        let ent = 0;
        for (let j = 0; j < k; j++) {
          const p = values[off + j];
          if (p > 0) ent -= p * Math.log(p);
        }
        entropyNano += Math.round(ent * 1e9);
      }
      labelN[bestJ]++;
    } else {
      for (let j = 0; j < k; j++) if (values[off + j] >= 0.5) labelN[j]++;
    }
    if (id === undefined) continue;
    if (offer(b, i, id, s, mayTop)) worstTop = Math.max(floor, top.worst()?.score ?? Infinity);
  }
  if (kinds !== undefined) foldSettled(b.settle!.counts, stats, labelN);
  // Integer sums below 2^53 per batch: the same totals as adding row by row.
  stats.confidenceNano += confidenceNano;
  stats.entropyNano += entropyNano;
  for (let j = 0; j < k; j++) if (labelN[j] > 0) stats.labelCounts[labels[j]] = (stats.labelCounts[labels[j]] ?? 0) + labelN[j];
  return rejects;
}

/**
 * Scores every batch of one Arrow/Parquet object into the sink. Rejects are
 * handed over per batch, in row order.
 */
export async function scoreColumnarSource(
  source: Source,
  format: 'arrow' | 'parquet',
  params: ColumnarParams,
  sink: ColumnarSink,
  signal?: AbortSignal,
  range?: BatchRange,
): Promise<void> {
  const { labels, strategy } = params;
  if (!isColumnarStrategy(strategy.name)) {
    // A configuration mismatch, not bad bytes: CONFIG_INVALID fails the round, so the objects are read once it is fixed.
    throw new ReviewloopError(
      'CONFIG_INVALID',
      `${source.uri}: strategy ${strategy.name} needs per-record fields; ${format} input supports ${['least-confidence', 'margin', 'ratio', 'entropy', 'multilabel-entropy', 'multilabel-min-margin'].join(', ')}`,
      { details: { object: source.uri } },
    );
  }
  const k = labels.length;
  let scores = new Float64Array(PARQUET_BATCH_ROWS);
  const labelN = new Float64Array(k);
  const settleFn = params.nativeSettle === null ? undefined : (params.nativeSettle ?? loadNativeSettle());
  const settle =
    settleFn === undefined
      ? undefined
      : {
          fn: settleFn,
          keys: loadNativeKeys(),
          seedBytes: new TextEncoder().encode(`${strategy.seed}\u0000`),
          counts: settleCounts(k, SCORE_BINS, CONFIDENCE_BINS),
          kinds: new Int32Array(0),
          visit: new Int32Array(0),
          draws: new Float64Array(0),
        };
  let rowBase = 0;
  // Ids, texts and models are needed as strings only for rows that can reach a heap: their bytes are read on demand,
  // except ids (and models) when every row's audit draw (or exclusion) is computed from them.
  const keyed = sink.audit.capacity > 0 || (params.exclude?.length ?? 0) > 0 ? ['id', ...((params.exclude?.length ?? 0) > 0 ? ['model'] : [])] : [];
  // Without records, a model is read only to check exclusions; text still is, for its validity (text tasks reject rows without).
  const lazy = ['id', 'text', ...(params.keepRecords === false ? [] : ['model'])];
  const columns: BatchColumns = { eager: ['probs', ...labels, ...keyed], lazy: lazy.filter((c) => !keyed.includes(c)) };
  const batches = typedErrors(source, format, format === 'arrow' ? arrowBatches(source, range, columns) : parquetBatches(source));
  for await (const batch of batches) {
    if (signal?.aborted) throw new ReviewloopError('ABORTED', 'scoring aborted');
    const n = batch.numRows;
    if (n === 0) continue;
    const stats = emptyStats();
    const ids = batch.getChild('id');
    if (ids === null) throw invalid(source, 'no id column');
    const model = batch.getChild('model');
    const text = batch.getChild('text');
    const matrix = probMatrix(batch, labels, source);
    const { rowError } = matrix;
    // Float32 widens to float64 exactly (as a JSON reader would have produced the same doubles): one copy, then one code path.
    const values = matrix.values instanceof Float64Array ? matrix.values : Float64Array.from(matrix.values);
    if (scores.length < n) scores = new Float64Array(n);
    const rejects = scoreBatchRows({
      strings: (row) => fillBatch(batch, row),
      settle,
      source,
      params,
      sink,
      stats,
      ids,
      model,
      text,
      values,
      rowError,
      scores,
      n,
      rowBase,
      labelN,
    });
    rowBase += n;
    stats.confidenceSum = stats.confidenceNano / 1e9;
    stats.entropySum = stats.entropyNano / 1e9;
    sink.onStats(stats);
    if (rejects.length > 0) await sink.onRejects(rejects);
    sink.onProgress?.(rowBase);
  }
}
