/**
 * `reviewloop import-labels`: existing labelled data becomes snapshot v(n+1)
 * = v(n) + the imported rows (provenance `import`), create-only, with the
 * imported files named in the manifest. Idempotent: rows already in the
 * snapshot with the same label add nothing, so importing the same files again
 * writes no version. Rows that would overwrite a snapshot label, and ids with
 * conflicting labels, are rejected with object, line, field and reason
 * (domain/label-issues/import.ts) and written beside the snapshot.
 */
import type { ProjectConfig } from '../../config/schema.js';
import { type ImportReject, type RawImportRow, planImport } from '../../domain/label-issues/import.js';
import { inputHash, taskHash, defaultView } from '../../domain/prodigy/tasks.js';
import { ReviewloopError } from '../../domain/errors.js';
import type { SnapshotManifest, SnapshotRow } from '../../domain/records.js';
import { listSnapshots, moveLatest, readSnapshotRows, writeSnapshot } from '../snapshot/snapshot.js';
import type { ObjectStore } from '../store/store.js';
import type { StatsSink } from '../stats/sinks/sink.js';
import { emptyRow } from './merge.js';
import { writeMergeStats } from './merge-stats.js';

export interface ImportFile {
  /** As named on the command line (recorded in the manifest). */
  name: string;
  sha256: string;
  rows: RawImportRow[];
}

export interface ImportResult {
  status: 'created' | 'nothing-new';
  version: number | null;
  added: number;
  unchanged: number;
  rejects: ImportReject[];
}

/** Imports `files` into the project's snapshots; retries when a concurrent merge takes the version. */
export async function importLabels(
  store: ObjectStore,
  project: ProjectConfig,
  files: ImportFile[],
  sink: StatsSink | null = null,
  maxAttempts = 8,
): Promise<ImportResult> {
  // One label per item is all an imported row carries: other tasks would get rows marked labelled without their spans, boxes or masks.
  if (project.task !== 'textcat' && project.task !== 'image') {
    throw new ReviewloopError('CONFIG_INVALID', `import-labels brings single labels (task textcat or image); project ${project.name} is ${project.task}`, {
      details: { project: project.name, task: project.task },
    });
  }
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const r = await importOnce(store, project, files, sink);
    if (r !== 'lost-race') return r;
  }
  throw new ReviewloopError('CONFLICT', `import-labels: ${maxAttempts} concurrent merges took the next snapshot version first; run it again`, {
    retryable: true,
  });
}

async function importOnce(store: ObjectStore, project: ProjectConfig, files: ImportFile[], sink: StatsSink | null): Promise<ImportResult | 'lost-race'> {
  const snaps = await listSnapshots(store);
  const head: SnapshotManifest | null = snaps.length > 0 ? snaps[snaps.length - 1] : null;
  if (head) await moveLatest(store, head);
  const base = head ? await readSnapshotRows(store, head.version) : [];
  const existing = new Map(base.map((r) => [r.id, r.status === 'labelled' ? r.label : null]));
  const plan = planImport(
    files.flatMap((f) => f.rows),
    project.labels,
    existing,
  );
  if (plan.add.length === 0) return { status: 'nothing-new', version: head?.version ?? null, added: 0, unchanged: plan.unchanged, rejects: plan.rejects };
  const version = (head?.version ?? 0) + 1;
  const view = (project.queue.view as ReturnType<typeof defaultView> | undefined) ?? defaultView(project.task);
  const added: SnapshotRow[] = plan.add.map((a) => {
    const row = emptyRow(a.id, project.task, version);
    row.text = a.text ?? null;
    row.image = a.image ?? null;
    row.audio = a.audio ?? null;
    row.width = a.width ?? null;
    row.height = a.height ?? null;
    row.label = a.label;
    row.labels = [a.label];
    row.status = 'labelled';
    row.provenance = 'import';
    row.prediction_source = a.source;
    row.input_hash = inputHash(project.name, a.id);
    row.task_hash = taskHash(row.input_hash, view, project.labels);
    return row;
  });
  const all = [...base, ...added].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  const addedByFile = new Map<string, number>();
  for (const a of plan.add) {
    const object = a.source.slice(0, a.source.lastIndexOf('#'));
    addedByFile.set(object, (addedByFile.get(object) ?? 0) + 1);
  }
  const { committed, manifest } = await writeSnapshot(store, {
    rows: all,
    formats: project.snapshot.formats,
    rejects: plan.rejects.map((r) => `${JSON.stringify(r)}\n`).join(''),
    manifest: {
      kind: 'reviewloop.snapshot',
      schemaVersion: 1,
      project: project.name,
      version,
      parent: head?.version ?? null,
      asOf: head?.asOf ?? null,
      consumed: [],
      counts: {
        items: all.length,
        labelled: all.filter((r) => r.status === 'labelled').length,
        changed: 0,
        added: added.length,
        answers: 0,
        duplicates: 0,
        badLines: plan.rejects.length,
      },
      imported: files.map((f) => ({ name: f.name, sha256: f.sha256, added: addedByFile.get(f.name) ?? 0 })),
    },
  });
  if (!committed) return 'lost-race';
  await moveLatest(store, manifest);
  // Like a merge, the new version's stats go out with it (merge-stats.ts writes late ones if this stops first).
  if (sink) await writeMergeStats(store, sink, project, manifest, all);
  return { status: 'created', version, added: added.length, unchanged: plan.unchanged, rejects: plan.rejects };
}
