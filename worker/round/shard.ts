/**
 * Sharded rounds on a job engine (Cloud Run job tasks, a Kubernetes indexed
 * Job): every task plans the round (create-only, so all see the same plan),
 * scores its share of the plan's objects and writes a partial under
 * `rounds/R/partials/`; the reduce merges a complete set through the same
 * finish phase as an unsharded round, so the queue, items, rejects and
 * manifest are byte-identical. The task whose partial completes the set
 * runs the reduce itself; `reviewloop reduce --round R` does it as a
 * separate step (and is a no-op once the manifest exists).
 *
 * Assignment and merging reuse worker/pool/partials.ts (the `score --shard`
 * format); a round partial adds the exact BigInt sums and the per-object
 * reject counts that rebuild rejects.jsonl in plan order.
 */
import { ReviewloopError, isReviewloopError } from '../../domain/errors.js';
import type { ConsumedObject, QuarantinedObject } from '../../domain/records.js';
import {
  assignShards,
  inputsHash,
  parsePartial,
  partialJson,
  reducePartials,
  PARTIAL_KIND,
  PARTIAL_VERSION,
  type PartialResult,
  type ShardSpec,
} from '../pool/partials.js';
import { finishRound } from './finish-round.js';
import { PREDICTION_ROUND, heapSizes, scoreRound } from './score-round.js';
import { openRound, scoringStrategy } from './open.js';
import { roundDir } from './history.js';
import type { OpenRound, RoundOptions, RoundResult } from './types.js';
import type { ExactSums } from '../pool/score-run.js';
import type { Source } from '../sources/sources.js';
import type { ObjectStore } from '../store/store.js';
import { writeOnce } from '../store/write-once.js';

/** What a round shard writes: a `score --shard` partial plus what the round's finish phase needs. */
export interface RoundPartial extends PartialResult {
  round: {
    id: string;
    exact: ExactSums;
    /** Reject lines per object of this shard (aligned with `inputs`), in `rejects`. */
    rejectCounts: number[];
    rejects: string;
    /** Objects of this shard that could not be read. */
    quarantined?: QuarantinedObject[];
  };
}

export { resolveShard, type ShardEnv } from '../pool/partials.js';

const usage = (message: string) => Object.assign(new Error(message), { code: 'USAGE' });

const pad = (n: number) => String(n).padStart(4, '0');
export const partialsDir = (roundId: string) => `${roundDir(roundId)}/partials`;
export const partialName = (roundId: string, s: ShardSpec) => `${partialsDir(roundId)}/shard-${pad(s.index)}-of-${pad(s.count)}.json`;
const PARTIAL_RE = /\/shard-(\d{4,})-of-(\d{4,})\.json$/;

/** Only prediction rounds split their scoring: a BigQuery round is one query, a raw round one sample. */
async function openShardedRound(opts: RoundOptions): ReturnType<typeof openRound> {
  if (opts.project.strategy.name === 'label-issues') {
    throw new ReviewloopError(
      'CONFIG_INVALID',
      `project ${opts.project.name}: label-issues rounds run their three passes in one pool; run the round unsharded (reviewloop round without --shard)`,
    );
  }
  scoringStrategy(opts.project);
  if (opts.project.strategy.engine === 'bigquery') {
    throw new ReviewloopError(
      'CONFIG_INVALID',
      `project ${opts.project.name}: strategy.engine: bigquery scores in one query; run the round unsharded (reviewloop round without --shard)`,
    );
  }
  return openRound(opts, PREDICTION_ROUND);
}

/** Sources named like the round's objects, so assignment and the inputs hash are the same in every task. */
function planSources(store: ObjectStore, objects: ConsumedObject[]): Source[] {
  return objects.map((o) => ({
    uri: store.uri(o.name),
    name: o.name,
    size: o.size,
    open: () => {
      throw new Error('not opened');
    },
  }));
}

/** The shard's objects, in plan order (assignment by size: worker/pool/partials.ts assignShards). */
export function shardObjects(store: ObjectStore, objects: ConsumedObject[], shard: ShardSpec): ConsumedObject[] {
  const shardOf = assignShards(planSources(store, objects), shard.count);
  return objects.filter((_, i) => shardOf[i] === shard.index);
}

