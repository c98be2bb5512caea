/**
 * Sharded scoring: which shard scores which inputs, the partial result a
 * shard writes, and the reduce that merges a complete set of partials into
 * exactly what one unsharded run produces. Exactness follows from the heaps'
 * total order (scoring/topk.ts): the top-K of a union is the top-K of the
 * parts' top-Ks, and populations and stats are sums of integers.
 */
import { createHash } from 'node:crypto';
import { addStats, emptyStats } from '../../scoring/chunk.js';
import { BottomK, COPIES_PER_ID, TopK } from '../../scoring/topk.js';
import type { ChunkStats, ScoredEntry } from '../../scoring/types.js';
import { ReviewloopError } from '../../domain/errors.js';
import type { Source } from '../sources/sources.js';

export const PARTIAL_KIND = 'reviewloop-partial';
export const PARTIAL_VERSION = 1;

/** `I/N`, 0-based index (what Cloud Run's CLOUD_RUN_TASK_INDEX and Kubernetes' JOB_COMPLETION_INDEX give). */
export interface ShardSpec {
  index: number;
  count: number;
}

export function parseShard(spec: string): ShardSpec {
  const m = /^(\d+)\/(\d+)$/.exec(spec.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) {
    throw Object.assign(new Error(`--shard ${JSON.stringify(spec)}: expected I/N with 0 ≤ I < N (e.g. 0/4)`), { code: 'USAGE' });
  }
  return { index, count };
}

/** Where the job engine puts the task index and count. */
export interface ShardEnv {
  CLOUD_RUN_TASK_INDEX?: string;
  CLOUD_RUN_TASK_COUNT?: string;
  JOB_COMPLETION_INDEX?: string;
}

const usage = (message: string) => Object.assign(new Error(message), { code: 'USAGE' });

/**
 * `--shard I/N` as given, or `--shard auto` (also implied by `--shards N`):
 * the index from CLOUD_RUN_TASK_INDEX or JOB_COMPLETION_INDEX, the count from
 * `--shards` or CLOUD_RUN_TASK_COUNT (Kubernetes does not export the
 * completion count, so an indexed Job passes `--shards`).
 */
export function resolveShard(flag: string | undefined, shards: string | undefined, env: ShardEnv = process.env): ShardSpec | undefined {
  if (flag === undefined && shards === undefined) return undefined;
  if (flag !== undefined && flag !== 'auto') {
    const spec = parseShard(flag);
    if (shards !== undefined && Number(shards) !== spec.count) throw usage(`--shard ${flag} and --shards ${shards} disagree`);
    return spec;
  }
  const index = env.CLOUD_RUN_TASK_INDEX ?? env.JOB_COMPLETION_INDEX;
  const count = shards ?? env.CLOUD_RUN_TASK_COUNT;
  if (index === undefined)
    throw usage('--shard auto needs CLOUD_RUN_TASK_INDEX (Cloud Run jobs) or JOB_COMPLETION_INDEX (Kubernetes indexed Jobs) in the environment');
  if (count === undefined) throw usage('--shard auto needs --shards N (or CLOUD_RUN_TASK_COUNT in the environment)');
  if (shards !== undefined && env.CLOUD_RUN_TASK_COUNT !== undefined && shards !== env.CLOUD_RUN_TASK_COUNT) {
    throw usage(`--shards ${shards} disagrees with CLOUD_RUN_TASK_COUNT=${env.CLOUD_RUN_TASK_COUNT}`);
  }
  return parseShard(`${index}/${count}`);
}

/** Hash of the full input list (names and sizes, in order): shards of one run must agree on it. */
export function inputsHash(sources: Source[]): string {
  const h = createHash('sha256');
  for (const s of sources) h.update(`${s.uri}\u0000${s.size ?? -1}\n`);
  return h.digest('hex');
}

/**
 * Shard of each source, balanced by size: largest first onto the least
 * loaded shard (ties: lower shard), sizes tied by URI. Deterministic, so
 * every shard computes the same assignment independently.
 */
export function assignShards(sources: Source[], count: number): number[] {
  const order = sources
    .map((_s, i) => i)
    .sort((a, b) => {
      const sa = sources[a].size ?? 0;
      const sb = sources[b].size ?? 0;
      if (sa !== sb) return sb - sa;
      return sources[a].uri < sources[b].uri ? -1 : sources[a].uri > sources[b].uri ? 1 : a - b;
    });
  const load = new Array<number>(count).fill(0);
  const shardOf = new Array<number>(sources.length).fill(0);
  for (const i of order) {
    let best = 0;
    for (let s = 1; s < count; s++) if (load[s] < load[best]) best = s;
    shardOf[i] = best;
    load[best] += sources[i].size ?? 0;
  }
  return shardOf;
}

