/**
 * Merge backlog for /metrics: exports under annotations/ that no snapshot has
 * consumed yet, and the age of the oldest. Snapshot manifests are immutable,
 * so each is read once and remembered; a scrape then costs two listings.
 */
import { isExportObject } from './merge.js';
import type { SnapshotManifest } from '../../domain/records.js';
import type { ObjectStore } from '../store/store.js';
import { readJson } from '../store/write-once.js';

export interface MergeBacklog {
  pending: number;
  /** `updated` of the oldest pending export, in ms since the epoch; null when none. */
  oldestMs: number | null;
}

export class MergeBacklogTracker {
  private readonly manifests = new Map<string, string[]>();

  constructor(private readonly store: ObjectStore) {}

  async read(): Promise<MergeBacklog> {
    const consumed = new Set<string>();
    for await (const o of this.store.list('snapshots/v')) {
      if (!/^snapshots\/v\d{6,}\/manifest\.json$/.test(o.name)) continue;
      let keys = this.manifests.get(o.name);
      if (!keys) {
        const m = await readJson<SnapshotManifest>(this.store, o.name);
        keys = (m?.consumed ?? []).map((c) => `${c.name}\u0000${c.generation}`);
        this.manifests.set(o.name, keys);
      }
      for (const k of keys) consumed.add(k);
    }
    let pending = 0;
    let oldestMs: number | null = null;
    for await (const o of this.store.list('annotations/')) {
      if (!isExportObject(o.name) || consumed.has(`${o.name}\u0000${o.generation}`)) continue;
      pending++;
      const t = Date.parse(o.updated);
      if (!Number.isNaN(t) && (oldestMs === null || t < oldestMs)) oldestMs = t;
    }
    return { pending, oldestMs };
  }
}
