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

import { emptyStats } from '../../scoring/chunk.js';
import { isExcluded } from '../../scoring/hash.js';
import { Sampler, type Candidate, type SampleResult, type SamplingName, type StratumCount } from '../../scoring/sampling.js';
import { writeQueueOnce } from '../media/task-media.js';
import type { RoundManifest } from '../../domain/records.js';
import { buildTask } from '../../domain/prodigy/tasks.js';
import { discover, loadContent, objectLines, planned, rawObjectFilter, type RawContent, type RawItem } from '../sources/raw-source.js';
import { sharedKeys } from '../pool/score-run.js';
import type { ObjectStore } from '../store/store.js';
import { jsonLines, writeOnce } from '../store/write-once.js';
import { assertRejectRatio, commitManifest, manifestFiles, manifestHead, queueFilesOf, taskContext } from './commit.js';
import { exclusionKeys, roundDir } from './history.js';
import type { OpenRound, RoundKind, RoundOptions, RoundResult } from './types.js';

type Sample = SampleResult<RawItem & Candidate>;

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

/** Raw objects: the plan pins every object with its metadata, and the round samples instead of scoring. */
export const RAW_ROUND: RoundKind = {
  label: 'raw-object',
  planKind: 'reviewloop.raw-round-plan',
  accept: (project) => rawObjectFilter(project.predictions.prefix, project.predictions.include),
  planned,
  planShape: (f) => ({
    kind: 'reviewloop.raw-round-plan',
    round: f.round,
    objects: f.objects,
    updatedMax: f.updatedMax,
    listedFrom: f.listedFrom ?? null,
    previousRounds: f.previousRounds,
    snapshotVersion: f.snapshotVersion,
    ...(f.mediaSignedAt === undefined ? {} : { mediaSignedAt: f.mediaSignedAt }),
  }),
  run: sampleRawRound,
};

/** Discover the new objects' items, sample them with the earlier rounds' items, write the queue, commit. */
async function sampleRawRound(opts: RoundOptions, round: OpenRound): Promise<RoundResult> {
  const { project, store } = opts;
  const { roundId, plan, previous, log } = round;
  const dir = roundDir(roundId);
  const strategy = project.strategy;
  const sampling = strategy.name as SamplingName;
  const stratifyBy = strategy.stratifyBy ?? 'folder';
  log.info(`round ${roundId}: ${plan.objects.length} new raw object(s)${plan.listedFrom ? ` (listed from ${plan.listedFrom})` : ''}`);

  const found = await discover(store, plan.objects, { project, maxLineBytes: strategy.maxLineBytes, signal: opts.signal });
  opts.signal?.throwIfAborted();
  await writeOnce(store, `${dir}/objects.jsonl`, jsonLines(found.items), 'application/x-ndjson');
  await writeOnce(store, `${dir}/rejects.jsonl`, jsonLines(found.rejects), 'application/x-ndjson');
  const read = found.items.length + found.rejects.length;
  assertRejectRatio(opts, roundId, found.rejects.length, read, 'raw items');

  const { sample, skipped } = await sampleItems(opts, round, found.items, sampling, stratifyBy);
  opts.signal?.throwIfAborted();
  const content = await loadContent(
    store,
    sample.picked.map((p) => p.item),
    project,
    strategy.maxLineBytes,
  );
  const picked = sample.picked.filter((p) => content.has(p.item.id));
  const tasks = await rawTasks(opts, round, picked, content, sample, sampling);
  const score = (u: number) => (sampling === 'sequential' ? 0 : u);
  const sourceOf = (it: RawItem) => (it.line > 0 ? `${store.uri(it.object)}#L${it.line}` : store.uri(it.object));
  const queueFiles = queueFilesOf(dir, tasks, project);
  for (const [name, text] of queueFiles) await writeQueueOnce(store, name, text, log);
  await writeOnce(
    store,
    `${dir}/items.jsonl`,
    jsonLines(
      picked.map((p, i) => ({
        id: p.item.id,
        rank: i + 1,
        audit: false,
        p: null,
        score: score(p.u),
        model: null,
        source: sourceOf(p.item),
        prediction: {},
      })),
    ),
    'application/x-ndjson',
  );

  const manifest = rawManifest(opts, round, { found, sample, skipped, queued: tasks.length, queueFiles, sampling, stratifyBy });
  return commitManifest(
    opts,
    manifest,
    previous,
    log,
    `${tasks.length} queued by ${sampling} from ${sample.population} available (${found.items.length} new, ${skipped} already queued or labelled, ${found.rejects.length} rejected)`,
  );
}

