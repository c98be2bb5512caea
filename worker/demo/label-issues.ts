/**
 * The demo's label-issue round: 2,000 support tickets whose training labels
 * carry 8 % injected flips are imported (`import-labels`), scored by an
 * out-of-sample model, questioned by a label-issues round, answered by a
 * simulated reviewer from the true labels, and merged with lineage.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { ProjectConfig } from '../../config/schema.js';
import type { AppContext } from '../app/app.js';
import type { Logger } from '../core/log.js';
import { importLabels } from '../merge/import-labels.js';
import { runMerge } from '../merge/merge.js';
import { runRound } from '../round/round.js';
import { readLabelFile } from '../sources/label-files.js';
import { loadReportData, renderReport } from '../stats/report.js';
import { writeOnce } from '../store/write-once.js';
import { INTENT_LABELS, intentBatch, rng } from './data.js';
import { reviewChoice } from './reviewer.js';

export const LABEL_ISSUE_ROUND = '20261115T0200Z';
const FLIP_RATE = 0.08;

export function labelIssueProjectConfig(): Record<string, unknown> {
  return {
    name: 'support-labels',
    task: 'textcat',
    labels: [...INTENT_LABELS],
    predictions: { prefix: 'predictions/', format: 'auto' },
    strategy: { name: 'label-issues', rankBy: 'self-confidence', topK: 150, seed: 5 },
    queue: { view: 'choice' },
    merge: { conflict: 'latest' },
  };
}

export interface LabelIssueDemoResult {
  injected: number;
  flagged: number;
  flaggedInjected: number;
  queued: number;
  reviewed: number;
  changed: number;
  noiseRate: number | null;
  version: number | null;
  /** The project's HTML report, with the label-issues chart. */
  report: string;
}

/** Runs the whole label-issue loop of the demo; `dir` receives the label file it imports. */
export async function runLabelIssueDemo(
  app: AppContext,
  project: ProjectConfig,
  dir: string,
  logger: Logger,
  chunkBytes: number,
): Promise<LabelIssueDemoResult> {
  const store = app.projectStore(project);
  const batch = intentBatch({ seed: 400, n: 2000, model: 'intent-cv5', idPrefix: 'train', labelShift: 0.05, sharpness: 3.2 });
  const r = rng(401);
  const given = new Map<string, string>();
  const injected = new Set<string>();
  for (const g of batch) {
    let label = g.gold;
    if (r() < FLIP_RATE) {
      const others = INTENT_LABELS.filter((l) => l !== g.gold);
      label = others[Math.floor(r() * others.length)];
      injected.add(g.id);
    }
    given.set(g.id, label);
  }
  const file = path.join(dir, 'support-labels-train.jsonl');
  await writeFile(file, `${batch.map((g) => JSON.stringify({ id: g.id, label: given.get(g.id), text: g.record.text })).join('\n')}\n`);
  await importLabels(store, project, [await readLabelFile(file)], await app.sink());
  // 5-fold cross-validated probabilities stand in as the simulated model's: it never trained on these items.
  const lines = batch.map((g) => JSON.stringify({ ...g.record, out_of_sample: true }));
  await writeOnce(store, 'predictions/cv-2026-11-15/part-000.jsonl.gz', gzipSync(Buffer.from(`${lines.join('\n')}\n`), { level: 9 }), 'application/gzip');
  const round = await runRound({ project, store, pool: app.pool(), sink: await app.sink(), roundId: LABEL_ISSUE_ROUND, chunkBytes, logger, media: app.media });
  const queue = (await store.read(`rounds/${LABEL_ISSUE_ROUND}/queue.jsonl`))
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { meta: { id: string; label: string } });
  const gold = new Map(batch.map((g) => [g.id, g.gold]));
  const text = reviewChoice(queue as never, gold, {
    dataset: project.name,
    annotator: { name: 'alice', errorRate: 0.03, ignoreRate: 0.02, paceSeconds: 15 },
    startAt: 1_763_200_000,
    labels: project.labels,
    seed: 21,
  });
  await writeOnce(store, `annotations/${LABEL_ISSUE_ROUND}/alice.jsonl`, text, 'application/x-ndjson').catch((err: { code?: string }) => {
    if (err.code !== 'CONFLICT' && err.code !== 'ALREADY_EXISTS') throw err;
  });
  const merged = await runMerge({ project, store, sink: await app.sink(), logger });
  const report = path.join(dir, 'report-support-labels.html');
  await writeFile(report, renderReport(await loadReportData(await app.sink(), project.name, '2026-11-15T12:00:00.000Z')));
  const li = round.manifest.labelIssues;
  const flaggedIds = new Set(queue.map((t) => t.meta.id));
  return {
    injected: injected.size,
    flagged: li ? li.flagged.reduce((a, b) => a + b, 0) : 0,
    flaggedInjected: [...flaggedIds].filter((id) => injected.has(id)).length,
    queued: queue.length,
    reviewed: merged.manifest?.labelIssues ? merged.manifest.labelIssues.changed + merged.manifest.labelIssues.verified : 0,
    changed: merged.manifest?.labelIssues?.changed ?? 0,
    noiseRate: li?.noiseRate ?? null,
    version: merged.version,
    report,
  };
}

/** The demo's summary lines for its label-issue round. */
export function labelIssueSummary(li: LabelIssueDemoResult): string[] {
  const pct = (x: number | null) => (x === null ? '–' : `${(100 * x).toFixed(1)}%`);
  return [
    `label-issue round ${LABEL_ISSUE_ROUND} support-labels: 2000 imported labels with ${li.injected} injected flips; estimated noise ${pct(li.noiseRate)}; ${li.flagged} flagged, ${li.queued} queued (${li.flaggedInjected} of them injected flips)`,
    `merge support-labels: snapshot v${li.version ?? 0}; the simulated reviewer changed ${li.changed} of the ${li.reviewed} flagged labels reviewed (detector precision ${li.reviewed > 0 ? pct(li.changed / li.reviewed) : '–'})`,
    `  report with the label-issues chart: ${li.report}`,
  ];
}
