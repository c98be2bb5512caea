/**
 * Sampling for rounds over raw items (cold start: no model, so nothing to
 * rank). Streaming and bounded: memory is O(K) for `random` and `sequential`
 * and O(K × strata) for `stratified-random`, whatever the number of items,
 * and the picked set does not depend on the order items arrive in.
 *
 * - `random`: the K items with the smallest seeded uniform hash of their id,
 *   i.e. a simple random sample without replacement; queued in that order.
 * - `stratified-random`: K spread as evenly as the strata allow (a stratum
 *   with fewer items than its share gives the rest to the others), random
 *   within each stratum; slots that do not divide evenly go to strata in a
 *   seeded order, so no stratum is favoured round after round. Queued
 *   round-robin across strata, so a reviewer who stops early has seen an even mix.
 * - `sequential`: the first K in object-name order (then line).
 */
import { uniform01 } from './hash.js';
import { BottomK } from './topk.js';
import type { SourceRef } from './types.js';

export const samplingNames = ['random', 'stratified-random', 'sequential'] as const;
export type SamplingName = (typeof samplingNames)[number];

/** What the sampler needs of an item. */
export interface Candidate {
  id: string;
  /** Object and 1-based line (0 for a whole object): the `sequential` order. */
  source: SourceRef;
  /** Stratum for `stratified-random` (and for per-stratum counts with the others). */
  stratum: string;
}

export interface Picked<T extends Candidate> {
  item: T;
  /** 1-based position in the queue. */
  rank: number;
  /** The seeded uniform draw of the id (also recorded for `sequential`). */
  u: number;
}

export interface StratumCount {
  stratum: string;
  available: number;
  picked: number;
}

export interface SampleResult<T extends Candidate> {
  picked: Picked<T>[];
  /** Candidates offered (after exclusions). */
  population: number;
  /** Per stratum, in name order. */
  strata: StratumCount[];
}

interface Entry<T> {
  /** Ordering key for BottomK's tie-break: the item id, or the name-order key for `sequential`. */
  id: string;
  u: number;
  item: T;
}

/** Object, then line, as one string that sorts like the pair (names never contain NUL). */
export function sequenceKey(source: SourceRef): string {
  return `${source.object}\u0000${String(source.line).padStart(12, '0')}`;
}

/** Bottom-K that never keeps the same item id twice (ids can repeat across objects). */
class UniqueBottomK<T extends Candidate> {
  private readonly heap: BottomK<Entry<T>>;
  private readonly held = new Set<string>();

  constructor(k: number) {
    this.heap = new BottomK<Entry<T>>(k);
  }

  push(e: Entry<T>): void {
    if (this.held.has(e.item.id) || !this.heap.wouldKeep(e)) return;
    const evicted = this.heap.size >= this.heap.capacity ? this.heap.worst() : undefined;
    this.heap.push(e);
    if (evicted) this.held.delete(evicted.item.id);
    this.held.add(e.item.id);
  }

  values(): Entry<T>[] {
    return this.heap.values();
  }
}

/**
 * Even allocation of `k` slots over strata with the given availability
 * (water-filling); the remainder goes one slot each to strata in ascending
 * `order`. Never allocates more than a stratum has; the sum is min(k, Σ available).
 */
export function allocateEven(available: ReadonlyMap<string, number>, k: number, order: (stratum: string) => number): Map<string, number> {
  const alloc = new Map<string, number>();
  let total = 0;
  for (const [s, n] of available) {
    alloc.set(s, 0);
    total += Math.max(0, n);
  }
  let remaining = Math.min(Math.max(0, Math.floor(k)), total);
  const room = (s: string) => (available.get(s) ?? 0) - alloc.get(s)!;
  let open = [...available.keys()].filter((s) => room(s) > 0);
  while (remaining > 0) {
    const share = Math.floor(remaining / open.length);
    if (share === 0) {
      const sorted = [...open].sort((a, b) => order(a) - order(b) || (a < b ? -1 : a > b ? 1 : 0));
      for (const s of sorted.slice(0, remaining)) alloc.set(s, alloc.get(s)! + 1);
      break;
    }
    for (const s of open) {
      const give = Math.min(share, room(s));
      alloc.set(s, alloc.get(s)! + give);
      remaining -= give;
    }
    open = open.filter((s) => room(s) > 0);
  }
  return alloc;
}

/** Streaming sampler: `add` every candidate, then `result` once. */
export class Sampler<T extends Candidate> {
  private readonly counts = new Map<string, number>();
  private readonly heaps = new Map<string, UniqueBottomK<T>>();
  private population = 0;

  /**
   * @param name sampling method
   * @param k items to pick
   * @param seed mixed into every draw; pass one that includes the round id so rounds differ
   */
  constructor(
    readonly name: SamplingName,
    readonly k: number,
    readonly seed: string,
  ) {}

  add(item: T): void {
    this.population++;
    this.counts.set(item.stratum, (this.counts.get(item.stratum) ?? 0) + 1);
    const u = uniform01(this.seed, item.id);
    const key = this.name === 'stratified-random' ? item.stratum : '';
    let heap = this.heaps.get(key);
    if (!heap) this.heaps.set(key, (heap = new UniqueBottomK<T>(this.k)));
    heap.push(this.name === 'sequential' ? { id: sequenceKey(item.source), u: 0, item } : { id: item.id, u, item });
  }

  result(): SampleResult<T> {
    const drawOf = (e: Entry<T>) => (this.name === 'sequential' ? uniform01(this.seed, e.item.id) : e.u);
    let ordered: Entry<T>[];
    if (this.name === 'stratified-random') {
      const order = (s: string) => uniform01(this.seed, `stratum\u0000${s}`);
      const alloc = allocateEven(this.counts, this.k, order);
      const lists = [...this.heaps.entries()]
        .sort(([a], [b]) => order(a) - order(b) || (a < b ? -1 : 1))
        .map(([s, h]) => h.values().slice(0, alloc.get(s) ?? 0));
      ordered = [];
      for (let j = 0; lists.some((l) => j < l.length); j++) for (const l of lists) if (j < l.length) ordered.push(l[j]);
    } else {
      ordered = this.heaps.get('')?.values() ?? [];
    }
    const pickedBy = new Map<string, number>();
    const picked = ordered.map((e, i) => {
      pickedBy.set(e.item.stratum, (pickedBy.get(e.item.stratum) ?? 0) + 1);
      return { item: e.item, rank: i + 1, u: drawOf(e) };
    });
    const strata = [...this.counts.keys()].sort().map((s) => ({ stratum: s, available: this.counts.get(s)!, picked: pickedBy.get(s) ?? 0 }));
    return { picked, population: this.population, strata };
  }
}
