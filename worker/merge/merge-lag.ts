/**
 * Merge backlog for /metrics: exports under annotations/ that no snapshot has
 * consumed yet, and the age of the oldest. Snapshot manifests are immutable,
 * so each is read once and remembered; a scrape then costs two listings.
 */
import { isExportObject } from './merge.js';
import type { SnapshotManifest } from '../../domain/records.js';
import { unconsumedObjects } from '../store/listing.js';
import type { ObjectStore } from '../store/store.js';
import { readJson } from '../store/write-once.js';

export interface MergeBacklog {
  pending: number;
  /** `updated` of the oldest pending export, in ms since the epoch; null when none. */
  oldestMs: number | null;
}

export class MergeBacklogTracker {
  private readonly manifests = new Map<string, SnapshotManifest['consumed']>();

  constructor(private readonly store: ObjectStore) {}

  async read(): Promise<MergeBacklog> {
    const consumed: SnapshotManifest['consumed'] = [];
    for await (const o of this.store.list('snapshots/v')) {
      if (!/^snapshots\/v\d{6,}\/manifest\.json$/.test(o.name)) continue;
      let list = this.manifests.get(o.name);
      if (!list) {
        list = (await readJson<SnapshotManifest>(this.store, o.name))?.consumed ?? [];
        this.manifests.set(o.name, list);
      }
      consumed.push(...list);
    }
    let pending = 0;
    let oldestMs: number | null = null;
    // A full listing whatever merge.listing says: the backlog counts every pending export.
    const found = await unconsumedObjects(this.store, 'annotations/', { consumed, runsBefore: 0, listing: undefined, accept: isExportObject });
    for (const o of found.objects) {
      pending++;
      const t = Date.parse(o.updated);
      if (!Number.isNaN(t) && (oldestMs === null || t < oldestMs)) oldestMs = t;
    }
    return { pending, oldestMs };
  }
}
