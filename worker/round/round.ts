/**
 * One correction round: plan the new prediction objects, score them in the
 * pool, select, write the Prodigy queue and rejects, then the manifest last
 * (create-only). A round exists iff its manifest exists; every earlier file
 * is written create-only with deterministic bytes, so a rerun after a crash
 * completes the same round byte for byte.
 */
import { exclusionKey } from '../../scoring/hash.js';
import { scoreRange } from '../../scoring/strategies.js';
import type { ProjectConfig } from '../../config/schema.js';
import type { ChunkStats, PredictionRecord, Reject, ScoredEntry } from '../../scoring/types.js';
import { ReviewloopError, isReviewloopError } from '../../domain/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import type { ConsumedObject, QuarantinedObject, RoundManifest, SnapshotRow } from '../../domain/records.js';
import type { ScoringPool } from '../pool/pool.js';
import { buildTask, defaultView, type TaskContext, type View } from '../../domain/prodigy/tasks.js';
import { roundEventTime, validateRoundId } from '../../domain/round-id.js';
import { scoreSources, sharedKeys, type ExactSums, type ScoreParams, type ScoreRunResult } from '../pool/score-run.js';
import { auditTarget, select } from '../../domain/select.js';
import { formatOf, predictionObjectFilter, type Source } from '../sources/sources.js';
import { roundBatchId, roundRows } from '../../domain/quality/compute.js';
import type { StatsSink } from '../stats/sinks/sink.js';
import type { ObjectStore } from '../store/store.js';
import { firstWriteWins, jsonFile, jsonLines, readJson, writeOnce } from '../store/write-once.js';
import { readLatest, readSnapshotRows } from '../snapshot/snapshot.js';
import { splitQueue } from '../../domain/prodigy/annotators.js';
import { firstImageSize, headerImageSize, pinImageSizes, resolveImageSizes, storeImageSize, type ImageSizeHook } from '../media/box-sizes.js';
import { mediaHeadReader, type MediaHeadReader } from '../media/media-read.js';
import { kCenterSelect, quotaSelect } from '../../domain/selection-plugins.js';
import { unconsumedObjects } from '../store/listing.js';
import { assertNotReleased, claimObjects, commitClaims, type ClaimOptions } from './claims.js';
import { MEDIA_TASKS, gcsMediaUris, signMediaUrls, signingInstant, writeQueueOnce } from '../media/task-media.js';
import type { MediaSignerOptions } from '../media/signing.js';
import { runRawRound, scoringStrategy } from './raw-round.js';
import type { BigQueryPin } from './bq-round.js';

export interface RoundOptions {
  project: ProjectConfig;
  /** The project's store (names relative to ROOT/<project>/). */
  store: ObjectStore;
  pool: ScoringPool;
  sink: StatsSink | null;
  roundId: string;
  /** Bytes per scoring chunk. */
  chunkBytes: number;
  logger?: Logger;
  signal?: AbortSignal;
  /** Rewrites gs:// media for reviewers; default for image/audio tasks: V4 signed URLs (worker/media/task-media.ts). */
  mediaUrl?: (uri: string) => string;
  /** Key or client that signs media URLs; its `now` is the wall clock. Default: Application Default Credentials. */
  mediaSigner?: MediaSignerOptions;
  /** Image size for Vertex AI boxes given without one. Default: `width`/`height` metadata of image objects in `store`, else the image's header read through `media`. */
  imageSize?: ImageSizeHook;
  /** Reads media headers in any bucket or local path (worker/media/media-read.ts). Default: URIs under `store`, and local files when `store` is local. */
  media?: MediaHeadReader;
  /** Claim TTL and clock for plan-time claims (worker/round/claims.ts); default 6 h (CLAIM_TTL_MS). */
  claims?: ClaimOptions;
}

export interface RoundResult {
  status: 'created' | 'exists';
  manifest: RoundManifest;
}

/**
 * Everything a round's output depends on besides config: the objects it
 * consumes and the history it excludes (earlier rounds, the snapshot version).
 * Pinned in plan.json so a rerun after a crash sees exactly the same inputs,
 * even if merges or new uploads happened in between.
 */
