/**
 * `reviewloop demo`: two full rounds of the loop on bundled, seeded data, on
 * a local directory and an embedded DuckDB file. Reviewers are simulated from
 * held gold labels; everything else is the real code path.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { stringify } from 'yaml';
import type { ProjectConfig } from '../../config/schema.js';
import { loadConfig } from '../core/load-config.js';
import { openApp, type AppContext } from '../app/app.js';
import { roundOptionsFor } from '../app/round-options.js';
import type { Logger } from '../core/log.js';
import { runMerge } from '../merge/merge.js';
import { runRound } from '../round/round.js';
import { slotTimeOf } from '../../domain/round-id.js';
import { formatHeadline, loadHeadline } from '../stats/headline.js';
import { loadReportData, renderReport } from '../stats/report.js';
import { writeOnce } from '../store/write-once.js';
import { contractBatch, ENTITY_LABELS, intentBatch, INTENT_LABELS } from './data.js';
import { reviewChoice, reviewPolygons, reviewSpans, type SimulatedAnnotator } from './reviewer.js';
import { DEFECT_COLORS, DEFECT_LABELS, segmentationBatch } from './segmentation.js';
import { labelIssueProjectConfig, labelIssueSummary, runLabelIssueDemo } from './label-issues.js';

const ROUNDS = ['20261101T0200Z', '20261108T0200Z'];

const ANNOTATORS: SimulatedAnnotator[] = [
  { name: 'alice', errorRate: 0.03, ignoreRate: 0.02, paceSeconds: 18 },
  { name: 'bob', errorRate: 0.07, ignoreRate: 0.03, paceSeconds: 12 },
  { name: 'carol', errorRate: 0.05, ignoreRate: 0.01, paceSeconds: 25 },
];

export function demoConfig(): Record<string, unknown> {
  return {
    storage: { root: './data' },
    stats: { sink: 'duckdb', path: './data/stats.duckdb' },
    projects: [
      {
        name: 'support-intents',
        task: 'textcat',
        labels: [...INTENT_LABELS],
        predictions: { prefix: 'predictions/', format: 'auto' },
        strategy: { name: 'entropy', topK: 120, auditFraction: 0.1, seed: 7 },
        queue: { view: 'choice', annotators: ANNOTATORS.map((a) => a.name), overlap: 2 },
        merge: { conflict: 'majority' },
        schedule: { round: '0 2 * * 0', merge: '*/15 * * * *' },
      },
      {
        name: 'contract-entities',
        task: 'ner',
        labels: [...ENTITY_LABELS],
        predictions: { prefix: 'predictions/', format: 'native' },
        strategy: { name: 'span-min', topK: 60, auditFraction: 0.1, seed: 11 },
        queue: { view: 'ner_manual' },
        merge: { conflict: 'latest' },
        schedule: { round: '0 2 * * 0', merge: '*/15 * * * *' },
      },
      {
        name: 'part-defects',
        task: 'image-segmentation',
        labels: [...DEFECT_LABELS],
        predictions: { prefix: 'predictions/', format: 'vertex' },
        strategy: { name: 'mask-mean-uncertainty', topK: 16, auditFraction: 0.25, seed: 13 },
        queue: { view: 'image_manual' },
        merge: { conflict: 'latest' },
        segmentation: { colors: DEFECT_COLORS, maxPoints: 200 },
        schedule: { round: '0 2 * * 0', merge: '*/15 * * * *' },
      },
      labelIssueProjectConfig(),
    ],
  };
}

