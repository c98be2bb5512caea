/** `reviewloop status`: what exists in the store and what the stats say, per project. */
import type { AppContext } from './app.js';
import { isExportObject } from './merge.js';
import { listRounds } from './round.js';
import { listSnapshots, readLatest } from './snapshot.js';

export interface ProjectStatus {
  project: string;
  rounds: Array<{ round: string; queued: number; audit: number; scored: number; rejected: number; quarantinedObjects: number }>;
  /** Prediction objects rounds could not read, newest round last: a new generation of one is read by the next round. */
  quarantined: Array<{ round: string; object: string; generation: string; code: string; line: number; reason: string }>;
  pendingExports: string[];
  latestSnapshot: { version: number; items: number; labelled: number } | null;
  latestPointer: number | null;
  lastDrift: Record<string, unknown> | null;
  lastQuality: Record<string, unknown> | null;
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
    const consumed = new Set(snaps.flatMap((s) => s.consumed.map((c) => `${c.name}\u0000${c.generation}`)));
    const pending: string[] = [];
    for await (const o of store.list('annotations/')) if (isExportObject(o.name) && !consumed.has(`${o.name}\u0000${o.generation}`)) pending.push(o.name);
    const head = snaps.length > 0 ? snaps[snaps.length - 1] : null;
    const latest = await readLatest(store);
    const q = async (sql: string) => (sink ? (await sink.query(sql, { project: project.name }).catch(() => []))[0] ?? null : null);
    const s: ProjectStatus = {
      project: project.name,
      rounds: rounds.map((m) => ({ round: m.round, queued: m.counts.queued, audit: m.counts.audit, scored: m.counts.scored, rejected: m.counts.rejected, quarantinedObjects: m.counts.quarantinedObjects ?? 0 })),
      quarantined: rounds.flatMap((m) => (m.quarantined ?? []).map((q) => ({ round: m.round, object: store.uri(q.name), generation: q.generation, code: q.code, line: q.line, reason: q.reason }))),
      pendingExports: pending,
      latestSnapshot: head ? { version: head.version, items: head.counts.items, labelled: head.counts.labelled } : null,
      latestPointer: latest?.pointer.version ?? null,
      lastDrift: await q("SELECT round_id, psi_confidence, psi_band, js_labels FROM drift WHERE project = @project AND baseline = 'previous' ORDER BY event_time DESC, round_id DESC LIMIT 1"),
      lastQuality: await q("SELECT snapshot_version, f1_score, agreement, acceptance_rate FROM label_quality WHERE project = @project AND scope = 'snapshot' AND slice = 'all' AND label = '*' ORDER BY snapshot_version DESC LIMIT 1"),
    };
    out.push(s);
    text += `${project.name} (${project.task}, ${store.root})\n`;
    text += `  rounds: ${rounds.length === 0 ? 'none' : rounds.map((r) => `${r.round} [${r.counts.queued} queued]`).join(', ')}\n`;
    if (s.quarantined.length > 0) {
      text += `  quarantined objects: ${s.quarantined.length}\n`;
      // The newest 20 in text; --json lists all.
      for (const q of s.quarantined.slice(-20)) text += `    ${q.round}: ${q.object} (generation ${q.generation}) ${q.code} at line ${q.line}\n`;
    }
    text += `  pending exports: ${pending.length === 0 ? 'none' : pending.join(', ')}\n`;
    text += `  snapshot: ${head ? `v${head.version} (${head.counts.items} items, ${head.counts.labelled} labelled)` : 'none'}${latest && head && latest.pointer.version !== head.version ? ` — LATEST points at v${latest.pointer.version}` : ''}\n`;
    if (s.lastDrift) text += `  drift (${String(s.lastDrift.round_id)} vs previous): PSI ${fmt(s.lastDrift.psi_confidence)} (${String(s.lastDrift.psi_band)}), JS ${fmt(s.lastDrift.js_labels)}\n`;
    if (s.lastQuality) text += `  quality (v${String(s.lastQuality.snapshot_version)}): F1 ${fmt(s.lastQuality.f1_score)}, agreement ${fmt(s.lastQuality.agreement)}, acceptance ${fmt(s.lastQuality.acceptance_rate)}\n`;
  }
  return { projects: out, text };
}

function fmt(v: unknown): string {
  return typeof v === 'number' ? v.toFixed(3) : '–';
}
