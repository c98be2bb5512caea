/**
 * The piscina task module: one named export per task kind. It is the only
 * place a scoring thread does I/O (reading its own byte range of a local
 * file, or one record batch of an Arrow file); the scoring itself is
 * scoring/chunk.ts, pure. Errors never cross the
 * thread boundary as thrown class instances, only as tagged values.
 */
import { createReadStream } from 'node:fs';
import { workerData } from 'node:worker_threads';
import { addStats, copyEntry, emptyStats, scoreChunkSync } from '../../scoring/chunk.js';
import { BottomK, COPIES_PER_ID, TopK } from '../../scoring/topk.js';
import type { Reject, ScoreChunkInput, ScoreChunkOutput, ScoredEntry } from '../../scoring/types.js';
import { isReviewloopError } from '../../domain/errors.js';
import type { BatchRange } from '../sources/columnar-source.js';
import { readRangeLines, type FileRange } from '../sources/line-range.js';
import { loadNativeScan, loadNativeSettle } from '../core/native.js';
import { ThreadFloors } from './thread-floor.js';

// Per run, the best scores this thread kept: a floor for its next tasks (see thread-floor.ts).
const floors = new ThreadFloors();
// Once per thread: the native line scanner and row settler when they were built (same results, faster).
const native = { nativeScan: loadNativeScan(), nativeSettle: loadNativeSettle() };
// A run with large Arrow files loads their reader now, while the main thread is still setting up;
// scoreArrow's own import then finds it loaded. A failure surfaces there, with the batch named.
if ((workerData as { warmArrow?: boolean } | null)?.warmArrow === true) import('../sources/columnar-source.js').catch(() => undefined);

/** A chunk of lines the thread reads itself; line numbers in the result count from 1 within the range. */
export type RangeChunkInput = Omit<ScoreChunkInput, 'chunk' | 'firstLine'> & { range: FileRange };

/** Consecutive record batches of a local Arrow IPC file, read by index; row numbers in the result count from 1 within them. */
export interface ArrowBatchInput
  extends Pick<ScoreChunkInput, 'task' | 'labels' | 'strategy' | 'topK' | 'auditK' | 'topFloor' | 'run' | 'probTolerance' | 'exclude' | 'keepRecords'> {
  kind: 'score-arrow';
  /** URI for rejects and entries. */
  object: string;
  name: string;
  path: string;
  /** The object's pinned generation (a round's plan), checked when the file is opened. */
  generation?: string;
  /** Batches [from, to). */
  batches: BatchRange;
}

export type ScoreTaskInput = ScoreChunkInput | RangeChunkInput | ArrowBatchInput;

/** The chunk's result, plus for a range how many lines it owned (so the caller can number the next one). */
export type ScoreTaskOutput = ScoreChunkOutput & {
  lines?: number;
  /** Arrow batches: the object broke at the batch after the `lines` rows returned (those are kept). */
  broken?: { code: string; message: string; unreadable?: string };
};

/**
 * Floors are kept per run and object. The main thread drops the tasks of an object that follow
 * its break (a quarantine), and those may have been scored already: their rows must not raise
 * the floor of tasks it keeps. Tasks reach a thread in submission order, so a dropped task only
 * ever precedes, on its thread, later tasks of the same object, which are dropped too.
 */
function floorKey(input: { run?: string; object: string }): string | undefined {
  return input.run === undefined ? undefined : `${input.run}\u0000${input.object}`;
}

/** The higher of the run's floor sent with the task and this thread's own for the run. */
function withFloor<T extends { topFloor?: number; run?: string; object: string; topK: number }>(input: T): T {
  const mine = floors.floor(floorKey(input), input.topK);
  return mine > (input.topFloor ?? -Infinity) ? { ...input, topFloor: mine } : input;
}

/** Scores a chunk above the thread's floor for its run, then raises that floor by what the chunk kept. */
function scoreWithFloor(input: ScoreChunkInput): ReturnType<typeof scoreChunkSync> {
  const out = scoreChunkSync(withFloor(input), native);
  floors.note(floorKey(input), input.topK, out.top);
  return out;
}

export function scoreChunk(input: ScoreChunkInput | RangeChunkInput): ScoreTaskOutput {
  const where = 'range' in input ? `bytes ${input.range.start}…${input.range.end}` : `lines ${input.firstLine}…`;
  try {
    if (!('range' in input)) return { ok: true, ...scoreWithFloor(input) };
    const { range, ...rest } = input;
    const owned = readRangeLines(range, input.maxLineBytes);
    const out = scoreWithFloor({ ...rest, chunk: owned.bytes, firstLine: 1 });
    if (owned.oversizedLine > 0) {
      // The tail line was never read whole; reported here, last, as the stream chunker would.
      out.stats.read++;
      out.stats.rejected++;
      out.rejects.push({ object: input.object, line: owned.oversizedLine, reason: `line longer than ${input.maxLineBytes} bytes` });
    }
    // The oversized tail was one more line the stream chunker would have counted.
    return { ok: true, ...out, lines: out.lines + (owned.oversizedLine > 0 ? 1 : 0) };
  } catch (err) {
    const e = err as Error;
    return { ok: false, code: isReviewloopError(err) ? err.code : 'SCORING_FAILED', message: `${input.object} ${where}: ${e?.message ?? String(err)}` };
  }
}

/** Scores Arrow record batches here instead of on the main thread (worker/sources/columnar-source.ts does the rows). */
export async function scoreArrow(input: ArrowBatchInput): Promise<ScoreTaskOutput> {
  try {
    // Loaded on first use: threads that only see JSONL never load the Arrow reader.
    const { scoreColumnarSource } = await import('../sources/columnar-source.js');
    const top = new TopK<ScoredEntry>(input.topK, { copiesPerId: COPIES_PER_ID });
    const audit = new BottomK<ScoredEntry>(input.auditK, { copiesPerId: COPIES_PER_ID });
    const stats = emptyStats();
    const rejects: Reject[] = [];
    let rows = 0;
    let broken: ScoreTaskOutput['broken'];
    const source = { uri: input.object, name: input.name, path: input.path, generation: input.generation, open: () => createReadStream(input.path) };
    try {
      await scoreColumnarSource(
        source,
        'arrow',
        input,
        {
          top,
          audit,
          topFloor: withFloor(input).topFloor,
          onStats: (b) => {
            addStats(stats, b);
          },
          onRejects: (r) => {
            rejects.push(...r);
          },
          onProgress: (n) => {
            rows = n;
          },
        },
        undefined,
        input.batches,
      );
    } catch (err) {
      // A corrupt batch: the batches before it are returned, so what the run keeps of the object does not
      // depend on how its batches were grouped into tasks (that follows the thread count).
      if (!isReviewloopError(err, 'INPUT_INVALID')) throw err;
      const unreadable = typeof err.details.unreadable === 'string' ? err.details.unreadable : undefined;
      broken = { code: err.code, message: err.message, ...(unreadable === undefined ? {} : { unreadable }) };
    }
    const kept = top.values();
    floors.note(floorKey(input), input.topK, kept);
    return {
      ok: true,
      top: [...kept, ...top.copies().map(copyEntry)],
      audit: [...audit.values(), ...audit.copies().map(copyEntry)],
      rejects,
      stats,
      lines: rows,
      ...(broken ? { broken } : {}),
    };
  } catch (err) {
    // Bad input keeps its code across the thread boundary, so the run fails as INPUT_INVALID naming the object.
    const code = isReviewloopError(err) ? err.code : 'SCORING_FAILED';
    return { ok: false, code, message: (err as Error)?.message ?? String(err) };
  }
}
