/**
 * The part of a prediction round that produces candidates: the plan's objects
 * scored in the pool into the top and audit heaps, with an object whose own
 * records are mostly invalid set aside whole.
 */
import { SEGMENTATION_DEFAULTS } from '../../scoring/segmentation/line.js';
import type { Reject, SegmentationChunkOptions } from '../../scoring/types.js';
import { ReviewloopError } from '../../domain/errors.js';
import type { ConsumedObject, QuarantinedObject } from '../../domain/records.js';
import type { ProjectConfig } from '../../config/schema.js';
import { auditTarget } from '../../domain/select.js';
import { scoreSources, sharedKeys, type ExactSums, type ScoreParams, type ScoreRunResult } from '../pool/score-run.js';
import { formatOf, isGzipName, predictionObjectFilter, type Source } from '../sources/sources.js';
import { finishRound } from './finish-round.js';
import { exclusionKeys } from './history.js';
import { scoringStrategy } from './open.js';
import type { OpenRound, PlanFields, RoundKind, RoundOptions, RoundPlan, RoundScores } from './types.js';

/** Entries each heap keeps: the queue size, or the diversity candidate count when larger. */
export function heapSizes(project: ProjectConfig): { topK: number; auditK: number } {
  const s = project.strategy;
  return { topK: Math.max(s.topK, s.diversity?.candidates ?? 0), auditK: auditTarget(s.topK, s.auditFraction) };
}

/**
 * Scores `objects` (default: the whole plan; a shard passes its share, in
 * plan order). Exact BigInt sums come back too, so shards can be summed
 * without rounding.
 */
export async function scoreRound(
  opts: RoundOptions,
  round: OpenRound,
  objects: ConsumedObject[] = round.plan.objects,
): Promise<RoundScores & { exact: ExactSums }> {
  const { project, store } = opts;
  const strategy = scoringStrategy(project);
  const sources: Source[] = objects.map((o) => ({
    uri: store.uri(o.name),
    name: o.name,
    size: o.size,
    open: () => store.readStream(o.name, { generation: o.generation }),
    // A local store's JSONL objects are read by the scoring threads in byte ranges, and its Arrow files
    // batch by batch (arrow-file.ts), both generation-checked; Parquet keeps going through the store
    // (its reader does not check generations).
    ...(store.localPath !== undefined && (formatOf(o.name) === 'jsonl' || formatOf(o.name) === 'arrow')
      ? { path: store.localPath(o.name), generation: o.generation }
      : {}),
  }));
  const params: ScoreParams = {
    task: project.task,
    labels: project.labels,
    strategy: { name: strategy.name, reduce: strategy.reduce, seed: round.seed },
    ...heapSizes(project),
    keepEmbedding: strategy.diversity !== undefined,
    maxLineBytes: strategy.maxLineBytes,
    probTolerance: strategy.probTolerance,
    chunkBytes: opts.chunkBytes,
    format: project.predictions.format === 'native' || project.predictions.format === 'vertex' ? project.predictions.format : 'auto',
    exclude: sharedKeys(await exclusionKeys(store, round.previous, round.plan.snapshotVersion ?? null)),
    ...(project.task === 'image-segmentation' ? { segmentation: segmentationParams(project) } : {}),
  };
  const first = await scorePass(opts, round, objects, sources, params);
  // An object whose own records are mostly invalid would push every round over maxRejectRatio, and a
  // failed round consumes nothing: it is set aside whole, and the round scored again without it. The
  // decision rests on the object's bytes alone, so a rerun, or a shard holding it, decides the same.
  const max = scoringStrategy(project).maxRejectRatio;
  // An object that also broke (unreadable past some line) is judged on the records read before the break.
  const over = new Map(first.objects.filter((o) => o.read > 0 && o.rejected / o.read > max).map((o) => [o.uri, o]));
  if (over.size === 0) return first.scores;
  const second = await scorePass(
    opts,
    round,
    objects.filter((o) => !over.has(store.uri(o.name))),
    sources.filter((s) => !over.has(s.uri)),
    params,
  );
  // Reject lines in plan order: a set-aside object's single line stands where its records' lines stood.
  const lines = new Map<string, string[]>();
  for (const line of second.scores.rejects) {
    const object = (JSON.parse(line) as Reject).object;
    lines.set(object, [...(lines.get(object) ?? []), line]);
  }
  // The first invalid line of each set-aside object, named in its reason.
  const examples = new Map<string, Reject>();
  for (const line of first.scores.rejects) {
    const r = JSON.parse(line) as Reject;
    if (over.has(r.object) && !examples.has(r.object)) examples.set(r.object, r);
  }
  const rejects: string[] = [];
  const quarantined: QuarantinedObject[] = [];
  for (const o of objects) {
    const uri = store.uri(o.name);
    const bad = over.get(uri);
    if (bad === undefined) {
      rejects.push(...(lines.get(uri) ?? []));
      const q = second.scores.quarantined?.find((x) => x.name === o.name);
      if (q !== undefined) quarantined.push(q);
      continue;
    }
    const example = examples.get(uri);
    const reason = `${bad.rejected} of ${bad.read} records invalid (${((100 * bad.rejected) / bad.read).toFixed(1)}% > maxRejectRatio ${(100 * max).toFixed(1)}%), none used${example ? `; first: line ${example.line}${example.field ? ` ${example.field}` : ''}: ${example.reason}` : ''}`;
    rejects.push(JSON.stringify({ object: uri, line: 0, field: null, reason, code: 'REJECTS_OVER_RATIO' } satisfies Reject));
    quarantined.push({ name: o.name, generation: o.generation, code: 'REJECTS_OVER_RATIO', line: 0, reason });
    round.log.warn(`round ${round.roundId}: ${uri} quarantined (REJECTS_OVER_RATIO): ${reason}`);
  }
  return { ...second.scores, rejects, quarantined };
}