/** Prodigy tasks for the sampled items, each saying why it was picked (its stratum's share) and where it came from. */
async function rawTasks(
  opts: RoundOptions,
  round: OpenRound,
  picked: Sample['picked'],
  content: Map<string, RawContent>,
  sample: Sample,
  sampling: SamplingName,
): Promise<Array<Record<string, unknown>>> {
  const { store } = opts;
  const ctx = await taskContext(
    opts,
    round,
    sampling,
    picked.map((p) => content.get(p.item.id)!),
  );
  const counts = new Map(sample.strata.map((s) => [s.stratum, s]));
  const score = (u: number) => (sampling === 'sequential' ? 0 : u);
  const sourceOf = (it: RawItem) => (it.line > 0 ? `${store.uri(it.object)}#L${it.line}` : store.uri(it.object));
  return picked.map((p, i) => {
    const t = buildTask(ctx, {
      entry: {
        id: p.item.id,
        score: score(p.u),
        u: p.u,
        source: { object: store.uri(p.item.object), line: p.item.line },
        record: { id: p.item.id, ...content.get(p.item.id)! },
      },
      rank: i + 1,
      audit: false,
    });
    const meta = t.meta as Record<string, unknown>;
    meta.reason = reasonOf(sampling, p.item.stratum, counts, sample.population);
    meta.source = sourceOf(p.item);
    meta.stratum = p.item.stratum;
    return t;
  });
}

/** What a raw round's manifest says: the common head, its sample's counts and strata, and where its items went. */
function rawManifest(
  opts: RoundOptions,
  round: OpenRound,
  r: {
    found: { items: RawItem[]; rejects: unknown[] };
    sample: { population: number; strata: StratumCount[] };
    skipped: number;
    queued: number;
    queueFiles: Array<[string, string]>;
    sampling: SamplingName;
    stratifyBy: string;
  },
): RawRoundManifest {
  const { project } = opts;
  const { roundId, plan, seed } = round;
  const { found, sample, skipped, sampling, stratifyBy, queueFiles } = r;
  const dir = roundDir(roundId);
  const strategy = project.strategy;
  const read = found.items.length + found.rejects.length;
  const stats = { ...emptyStats(), read, scored: sample.population, rejected: found.rejects.length, skipped };
  return {
    ...manifestHead(project, roundId, plan),
    model: null,
    strategy: { name: sampling, topK: strategy.topK, auditFraction: 0, seed, reduce: strategy.reduce },
    labels: project.labels,
    consumed: plan.objects.map((o) => ({ name: o.name, generation: o.generation, size: o.size })),
    counts: { read, scored: sample.population, rejected: found.rejects.length, skipped, queued: r.queued, audit: 0 },
    auditPopulation: sample.population,
    stats,
    queuedScores: [],
    scoreRange: [0, 1],
    ...manifestFiles(dir, queueFiles, plan),
    raw: {
      objects: `${dir}/objects.jsonl`,
      discovered: found.items.length,
      sampling,
      stratifyBy: sampling === 'stratified-random' ? stratifyBy : null,
      strata: sample.strata,
    },
  };
}

/** The raw round's candidates: earlier rounds' items and the new ones, at their latest generation, less what was queued or labelled. */
async function sampleItems(opts: RoundOptions, round: OpenRound, fresh: RawItem[], sampling: SamplingName, stratifyBy: string) {
  const { store, project } = opts;
  const { plan, previous } = round;
  // One generation per object: a rewritten object's items replace the earlier ones.
  const latestGen = new Map<string, bigint>();
  for (const c of [...previous.flatMap((m) => m.consumed), ...plan.objects]) {
    const g = BigInt(c.generation);
    if ((latestGen.get(c.name) ?? -1n) < g) latestGen.set(c.name, g);
  }
  const exclude = sharedKeys(await exclusionKeys(store, previous, plan.snapshotVersion));
  const sampler = new Sampler<RawItem & Candidate>(sampling, project.strategy.topK, round.seed);
  let skipped = 0;
  const offer = (it: RawItem) => {
    if (latestGen.get(it.object) !== BigInt(it.generation)) return;
    // Raw items carry no model: the key is (id, no model), the same key a cold-start queue line leaves behind.
    if (exclude.length > 0 && isExcluded(exclude, it.id, undefined)) {
      skipped++;
      return;
    }
    sampler.add({ ...it, source: { object: it.object, line: it.line }, stratum: stratumOf(it, stratifyBy) });
  };
  for await (const it of earlierItems(store, previous, project.strategy.maxLineBytes)) offer(it);
  for (const it of fresh) offer(it);
  return { sample: sampler.result(), skipped };
}
