/**
 * A snapshot's stats, written once per version, and written late when a
 * merge died between committing the snapshot and writing them.
 *
 * After a snapshot's stats reach the sink, a marker `state/stats/vNNNNNN`
 * is written. Every merge run (also one with nothing new) first writes the
 * stats of committed snapshots that have no marker: the sinks skip a batch id
 * they already hold (DuckDB `_batches`, BigQuery job ids), so writing again
 * after a crash between the sink and the marker never duplicates rows.
 *
 * Which snapshots are looked at: those above `state/stats/from`, written once
 * by the first merge run that finds no such object. It records the newest
 * snapshot that has no marker of its own (the one before the head: the head
 * itself is looked at), or 0 for a project without snapshots, so a project's
 * first run with markers never re-reads its whole history.
 */
import type { ProjectConfig } from '../../config/schema.js';
import { isReviewloopError } from '../../domain/errors.js';
import type { Logger } from '../core/log.js';
import type { SnapshotManifest, SnapshotRow } from '../../domain/records.js';
import { readSnapshotRows } from '../snapshot/snapshot.js';
import { mergeBatchId, mergeRows } from '../../domain/quality/compute.js';
import { labelIssueRows } from './label-issue-stats.js';
import type { StatsSink } from '../stats/sinks/sink.js';
import type { ObjectStore } from '../store/store.js';
import { readJson } from '../store/write-once.js';

const MARKERS = 'state/stats/';
const markerName = (version: number) => `${MARKERS}v${String(version).padStart(6, '0')}`;

/** Writes snapshot `manifest`'s stats (rows of the snapshot, all of them), then its marker. */
export async function writeMergeStats(
  store: ObjectStore,
  sink: StatsSink,
  project: ProjectConfig,
  manifest: SnapshotManifest,
  all: SnapshotRow[],
): Promise<boolean> {
  const { version } = manifest;
  // A merge stamps the rows it changed or added with its version: the snapshot alone says which they were.
  const changed = all.filter((r) => r.version === version);
  const rows = mergeRows({
    project: project.name,
    version,
    asOf: manifest.asOf,
    changed,
    all,
    task: project.task,
    labels: project.labels,
  });
  const eventTime = rows.snapshots?.[0]?.event_time;
  if (typeof eventTime === 'string') {
    const base = { event_time: eventTime, project: project.name, batch_id: mergeBatchId(project.name, version), snapshot_version: version };
    const labelIssues = await labelIssueRows(store, base, all);
    if (labelIssues.length > 0) rows.label_issues = labelIssues;
  }
  const { written } = await sink.write(mergeBatchId(project.name, version), rows);
  try {
    await store.write(markerName(version), `${JSON.stringify({ batchId: mergeBatchId(project.name, version) })}\n`, {
      ifGenerationMatch: '0',
      contentType: 'application/json',
    });
  } catch (err) {
    if (!isReviewloopError(err, 'ALREADY_EXISTS')) throw err;
  }
  return written;
}

/** The version below which no snapshot is looked at (see the top of this file); written once per project. */
async function recoveryFloor(store: ObjectStore, snaps: SnapshotManifest[]): Promise<number> {
  const name = `${MARKERS}from`;
  const floor = snaps.length === 0 ? 0 : snaps[snaps.length - 1].version - 1;
  try {
    await store.write(name, `${JSON.stringify({ version: floor })}\n`, { ifGenerationMatch: '0', contentType: 'application/json' });
    return floor;
  } catch (err) {
    if (!isReviewloopError(err, 'ALREADY_EXISTS')) throw err;
  }
  const recorded = await readJson<{ version?: unknown }>(store, name);
  return typeof recorded?.version === 'number' ? recorded.version : floor;
}

/** Writes the stats of committed snapshots whose stats are missing; returns the versions written. */
export async function recoverMergeStats(
  store: ObjectStore,
  sink: StatsSink,
  project: ProjectConfig,
  snaps: SnapshotManifest[],
  log: Logger,
): Promise<number[]> {
  const marked = new Set<number>();
  let hasFloor = false;
  for await (const o of store.list(MARKERS)) {
    const m = /^state\/stats\/v(\d{6,})$/.exec(o.name);
    if (m) marked.add(Number(m[1]));
    if (o.name === `${MARKERS}from`) hasFloor = true;
  }
  const missing = snaps.filter((s) => !marked.has(s.version));
  if (missing.length === 0 && hasFloor) return [];
  const floor = await recoveryFloor(store, snaps);
  const done: number[] = [];
  for (const s of missing) {
    if (s.version <= floor) continue;
    const written = await writeMergeStats(store, sink, project, s, await readSnapshotRows(store, s.version));
    if (written) {
      log.warn(`snapshot v${s.version}: its stats were missing (a merge stopped after committing it); written now`);
      done.push(s.version);
    }
  }
  return done;
}
