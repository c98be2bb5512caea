/**
 * The native row settler (native/settle.c), as scoring code sees it. For
 * single-label entropy it counts, in C, the rows that provably reach no heap
 * and whose statistics are all decided, so JS only scores the rest, exactly as
 * before. It never changes a result: with or without it the heaps, stats and
 * rejects are the same (test/unit/settle.test.ts). Pure: the thread that loads
 * the module hands the function in.
 */
import type { ChunkStats } from '../types.js';

/** A row's kind once the settler counted it. */
export const SETTLED = 4;

/**
 * The native module's `settle` export. With `tolerance` ≥ 0 it first marks each
 * row valid (kinds[i] = 1) or not (0); otherwise rows with kinds[i·stride] = 1
 * are the eligible ones. An empty `present` means every label is present, an
 * empty `draws` that nothing is audited. Returns how many rows it settled,
 * and lists the others' indices, in order, in `visit` (n − settled of them).
 *
 * Invariant the caller owes: `threshold` is the score of the K-th best of K
 * distinct ids of the run (the worst entry of a full top heap, or a run or
 * thread floor), else -Infinity. A row settles only when its exact score is
 * surely below it, so it could never be kept by a top heap; and only when its
 * draw is above `drawFloor` (the worst of a full audit heap, else +Infinity).
 */
export type NativeSettle = (
  probs: Float64Array,
  present: Uint8Array,
  kinds: Int32Array,
  stride: number,
  n: number,
  k: number,
  tolerance: number,
  lo: number,
  hi: number,
  threshold: number,
  draws: Float64Array,
  drawFloor: number,
  acc: Float64Array,
  scoreBins: number,
  confBins: number,
  scratch: Float64Array,
  visit: Int32Array,
) => number;

/**
 * The native module's `keys` export: per Arrow row with a UTF-8 id, its audit
 * draw (or +Infinity when not auditing), or -Infinity when the row may be
 * excluded or its bytes would not decode to the string JS hashes. The settler
 * never settles a row whose draw is not above the floor, so JS decides those.
 */
export type NativeKeys = (
  seedBytes: Uint8Array,
  exclude: BigUint64Array,
  n: number,
  idData: Uint8Array,
  idOffsets: Int32Array,
  modelData: Uint8Array,
  modelOffsets: Int32Array,
  modelValid: Uint8Array,
  hasModel: boolean,
  auditing: boolean,
  draws: Float64Array,
) => void;

/** The settler's counts for one chunk or batch: rows scored, two nano sums, both histograms, per-label counts. */
export interface SettleCounts {
  readonly acc: Float64Array;
  readonly scoreBins: number;
  readonly confBins: number;
}

/** The settler's working memory, grown as batches need and reused by every call on this thread (calls are synchronous). */
let scratch = new Float64Array(0);

export function settleCounts(k: number, scoreBins: number, confBins: number): SettleCounts {
  return { acc: new Float64Array(3 + scoreBins + confBins + k), scoreBins, confBins };
}

/** Adds what the settler counted into `stats` and `labelN`, then zeroes the counts (nano sums and counts are integers, so totals stay exact). */
export function foldSettled(c: SettleCounts, stats: ChunkStats, labelN: Float64Array): void {
  const { acc, scoreBins, confBins } = c;
  stats.scored += acc[0];
  stats.confidenceNano += acc[1];
  stats.entropyNano += acc[2];
  for (let b = 0; b < scoreBins; b++) stats.scoreHist[b] += acc[3 + b];
  for (let b = 0; b < confBins; b++) stats.confidenceHist[b] += acc[3 + scoreBins + b];
  const lab = 3 + scoreBins + confBins;
  for (let j = 0; j < labelN.length; j++) labelN[j] += acc[lab + j];
  acc.fill(0);
}

/** Calls `settle` into `c`; see NativeSettle. The rows left to JS are visit[0 … n − settled). */
export function settleBatch(
  settle: NativeSettle,
  c: SettleCounts,
  probs: Float64Array,
  present: Uint8Array,
  kinds: Int32Array,
  stride: number,
  n: number,
  k: number,
  tolerance: number,
  range: readonly [number, number],
  threshold: number,
  draws: Float64Array,
  drawFloor: number,
  visit: Int32Array,
): number {
  const room = n + 2048 * (k + 5); // SETTLE_SCRATCH in native/settle.h
  if (scratch.length < room) scratch = new Float64Array(room);
  return settle(
    probs,
    present,
    kinds,
    stride,
    n,
    k,
    tolerance,
    range[0],
    range[1],
    threshold,
    draws,
    drawFloor,
    c.acc,
    c.scoreBins,
    c.confBins,
    scratch,
    visit,
  );
}