export interface ShardRunResult {
  /** `finished`: this task completed the set and wrote the round; `partial`: others are still missing. */
  status: 'partial' | 'finished' | 'exists';
  partial: string | null;
  result?: RoundResult;
  missing?: number[];
}

/**
 * Scores one shard of a round and writes its partial (create-only; a rerun
 * of the same task writes the same bytes). When `finish` (default true) and
 * the set is then complete, reduces it into the round.
 */
export async function runRoundShard(opts: RoundOptions, shard: ShardSpec, finish = true): Promise<ShardRunResult> {
  const opened = await openShardedRound(opts);
  if ('exists' in opened) return { status: 'exists', partial: null, result: opened.exists };
  const round = opened.open;
  const { store, project } = opts;
  const mine = shardObjects(store, round.plan.objects, shard);
  round.log.info(
    `round ${round.roundId} shard ${shard.index}/${shard.count}: ${mine.length} of ${round.plan.objects.length} object(s), ${mine.reduce((a, o) => a + o.size, 0)} bytes`,
  );
  const scores = await scoreRound(opts, round, mine);
  const uris = mine.map((o) => store.uri(o.name));
  const counts = new Map<string, number>();
  for (const line of scores.rejects) {
    const object = (JSON.parse(line) as { object: string }).object;
    counts.set(object, (counts.get(object) ?? 0) + 1);
  }
  const { topK, auditK } = heapSizes(project);
  const s = project.strategy;
  const partial: RoundPartial = {
    kind: PARTIAL_KIND,
    version: PARTIAL_VERSION,
    shard,
    inputsHash: inputsHash(planSources(store, round.plan.objects)),
    inputs: uris,
    params: {
      task: project.task,
      labels: project.labels,
      strategy: s.name,
      reduce: s.reduce,
      seed: round.seed,
      topK,
      auditK,
      auditFraction: s.auditFraction,
      format: project.predictions.format,
    },
    population: scores.stats.scored,
    stats: scores.stats,
    top: [...scores.top, ...scores.copies.top],
    audit: [...scores.audit, ...scores.copies.audit],
    round: {
      id: round.roundId,
      exact: scores.exact,
      rejectCounts: uris.map((u) => counts.get(u) ?? 0),
      rejects: scores.rejects.length > 0 ? `${scores.rejects.join('\n')}\n` : '',
      quarantined: scores.quarantined ?? [],
    },
  };
  const name = partialName(round.roundId, shard);
  await writeOnce(store, name, partialJson(partial));
  if (!finish) return { status: 'partial', partial: name };
  const { present } = await listPartials(store, round.roundId, shard.count);
  const missing = missingShards(present, shard.count);
  if (missing.length > 0) return { status: 'partial', partial: name, missing };
  return { status: 'finished', partial: name, result: await reduceOpen(opts, round, shard.count) };
}

/** Shard count N (given, or read off the file names) and the partials present: index → object name. */
async function listPartials(store: ObjectStore, roundId: string, count: number | undefined): Promise<{ count: number; present: Map<number, string> }> {
  const byCount = new Map<number, Map<number, string>>();
  for await (const o of store.list(`${partialsDir(roundId)}/`)) {
    const m = PARTIAL_RE.exec(o.name);
    if (!m) continue;
    const n = Number(m[2]);
    if (!byCount.has(n)) byCount.set(n, new Map());
    byCount.get(n)!.set(Number(m[1]), o.name);
  }
  if (count !== undefined) return { count, present: byCount.get(count) ?? new Map() };
  if (byCount.size > 1) throw usage(`${partialsDir(roundId)}/ holds partials of ${[...byCount.keys()].join(' and ')}-shard runs; pass --shards N`);
  const [only] = [...byCount];
  return only === undefined ? { count: 0, present: new Map() } : { count: only[0], present: only[1] };
}

function missingShards(present: Map<number, string>, count: number): number[] {
  const missing: number[] = [];
  for (let i = 0; i < count; i++) if (!present.has(i)) missing.push(i);
  return missing;
}