/** One scoring pass over `sources`: their heaps, stats, reject lines and unreadable objects, and what each object held. */
async function scorePass(
  opts: RoundOptions,
  round: OpenRound,
  objects: ConsumedObject[],
  sources: Source[],
  params: ScoreParams,
): Promise<{ scores: RoundScores & { exact: ExactSums }; objects: ScoreRunResult['objects'] }> {
  const rejects: string[] = [];
  const quarantined: QuarantinedObject[] = [];
  const byName = new Map(objects.map((o) => [o.name, o]));
  const gzip = objects.some((o) => isGzipName(o.name));
  const progress = opts.onScoring?.({ objects: objects.length, bytes: gzip ? undefined : objects.reduce((n, o) => n + o.size, 0) });
  const result = await scoreSources(sources, params, opts.pool, {
    signal: opts.signal,
    ...(progress ? { onProgress: (records: number, bytes: number) => progress.update(records, bytes) } : {}),
    onRejects: (rs: Reject[]) => {
      for (const r of rs) rejects.push(JSON.stringify(r));
    },
    // An unreadable object is consumed with the rest (never retried), listed in the manifest; see docs/reliability.md.
    onQuarantine: (q) => {
      const o = byName.get(q.source.name)!;
      quarantined.push({ name: o.name, generation: o.generation, code: q.code, line: q.line, reason: q.reason });
      round.log.warn(`round ${round.roundId}: ${q.source.uri} quarantined (${q.code}): ${q.reason}`);
    },
  }).finally(() => progress?.done());
  return {
    scores: { top: result.top, audit: result.audit, copies: result.copies, stats: result.stats, rejects, quarantined, exact: result.exact },
    objects: result.objects,
  };
}

/** A prediction plan's bytes: the field order every prediction round has written, so reruns match. */
export function predictionPlanShape(f: PlanFields): RoundPlan {
  return {
    kind: 'reviewloop.round-plan',
    round: f.round,
    objects: f.objects,
    updatedMax: f.updatedMax,
    previousRounds: f.previousRounds,
    snapshotVersion: f.snapshotVersion,
    ...(f.listedFrom === undefined ? {} : { listedFrom: f.listedFrom }),
    ...(f.mediaSignedAt === undefined ? {} : { mediaSignedAt: f.mediaSignedAt }),
    ...(f.bigquery === undefined ? {} : { bigquery: f.bigquery }),
  };
}

/** Prediction records in objects under the prefix: scored in the pool, then selected (finish-round.ts). */
export const PREDICTION_ROUND: RoundKind = {
  label: 'prediction',
  planKind: 'reviewloop.round-plan',
  accept: (project) => predictionObjectFilter(project.predictions.prefix, project.predictions.include),
  planned: (o) => ({ name: o.name, generation: o.generation, size: o.size }),
  planShape: predictionPlanShape,
  run: async (opts, round) => {
    // BigQuery and prediction plans share one kind string (plans on disk keep their bytes): tell them apart here.
    if (round.plan.bigquery !== undefined) {
      throw new ReviewloopError(
        'CONFIG_INVALID',
        `round ${round.roundId} was planned on the BigQuery table ${round.plan.bigquery.table}, but project ${opts.project.name} now reads prediction objects; use another round id`,
      );
    }
    round.log.info(`round ${round.roundId}: ${round.plan.objects.length} new prediction object(s)`);
    return finishRound(opts, round, await scoreRound(opts, round));
  },
};

/** What the scoring threads need of `project.segmentation` (colours only when configured: native records need none). */
export function segmentationParams(project: ProjectConfig): SegmentationChunkOptions {
  const seg = project.segmentation;
  return {
    colors: seg?.colors ?? null,
    maxPoints: seg?.maxPoints ?? SEGMENTATION_DEFAULTS.maxPoints,
    lowConfidenceBelow: seg?.lowConfidenceBelow ?? SEGMENTATION_DEFAULTS.lowConfidenceBelow,
  };
}
