/**
 * Streams sources through the worker pool with bounded memory: at most
 * `inflight` chunks are alive at once, each worker returns only its local
 * top-K, and the main thread merges. Rejects leave in input order whatever
 * order the threads finish in, so outputs are byte-for-byte reproducible.
 */
import { addStats, emptyStats } from '../scoring/chunk.js';
import { BottomK, TopK } from '../scoring/topk.js';
import type { ChunkStats, Reject, ScoreChunkInput, ScoredEntry, StrategyOptions, TaskType } from '../scoring/types.js';
import { chunkLines } from './chunker.js';
import { ReviewloopError } from './errors.js';
import type { ScoringPool } from './pool.js';
import { decompressed, formatOf, type Source } from './sources.js';

export interface ScoreParams {
  task: TaskType;
  labels: string[];
  strategy: StrategyOptions;
  /** Entries kept for the uncertainty ranking (topK, or the diversity candidate count when larger). */
  topK: number;
  /** Entries kept for the audit sample. */
  auditK: number;
  keepEmbedding: boolean;
  maxLineBytes: number;
  probTolerance: number;
  /** Bytes per chunk sent to a worker. */
  chunkBytes: number;
  /** `auto` decides per object from its name (.arrow/.parquet) and per line (native vs Vertex AI); `arrow`/`parquet` force a columnar reader. */
  format: 'auto' | 'native' | 'vertex' | 'arrow' | 'parquet';
  /** Sorted keys of (id, model) already queued or labelled; backed by a SharedArrayBuffer so threads share it. */
  exclude?: BigUint64Array;
}

/** Exact totals of `confidenceNano` / `entropyNano` (decimal BigInt strings): partial runs add these, not the rounded Numbers. */
export interface ExactSums { confidenceNano: string; entropyNano: string }

export interface ScoreRunResult {
  top: ScoredEntry[];
  audit: ScoredEntry[];
  stats: ChunkStats;
  exact: ExactSums;
}

export interface ScoreRunHooks {
  /** Receives rejects in input order (source order, then line). */
  onRejects?: (rejects: Reject[]) => void | Promise<void>;
  /** Called after each chunk with records read so far and bytes read so far. */
  onProgress?: (read: number, bytes: number) => void;
  signal?: AbortSignal;
}