/**
 * `reviewloop reduce --round R`: merges the round's partials into the round.
 * Refuses an incomplete set (SHARDS_MISSING, naming the shards); a round
 * already written is returned as `exists`.
 */
export async function reduceRound(opts: RoundOptions, count?: number): Promise<RoundResult> {
  const opened = await openShardedRound(opts);
  if ('exists' in opened) return opened.exists;
  const round = opened.open;
  const { count: n, present } = await listPartials(opts.store, round.roundId, count);
  if (n === 0)
    throw new ReviewloopError('SHARDS_MISSING', `no partials under ${opts.store.uri(partialsDir(round.roundId))}/: run \`reviewloop round --shard I/N\` first`);
  const missing = missingShards(present, n);
  if (missing.length > 0) throw missingError(round.roundId, missing, present.size, n);
  return reduceOpen(opts, round, n);
}

function missingError(roundId: string, missing: number[], have: number, count: number): ReviewloopError {
  const list = missing.map((i) => `${i}/${count}`).join(', ');
  return new ReviewloopError(
    'SHARDS_MISSING',
    `round ${roundId}: shard${missing.length > 1 ? 's' : ''} ${list} missing (have ${have} of ${count}); rerun them with \`reviewloop round --round ${roundId} --shard I/${count}\``,
    { details: { round: roundId, missing } },
  );
}

async function reduceOpen(opts: RoundOptions, round: OpenRound, count: number): Promise<RoundResult> {
  const { store } = opts;
  const partials: Array<{ origin: string; partial: RoundPartial }> = [];
  for (let i = 0; i < count; i++) {
    const name = partialName(round.roundId, { index: i, count });
    let text: string;
    try {
      text = (await store.read(name)).toString('utf8');
    } catch (err) {
      if (isReviewloopError(err, 'NOT_FOUND')) throw missingError(round.roundId, [i], count - 1, count);
      throw err;
    }
    partials.push({ origin: store.uri(name), partial: parsePartial(text, store.uri(name)) as RoundPartial });
  }
  const expected = inputsHash(planSources(store, round.plan.objects));
  for (const p of partials) {
    if (p.partial.inputsHash !== expected || p.partial.round?.id !== round.roundId) {
      throw new ReviewloopError('CONFLICT', `${p.origin} was not scored from plan ${store.uri(`${roundDir(round.roundId)}/plan.json`)}`);
    }
  }
  const r = reducePartials(partials);
  // Same arithmetic as scoreSources: exact BigInt totals, converted once.
  let conf = 0n;
  let ent = 0n;
  for (const p of partials) {
    conf += BigInt(p.partial.round.exact.confidenceNano);
    ent += BigInt(p.partial.round.exact.entropyNano);
  }
  const stats = r.stats;
  stats.confidenceNano = Number(conf);
  stats.entropyNano = Number(ent);
  stats.confidenceSum = Number(conf) / 1e9;
  stats.entropySum = Number(ent) / 1e9;
  stats.labelCounts = Object.fromEntries(Object.entries(stats.labelCounts).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const order = new Map(round.plan.objects.map((o, i) => [o.name, i]));
  const quarantined = partials.flatMap((p) => p.partial.round.quarantined ?? []).sort((a, b) => order.get(a.name)! - order.get(b.name)!);
  return finishRound(opts, round, {
    top: r.top,
    audit: r.audit,
    copies: r.copies,
    stats,
    rejects: rejectsInPlanOrder(
      store,
      round,
      partials.map((p) => p.partial),
    ),
    quarantined,
  });
}

/** Each shard's rejects are in its own object order; interleave them back into the plan's. */
function rejectsInPlanOrder(store: ObjectStore, round: OpenRound, partials: RoundPartial[]): string[] {
  const byObject = new Map<string, string[]>();
  for (const p of partials) {
    const lines = p.round.rejects === '' ? [] : p.round.rejects.slice(0, -1).split('\n');
    let at = 0;
    p.inputs.forEach((uri, i) => {
      const n = p.round.rejectCounts[i];
      byObject.set(uri, lines.slice(at, at + n));
      at += n;
    });
  }
  return round.plan.objects.flatMap((o) => byObject.get(store.uri(o.name)) ?? []);
}
