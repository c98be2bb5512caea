/** `reviewloop status`: what exists in the store and what the stats say, per project. */
import type { AppContext } from './app.js';
import { exportKey, readQuarantine, type QuarantinedExport } from '../merge/export-quarantine.js';
import { isExportObject } from '../merge/merge.js';
import { formatHeadline, loadHeadline, type Headline } from '../stats/headline.js';
import { listRounds } from '../round/history.js';
import { listSnapshots, readLatest } from '../snapshot/snapshot.js';

export interface ProjectStatus {
  project: string;
  rounds: Array<{ round: string; queued: number; audit: number; scored: number; rejected: number; quarantinedObjects: number }>;
  /** Prediction objects rounds could not read, newest round last: a new generation of one is read by the next round. */
  quarantined: Array<{ round: string; object: string; generation: string; code: string; line: number; reason: string }>;
  pendingExports: string[];
  /** Exports the merge could not read, with the reason; a new generation of one is read again. */
  quarantinedExports: QuarantinedExport[];
  latestSnapshot: { version: number; items: number; labelled: number } | null;
  latestPointer: number | null;
  lastDrift: Record<string, unknown> | null;
  /** Audit estimates with 95% intervals per model (latest snapshot), then the reviewed-for-doubt figures labelled as such; null without a stats sink. */
  quality: Headline | null;
  /** Items of the latest snapshot left in conflict (no label). */
  conflicts: number | null;
}

export async function statusReport(app: AppContext, only?: string): Promise<{ projects: ProjectStatus[]; text: string }> {
  const projects = only ? [app.project(only)] : app.config.projects;
  const out: ProjectStatus[] = [];
  let text = '';
  const sink = await app.sink().catch(() => null);
  for (const project of projects) {
    const store = app.projectStore(project);
    const rounds = await listRounds(store);
    const snaps = await listSnapshots(store);
    const quarantined = await readQuarantine(store);
    const consumed = new Set([...snaps.flatMap((s) => s.consumed.map(exportKey)), ...quarantined.map(exportKey)]);
    const pending: string[] = [];
    for await (const o of store.list('annotations/')) if (isExportObject(o.name) && !consumed.has(exportKey(o))) pending.push(o.name);
    const head = snaps.length > 0 ? snaps[snaps.length - 1] : null;
    const latest = await readLatest(store);
    const q = async (sql: string) => (sink ? ((await sink.query(sql, { project: project.name }).catch(() => []))[0] ?? null) : null);
    const s: ProjectStatus = {
      project: project.name,
      rounds: rounds.map((m) => ({
        round: m.round,
        queued: m.counts.queued,
        audit: m.counts.audit,
        scored: m.counts.scored,
        rejected: m.counts.rejected,
        quarantinedObjects: m.counts.quarantinedObjects ?? 0,
      })),
      quarantined: rounds.flatMap((m) =>
        (m.quarantined ?? []).map((q) => ({
          round: m.round,
          object: store.uri(q.name),
          generation: q.generation,
          code: q.code,
          line: q.line,
          reason: q.reason,
        })),
      ),
      pendingExports: pending,
      quarantinedExports: quarantined,
      latestSnapshot: head ? { version: head.version, items: head.counts.items, labelled: head.counts.labelled } : null,
      latestPointer: latest?.pointer.version ?? null,
      lastDrift: await q(
        "SELECT round_id, psi_confidence, psi_band, psi_noise_p95, js_labels FROM drift WHERE project = @project AND baseline = 'previous' ORDER BY event_time DESC, round_id DESC LIMIT 1",
      ),
      quality: sink ? await loadHeadline(sink, project.name).catch(() => null) : null,
      conflicts: null,
    };
    const snapRow = await q('SELECT conflicts FROM snapshots WHERE project = @project ORDER BY snapshot_version DESC LIMIT 1');
    s.conflicts = typeof snapRow?.conflicts === 'number' ? snapRow.conflicts : null;
    out.push(s);
    text += `${project.name} (${project.task}, ${store.root})\n`;
    text += `  rounds: ${rounds.length === 0 ? 'none' : rounds.map((r) => `${r.round} [${r.counts.queued} queued]`).join(', ')}\n`;
    if (s.quarantined.length > 0) {
      text += `  quarantined objects: ${s.quarantined.length}\n`;
      // The newest 20 in text; --json lists all.
      for (const q of s.quarantined.slice(-20)) text += `    ${q.round}: ${q.object} (generation ${q.generation}) ${q.code} at line ${q.line}\n`;
    }
    text += `  pending exports: ${pending.length === 0 ? 'none' : pending.join(', ')}\n`;
    for (const q of quarantined) text += `  quarantined export: ${q.name} (generation ${q.generation}): ${q.reason}\n`;
    text += `  snapshot: ${head ? `v${head.version} (${head.counts.items} items, ${head.counts.labelled} labelled)` : 'none'}${latest && head && latest.pointer.version !== head.version ? ` — LATEST points at v${latest.pointer.version}` : ''}\n`;
    if (s.quality && s.quality.snapshot_version !== null) {
      text += `  quality (audit estimates, 95% intervals, snapshot v${s.quality.snapshot_version}):\n`;
      text += formatHeadline(s.quality, '    ')
        .map((l) => `${l}\n`)
        .join('');
    }
    if (s.conflicts) text += `  conflicts: ${s.conflicts} item(s) without a label (answers disagree; see the merge log)\n`;
    if (s.lastDrift)
      text += `  drift (${String(s.lastDrift.round_id)} vs previous): PSI ${fmt(s.lastDrift.psi_confidence)} (${s.lastDrift.psi_band === null ? '–' : String(s.lastDrift.psi_band)}, noise floor ${fmt(s.lastDrift.psi_noise_p95)}), JS ${fmt(s.lastDrift.js_labels)}\n`;
  }
  return { projects: out, text };
}

function fmt(v: unknown): string {
  return typeof v === 'number' ? v.toFixed(3) : '–';
}
