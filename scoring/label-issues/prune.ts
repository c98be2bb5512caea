/**
 * Pass 3 of a label-issue round: which items to flag (cleanlab 2.x
 * `filter.find_label_issues(filter_by="prune_by_noise_rate")`) and in what
 * order (`rank.order_label_issues`).
 *
 * How cleanlab's prune_by_noise_rate chooses items, exactly (filter.py,
 * `_prune_by_count`, then `_reduce_issues` from count.py):
 * 1. From the calibrated confident joint it takes, for every off-diagonal
 *    cell (given label i, true label j), a count n_ij (`pruneCounts` in
 *    joint.ts).
 * 2. A class with at most `min_examples_per_class` = 1 item is left alone.
 * 3. Otherwise, for every j ≠ i with n_ij > 0, among ALL items labelled i it
 *    orders by margin p_j − p_i, largest first (`np.argsort(-margin)`), and
 *    marks the first n_ij (all of them when n_ij exceeds the class). An item
 *    marked by several cells is marked once (a boolean mask).
 * 4. It unmarks every item whose prediction agrees with its label:
 *    argmax(p with p_i + 1e-6) = i, first index among equal maxima.
 * 5. It returns the marked items sorted by a label-quality score, lowest
 *    first (`np.argsort`): self-confidence p_i, or normalised margin
 *    (p_i − max_{m≠i} p_m + 1) / 2.
 * Ties: cleanlab's `np.argsort` is numpy's default quicksort, which is not
 * stable on CPUs where numpy uses its SIMD sorts, so which of two items with
 * exactly the same margin makes the cut, and the order of two issues with
 * the same score, depend on the machine. Here both fall to input order
 * (object, then line): the earlier item makes the cut and ranks first,
 * which is what a stable sort would give.
 *
 * Streaming: n_ij is known once pass 2 has counted the joint, so each cell
 * keeps a bounded heap of its best n_ij items by (margin, input order). The
 * top n of a union is the top n of the union of per-part top n's, so every
 * pool thread keeps its own heaps over its chunks and the main thread pushes
 * their `exportEntries()` into one selector: the result does not depend on
 * chunking or thread count. Items that step 4 will unmark still take their
 * place in a heap (they can push others past the cut) but carry no payload.
 *
 * Memory: Σ_{i≠j} n_ij heap entries, i.e. about the number of issues the
 * joint estimates (its off-diagonal total), not O(items) and not O(topK):
 * finding the n_ij-th margin exactly in one pass needs the n_ij best seen so
 * far. Each entry is a margin, a position and, for items that can be flagged,
 * the caller's payload (keep it small: an id and a few fields).
 */

import type { SourceRef } from '../types.js';
import { compareSource } from '../topk.js';

/** Scores of one item, computed once and carried with its heap entries. */
export interface ItemScores {
  /** Index of the given label. */
  label: number;
  /** Model's argmax (first index among equal maxima): the suggested label. */
  suggested: number;
  /** p of the given label. */
  selfConfidence: number;
  /** (p_label − max_{m≠label} p_m + 1) / 2, in [0, 1]. */
  normalizedMargin: number;
  /** True when the prediction agrees with the label within 1e-6 (never flagged). */
  agrees: boolean;
}

export function itemScores(label: number, p: ArrayLike<number>, off: number, k: number): ItemScores {
  const pl = p[off + label];
  const nudged = pl + 1e-6;
  let argmax = 0;
  let bestOther = -Infinity;
  let agrees = true;
  for (let m = 0; m < k; m++) {
    const x = p[off + m];
    if (x > p[off + argmax]) argmax = m;
    if (m === label) continue;
    if (x > bestOther) bestOther = x;
    // np.argmax returns the first maximum: an earlier class wins ties with the nudged label.
    if (m < label ? x >= nudged : x > nudged) agrees = false;
  }
  const normalizedMargin = k > 1 ? (pl - bestOther + 1) / 2 : 1;
  return { label, suggested: argmax, selfConfidence: pl, normalizedMargin, agrees };
}

/** One heap entry: an item's margin in one cell, where it came from, and (when it can be flagged) its scores and payload. */
export interface CellEntry<T> {
  cell: number;
  margin: number;
  at: SourceRef;
  scores: ItemScores | null;
  payload: T | null;
}

/** Worse-first order inside a cell: smaller margin, then later position. */
function worse<T>(a: CellEntry<T>, b: CellEntry<T>): boolean {
  if (a.margin !== b.margin) return a.margin < b.margin;
  return compareSource(a.at, b.at) > 0;
}

/** A bounded heap with the worst kept entry at the root. */
class CellHeap<T> {
  readonly items: CellEntry<T>[] = [];
  constructor(readonly capacity: number) {}

  /** Whether an entry with this margin and position would be kept (the cheap test before building one). */
  admits(margin: number, at: SourceRef): boolean {
    if (this.items.length < this.capacity) return true;
    if (this.capacity === 0) return false;
    const root = this.items[0];
    return root.margin !== margin ? root.margin < margin : compareSource(root.at, at) > 0;
  }