/** Copies sorted exclusion keys into shared memory so every task references, not clones, them. */
export function sharedKeys(keys: bigint[]): BigUint64Array {
  const sorted = [...new Set(keys)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const arr = new BigUint64Array(new SharedArrayBuffer(Math.max(8, sorted.length * 8)), 0, sorted.length);
  sorted.forEach((k, i) => { arr[i] = k; });
  return arr;
}

export async function scoreSources(sources: Source[], params: ScoreParams, pool: ScoringPool, hooks: ScoreRunHooks = {}): Promise<ScoreRunResult> {
  const top = new TopK<ScoredEntry>(params.topK);
  const audit = new BottomK<ScoredEntry>(params.auditK);
  const stats = emptyStats();
  const inflightLimit = Math.max(2, pool.threads * 2);
  const pending = new Map<number, Promise<void>>();
  const doneRejects = new Map<number, Reject[]>();
  let nextSeq = 0;
  let nextToEmit = 0;
  let bytesRead = 0;
  let failure: Error | null = null;
  // Exact totals past 2^53 units; converted once at the end so the result is the same bit for bit.
  let confidenceNano = 0n;
  let entropyNano = 0n;

  const emitInOrder = async () => {
    while (doneRejects.has(nextToEmit)) {
      const r = doneRejects.get(nextToEmit)!;
      doneRejects.delete(nextToEmit);
      nextToEmit++;
      if (r.length > 0) await hooks.onRejects?.(r);
    }
  };

  const submit = (seq: number, input: ScoreChunkInput | null, rejects: Reject[]) => {
    const p = (async () => {
      let chunkRejects = rejects;
      if (input) {
        const out = await pool.score(input);
        if (!out.ok) {
          failure ??= new ReviewloopError('SCORING_FAILED', out.message, { details: { object: input.object, line: input.firstLine, code: out.code } });
          chunkRejects = [];
        } else {
          for (const e of out.top) top.push(e);
          for (const e of out.audit) audit.push(e);
          addStats(stats, out.stats);
          confidenceNano += BigInt(out.stats.confidenceNano);
          entropyNano += BigInt(out.stats.entropyNano);
          chunkRejects = out.rejects;
        }
      }
      doneRejects.set(seq, chunkRejects);
      pending.delete(seq);
    })();
    pending.set(seq, p);
  };

  const waitForRoom = async () => {
    while (pending.size >= inflightLimit) {
      await Promise.race(pending.values());
      await emitInOrder();
    }
  };

  for (const source of sources) {
    if (failure) break;
    const format = formatOf(source.name, params.format);
    if (format !== 'jsonl') {
      // Columnar objects are scored on this thread; earlier chunks finish first so rejects stay in input order.
      while (pending.size > 0) {
        await Promise.race(pending.values());
        await emitInOrder();
      }
      await emitInOrder();
      if (failure) break;
      // Loaded on first use: JSONL-only runs never pay for apache-arrow's memory.
      const { scoreColumnarSource } = await import('./columnar-source.js');
      await scoreColumnarSource(source, format, params, {
        top, audit,
        onStats: (b) => {
          addStats(stats, b);
          confidenceNano += BigInt(b.confidenceNano);
          entropyNano += BigInt(b.entropyNano);
        },
        onRejects: async (r) => { await hooks.onRejects?.(r); },
        onProgress: () => hooks.onProgress?.(stats.read, bytesRead),
      }, hooks.signal);
      bytesRead += source.size ?? 0;
      hooks.onProgress?.(stats.read, bytesRead);
      continue;
    }
    const lineFormat = params.format === 'arrow' || params.format === 'parquet' ? 'auto' : params.format;
    const bytes = decompressed(source.open(), source.name);
    for await (const item of chunkLines(bytes, { chunkBytes: params.chunkBytes, maxLineBytes: params.maxLineBytes })) {
      if (hooks.signal?.aborted) throw new ReviewloopError('ABORTED', 'scoring aborted');
      if (failure) break;
      await waitForRoom();
      const seq = nextSeq++;
      if ('oversized' in item) {
        stats.read++;
        stats.rejected++;
        submit(seq, null, [{ object: source.uri, line: item.line, reason: `line longer than ${params.maxLineBytes} bytes` }]);
        continue;
      }
      bytesRead += item.bytes.length;
      submit(seq, {
        kind: 'score-chunk',
        chunk: item.bytes,
        object: source.uri,
        firstLine: item.firstLine,
        format: lineFormat,
        task: params.task,
        labels: params.labels,
        strategy: params.strategy,
        topK: params.topK,
        auditK: params.auditK,
        // Once the run's heap is full, chunks drop what cannot beat its worst: far fewer entries built, cloned and merged.
        topFloor: top.size >= top.capacity && top.size > 0 ? top.worst()!.score : undefined,
        keepEmbedding: params.keepEmbedding,
        maxLineBytes: params.maxLineBytes,
        probTolerance: params.probTolerance,
        exclude: params.exclude,
      }, []);
      hooks.onProgress?.(stats.read, bytesRead);
    }
  }
  while (pending.size > 0) {
    await Promise.race(pending.values());
    await emitInOrder();
  }
  await emitInOrder();
  if (failure) throw failure;
  hooks.onProgress?.(stats.read, bytesRead);
  stats.confidenceNano = Number(confidenceNano);
  stats.entropyNano = Number(entropyNano);
  stats.confidenceSum = Number(confidenceNano) / 1e9;
  stats.entropySum = Number(entropyNano) / 1e9;
  // Key order follows which chunk finished first; sort so the manifest bytes do not.
  stats.labelCounts = Object.fromEntries(Object.entries(stats.labelCounts).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { top: top.values(), audit: audit.values(), stats, exact: { confidenceNano: confidenceNano.toString(), entropyNano: entropyNano.toString() } };
}
