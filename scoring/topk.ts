/**
 * Bounded selection with a strict total order, so the kept set is the same
 * whatever order entries arrive in. That property is what makes sharding,
 * chunking and thread counts invisible in the output: every worker keeps its
 * local best K, the main thread merges, and the result equals one pass over
 * everything.
 *
 * Orders:
 * - `TopK`: higher `score` first; equal scores → smaller `id` first (UTF-16
 *   code-unit comparison, i.e. JavaScript `<` on strings).
 * - `BottomK`: smaller `u` first (the audit draw); equal `u` → smaller `id`.
 * - Entries equal on both keys (the same id read twice with the same score)
 *   are ordered by `source` (object, then line) when they carry one, so even
 *   duplicates resolve identically in every run.
 * Entries whose key is NaN are never kept (NaN has no place in a total order).
 *
 * An id is kept at most once: a second copy of a held id replaces it when it
 * ranks better and is dropped otherwise, so duplicated ids never cost places.
 * The kept set is then the K best ids, each by its best copy, whatever the
 * arrival order: a copy that loses to the root can only be worse than K held
 * ids (the root only rises), and two copies that meet keep the better.
 *
 * With `copiesPerId`, the losing copies of held ids are remembered (the best
 * that many per id, forgotten with their id), so duplicates can be reported.
 * `copies()` lists those that rank before the root: a set that does not
 * depend on arrival order or on how the input was split, because every copy
 * ranking before the final root reaches every heap on its way (no floor or
 * root ever rises past it) and is either kept or remembered there. Heaps
 * merge them by pushing `values()` first, then `copies()`.
 *
 * Binary heap of capacity K with the worst kept entry at the root: a push
 * costs O(1) when it loses to the root (the common case once the heap is
 * full) and O(log K) otherwise.
 */

import type { SourceRef } from './types.js';

/** Minimal shape ranked by `TopK`. */
export interface Ranked {
  id: string;
  score: number;
  source?: SourceRef;
}

/** Minimal shape ranked by `BottomK`. */
export interface Drawn {
  id: string;
  u: number;
  source?: SourceRef;
}

/** Last-resort order between entries with the same key and id: by source object, then line; entries without a source come first. */
export function compareSource(a: SourceRef | undefined, b: SourceRef | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  if (a.object !== b.object) return a.object < b.object ? -1 : 1;
  return a.line - b.line;
}

/** Rank order for `TopK`: negative when `a` ranks before `b`. Total on non-NaN scores. */
export function compareRanked(a: Ranked, b: Ranked): number {
  if (a.score !== b.score) return a.score > b.score ? -1 : 1;
  if (a.id !== b.id) return a.id < b.id ? -1 : 1;
  return compareSource(a.source, b.source);
}

/** Rank order for `BottomK`: negative when `a` ranks before `b`. Total on non-NaN `u`. */
export function compareDrawn(a: Drawn, b: Drawn): number {
  if (a.u !== b.u) return a.u < b.u ? -1 : 1;
  if (a.id !== b.id) return a.id < b.id ? -1 : 1;
  return compareSource(a.source, b.source);
}

/** Capacity from user input: a non-negative integer (NaN → 0, Infinity allowed). */
function capacityOf(k: number): number {
  if (Number.isNaN(k) || k <= 0) return 0;
  return Number.isFinite(k) ? Math.floor(k) : Infinity;
}

/** Shared heap machinery; `cmp` is the rank order (negative = better). */
abstract class BoundedHeap<T extends { id: string }> {
  /** Maximum number of entries kept. */
  readonly capacity: number;
  /** Min-heap by rank: heap[0] is the worst kept entry. */
  private readonly heap: T[] = [];
  /** Heap index of every kept id. */
  private readonly at = new Map<string, number>();
  /** Losing copies of kept ids, best first, at most `copiesPerId` each. */
  private readonly lost = new Map<string, T[]>();
  private readonly copiesPerId: number;

  constructor(k: number, options: { copiesPerId?: number } = {}) {
    this.capacity = capacityOf(k);
    this.copiesPerId = options.copiesPerId ?? 0;
  }

  /** Remembers `e`, a copy of a kept id that lost to the kept one. */
  private remember(e: T): void {
    if (this.copiesPerId <= 0) return;
    const list = this.lost.get(e.id);
    if (list === undefined) {
      this.lost.set(e.id, [e]);
      return;
    }
    let i = list.length;
    while (i > 0 && this.cmp(e, list[i - 1]) < 0) i--;
    if (i >= this.copiesPerId) return;
    list.splice(i, 0, e);
    if (list.length > this.copiesPerId) list.pop();
  }

  /** The remembered copies that rank before the worst kept entry (all of them while the heap has room), in rank order. */
  copies(): T[] {
    const out: T[] = [];
    const full = this.heap.length >= this.capacity;
    for (const [id, list] of this.lost) {
      if (!this.at.has(id)) continue;
      for (const e of list) if (!full || this.cmp(e, this.heap[0]) < 0) out.push(e);
    }
    return out.sort((a, b) => this.cmp(a, b));
  }