/** Everything that must match between shards of one run (and between a partial and its reduce). */
export interface PartialParams {
  task: string;
  labels: string[];
  strategy: string;
  reduce?: string;
  seed: string;
  /** Entries each shard kept for the ranking; reduce can ask for at most this many. */
  topK: number;
  /** Entries each shard kept for the audit draw. */
  auditK: number;
  /** The --audit share the shards ran with (reduce's default). */
  auditFraction: number;
  format: string;
}

/** What `score --shard I/N` writes. */
export interface PartialResult {
  kind: typeof PARTIAL_KIND;
  version: typeof PARTIAL_VERSION;
  shard: ShardSpec;
  inputsHash: string;
  /** This shard's inputs (URIs), in scoring order. */
  inputs: string[];
  params: PartialParams;
  /** Records scored (the audit population). */
  population: number;
  stats: ChunkStats;
  top: ScoredEntry[];
  audit: ScoredEntry[];
}

export function partialJson(p: PartialResult): string {
  return `${JSON.stringify(p)}\n`;
}

/** Parses one partial file's text; `origin` names it in errors. */
export function parsePartial(text: string, origin: string): PartialResult {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ReviewloopError('INPUT_INVALID', `${origin}: not a partial result (malformed JSON: ${(err as Error).message})`);
  }
  const p = v as Partial<PartialResult>;
  if (p?.kind !== PARTIAL_KIND || p.version !== PARTIAL_VERSION || !p.shard || !Array.isArray(p.top) || !Array.isArray(p.audit) || !p.params || !p.stats) {
    throw new ReviewloopError('INPUT_INVALID', `${origin}: not a reviewloop partial result (version ${PARTIAL_VERSION})`);
  }
  return p as PartialResult;
}

export interface Reduced {
  top: ScoredEntry[];
  audit: ScoredEntry[];
  copies: { top: ScoredEntry[]; audit: ScoredEntry[] };
  population: number;
  stats: ChunkStats;
  params: PartialParams;
}

/**
 * Merges a complete set of partials. Refuses partials from different runs
 * (inputs, parameters or shard counts differ), duplicates that disagree, and
 * an incomplete set, naming the missing shards.
 */
export function reducePartials(partials: Array<{ origin: string; partial: PartialResult }>): Reduced {
  if (partials.length === 0) throw new ReviewloopError('INPUT_INVALID', 'no partial results given');
  const first = partials[0].partial;
  const count = first.shard.count;
  const paramsKey = JSON.stringify(first.params);
  const byIndex = new Map<number, { origin: string; partial: PartialResult }>();
  for (const item of partials) {
    const p = item.partial;
    if (p.shard.count !== count)
      throw new ReviewloopError(
        'INPUT_INVALID',
        `${item.origin} is shard ${p.shard.index}/${p.shard.count}, ${partials[0].origin} is from a ${count}-shard run`,
      );
    if (p.inputsHash !== first.inputsHash)
      throw new ReviewloopError('INPUT_INVALID', `${item.origin} was scored over a different input list than ${partials[0].origin}`);
    if (JSON.stringify(p.params) !== paramsKey)
      throw new ReviewloopError('INPUT_INVALID', `${item.origin} was scored with different parameters than ${partials[0].origin}`);
    const prev = byIndex.get(p.shard.index);
    if (prev !== undefined) {
      if (JSON.stringify(prev.partial) !== JSON.stringify(p))
        throw new ReviewloopError('CONFLICT', `${prev.origin} and ${item.origin} are both shard ${p.shard.index}/${count} but differ`);
      continue;
    }
    byIndex.set(p.shard.index, item);
  }
  const missing: number[] = [];
  for (let i = 0; i < count; i++) if (!byIndex.has(i)) missing.push(i);
  if (missing.length > 0) {
    throw new ReviewloopError(
      'SHARDS_MISSING',
      `incomplete set: shard${missing.length > 1 ? 's' : ''} ${missing.map((i) => `${i}/${count}`).join(', ')} missing (have ${byIndex.size} of ${count})`,
      { details: { missing } },
    );
  }
  // A partial's lists hold its kept entries, then the losing copies it saw (see ScoreRunResult.copies).
  const top = new TopK<ScoredEntry>(first.params.topK, { copiesPerId: COPIES_PER_ID });
  const audit = new BottomK<ScoredEntry>(first.params.auditK, { copiesPerId: COPIES_PER_ID });
  const stats = emptyStats();
  let population = 0;
  for (let i = 0; i < count; i++) {
    const p = byIndex.get(i)!.partial;
    top.merge([p.top]);
    audit.merge([p.audit]);
    addStats(stats, p.stats);
    population += p.population;
  }
  return { top: top.values(), audit: audit.values(), copies: { top: top.copies(), audit: audit.copies() }, population, stats, params: first.params };
}
