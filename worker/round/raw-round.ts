/**
 * A round over raw objects (cold start, `predictions.format: objects`): no
 * model scores, so the queue is a sample (`random`, `stratified-random`,
 * `sequential`) of the items not yet queued or labelled.
 *
 * Files, as for prediction rounds, all create-only with deterministic bytes:
 * `plan.json` pins the new objects (name, generation) and the history;
 * `objects.jsonl` holds the items found in those objects, probed once (image
 * sizes from a header read), so later rounds sample from the earlier rounds'
 * `objects.jsonl` plus what is new, without reading old objects again;
 * `queue*.jsonl`, `items.jsonl`, `rejects.jsonl`, then `manifest.json` last.
 */
import type { ProjectConfig, StrategyConfig, strategyNames } from '../../config/schema.js';
import { emptyStats } from '../../scoring/chunk.js';
import { isExcluded } from '../../scoring/hash.js';
import { Sampler, type Candidate, type SamplingName, type StratumCount } from '../../scoring/sampling.js';
import { ReviewloopError } from '../../domain/errors.js';
import { unconsumedObjects } from '../store/listing.js';
import { assertNotReleased, claimObjects, type ClaimOptions } from './claims.js';
import { MEDIA_TASKS, gcsMediaUris, signMediaUrls, signingInstant, writeQueueOnce } from '../media/task-media.js';
import { silentLogger } from '../core/log.js';
import type { RoundManifest } from '../../domain/records.js';
import { buildTask, defaultView, type TaskContext, type View } from '../../domain/prodigy/tasks.js';
import { discover, loadContent, objectLines, planned, rawObjectFilter, type PlannedObject, type RawItem } from '../sources/raw-source.js';
import { validateRoundId } from '../../domain/round-id.js';
import { commitManifest, exclusionKeys, listRounds, manifestFiles, manifestHead, queueFilesOf, roundDir, writeRoundStats, type RoundOptions, type RoundResult } from './round.js';
import { sharedKeys } from '../pool/score-run.js';
import { readLatest } from '../snapshot/snapshot.js';
import type { ObjectStore } from '../store/store.js';
import { firstWriteWins, jsonLines, readJson, writeOnce } from '../store/write-once.js';

/** Pinned inputs of a raw round (see `RoundPlan` in round.ts for why). */
interface RawRoundPlan {
  kind: 'reviewloop.raw-round-plan';
  round: string;
  objects: PlannedObject[];
  updatedMax: string | null;
  /** Where the listing started (incremental listing), or null for a full listing. */
  listedFrom: string | null;
  previousRounds: string[];
  snapshotVersion: number | null;
  /** Media tasks: the pinned signing instant of media URLs (worker/media/task-media.ts). */
  mediaSignedAt?: string;
}

/** What a raw round adds to its manifest. */
export interface RawRoundSection {
  /** Items found in this round's new objects (later rounds sample from these too). */
  objects: string;
  discovered: number;
  sampling: SamplingName;
  stratifyBy: string | null;
  /** Per stratum: items available (not queued or labelled before) and picked. */
  strata: StratumCount[];
}

export type RawRoundManifest = RoundManifest & { raw: RawRoundSection };

/** A prediction project's strategy, typed as a scoring strategy (the schema keeps sampling names to raw projects). */
export function scoringStrategy(project: ProjectConfig): StrategyConfig & { name: (typeof strategyNames)[number] } {
  const s = project.strategy;
  if (project.predictions.format === 'objects' || s.name === 'stratified-random' || s.name === 'sequential') {
    throw new ReviewloopError('CONFIG_INVALID', `project ${project.name}: raw objects (predictions.format: objects, strategy ${s.name}) are sampled by whole rounds, not scored`);
  }
  return s as StrategyConfig & { name: (typeof strategyNames)[number] };
}