export interface RoundPlan {
  kind: 'reviewloop.round-plan';
  round: string;
  objects: ConsumedObject[];
  updatedMax: string | null;
  previousRounds: string[];
  snapshotVersion: number | null;
  /** Where the listing of the predictions prefix started; absent = a full listing (worker/store/listing.ts). */
  listedFrom?: string;
  /** Media tasks: the instant media URLs are signed at, pinned so a rerun writes the same queue bytes (worker/media/task-media.ts). */
  mediaSignedAt?: string;
  /** `strategy.engine: bigquery`: the table scored instead of objects, and its state at planning (worker/round/bq-round.ts). */
  bigquery?: BigQueryPin;
}

export const roundDir = (r: string) => `rounds/${r}`;

/** Manifests of all completed rounds, ordered by slot time then id. */
export async function listRounds(store: ObjectStore): Promise<RoundManifest[]> {
  const out: RoundManifest[] = [];
  for await (const o of store.list('rounds/')) {
    if (!/^rounds\/[^/]+\/manifest\.json$/.test(o.name)) continue;
    const m = await readJson<RoundManifest>(store, o.name);
    if (m) out.push(m);
  }
  return out.sort((a, b) => (a.slotTime < b.slotTime ? -1 : a.slotTime > b.slotTime ? 1 : a.round < b.round ? -1 : a.round > b.round ? 1 : 0));
}

/** The plan fixes which objects (and generations) a round consumes, so a rerun sees the same inputs. */
async function planRound(store: ObjectStore, project: ProjectConfig, roundId: string, previous: RoundManifest[], now: number, claims: ClaimOptions | undefined, pinTable?: PinTable): Promise<RoundPlan> {
  const name = `${roundDir(roundId)}/plan.json`;
  await assertNotReleased(store, roundId);
  const existing = await readJson<RoundPlan>(store, name);
  if (existing) return existing;
  const bigquery = pinTable ? await pinTable(now) : undefined;
  let objects: ConsumedObject[] = [];
  let updatedMax: string | null = null;
  let listedFrom: string | undefined;
  // A BigQuery round reads its table, not the prefix.
  if (!bigquery) {
    const found = await unconsumedObjects(store, project.predictions.prefix, {
      consumed: previous.flatMap((m) => m.consumed), runsBefore: previous.length, listing: project.predictions.listing, accept: predictionObjectFilter(project.predictions.prefix, project.predictions.include),
    });
    listedFrom = found.listedFrom;
    // Rounds with other ids planning at the same time: each object goes to the one whose claim lands (worker/round/claims.ts).
    const mine = await claimObjects(store, roundId, found.objects, claims);
    objects = mine.map((o) => ({ name: o.name, generation: o.generation, size: o.size }));
    for (const o of mine) if (updatedMax === null || o.updated > updatedMax) updatedMax = o.updated;
  }
  const latest = await readLatest(store);
  const plan: RoundPlan = {
    kind: 'reviewloop.round-plan', round: roundId, objects, updatedMax,
    previousRounds: previous.map((m) => m.round), snapshotVersion: latest?.pointer.version ?? null,
    ...(listedFrom === undefined ? {} : { listedFrom }),
    ...(MEDIA_TASKS.has(project.task) ? { mediaSignedAt: signingInstant(now) } : {}),
    ...(bigquery ? { bigquery } : {}),
  };
  // Another replica may have planned this round first: then its plan is used, so both produce the same bytes.
  return firstWriteWins(store, name, plan);
}

/** Keys of the (id, model) pairs already queued in earlier rounds or present in the latest snapshot. */
export async function exclusionKeys(store: ObjectStore, previous: RoundManifest[], snapshotVersion: number | null): Promise<bigint[]> {
  return (await excludedItems(store, previous, snapshotVersion)).map(([id, model]) => exclusionKey(id, model));
}

/** (id, model) pairs already queued in earlier rounds or present in the latest snapshot; model undefined = none. */
export async function excludedItems(store: ObjectStore, previous: RoundManifest[], snapshotVersion: number | null): Promise<Array<[id: string, model: string | undefined]>> {
  const keys: Array<[string, string | undefined]> = [];
  for (const m of previous) {
    for (const q of m.files.queue) {
      let text: string;
      try {
        text = (await store.read(q)).toString('utf8');
      } catch (err) {
        if (isReviewloopError(err, 'NOT_FOUND')) continue;
        throw err;
      }
      for (const line of text.split('\n')) {
        if (!line) continue;
        const meta = (JSON.parse(line) as { meta?: { id?: string; model?: string | null } }).meta;
        if (meta?.id !== undefined) keys.push([meta.id, meta.model ?? undefined]);
      }
    }
  }
  if (snapshotVersion !== null) {
    const rows: SnapshotRow[] = await readSnapshotRows(store, snapshotVersion);
    for (const r of rows) keys.push([r.id, r.model ?? undefined]);
  }
  return keys;
}