  push(e: CellEntry<T>): void {
    const h = this.items;
    if (h.length < this.capacity) {
      h.push(e);
      let i = h.length - 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!worse(h[i], h[parent])) break;
        [h[i], h[parent]] = [h[parent], h[i]];
        i = parent;
      }
      return;
    }
    if (this.capacity === 0 || !worse(h[0], e)) return;
    h[0] = e;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let w = i;
      if (l < h.length && worse(h[l], h[w])) w = l;
      if (r < h.length && worse(h[r], h[w])) w = r;
      if (w === i) break;
      [h[i], h[w]] = [h[w], h[i]];
      i = w;
    }
  }
}

export type RankBy = 'self-confidence' | 'normalized-margin';

/** A flagged item, in ranking order after `rankIssues`. */
export interface LabelIssue<T> {
  at: SourceRef;
  scores: ItemScores;
  payload: T;
  /** True labels j whose cell (label → j) flagged it, ascending. */
  cells: number[];
}

export class PruneSelector<T> {
  private readonly heaps: CellHeap<T>[];
  /**
   * Per cell, a margin the final cut is known to reach (the worst kept margin of a
   * full heap over part of the input: a heap's root only rises as entries arrive).
   * An item below it cannot make the cut, so a thread given the run's floors
   * keeps and sends only what can still matter. Equal margins are kept: their
   * order depends on position, which the floor does not carry.
   */
  private readonly floors: ArrayLike<number> | undefined;

  /**
   * @param prune `pruneCounts(...)`: row-major k·k, n_ij off the diagonal.
   * @param labelCounts items per given label over the whole input (pass 1).
   */
  constructor(
    readonly k: number,
    prune: readonly number[],
    labelCounts: readonly number[],
    floors?: ArrayLike<number>,
  ) {
    this.floors = floors;
    this.heaps = [];
    for (let c = 0; c < k * k; c++) {
      const i = Math.floor(c / k);
      const j = c % k;
      const open = i !== j && labelCounts[i] > 1 && prune[c] > 0;
      this.heaps.push(new CellHeap<T>(open ? prune[c] : 0));
    }
  }

  /**
   * Offers one valid item labelled `label` to every cell of its row.
   * `payload` is called at most once, only for an item that makes a cut and
   * disagrees with its label, so most items never build one.
   */
  offer(label: number, p: ArrayLike<number>, off: number, at: SourceRef, payload: () => T): void {
    const k = this.k;
    let scores: ItemScores | null = null;
    let made: T | null = null;
    for (let j = 0; j < k; j++) {
      const heap = this.heaps[label * k + j];
      const margin = p[off + j] - p[off + label];
      if (this.floors !== undefined && margin < this.floors[label * k + j]) continue;
      if (!heap.admits(margin, at)) continue;
      scores ??= itemScores(label, p, off, k);
      const flaggable = !scores.agrees;
      if (flaggable) made ??= payload();
      heap.push({ cell: label * k + j, margin, at, scores: flaggable ? scores : null, payload: flaggable ? made : null });
    }
  }

  /** Per cell: the worst kept margin when the heap is full, else -Infinity (see `floors`). */
  cutFloors(): number[] {
    return this.heaps.map((h) => (h.capacity > 0 && h.items.length === h.capacity ? h.items[0].margin : Number.NEGATIVE_INFINITY));
  }

  /** The kept entries as plain data, for the main thread to `absorb`. */
  exportEntries(): CellEntry<T>[] {
    return this.heaps.flatMap((h) => h.items);
  }

  /** Pushes another selector's exported entries (same prune counts) into this one. */
  absorb(entries: readonly CellEntry<T>[]): void {
    for (const e of entries) this.heaps[e.cell].push(e);
  }

  /** Items that made at least one cut and disagree with their label, unordered. */
  flagged(): LabelIssue<T>[] {
    const byAt = new Map<string, LabelIssue<T>>();
    for (const h of this.heaps) {
      for (const e of h.items) {
        if (e.scores === null) continue;
        const key = `${e.at.line}\u0000${e.at.object}`;
        const seen = byAt.get(key);
        if (seen) seen.cells.push(e.cell % this.k);
        else byAt.set(key, { at: e.at, scores: e.scores, payload: e.payload as T, cells: [e.cell % this.k] });
      }
    }
    const out = [...byAt.values()];
    for (const x of out) x.cells.sort((a, b) => a - b);
    return out;
  }
}

/** Sorts issues by the chosen score, lowest (most likely wrong) first; equal scores in input order. */
export function rankIssues<T>(issues: LabelIssue<T>[], rankBy: RankBy): LabelIssue<T>[] {
  const key = rankBy === 'self-confidence' ? (x: LabelIssue<T>) => x.scores.selfConfidence : (x: LabelIssue<T>) => x.scores.normalizedMargin;
  return issues.sort((a, b) => key(a) - key(b) || compareSource(a.at, b.at));
}
