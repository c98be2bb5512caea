/**
 * Snapshot storage: immutable `snapshots/vNNNNNN/` folders whose
 * manifest.json (create-only, written last) is the commit point, and the
 * `snapshots/LATEST.json` pointer that only moves forward under a
 * generation precondition.
 */
import { ReviewloopError, isReviewloopError } from '../../domain/errors.js';
import type { LatestPointer, SnapshotManifest, SnapshotRow } from '../../domain/records.js';
import { arrowBytes, jsonlBytes, parquetBytes, rowsFromJsonl } from './snapshot-files.js';
import type { ObjectStore } from '../store/store.js';
import { jsonFile, readJson, sha256, writeOnce } from '../store/write-once.js';

export const LATEST = 'snapshots/LATEST.json';

export function versionDir(version: number): string {
  return `snapshots/v${String(version).padStart(6, '0')}`;
}

/** All committed snapshot manifests (those whose manifest.json exists), oldest first. */
export async function listSnapshots(store: ObjectStore): Promise<SnapshotManifest[]> {
  const out: SnapshotManifest[] = [];
  for await (const o of store.list('snapshots/v')) {
    if (!/^snapshots\/v\d{6,}\/manifest\.json$/.test(o.name)) continue;
    const m = await readJson<SnapshotManifest>(store, o.name);
    if (m) out.push(m);
  }
  return out.sort((a, b) => a.version - b.version);
}

export async function readLatest(store: ObjectStore): Promise<{ pointer: LatestPointer; generation: string } | null> {
  const info = await store.stat(LATEST);
  if (!info) return null;
  try {
    const pointer = JSON.parse((await store.read(LATEST, { generation: info.generation })).toString('utf8')) as LatestPointer;
    return { pointer, generation: info.generation };
  } catch (err) {
    // Rewritten between stat and read: the caller's precondition will catch up on the next try.
    if (isReviewloopError(err, 'NOT_FOUND')) return readLatest(store);
    throw err;
  }
}

export async function readSnapshotRows(store: ObjectStore, version: number): Promise<SnapshotRow[]> {
  return rowsFromJsonl((await store.read(`${versionDir(version)}/data.jsonl`)).toString('utf8'));
}

export interface SnapshotContent {
  rows: SnapshotRow[];
  formats: Array<'arrow' | 'jsonl' | 'parquet'>;
  /** Bad export lines of this merge, kept beside the snapshot so nothing is lost. */
  rejects: string;
  manifest: Omit<SnapshotManifest, 'files' | 'sha256'>;
  /** Further files under the snapshot folder (segmentation masks), listed in the manifest with their sha256 like the data files. */
  extraFiles?: Array<{ name: string; bytes: Uint8Array; type: string }>;
}

/**
 * Writes the files create-only, then the manifest. Returns false when the
 * manifest slot was taken by a different snapshot (a lost race).
 */
export async function writeSnapshot(store: ObjectStore, content: SnapshotContent): Promise<{ committed: boolean; manifest: SnapshotManifest }> {
  const dir = versionDir(content.manifest.version);
  const files: Array<[string, Buffer, string]> = [];
  // JSONL always: it is the lossless copy the next merge reads back.
  const formats = new Set([...content.formats, 'jsonl']);
  if (formats.has('arrow')) files.push(['data.arrow', arrowBytes(content.rows), 'application/vnd.apache.arrow.file']);
  files.push(['data.jsonl', jsonlBytes(content.rows), 'application/x-ndjson']);
  if (formats.has('parquet')) files.push(['data.parquet', await parquetBytes(content.rows), 'application/vnd.apache.parquet']);
  if (content.rejects.length > 0) files.push(['rejects.jsonl', Buffer.from(content.rejects), 'application/x-ndjson']);
  for (const f of content.extraFiles ?? []) files.push([f.name, Buffer.from(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength), f.type]);
  const fileMeta: SnapshotManifest['files'] = {};
  for (const [name, bytes] of files) fileMeta[name] = { sha256: sha256(bytes), bytes: bytes.length };
  const manifestBody = { ...content.manifest, files: fileMeta };
  const manifest: SnapshotManifest = { ...manifestBody, sha256: sha256(JSON.stringify(manifestBody)) };

  const existing = await readJson<SnapshotManifest>(store, `${dir}/manifest.json`);
  if (existing) return { committed: existing.sha256 === manifest.sha256, manifest: existing };
  for (const [name, bytes, type] of files) {
    try {
      await writeOnce(store, `${dir}/${name}`, bytes, type);
    } catch (err) {
      if (!isReviewloopError(err, 'CONFLICT')) throw err;
      await replaceOrphan(store, `${dir}/${name}`, `${dir}/manifest.json`, bytes, type, err);
    }
  }
  try {
    await writeOnce(store, `${dir}/manifest.json`, jsonFile(manifest));
    return { committed: true, manifest };
  } catch (err) {
    if (!isReviewloopError(err, 'CONFLICT')) throw err;
    return { committed: false, manifest: (await readJson<SnapshotManifest>(store, `${dir}/manifest.json`))! };
  }
}

/** How old an uncommitted file must be before a merge may take its place. */
export const ORPHAN_AFTER_MS = 10 * 60 * 1000;

/**
 * A data file with other bytes and no manifest is either an orphan of a
 * crashed merge (replace it, guarded by its generation) or another merge
 * still writing (back off: retryable, the caller's retry loop waits).
 */
async function replaceOrphan(store: ObjectStore, name: string, manifestName: string, bytes: Buffer, type: string, cause: unknown): Promise<void> {
  const info = await store.stat(name);
  if (await store.stat(manifestName)) throw new ReviewloopError('CONFLICT', `${store.uri(name)} was committed by another merge`, { cause });
  if (!info) throw new ReviewloopError('CONFLICT', `${store.uri(name)} vanished while replacing it`, { cause, retryable: true });
  const age = Date.now() - Date.parse(info.updated);
  if (age < ORPHAN_AFTER_MS) throw new ReviewloopError('CONFLICT', `${store.uri(name)} is being written by another merge`, { cause, retryable: true });
  await store.write(name, bytes, { ifGenerationMatch: info.generation, contentType: type });
}

/** Moves LATEST forward to `manifest`, never backward; retries on a concurrent move. */
export async function moveLatest(store: ObjectStore, manifest: SnapshotManifest): Promise<boolean> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const cur = await readLatest(store);
    if (cur && cur.pointer.version >= manifest.version) return false;
    const pointer: LatestPointer = { version: manifest.version, path: `${versionDir(manifest.version)}/`, sha256: manifest.sha256 };
    try {
      await store.write(LATEST, jsonFile(pointer), { ifGenerationMatch: cur?.generation ?? '0', contentType: 'application/json' });
      return true;
    } catch (err) {
      if (!isReviewloopError(err, 'CONFLICT') && !isReviewloopError(err, 'ALREADY_EXISTS')) throw err;
    }
  }
  throw new ReviewloopError('CONFLICT', `could not move ${LATEST} to v${manifest.version}: too many concurrent updates`, { retryable: true });
}
