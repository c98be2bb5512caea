/**
 * After a merge, the daemon publishes the project's report next to the data
 * (`reports/report-vNNNNNN.html`, create-only), so model teams can open the
 * latest state without running anything. The "generated" time is the
 * snapshot's newest answer, so a rerun writes the same bytes.
 */
import type { ProjectConfig } from '../../config/schema.js';
import type { SnapshotManifest } from '../../domain/records.js';
import { loadReportData, renderReport } from './report.js';
import type { StatsSink } from './sinks/sink.js';
import type { ObjectStore } from '../store/store.js';
import { writeOnce } from '../store/write-once.js';

export function reportName(version: number): string {
  return `reports/report-v${String(version).padStart(6, '0')}.html`;
}

export async function uploadReport(store: ObjectStore, sink: StatsSink, project: ProjectConfig, snapshot: SnapshotManifest): Promise<string> {
  const generatedAt = snapshot.asOf ?? new Date(0).toISOString();
  const html = renderReport(await loadReportData(sink, project.name, generatedAt));
  const name = reportName(snapshot.version);
  await writeOnce(store, name, html, 'text/html; charset=utf-8');
  return store.uri(name);
}
