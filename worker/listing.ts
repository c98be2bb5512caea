/**
 * Incremental listing of `predictions/` (rounds) and `annotations/` (merges).
 *
 * GCS can only list by name (prefix, startOffset), never by update time, so
 * "what is new" is found by name: the listing starts at the folder of the
 * highest name consumed so far and goes to the end of the prefix. The newest
 * folder is listed again on purpose: late shards of a batch still being
 * written, and re-exports of the latest round, live there. Everything listed
 * is still filtered by the (name, generation) pairs already consumed, so
 * listing more never consumes twice.
 *
 * What a name-ordered listing cannot see, a new generation of an old object
 * or a new folder that sorts below the newest one (e.g. slot rounds after a
 * manual round named `relabel-3`), is consumed by the next full rescan:
 * every `fullRescanEvery`-th round or merge lists the whole prefix. Such
 * objects are late by at most that many runs, never lost.
 */

/** `predictions.listing` and `merge.listing` in the config. */
export interface ListingConfig {
  /** `incremental` (start at the newest folder) or `full` (every run lists everything). */
  mode: 'incremental' | 'full';
  /** Every n-th run (counting earlier rounds or snapshots) lists the whole prefix; 0 = never. */
  fullRescanEvery: number;
}

/**
 * Where this run's listing of `prefix` starts, or undefined for a full listing.
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