function seedFor(project: ProjectConfig, roundId: string): string {
  return `${String(project.strategy.seed)}:${roundId}`;
}

/** A round whose plan is fixed but whose manifest is not written yet: what the score and finish phases share. */
export interface OpenRound {
  roundId: string;
  plan: RoundPlan;
  /** Completed rounds the plan pins as history. */
  previous: RoundManifest[];
  seed: string;
  log: Logger;
}

/** What scoring produced: merged heaps, stats, and reject lines (JSON) in plan order. */
export interface RoundScores {
  top: ScoredEntry[];
  audit: ScoredEntry[];
  /** Losing copies of kept ids (see ScoreRunResult.copies): the duplicates a round reports. */
  copies: { top: ScoredEntry[]; audit: ScoredEntry[] };
  stats: ChunkStats;
  rejects: string[];
  /** Objects that could not be read, in plan order (their object-level lines are in `rejects`). */
  quarantined?: QuarantinedObject[];
}

/** Pins a BigQuery round's table at planning time (worker/round/bq-round.ts); `now` in ms. */
export type PinTable = (now: number) => Promise<BigQueryPin>;

/** Plans the round (or reads its plan); `exists` when its manifest is already there. `pinTable`: the round reads a BigQuery table. */
export async function openRound(opts: RoundOptions, pinTable?: PinTable): Promise<{ exists: RoundResult } | { open: OpenRound }> {
  const { project, store } = opts;
  scoringStrategy(project); // raw-object projects never plan a prediction round (runRawRound)
  if (project.strategy.engine === 'bigquery' && !pinTable) {
    throw new ReviewloopError('CONFIG_INVALID', `project ${project.name}: strategy.engine: bigquery scores in one query; run the round unsharded (reviewloop round without --shard)`);
  }
  const roundId = validateRoundId(opts.roundId);
  const log = (opts.logger ?? silentLogger).child({ project: project.name, round: roundId, job: 'round' });
  const all = await listRounds(store);
  const done = all.find((m) => m.round === roundId);
  if (done) {
    log.info(`round ${roundId} already complete; nothing changed`);
    await writeRoundStats(opts, done, all);
    return { exists: { status: 'exists', manifest: done } };
  }
  const plan = await planRound(store, project, roundId, all, (opts.mediaSigner?.now ?? Date.now)(), opts.claims, pinTable);
  // Plans written before pinning existed carry no history: fall back to what exists now.
  const pinned = new Set(plan.previousRounds ?? all.map((m) => m.round));
  const previous = all.filter((m) => pinned.has(m.round));
  return { open: { roundId, plan, previous, seed: seedFor(project, roundId), log } };
}

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
export async function scoreRound(opts: RoundOptions, round: OpenRound, objects: ConsumedObject[] = round.plan.objects): Promise<RoundScores & { exact: ExactSums }> {
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
    ...(store.localPath !== undefined && (formatOf(o.name) === 'jsonl' || formatOf(o.name) === 'arrow') ? { path: store.localPath(o.name), generation: o.generation } : {}),
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
  };
  const first = await scorePass(opts, round, objects, sources, params);
  // An object whose own records are mostly invalid would push every round over maxRejectRatio, and a
  // failed round consumes nothing: it is set aside whole, and the round scored again without it. The
  // decision rests on the object's bytes alone, so a rerun, or a shard holding it, decides the same.
  const max = scoringStrategy(project).maxRejectRatio;
  // An object that also broke (unreadable past some line) is judged on the records read before the break.
  const over = new Map(first.objects.filter((o) => o.read > 0 && o.rejected / o.read > max).map((o) => [o.uri, o]));
  if (over.size === 0) return first.scores;
  const second = await scorePass(opts, round, objects.filter((o) => !over.has(store.uri(o.name))), sources.filter((s) => !over.has(s.uri)), params);
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
    const reason = `${bad.rejected} of ${bad.read} records invalid (${(100 * bad.rejected / bad.read).toFixed(1)}% > maxRejectRatio ${(100 * max).toFixed(1)}%), none used${example ? `; first: line ${example.line}${example.field ? ` ${example.field}` : ''}: ${example.reason}` : ''}`;
    rejects.push(JSON.stringify({ object: uri, line: 0, field: null, reason, code: 'REJECTS_OVER_RATIO' } satisfies Reject));
    quarantined.push({ name: o.name, generation: o.generation, code: 'REJECTS_OVER_RATIO', line: 0, reason });
    round.log.warn(`round ${round.roundId}: ${uri} quarantined (REJECTS_OVER_RATIO): ${reason}`);
  }
  return { ...second.scores, rejects, quarantined };
}