async function planRawRound(store: ObjectStore, project: ProjectConfig, roundId: string, previous: RoundManifest[], now: number, claims: ClaimOptions | undefined): Promise<RawRoundPlan> {
  const name = `${roundDir(roundId)}/plan.json`;
  await assertNotReleased(store, roundId);
  const existing = await readJson<RawRoundPlan>(store, name);
  if (existing && existing.kind !== 'reviewloop.raw-round-plan') {
    throw new ReviewloopError('CONFIG_INVALID', `${store.uri(name)} plans a prediction round, but project ${project.name} now reads raw objects; use another round id`);
  }
  if (existing) return existing;
  const found = await unconsumedObjects(store, project.predictions.prefix, {
    consumed: previous.flatMap((m) => m.consumed), runsBefore: previous.length, listing: project.predictions.listing,
    accept: rawObjectFilter(project.predictions.prefix, project.predictions.include),
  });
  const start = found.listedFrom;
  // Rounds with other ids planning at the same time: each object goes to the one whose claim lands (worker/round/claims.ts).
  const mine = await claimObjects(store, roundId, found.objects, claims);
  const objects: PlannedObject[] = mine.map(planned);
  let updatedMax: string | null = null;
  for (const o of mine) if (updatedMax === null || o.updated > updatedMax) updatedMax = o.updated;
  const latest = (await readLatest(store))?.pointer.version ?? null;
  const plan: RawRoundPlan = {
    kind: 'reviewloop.raw-round-plan', round: roundId, objects, updatedMax, listedFrom: start ?? null,
    previousRounds: previous.map((m) => m.round), snapshotVersion: latest,
    ...(MEDIA_TASKS.has(project.task) ? { mediaSignedAt: signingInstant(now) } : {}),
  };
  // Another replica may have planned this round first: then its plan is used, so both produce the same bytes.
  return firstWriteWins(store, name, plan);
}

function stratumOf(item: RawItem, stratifyBy: string): string {
  if (stratifyBy === 'folder') return item.folder;
  const v = item.meta?.[stratifyBy.slice('meta.'.length)];
  return v === undefined || v === null ? '(none)' : typeof v === 'string' ? v : JSON.stringify(v);
}

/** Items from earlier raw rounds' `objects.jsonl`, in round order. */
async function* earlierItems(store: ObjectStore, previous: RoundManifest[], maxLineBytes: number): AsyncGenerator<RawItem> {
  for (const m of previous) {
    const raw = (m as Partial<RawRoundManifest>).raw;
    if (!raw) continue;
    for await (const { text } of objectLines(store, { name: raw.objects }, maxLineBytes)) {
      if (text) yield JSON.parse(text) as RawItem;
    }
  }
}

function reasonOf(sampling: SamplingName, stratum: string, counts: Map<string, StratumCount>, population: number): string {
  if (sampling === 'sequential') return 'next in object-name order';
  if (sampling === 'random') return `random sample of ${population} unlabelled item(s)`;
  const c = counts.get(stratum)!;
  return `stratified sample: ${stratum} (${c.picked} of ${c.available})`;
}

