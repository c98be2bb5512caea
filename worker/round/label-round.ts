/**
 * Label-issue rounds (strategy `label-issues`, docs/label-issues.md): the
 * labels of the snapshot the plan pins, questioned with out-of-sample
 * predictions of the plan's objects. Three passes in the pool flag the items
 * confident learning finds; the queue holds the flagged items, lowest score
 * first, up to topK, as choice tasks with the current label pre-selected.
 *
 * An item queued by an earlier label-issue round is not queued again (its
 * verdict, or its reviewer, is pending or done); it still counts in the
 * estimates, which describe the whole labelled set.
 */
import { emptyStats } from '../../scoring/chunk.js';
import { type IssuePayload, LabelTableBuilder } from '../../scoring/label-issues/chunk.js';
import type { LabelIssue, RankBy } from '../../scoring/label-issues/prune.js';
import type { Reject } from '../../scoring/types.js';
import { buildLabelIssueTask } from '../../domain/label-issues/task.js';
import { ReviewloopError } from '../../domain/errors.js';
import type { QuarantinedObject, RoundManifest } from '../../domain/records.js';
import { writeQueueOnce } from '../media/task-media.js';
import { type PoolAnalysis, findLabelIssuesInPool } from '../pool/label-run.js';
import { readSnapshotRows, versionDir } from '../snapshot/snapshot.js';
import type { Source } from '../sources/sources.js';
import type { ObjectStore } from '../store/store.js';
import { jsonLines, writeOnce } from '../store/write-once.js';
import { assertRejectRatio, commitManifest, manifestFiles, manifestHead, queueFilesOf, taskContext } from './commit.js';
import { roundDir } from './history.js';
import { loadRoundItems } from './round-items.js';
import { PREDICTION_ROUND, predictionPlanShape } from './score-round.js';
import type { OpenRound, RoundKind, RoundOptions, RoundResult } from './types.js';

export const LABEL_ISSUE_ROUND: RoundKind = {
  label: 'label-issue',
  planKind: 'reviewloop.round-plan',
  accept: PREDICTION_ROUND.accept,
  planned: PREDICTION_ROUND.planned,
  planShape: predictionPlanShape,
  run: runLabelIssueRound,
};

/** The labels of snapshot `version` as a table for the threads; rows with a label the config does not list are rejects. */
async function labelTable(
  store: ObjectStore,
  labels: readonly string[],
  version: number,
): Promise<{ table: ReturnType<LabelTableBuilder['finish']>['table']; rejects: Reject[]; labelled: number }> {
  const rows = await readSnapshotRows(store, version);
  const index = new Map(labels.map((l, i) => [l, i]));
  const builder = new LabelTableBuilder();
  const rejects: Reject[] = [];
  let labelled = 0;
  rows.forEach((r, i) => {
    if (r.status !== 'labelled' || r.label === null) return;
    const c = index.get(r.label);
    if (c === undefined) {
      rejects.push({
        object: store.uri(`${versionDir(version)}/data.jsonl`),
        line: i + 1,
        id: r.id,
        field: 'label',
        reason: `label "${r.label}" is not one of the project's labels; the item is left out of label-issue rounds`,
      });
      return;
    }
    builder.add(r.id, c);
    labelled++;
  });
  return { table: builder.finish().table, rejects, labelled };
}

/** Ids earlier label-issue rounds queued. */
async function askedBefore(store: ObjectStore, previous: readonly RoundManifest[]): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const m of previous) {
    if (m.strategy.name !== 'label-issues') continue;
    for (const id of (await loadRoundItems(store, m.round))?.keys() ?? []) ids.add(id);
  }
  return ids;
}

async function runLabelIssueRound(opts: RoundOptions, round: OpenRound): Promise<RoundResult> {
  const { project, store } = opts;
  const { roundId, log, plan } = round;
  const version = plan.snapshotVersion;
  if (version === null) {
    throw new ReviewloopError(
      'NOT_FOUND',
      `round ${roundId}: label-issues questions the labels of the latest snapshot, and project ${project.name} has none yet; bring existing labels with \`reviewloop import-labels\`, or merge reviewed rounds first`,
    );
  }
  const rankBy: RankBy = project.strategy.rankBy ?? 'self-confidence';
  log.info(`round ${roundId}: label issues in snapshot v${version} from ${plan.objects.length} prediction object(s)`);
  const labels = await labelTable(store, project.labels, version);
  const sources: Source[] = plan.objects.map((o) => ({
    uri: store.uri(o.name),
    name: o.name,
    size: o.size,
    open: () => store.readStream(o.name, { generation: o.generation }),
  }));
  const format = project.predictions.format === 'native' || project.predictions.format === 'vertex' ? project.predictions.format : 'auto';
  const a = await findLabelIssuesInPool(
    sources,
    {
      labels: project.labels,
      task: project.task === 'image' ? 'image' : 'textcat',
      table: labels.table,
      probTolerance: project.strategy.probTolerance,
      format,
      snapshotVersion: version,
    },
    opts.pool,
    {
      chunkBytes: opts.chunkBytes,
      maxLineBytes: project.strategy.maxLineBytes,
      signal: opts.signal,
      rankBy,
    },
  );
  const asked = await askedBefore(store, round.previous);
  const { queued, duplicates } = queueOf(a.issues, asked, project.strategy.topK);
  const dir = roundDir(roundId);
  const rejects = [...labels.rejects, ...a.rejects, ...duplicates, ...a.quarantined.map(({ code, ...r }) => ({ ...r, code }))];
  await writeOnce(store, `${dir}/rejects.jsonl`, jsonLines(rejects), 'application/x-ndjson');
  assertRejectRatio(opts, roundId, a.read - a.used, a.read, 'records');
  const ctx = await taskContext(
    opts,
    round,
    'label-issues',
    queued.map((q) => q.payload),
  );
  const taskCtx = { project: project.name, round: roundId, labels: project.labels, rankBy, snapshotVersion: version, mediaUrl: ctx.mediaUrl };
  const queueFiles = queueFilesOf(
    dir,
    queued.map((q, i) => buildLabelIssueTask(taskCtx, q, i + 1)),
    project,
  );
  for (const [name, text] of queueFiles) await writeQueueOnce(store, name, text, log);
  const score = (q: LabelIssue<IssuePayload>) => (rankBy === 'self-confidence' ? q.scores.selfConfidence : q.scores.normalizedMargin);
  await writeOnce(store, `${dir}/items.jsonl`, itemsText(queued, project.labels, version, score), 'application/x-ndjson');
  const manifest = labelIssueManifest(opts, round, { a, queued, duplicates: duplicates.length, queueFiles, rankBy, version, score });
  const s = manifest.labelIssues!;
  return commitManifest(
    opts,
    manifest,
    round.previous,
    log,
    `${queued.length} queued of ${a.issues.length} flagged in ${a.used} labelled item(s) (estimated noise ${s.noiseRate === null ? 'n/a' : `${(100 * s.noiseRate).toFixed(1)}%`}), ${a.read - a.used} rejected, ${a.quarantined.length} object(s) quarantined`,
  );
}