/** One scoring pass over `sources`: their heaps, stats, reject lines and unreadable objects, and what each object held. */
async function scorePass(opts: RoundOptions, round: OpenRound, objects: ConsumedObject[], sources: Source[], params: ScoreParams): Promise<{ scores: RoundScores & { exact: ExactSums }; objects: ScoreRunResult['objects'] }> {
  const rejects: string[] = [];
  const quarantined: QuarantinedObject[] = [];
  const byName = new Map(objects.map((o) => [o.name, o]));
  const result = await scoreSources(sources, params, opts.pool, {
    signal: opts.signal,
    onRejects: (rs: Reject[]) => { for (const r of rs) rejects.push(JSON.stringify(r)); },
    // An unreadable object is consumed with the rest (never retried), listed in the manifest; see docs/reliability.md.
    onQuarantine: (q) => {
      const o = byName.get(q.source.name)!;
      quarantined.push({ name: o.name, generation: o.generation, code: q.code, line: q.line, reason: q.reason });
      round.log.warn(`round ${round.roundId}: ${q.source.uri} quarantined (${q.code}): ${q.reason}`);
    },
  });
  return { scores: { top: result.top, audit: result.audit, copies: result.copies, stats: result.stats, rejects, quarantined, exact: result.exact }, objects: result.objects };
}

export async function runRound(opts: RoundOptions): Promise<RoundResult> {
  if (opts.project.predictions.format === 'objects') return runRawRound(opts);
  // Loaded on demand: local rounds never load the BigQuery client.
  if (opts.project.strategy.engine === 'bigquery') return (await import('./bq-round.js')).runBigQueryRound(opts);
  const opened = await openRound(opts);
  if ('exists' in opened) return opened.exists;
  const round = opened.open;
  round.log.info(`round ${round.roundId}: ${round.plan.objects.length} new prediction object(s)`);
  return finishRound(opts, round, await scoreRound(opts, round));
}

