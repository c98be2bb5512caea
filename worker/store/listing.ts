/**
 * Which objects under a prefix are not consumed yet: the one place rounds
 * (`predictions/`), raw rounds and merges (`annotations/`) ask it.
 *
 * By default (`mode: full`) every run lists the whole prefix, so any object
 * under it, wherever its name sorts, is read by the next run. A full listing
 * of 10^5 objects is 100 list calls (docs/gcs.md, "Listing"), small next to
 * a round.
 *
 * `mode: incremental` is an opt-in for prefixes declared date-partitioned
 * (new objects only ever land in the newest folder or in folders sorting
 * after it). GCS lists by name only, so the listing starts at the folder of
 * the highest name consumed so far. What it cannot see (a new generation of
 * an old object, a folder sorting below the newest one, e.g. after a
 * mistyped folder name) is read by a full listing, which happens
 * - every `fullRescanEvery`-th run (counting earlier rounds or snapshots), and
 * - whenever the incremental listing finds nothing new: a run that would do
 *   nothing (and so would not advance the count) looks everywhere first.
 * So such an object waits at most `fullRescanEvery` runs, never forever.
 *
 * Everything listed is filtered by the (name, generation) pairs consumed,
 * so listing more never consumes anything twice.
 */
import type { ObjectInfo, ObjectStore } from './store.js';

/** `predictions.listing` and `merge.listing` in the config. */
export interface ListingConfig {
  /** `full` (every run lists everything; the default) or `incremental` (date-partitioned prefixes only). */
  mode: 'incremental' | 'full';
  /** Incremental: every n-th run (counting earlier rounds or snapshots) lists the whole prefix; 0 = only when nothing new is found. */
  fullRescanEvery: number;
}

/** The key of one consumed object: a rewrite (new generation) is a new object. */
export function consumedKey(name: string, generation: string): string {
  return `${name}\u0000${generation}`;
}

/**
 * Where an incremental listing of `prefix` starts, or undefined for a full listing.
 * `consumed` are names consumed by earlier runs; `runsBefore` counts those runs.
 */
export function listingStart(prefix: string, consumed: Iterable<string>, runsBefore: number, config: ListingConfig | undefined): string | undefined {
  if (!config || config.mode === 'full') return undefined;
  if (config.fullRescanEvery > 0 && runsBefore % config.fullRescanEvery === 0) return undefined;
  let top: string | undefined;
  for (const name of consumed) if (name.startsWith(prefix) && (top === undefined || name > top)) top = name;
  if (top === undefined) return undefined;
  const folder = top.slice(0, top.lastIndexOf('/') + 1);
  // Flat layout (objects right under the prefix): the newest object itself is the start.
  return folder.length > prefix.length ? folder : top;
}

export interface UnconsumedQuery {
  /** Objects earlier runs consumed. */
  consumed: Iterable<{ name: string; generation: string }>;
  /** How many earlier runs (rounds or snapshots) there are: drives `fullRescanEvery`. */
  runsBefore: number;
  listing: ListingConfig | undefined;
  /** Names worth reading (data objects, exports); others are ignored. */
  accept: (name: string) => boolean;
  /** Keys ({@link consumedKey}) to leave out besides the consumed ones, e.g. claimed by a round in flight. */
  skip?: ReadonlySet<string>;
}

export interface Unconsumed {
  /** In name order. */
  objects: ObjectInfo[];
  /** Where the listing that found them started; undefined = the whole prefix was listed. */
  listedFrom: string | undefined;
}

/** The objects under `prefix` that no earlier run consumed (per name and generation). */
export async function unconsumedObjects(store: ObjectStore, prefix: string, q: UnconsumedQuery): Promise<Unconsumed> {
  const consumed = new Set<string>();
  const names: string[] = [];
  for (const c of q.consumed) {
    consumed.add(consumedKey(c.name, c.generation));
    names.push(c.name);
  }
  const collect = async (startOffset: string | undefined): Promise<ObjectInfo[]> => {
    const out: ObjectInfo[] = [];
    for await (const o of store.list(prefix, startOffset === undefined ? {} : { startOffset })) {
      const key = consumedKey(o.name, o.generation);
      if (q.accept(o.name) && !consumed.has(key) && !q.skip?.has(key)) out.push(o);
    }
    return out;
  };
  const start = listingStart(prefix, names, q.runsBefore, q.listing);
  const objects = await collect(start);
  // Invariant: a run that finds nothing from the start point lists everything, so an object
  // below the start point is never stranded by runs that keep finding nothing.
  if (start !== undefined && objects.length === 0) return { objects: await collect(undefined), listedFrom: undefined };
  return { objects, listedFrom: start };
}