/** Each queued item's prediction and what the merge and the stats need of it: the label shown and its snapshot. */
function itemsText(queued: LabelIssue<IssuePayload>[], labels: readonly string[], version: number, score: (q: LabelIssue<IssuePayload>) => number): string {
  return jsonLines(
    queued.map((q, i) => ({
      id: q.payload.id,
      rank: i + 1,
      audit: false,
      p: null,
      score: score(q),
      model: q.payload.model ?? null,
      source: `${q.at.object}#L${q.at.line}`,
      prediction: q.payload.probs ? { probs: q.payload.probs } : {},
      label: labels[q.scores.label],
      label_snapshot: version,
      suggested: labels[q.scores.suggested],
      self_confidence: q.scores.selfConfidence,
      normalized_margin: q.scores.normalizedMargin,
    })),
  );
}

/** The flagged items to queue, in rank order: not asked before, each id once, at most `topK`. */
function queueOf(issues: LabelIssue<IssuePayload>[], asked: ReadonlySet<string>, topK: number): { queued: LabelIssue<IssuePayload>[]; duplicates: Reject[] } {
  const queued: LabelIssue<IssuePayload>[] = [];
  const where = new Map<string, string>();
  const duplicates: Reject[] = [];
  for (const x of issues) {
    const id = x.payload.id;
    const first = where.get(id);
    if (first !== undefined) {
      duplicates.push({ object: x.at.object, line: x.at.line, id, field: 'id', reason: `duplicate id: the copy at ${first} is flagged` });
      continue;
    }
    where.set(id, `${x.at.object}#L${x.at.line}`);
    if (!asked.has(id) && queued.length < topK) queued.push(x);
  }
  duplicates.sort((a, b) => (a.object < b.object ? -1 : a.object > b.object ? 1 : a.line - b.line));
  return { queued, duplicates };
}

interface Finished {
  a: PoolAnalysis;
  queued: LabelIssue<IssuePayload>[];
  duplicates: number;
  queueFiles: Array<[string, string]>;
  rankBy: RankBy;
  version: number;
  score: (q: LabelIssue<IssuePayload>) => number;
}

function labelIssueManifest(opts: RoundOptions, round: OpenRound, f: Finished): RoundManifest {
  const { project, store } = opts;
  const { a, queued } = f;
  const models = [...new Set(queued.map((q) => q.payload.model).filter((m): m is string => m !== undefined))].sort();
  const perLabel = (xs: LabelIssue<IssuePayload>[]) => project.labels.map((_, j) => xs.filter((x) => x.scores.label === j).length);
  const stats = { ...emptyStats(), read: a.read, scored: a.used, rejected: a.read - a.used };
  const quarantined: QuarantinedObject[] = a.quarantined.map((q) => {
    const o = round.plan.objects.find((x) => store.uri(x.name) === q.object)!;
    return { name: o.name, generation: o.generation, code: q.code, line: q.line, reason: q.reason };
  });
  return {
    ...manifestHead(project, round.roundId, round.plan),
    model: models.length === 0 ? null : models.join(','),
    strategy: { name: 'label-issues', rankBy: f.rankBy, topK: project.strategy.topK, auditFraction: 0, seed: round.seed, reduce: project.strategy.reduce },
    labels: project.labels,
    consumed: round.plan.objects.map((o) => ({ name: o.name, generation: o.generation, size: o.size })),
    counts: {
      read: a.read,
      scored: a.used,
      rejected: a.read - a.used,
      skipped: 0,
      queued: queued.length,
      audit: 0,
      duplicates: f.duplicates,
      quarantinedObjects: quarantined.length,
    },
    quarantined,
    auditPopulation: 0,
    stats,
    queuedScores: queued.map(f.score),
    scoreRange: [0, 1],
    labelIssues: {
      snapshotVersion: f.version,
      items: a.used,
      thresholds: a.thresholds,
      confidentJoint: a.confidentJoint,
      noiseRates: a.noise.perClass,
      noiseRate: a.noise.overall,
      flagged: perLabel(a.issues),
      queued: perLabel(queued),
    },
    ...manifestFiles(roundDir(round.roundId), f.queueFiles, round.plan),
  };
}