/** Selection, queue, items, rejects, then the manifest last: everything after scoring. */
export async function finishRound(opts: RoundOptions, round: OpenRound, scores: RoundScores): Promise<RoundResult> {
  const { project, store } = opts;
  const { roundId, plan, previous, seed, log } = round;
  const dir = roundDir(roundId);
  const strategy = scoringStrategy(project);
  const population = scores.stats.scored;
  const selection = select(scores.top, scores.audit, population, {
    topK: strategy.topK,
    auditFraction: strategy.auditFraction,
    labels: project.labels,
    diversity: strategy.diversity,
    quotas: strategy.quotas,
    kCenter: kCenterSelect,
    applyQuotas: quotaSelect,
  });

  const lookup = opts.imageSize ?? firstImageSize(storeImageSize(store), headerImageSize(opts.media ?? mediaHeadReader({ store, localFiles: store.localPath !== undefined })));
  const sizeHook = await pinImageSizes(store, `${dir}/image-sizes.json`, selection.items, lookup);
  const sizes = await resolveImageSizes(selection, sizeHook, (r) => scores.rejects.push(JSON.stringify(r)));
  // Records rejected for their image count as rejected, not scored, so counts match rejects.jsonl line for line.
  const stats: ChunkStats = { ...scores.stats, scored: scores.stats.scored - sizes.rejected, rejected: scores.stats.rejected + sizes.rejected };
  const deferredObjects = new Set(sizes.deferred.map((d) => d.object));
  for (const d of sizes.deferred) log.warn(`round ${roundId}: ${d.object} line ${d.line} (${d.id ?? '?'}) deferred to the next round: ${d.reason}`);
  const view: View = (project.queue.view as View | undefined) ?? defaultView(project.task);
  const ctx: TaskContext = {
    project: project.name, round: roundId, task: project.task, view, labels: project.labels,
    strategy: strategy.name, acceptThreshold: project.queue.acceptThreshold,
    mediaUrl: opts.mediaUrl ?? (MEDIA_TASKS.has(project.task) ? await signMediaUrls(gcsMediaUris(selection.items.map((i) => i.entry.record)), {
      ttlSeconds: project.queue.signedUrlTtlSeconds, signedAt: plan.mediaSignedAt, signer: opts.mediaSigner, logger: log,
    }) : undefined),
  };
  const tasks = selection.items.map((item) => buildTask(ctx, item));
  const queueFiles = queueFilesOf(dir, tasks, project);
  // The model's full prediction per queued item: the merge joins it back for quality stats and lineage.
  const itemsText = jsonLines(selection.items.map((i) => ({
    id: i.entry.id, rank: i.rank, audit: i.audit, p: i.audit ? i.p ?? null : null, score: i.entry.score,
    model: i.entry.record.model ?? null, source: `${i.entry.source.object}#L${i.entry.source.line}`,
    prediction: predictionOf(i.entry.record),
  })));
  const duplicates = duplicateRejects(selection.items, scores);
  scores.rejects.push(...duplicates.map((r) => JSON.stringify(r)));
  const rejectsText = scores.rejects.length > 0 ? `${scores.rejects.join('\n')}\n` : '';
  await writeOnce(store, `${dir}/rejects.jsonl`, rejectsText, 'application/x-ndjson');

  if (stats.read > 0 && stats.rejected / stats.read > strategy.maxRejectRatio) {
    throw new ReviewloopError('REJECT_RATIO_EXCEEDED', `round ${roundId}: ${stats.rejected} of ${stats.read} records rejected (${(100 * stats.rejected / stats.read).toFixed(1)}% > ${(100 * strategy.maxRejectRatio).toFixed(1)}%); see ${store.uri(`${dir}/rejects.jsonl`)}`, { details: { round: roundId } });
  }
  for (const [name, text] of queueFiles) await writeQueueOnce(store, name, text, log);
  await writeOnce(store, `${dir}/items.jsonl`, itemsText, 'application/x-ndjson');

  const models = [...new Set(selection.items.map((i) => i.entry.record.model).filter((m): m is string => m !== undefined))].sort();
  const manifest: RoundManifest = {
    ...manifestHead(project, roundId, plan),
    model: models.length === 0 ? null : models.join(','),
    strategy: {
      name: strategy.name, topK: strategy.topK, auditFraction: strategy.auditFraction, seed, reduce: strategy.reduce,
      ...(strategy.diversity ? { diversity: strategy.diversity } : {}),
      ...(strategy.quotas ? { quotas: strategy.quotas } : {}),
    },
    labels: project.labels,
    // An object holding a deferred record stays unconsumed: the next round reads it again, and what
    // this round queued from it is excluded there as already queued (exclusionKeys).
    consumed: plan.objects.filter((o) => !deferredObjects.has(store.uri(o.name))),
    counts: {
      read: stats.read, scored: stats.scored, rejected: stats.rejected, skipped: stats.skipped,
      queued: selection.items.length, audit: selection.auditCount, duplicates: duplicates.length,
      ...(sizes.deferred.length > 0 ? { deferred: sizes.deferred.length } : {}),
      quarantinedObjects: scores.quarantined?.length ?? 0,
    },
    ...(sizes.deferred.length > 0 ? { deferred: sizes.deferred } : {}),
    quarantined: scores.quarantined ?? [],
    auditPopulation: population,
    stats,
    queuedScores: selection.items.filter((i) => !i.audit).map((i) => i.entry.score),
    scoreRange: scoreRange(strategy.name, project.labels.length),
    ...manifestFiles(dir, queueFiles, plan),
  };
  return commitManifest(opts, manifest, previous, log, `${manifest.counts.queued} queued (${manifest.counts.audit} audit), ${stats.scored} scored, ${stats.rejected} rejected, ${duplicates.length} duplicate(s), ${stats.skipped} skipped, ${manifest.counts.quarantinedObjects} object(s) quarantined`);
}

/**
 * One reject line per copy of a queued id that either heap kept or listed as a
 * losing copy ranking before its worst entry (at most COPIES_PER_ID per id and
 * heap; see scoring/topk.ts), in input order. The two heaps may keep different
 * copies of one id (the best score; the first line, since copies share their
 * draw): whichever is queued, the other is a duplicate. The queued copy itself
 * is never one; it is named in the reason.
 */