  /** Rank order: negative when `a` ranks before (is better than) `b`. */
  protected abstract cmp(a: T, b: T): number;
  /** False for entries that can never be kept (NaN key). */
  protected abstract valid(e: T): boolean;

  /** Number of entries kept so far. */
  get size(): number {
    return this.heap.length;
  }

  /** The worst kept entry (next to be evicted), if any. */
  worst(): T | undefined {
    return this.heap[0];
  }

  /**
   * Whether `push(e)` would keep `e` now, or remember it as a losing copy.
   * Lets callers skip building a costly entry (e.g. a slimmed record copy)
   * for the many that would lose.
   */
  wouldKeep(e: T): boolean {
    if (!this.valid(e)) return false;
    const held = this.at.get(e.id);
    // A losing copy is still offered when copies are remembered (push then returns false).
    if (held !== undefined) return this.cmp(e, this.heap[held]) < 0 || this.copiesPerId > 0;
    if (this.heap.length < this.capacity) return true;
    if (this.heap.length === 0) return false;
    return this.cmp(e, this.heap[0]) < 0;
  }

  /** Offers `e`; returns whether it was kept (it may be evicted later). */
  push(e: T): boolean {
    if (!this.valid(e)) return false;
    const h = this.heap;
    const held = this.at.get(e.id);
    if (held !== undefined) {
      // A better copy moves away from the root (toward better entries); a worse one is dropped.
      if (this.cmp(e, h[held]) >= 0) {
        this.remember(e);
        return false;
      }
      this.remember(h[held]);
      h[held] = e;
      this.siftDown(held);
      return true;
    }
    if (h.length < this.capacity) {
      h.push(e);
      this.siftUp(h.length - 1);
      return true;
    }
    if (h.length === 0 || this.cmp(e, h[0]) >= 0) return false;
    // An evicted id's copies rank after it, so after the new root: they can never be listed.
    this.at.delete(h[0].id);
    this.lost.delete(h[0].id);
    h[0] = e;
    this.siftDown(0);
    return true;
  }

  /** Pushes every entry of every array (e.g. other workers' `values()`, then their `copies()`). */
  merge(arrays: Iterable<readonly T[]>): this {
    for (const arr of arrays) for (let i = 0; i < arr.length; i++) this.push(arr[i]);
    return this;
  }

  /** Kept entries in rank order (best first); a fresh array, the heap is untouched. */
  values(): T[] {
    return this.heap.slice().sort((a, b) => this.cmp(a, b));
  }

  private siftUp(i: number): void {
    const h = this.heap;
    const e = h[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      // The parent must be worse than (rank after) its children.
      if (this.cmp(h[p], e) >= 0) break;
      h[i] = h[p];
      this.at.set(h[i].id, i);
      i = p;
    }
    h[i] = e;
    this.at.set(e.id, i);
  }

  private siftDown(i: number): void {
    const h = this.heap;
    const n = h.length;
    const e = h[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      // Pick the worse child; it moves up if it is worse than e.
      const c = r < n && this.cmp(h[r], h[l]) > 0 ? r : l;
      if (this.cmp(h[c], e) <= 0) break;
      h[i] = h[c];
      this.at.set(h[i].id, i);
      i = c;
    }
    h[i] = e;
    this.at.set(e.id, i);
  }
}

/**
 * Keeps the K entries with the highest `score` (ties: smaller `id`, then
 * `source`). Usage: `new TopK<ScoredEntry>(k)`, `push`, `values()`.
 */
export class TopK<T extends Ranked> extends BoundedHeap<T> {
  protected override cmp(a: T, b: T): number {
    return compareRanked(a, b);
  }

  protected override valid(e: T): boolean {
    return !Number.isNaN(e.score);
  }
}

/**
 * Keeps the K entries with the smallest `u` (ties: smaller `id`, then
 * `source`): the audit sample, a uniform random subset because `u` is a
 * seeded uniform hash of the id.
 */
export class BottomK<T extends Drawn> extends BoundedHeap<T> {
  protected override cmp(a: T, b: T): number {
    return compareDrawn(a, b);
  }

  protected override valid(e: T): boolean {
    return !Number.isNaN(e.u);
  }
}

/**
 * Losing copies remembered per id for duplicate reports: a round lists at most
 * this many copies of each queued id, the best-ranked ones.
 */
export const COPIES_PER_ID = 16;

/** Top-K of the union of several arrays, in rank order. */
export function mergeTopK<T extends Ranked>(k: number, arrays: Iterable<readonly T[]>): T[] {
  return new TopK<T>(k).merge(arrays).values();
}

/** Bottom-K by `u` of the union of several arrays, in rank order. */
export function mergeBottomK<T extends Drawn>(k: number, arrays: Iterable<readonly T[]>): T[] {
  return new BottomK<T>(k).merge(arrays).values();
}