export async function runRawRound(opts: RoundOptions): Promise<RoundResult> {
  const { project, store } = opts;
  const roundId = validateRoundId(opts.roundId);
  const log = (opts.logger ?? silentLogger).child({ project: project.name, round: roundId, job: 'round' });
  const dir = roundDir(roundId);
  const all = await listRounds(store);
  const done = all.find((m) => m.round === roundId);
  if (done) {
    log.info(`round ${roundId} already complete; nothing changed`);
    await writeRoundStats(opts, done, all);
    return { status: 'exists', manifest: done };
  }
  const plan = await planRawRound(store, project, roundId, all, (opts.mediaSigner?.now ?? Date.now)(), opts.claims);
  const pinned = new Set(plan.previousRounds);
  const previous = all.filter((m) => pinned.has(m.round));
  const strategy = project.strategy;
  const sampling = strategy.name as SamplingName;
  const stratifyBy = strategy.stratifyBy ?? 'folder';
  const seed = `${String(strategy.seed)}:${roundId}`;
  log.info(`round ${roundId}: ${plan.objects.length} new raw object(s)${plan.listedFrom ? ` (listed from ${plan.listedFrom})` : ''}`);

  const found = await discover(store, plan.objects, { project, maxLineBytes: strategy.maxLineBytes, signal: opts.signal });
  opts.signal?.throwIfAborted();
  await writeOnce(store, `${dir}/objects.jsonl`, jsonLines(found.items), 'application/x-ndjson');
  const rejectsText = jsonLines(found.rejects);
  await writeOnce(store, `${dir}/rejects.jsonl`, rejectsText, 'application/x-ndjson');
  const read = found.items.length + found.rejects.length;
  if (read > 0 && found.rejects.length / read > strategy.maxRejectRatio) {
    throw new ReviewloopError('REJECT_RATIO_EXCEEDED', `round ${roundId}: ${found.rejects.length} of ${read} raw items rejected (${(100 * found.rejects.length / read).toFixed(1)}% > ${(100 * strategy.maxRejectRatio).toFixed(1)}%); see ${store.uri(`${dir}/rejects.jsonl`)}`, { details: { round: roundId } });
  }

  // One generation per object: a rewritten object's items replace the earlier ones.
  const latestGen = new Map<string, bigint>();
  for (const c of [...previous.flatMap((m) => m.consumed), ...plan.objects]) {
    const g = BigInt(c.generation);
    if ((latestGen.get(c.name) ?? -1n) < g) latestGen.set(c.name, g);
  }
  const exclude = sharedKeys(await exclusionKeys(store, previous, plan.snapshotVersion));
  const sampler = new Sampler<RawItem & Candidate>(sampling, strategy.topK, seed);
  let skipped = 0;
  const offer = (it: RawItem) => {
    if (latestGen.get(it.object) !== BigInt(it.generation)) return;
    // Raw items carry no model: the key is (id, no model), the same key a cold-start queue line leaves behind.
    if (exclude.length > 0 && isExcluded(exclude, it.id, undefined)) { skipped++; return; }
    sampler.add({ ...it, source: { object: it.object, line: it.line }, stratum: stratumOf(it, stratifyBy) });
  };
  for await (const it of earlierItems(store, previous, strategy.maxLineBytes)) offer(it);
  for (const it of found.items) offer(it);
  const sample = sampler.result();
  opts.signal?.throwIfAborted();

  const content = await loadContent(store, sample.picked.map((p) => p.item), project, strategy.maxLineBytes);
  const counts = new Map(sample.strata.map((s) => [s.stratum, s]));
  const picked = sample.picked.filter((p) => content.has(p.item.id));
  const view: View = (project.queue.view as View | undefined) ?? defaultView(project.task);
  const ctx: TaskContext = {
    project: project.name, round: roundId, task: project.task, view, labels: project.labels,
    strategy: sampling, acceptThreshold: project.queue.acceptThreshold,
    mediaUrl: opts.mediaUrl ?? (MEDIA_TASKS.has(project.task) ? await signMediaUrls(gcsMediaUris(picked.map((p) => content.get(p.item.id)!)), {
      ttlSeconds: project.queue.signedUrlTtlSeconds, signedAt: plan.mediaSignedAt, signer: opts.mediaSigner, logger: log,
    }) : undefined),
  };
  const score = (u: number) => (sampling === 'sequential' ? 0 : u);
  const sourceOf = (it: RawItem) => (it.line > 0 ? `${store.uri(it.object)}#L${it.line}` : store.uri(it.object));
  const tasks = picked.map((p, i) => {
    const t = buildTask(ctx, {
      entry: { id: p.item.id, score: score(p.u), u: p.u, source: { object: store.uri(p.item.object), line: p.item.line }, record: { id: p.item.id, ...content.get(p.item.id)! } },
      rank: i + 1, audit: false,
    });
    const meta = t.meta as Record<string, unknown>;
    meta.reason = reasonOf(sampling, p.item.stratum, counts, sample.population);
    meta.source = sourceOf(p.item);
    meta.stratum = p.item.stratum;
    return t;
  });
  const queueFiles = queueFilesOf(dir, tasks, project);
  for (const [name, text] of queueFiles) await writeQueueOnce(store, name, text, log);
  await writeOnce(store, `${dir}/items.jsonl`, jsonLines(picked.map((p, i) => ({
    id: p.item.id, rank: i + 1, audit: false, p: null, score: score(p.u), model: null, source: sourceOf(p.item), prediction: {},
  }))), 'application/x-ndjson');

  const stats = { ...emptyStats(), read, scored: sample.population, rejected: found.rejects.length, skipped };
  const manifest: RawRoundManifest = {
    ...manifestHead(project, roundId, plan),
    model: null,
    strategy: { name: sampling, topK: strategy.topK, auditFraction: 0, seed, reduce: strategy.reduce },
    labels: project.labels,
    consumed: plan.objects.map((o) => ({ name: o.name, generation: o.generation, size: o.size })),
    counts: { read, scored: sample.population, rejected: found.rejects.length, skipped, queued: tasks.length, audit: 0 },
    auditPopulation: sample.population,
    stats,
    queuedScores: [],
    scoreRange: [0, 1],
    ...manifestFiles(dir, queueFiles, plan),
    raw: { objects: `${dir}/objects.jsonl`, discovered: found.items.length, sampling, stratifyBy: sampling === 'stratified-random' ? stratifyBy : null, strata: sample.strata },
  };
  return commitManifest(opts, manifest, previous, log, `${tasks.length} queued by ${sampling} from ${sample.population} available (${found.items.length} new, ${skipped} already queued or labelled, ${found.rejects.length} rejected)`);
}