export function duplicateRejects(items: ReadonlyArray<{ entry: ScoredEntry }>, scores: Pick<RoundScores, 'top' | 'audit' | 'copies'>): Reject[] {
  const queued = new Map(items.map((i) => [i.entry.id, i.entry.source]));
  const seen = new Set<string>();
  const out: Reject[] = [];
  for (const c of [...scores.top, ...scores.audit, ...scores.copies.top, ...scores.copies.audit]) {
    const kept = queued.get(c.id);
    const at = `${c.source.object}#L${c.source.line}`;
    if (kept === undefined || seen.has(at) || (kept.object === c.source.object && kept.line === c.source.line)) continue;
    seen.add(at);
    out.push({ object: c.source.object, line: c.source.line, field: 'id', id: c.id, reason: `duplicate id: the copy at ${kept.object}#L${kept.line} is queued` });
  }
  return out.sort((a, b) => (a.object < b.object ? -1 : a.object > b.object ? 1 : a.line - b.line));
}

/** The queue file, plus one per annotator when the project splits its queue. */
export function queueFilesOf(dir: string, tasks: Array<Record<string, unknown>>, project: ProjectConfig): Array<[string, string]> {
  const queueFiles: Array<[string, string]> = [[`${dir}/queue.jsonl`, jsonLines(tasks)]];
  if (project.queue.annotators && project.queue.annotators.length > 0) {
    for (const [annotator, list] of splitQueue(tasks, project.queue.annotators, project.queue.overlap)) {
      queueFiles.push([`${dir}/queue-${annotator}.jsonl`, jsonLines(list)]);
    }
  }
  return queueFiles;
}

/** The fields every round manifest starts with (model rounds and raw rounds alike). */
export function manifestHead(project: ProjectConfig, roundId: string, plan: Pick<RoundPlan, 'updatedMax'>): Pick<RoundManifest, 'kind' | 'schemaVersion' | 'project' | 'round' | 'slotTime' | 'task'> {
  return {
    kind: 'reviewloop.round',
    schemaVersion: 1,
    project: project.name,
    round: roundId,
    slotTime: roundEventTime(roundId, plan.updatedMax),
    task: project.task,
  };
}

/** The files a round wrote and where its listing got to. */
export function manifestFiles(dir: string, queueFiles: Array<[string, string]>, plan: { objects: ReadonlyArray<{ name: string }> }): Pick<RoundManifest, 'files' | 'listedUpTo'> {
  return {
    files: { queue: queueFiles.map(([n]) => n), rejects: `${dir}/rejects.jsonl`, items: `${dir}/items.jsonl` },
    listedUpTo: plan.objects.length > 0 ? plan.objects[plan.objects.length - 1].name : null,
  };
}

/** Writes the manifest last (the round's commit point), logs `summary`, records its stats. */
export async function commitManifest<M extends RoundManifest>(opts: RoundOptions, manifest: M, previous: RoundManifest[], log: Logger, summary: string): Promise<{ status: 'created' | 'exists'; manifest: M }> {
  // A round aborted (past its time bound, or at shutdown) never commits, however late it gets here.
  opts.signal?.throwIfAborted();
  // A round released by another planner (its claims taken over) must not commit: CONFLICT here.
  await commitClaims(opts.store, manifest.round);
  const { created } = await writeOnce(opts.store, `${roundDir(manifest.round)}/manifest.json`, jsonFile(manifest));
  log.info(`round ${manifest.round} ${created ? 'written' : 'already written by another run'}: ${summary}`);
  await writeRoundStats(opts, manifest, [...previous, manifest]);
  return { status: created ? 'created' : 'exists', manifest };
}

function predictionOf(rec: PredictionRecord): Record<string, unknown> {
  const p: Record<string, unknown> = {};
  if (rec.probs) p.probs = rec.probs;
  if (rec.spans) p.spans = rec.spans;
  if (rec.boxes) p.boxes = rec.boxes;
  if (rec.audio_spans) p.audio_spans = rec.audio_spans;
  return p;
}

export async function writeRoundStats(opts: RoundOptions, manifest: RoundManifest, all: RoundManifest[]): Promise<void> {
  if (!opts.sink) return;
  const idx = all.findIndex((m) => m.round === manifest.round);
  const prev = idx > 0 ? all[idx - 1] : null;
  const refId = opts.project.referenceRound;
  const ref = refId ? all.find((m) => m.round === refId) ?? null : all[0] !== manifest ? all[0] ?? null : null;
  await opts.sink.write(roundBatchId(manifest.project, manifest.round), roundRows(manifest, prev, ref));
}
