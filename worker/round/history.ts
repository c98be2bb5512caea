/**
 * What earlier rounds left behind: their manifests, the items they queued
 * (never queued again), and the stats rows each round writes.
 */
import { exclusionKey } from '../../scoring/hash.js';
import { isReviewloopError } from '../../domain/errors.js';
import { roundBatchId, roundRows } from '../../domain/quality/compute.js';
import type { RoundManifest, SnapshotRow } from '../../domain/records.js';
import { readSnapshotRows } from '../snapshot/snapshot.js';
import type { ObjectStore } from '../store/store.js';
import { readJson } from '../store/write-once.js';
import type { RoundOptions } from './types.js';

export const roundDir = (r: string) => `rounds/${r}`;

/** Manifests of all completed rounds, ordered by slot time then id. */
export async function listRounds(store: ObjectStore): Promise<RoundManifest[]> {
  const out: RoundManifest[] = [];
  for await (const o of store.list('rounds/')) {
    if (!/^rounds\/[^/]+\/manifest\.json$/.test(o.name)) continue;
    const m = await readJson<RoundManifest>(store, o.name);
    if (m) out.push(m);
  }
  return out.sort((a, b) => (a.slotTime < b.slotTime ? -1 : a.slotTime > b.slotTime ? 1 : a.round < b.round ? -1 : a.round > b.round ? 1 : 0));
}

/** Keys of the (id, model) pairs already queued in earlier rounds or present in the latest snapshot. */
export async function exclusionKeys(store: ObjectStore, previous: RoundManifest[], snapshotVersion: number | null): Promise<bigint[]> {
  return (await excludedItems(store, previous, snapshotVersion)).map(([id, model]) => exclusionKey(id, model));
}

/** (id, model) pairs already queued in earlier rounds or present in the latest snapshot; model undefined = none. */
export async function excludedItems(
  store: ObjectStore,
  previous: RoundManifest[],
  snapshotVersion: number | null,
): Promise<Array<[id: string, model: string | undefined]>> {
  const keys: Array<[string, string | undefined]> = [];
  for (const m of previous) {
    for (const q of m.files.queue) {
      let text: string;
      try {
        text = (await store.read(q)).toString('utf8');
      } catch (err) {
        if (isReviewloopError(err, 'NOT_FOUND')) continue;
        throw err;
      }
      for (const line of text.split('\n')) {
        if (!line) continue;
        const meta = (JSON.parse(line) as { meta?: { id?: string; model?: string | null } }).meta;
        if (meta?.id !== undefined) keys.push([meta.id, meta.model ?? undefined]);
      }
    }
  }
  if (snapshotVersion !== null) {
    const rows: SnapshotRow[] = await readSnapshotRows(store, snapshotVersion);
    for (const r of rows) keys.push([r.id, r.model ?? undefined]);
  }
  return keys;
}

/** The round's stats rows (drift against the previous and the reference round); a batch id makes a rewrite a no-op. */
export async function writeRoundStats(opts: Pick<RoundOptions, 'sink' | 'project'>, manifest: RoundManifest, all: RoundManifest[]): Promise<void> {
  if (!opts.sink) return;
  const idx = all.findIndex((m) => m.round === manifest.round);
  const prev = idx > 0 ? all[idx - 1] : null;
  const refId = opts.project.referenceRound;
  const ref = refId ? (all.find((m) => m.round === refId) ?? null) : all[0] !== manifest ? (all[0] ?? null) : null;
  await opts.sink.write(roundBatchId(manifest.project, manifest.round), roundRows(manifest, prev, ref));
}