async function stagePredictions(
  app: AppContext,
  round: number,
): Promise<{
  intents: Map<string, string>;
  entities: Map<string, Array<{ start: number; end: number; label: string }>>;
  defects: Map<string, Array<{ label: string; points: number[][] }>>;
}> {
  const intents = new Map<string, string>();
  const entities = new Map<string, Array<{ start: number; end: number; label: string }>>();
  const ib = intentBatch({
    seed: 100 + round,
    n: 1500,
    model: `intent-v${round + 1}`,
    idPrefix: `ticket-r${round + 1}`,
    labelShift: round === 0 ? 0.05 : 0.3,
    sharpness: round === 0 ? 3.2 : 2.4,
  });
  for (const g of ib) intents.set(g.id, g.gold);
  const lines = ib.map((g) => JSON.stringify(g.record));
  // A few records a real pipeline would get wrong: they must end up in rejects.jsonl, not stop the round.
  if (round === 0) {
    lines.splice(
      10,
      0,
      '{"id": "broken-1", "text": "truncated',
      JSON.stringify({ id: 'nan-probs', text: 'x', probs: { billing: null, other: 1 } }),
      JSON.stringify({ text: 'no id', probs: { billing: 1 } }),
      JSON.stringify({ id: 'off-sum', text: 'y', probs: { billing: 0.7, other: 0.7 } }),
    );
  }
  const intentsStore = app.projectStore(app.project('support-intents'));
  await writeOnce(
    intentsStore,
    `predictions/2026-11-0${round === 0 ? 1 : 8}/part-000.jsonl.gz`,
    gzipSync(Buffer.from(`${lines.join('\n')}\n`), { level: 9 }),
    'application/gzip',
  );

  const cb = contractBatch({ seed: 200 + round, n: 500, model: `ner-v${round + 1}`, idPrefix: `clause-r${round + 1}` });
  for (const g of cb) entities.set(g.id, g.gold);
  const nerStore = app.projectStore(app.project('contract-entities'));
  await writeOnce(
    nerStore,
    `predictions/2026-11-0${round === 0 ? 1 : 8}/part-000.jsonl`,
    `${cb.map((g) => JSON.stringify(g.record)).join('\n')}\n`,
    'application/x-ndjson',
  );
  const segStore = app.projectStore(app.project('part-defects'));
  const seg = await segmentationBatch(segStore, { seed: 300 + round, n: 40, round });
  // One line no decoder can read: a reject with its field and reason, and the round goes on.
  if (round === 0) seg.lines.splice(3, 0, JSON.stringify({ instance: { content: segStore.uri('images/lost.png') }, prediction: { categoryMask: 'iVBOR%%' } }));
  await writeOnce(
    segStore,
    `predictions/2026-11-0${round === 0 ? 1 : 8}/prediction.results-00000-of-00001`,
    `${seg.lines.join('\n')}\n`,
    'application/x-ndjson',
  );
  return { intents, entities, defects: seg.gold };
}

async function simulateReview(app: AppContext, roundId: string, gold: Awaited<ReturnType<typeof stagePredictions>>): Promise<number> {
  const startAt = Math.floor(slotTimeOf(roundId)!.getTime() / 1000) + 9 * 3600;
  let answers = 0;
  const intents = app.project('support-intents');
  const istore = app.projectStore(intents);
  for (const [k, a] of ANNOTATORS.entries()) {
    const queue = (await istore.read(`rounds/${roundId}/queue-${a.name}.jsonl`))
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const text = reviewChoice(queue, gold.intents, {
      dataset: intents.name,
      annotator: a,
      startAt: startAt + k * 7,
      labels: intents.labels,
      seed: 1000 + k + roundId.length,
    });
    answers += queue.length;
    await writeOnce(istore, `annotations/${roundId}/${a.name}.jsonl`, text, 'application/x-ndjson');
  }
  const ner = app.project('contract-entities');
  const nstore = app.projectStore(ner);
  const queue = (await nstore.read(`rounds/${roundId}/queue.jsonl`))
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const text = reviewSpans(queue, gold.entities, { dataset: ner.name, annotator: ANNOTATORS[0], startAt, labels: ner.labels, seed: 77 });
  answers += queue.length;
  await writeOnce(nstore, `annotations/${roundId}/alice.jsonl`, text, 'application/x-ndjson');
  const defects = app.project('part-defects');
  const dstore = app.projectStore(defects);
  const dqueue = (await dstore.read(`rounds/${roundId}/queue.jsonl`))
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const dtext = reviewPolygons(dqueue, gold.defects, { dataset: defects.name, annotator: ANNOTATORS[2], startAt, labels: defects.labels, seed: 91 });
  answers += dqueue.length;
  await writeOnce(dstore, `annotations/${roundId}/carol.jsonl`, dtext, 'application/x-ndjson');
  return answers;
}

/**
 * Prints "part-defects v2: mean IoU 0.812 (scratch 0.702, dent 0.921) over 30 items" from the latest
 * snapshot's segmentation_iou rows, and writes that project's report (its IoU chart).
 */
async function segmentationReport(sink: Awaited<ReturnType<AppContext['sink']>>, abs: string, print: (line: string) => void): Promise<void> {
  const rows = await sink.query(
    "SELECT project, snapshot_version, label, items, iou FROM segmentation_iou WHERE scope = 'snapshot' AND snapshot_version = (SELECT max(snapshot_version) FROM segmentation_iou s WHERE s.project = segmentation_iou.project) ORDER BY project, label",
  );
  const out: string[] = [];
  for (const project of [...new Set(rows.map((r) => String(r.project)))]) {
    const mine = rows.filter((r) => r.project === project);
    const all = mine.find((r) => r.label === '*');
    const per = mine.filter((r) => r.label !== '*').map((r) => `${r.label} ${fmt(r.iou)}`);
    out.push(`${project} v${all?.snapshot_version}: mean IoU ${fmt(all?.iou)} (${per.join(', ')}) over ${all?.items} items`);
  }
  print('segmentation, model mask vs reviewed mask (IoU over the snapshot):');
  for (const line of out) print(`  ${line}`);
  const reportPath = path.join(abs, 'report-part-defects.html');
  await writeFile(reportPath, renderReport(await loadReportData(sink, 'part-defects', '2026-11-08T12:00:00.000Z')));
  print(`report: ${reportPath} (segmentation: IoU per snapshot)`);
}

const fmt = (v: unknown, digits = 3) => (typeof v === 'number' ? v.toFixed(digits) : v === null || v === undefined ? '–' : String(v));

/** Drift against the previous round, the audit-slice quality estimates and reviewer agreement, per project. */
async function printStats(sink: Awaited<ReturnType<AppContext['sink']>>, projects: ProjectConfig[], print: (line: string) => void): Promise<void> {
  const drift = await sink.query(
    "SELECT project, round_id, baseline, psi_confidence, psi_band, psi_noise_p95, js_labels FROM drift WHERE baseline = 'previous' ORDER BY project, round_id",
  );
  const kappa = await sink.query("SELECT project, snapshot_version, kappa FROM annotator_agreement WHERE metric = 'fleiss' ORDER BY project, snapshot_version");
  print('');
  print('drift vs previous round:');
  for (const d of drift)
    print(
      `  ${d.project} ${d.round_id}: PSI ${fmt(d.psi_confidence)} (${fmt(d.psi_band)}, noise floor ${fmt(d.psi_noise_p95)}), JS(labels) ${fmt(d.js_labels)}`,
    );
  print('model quality, estimated from the random audit slice (95% intervals, per model and round):');
  for (const project of projects) {
    // Segmentation quality is its IoU, printed below; label_quality does not evaluate masks.
    if (project.task === 'image-segmentation') continue;
    const h = await loadHeadline(sink, project.name);
    print(`  ${project.name} (snapshot v${h.snapshot_version ?? 0}):`);
    for (const line of formatHeadline(h, '    ')) print(line);
  }
  // Rows come ordered by version: the last one per project is the latest snapshot.
  const latest = <T extends Record<string, unknown>>(rows: T[]) => [...new Map(rows.map((r) => [r.project, r])).values()];
  print('reviewer agreement:');
  for (const k of latest(kappa)) print(`  ${k.project} v${k.snapshot_version}: Fleiss' kappa ${fmt(k.kappa)}`);
}

export async function runDemo(dir: string, logger: Logger, print: (line: string) => void): Promise<void> {
  const abs = path.resolve(dir);
  await mkdir(abs, { recursive: true });
  const configPath = path.join(abs, 'reviewloop.yaml');
  await writeFile(configPath, `# Written by \`reviewloop demo\`; edit and rerun the commands below against it.\n${stringify(demoConfig())}`);
  const config = await loadConfig(configPath);
  const app = openApp(config, { logger });
  try {
    print(`reviewloop demo in ${abs}`);
    print('Reviewers are SIMULATED: they answer from held gold labels and write real `prodigy db-out` files.');
    const uncertaintyProjects = config.projects.filter((p) => p.strategy.name !== 'label-issues');
    for (const [i, roundId] of ROUNDS.entries()) {
      const gold = await stagePredictions(app, i);
      for (const project of uncertaintyProjects) {
        const r = await runRound(await roundOptionsFor(app, project, roundId, logger));
        const c = r.manifest.counts;
        print(
          `round ${roundId} ${project.name}: scored ${c.scored}, rejected ${c.rejected}, queued ${c.queued} (${c.audit} audit)${r.status === 'exists' ? ' [already done]' : ''}`,
        );
      }
      const answers = await simulateReview(app, roundId, gold).catch((err) => {
        if ((err as { code?: string }).code === 'CONFLICT' || (err as { code?: string }).code === 'ALREADY_EXISTS') return 0;
        throw err;
      });
      for (const project of uncertaintyProjects) {
        const m = await runMerge({ project, store: app.projectStore(project), sink: await app.sink(), logger });
        const c = m.manifest?.counts;
        print(
          `merge ${project.name}: snapshot v${m.version ?? 0}${m.status === 'nothing-new' ? ' (nothing new)' : `, ${c?.answers ?? 0} answers merged, ${c?.labelled ?? 0} labelled items`}`,
        );
      }
      if (answers > 0) print(`  (simulated reviewers answered ${answers} tasks)`);
    }
    for (const line of labelIssueSummary(await runLabelIssueDemo(app, app.project('support-labels'), abs, logger, config.worker.chunkBytes))) print(line);
    const sink = await app.sink();
    await printStats(sink, uncertaintyProjects, print);
    const reportPath = path.join(abs, 'report.html');
    const data = await loadReportData(sink, 'support-intents', '2026-11-08T12:00:00.000Z');
    await writeFile(reportPath, renderReport(data));
    print('');
    await segmentationReport(sink, abs, print);
    print(`report: ${reportPath}`);
    const rel = path.relative(process.cwd(), configPath);
    const shown = rel.startsWith('..') ? configPath : rel;
    print(`try:    npx reviewloop status -c ${shown}`);
    print(`        npx reviewloop query -c ${shown} "SELECT * FROM v_drift_trend"`);
  } finally {
    await app.close();
  }
}
