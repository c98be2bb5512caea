/**
 * Runs the passes of a label-issue round over JSONL prediction sources in the
 * pool: the main thread streams each source into line chunks, the threads run
 * the pass on them (worker/pool/label-task.ts) and the main thread folds each
 * answer into the object's partial as it arrives. At most `inflight` chunks
 * are alive at once, and no chunk's answer is kept after it is folded.
 *
 * An object's partial joins the run's only once all its chunks are in, so an
 * object that breaks mid-way (a truncated gzip, a generation gone)
 * contributes nothing to any pass: it is set aside whole with an
 * object-level reject, and every later pass skips what the first pass set
 * aside. Rejects leave in input order.
 */
import { ReviewloopError } from '../../domain/errors.js';
import type { IssuePayload, LabelIssuesChunkInput, LabelIssuesChunkOutput, LabelPass } from '../../scoring/label-issues/chunk.js';
import { type ClassSums, confidentThresholds, mergeClassSums, newClassSums } from '../../scoring/label-issues/sums.js';
import { type NoiseEstimate, calibrateJoint, mergeJointCounts, newJointCounts, noiseRates, pruneCounts } from '../../scoring/label-issues/joint.js';
import { type LabelIssue, PruneSelector, type RankBy, rankIssues } from '../../scoring/label-issues/prune.js';
import type { Reject } from '../../scoring/types.js';
import { chunkLines } from '../sources/chunker.js';
import { type Source, decompressed, formatOf } from '../sources/sources.js';
import type { ScoringPool } from './pool.js';
import { quarantineCode } from './score-run.js';

export type LabelChunkBase = Omit<
  LabelIssuesChunkInput,
  'kind' | 'chunk' | 'object' | 'firstLine' | 'pass' | 'thresholds' | 'prune' | 'labelCounts' | 'floors'
>;

export interface LabelPassOptions {
  chunkBytes: number;
  maxLineBytes: number;
  signal?: AbortSignal;
  /** Sources (by URI) an earlier pass set aside. */
  skip?: ReadonlySet<string>;
}

/** How one pass folds chunk answers: into an object's partial, then the object's partial into the run's. */
export interface PassFold<A> {
  start(): A;
  add(acc: A, out: LabelIssuesChunkOutput): void;
  /** The object is complete: its partial joins the run's. */
  commit(acc: A): void;
  /** Fields of the pass that change as answers arrive (the select pass's floors), read for each chunk sent. */
  extras?(acc: A): Partial<LabelPass>;
}

export interface PassResult {
  /** Record-level rejects, in input order. */
  rejects: Reject[];
  read: number;
  used: number;
  /** Objects that could not be read: URI → object-level reject. */
  quarantined: Map<string, Reject & { code: string }>;
}

/** Runs `pass` over `sources` in order; the pool does the lines, `fold` keeps what they found. */
export async function runLabelPass<A>(
  sources: readonly Source[],
  base: LabelChunkBase,
  pass: LabelPass,
  pool: ScoringPool,
  opts: LabelPassOptions,
  fold: PassFold<A>,
): Promise<PassResult> {
  const result: PassResult = { rejects: [], read: 0, used: 0, quarantined: new Map() };
  for (const source of sources) {
    if (opts.skip?.has(source.uri)) continue;
    if (formatOf(source.name) !== 'jsonl') {
      const reason = 'label-issues reads JSONL prediction records (optionally .gz); convert Arrow/Parquet predictions to JSONL';
      result.quarantined.set(source.uri, { object: source.uri, line: 0, field: null, reason, code: 'FORMAT_UNSUPPORTED' });
      continue;
    }
    const cursor = { line: 1 };
    try {
      const one = await runObject(source, base, pass, pool, opts, fold, cursor);
      fold.commit(one.acc);
      result.rejects.push(...one.rejects);
      result.read += one.read;
      result.used += one.used;
    } catch (err) {
      const code = quarantineCode(err);
      if (code === null) throw err;
      const reason = `unreadable after line ${cursor.line - 1}: ${(err as Error).message}; none of its records used`;
      result.quarantined.set(source.uri, { object: source.uri, line: 0, field: null, reason, code });
    }
  }
  return result;
}

/** One object through the pool; throws (after its chunks settle) when it cannot be read. */
async function runObject<A>(
  source: Source,
  base: LabelChunkBase,
  pass: LabelPass,
  pool: ScoringPool,
  opts: LabelPassOptions,
  fold: PassFold<A>,
  cursor: { line: number },
) {
  const inflight = Math.max(2, pool.threads * 2);
  const acc = fold.start();
  const rejects: Reject[] = [];
  let read = 0;
  let used = 0;
  let alive = 0;
  let wake: (() => void) | null = null;
  const pending = new Set<Promise<void>>();
  try {
    const stream = decompressed(source.open(), source.name);
    for await (const c of chunkLines(stream, { chunkBytes: opts.chunkBytes, maxLineBytes: opts.maxLineBytes, cursor })) {
      opts.signal?.throwIfAborted();
      if ('oversized' in c) {
        read++;
        rejects.push({ object: source.uri, line: c.line, field: '(line)', reason: `line longer than ${opts.maxLineBytes} bytes` });
        continue;
      }
      const input = {
        ...base,
        ...pass,
        ...fold.extras?.(acc),
        kind: 'label-issues-chunk',
        chunk: c.bytes,
        object: source.uri,
        firstLine: c.firstLine,
      } as LabelIssuesChunkInput;
      alive++;
      const task: Promise<void> = pool
        .labelIssues(input)
        .then((out) => {
          if (!out.ok) throw new ReviewloopError('SCORING_FAILED', out.message, { details: { code: out.code } });
          fold.add(acc, out);
          rejects.push(...out.rejects);
          read += out.read;
          used += out.used;
        })
        .finally(() => {
          alive--;
          pending.delete(task);
          wake?.();
        });
      task.catch(() => undefined); // surfaced below, not as an unhandled rejection meanwhile
      pending.add(task);
      // Bounded memory: no more than `inflight` chunks alive at once.
      while (alive >= inflight)
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
    }
    await Promise.all(pending);
  } catch (err) {
    await Promise.allSettled(pending);
    throw err;
  }
  rejects.sort((a, b) => a.line - b.line);
  return { acc, rejects, read, used };
}

export interface PoolAnalysis {
  thresholds: number[];
  labelCounts: number[];
  rawJoint: number[];
  confidentJoint: number[];
  prune: number[];
  noise: NoiseEstimate;
  /** Every flagged item, ranked (the caller cuts to topK). */
  issues: LabelIssue<IssuePayload>[];
  /** Record-level rejects in input order; object-level ones are in `quarantined`. */
  rejects: Reject[];
  quarantined: Array<Reject & { code: string }>;
  read: number;
  used: number;
}

/**
 * The three passes of a label-issue round in the pool. Pass 1 decides which
 * objects are readable; later passes skip the rest, so all three see the same
 * items. An object that breaks only in a later pass (its pinned generation
 * gone) fails the round, which is retried whole.
 */
export async function findLabelIssuesInPool(
  sources: readonly Source[],
  base: LabelChunkBase,
  pool: ScoringPool,
  opts: LabelPassOptions & { rankBy: RankBy },
): Promise<PoolAnalysis> {
  const k = base.labels.length;
  let sums = newClassSums(k);
  const first = await runLabelPass(sources, base, { pass: 'sums' }, pool, opts, {
    start: () => newClassSums(k),
    add: (acc: ClassSums, out) => {
      mergeClassSums(acc, out.sums!);
    },
    commit: (acc) => {
      sums = mergeClassSums(sums, acc);
    },
  });
  const skip = new Set([...(opts.skip ?? []), ...first.quarantined.keys()]);
  const thresholds = confidentThresholds(sums);
  let rawJoint = newJointCounts(k);
  mustMatch(
    await runLabelPass(
      sources,
      base,
      { pass: 'joint', thresholds },
      pool,
      { ...opts, skip },
      {
        start: () => newJointCounts(k),
        add: (acc: number[], out) => {
          mergeJointCounts(acc, out.joint!);
        },
        commit: (acc) => {
          rawJoint = mergeJointCounts(rawJoint, acc);
        },
      },
    ),
  );
  const confidentJoint = calibrateJoint(rawJoint, sums.counts);
  const prune = pruneCounts(confidentJoint, k);
  const selector = new PruneSelector<IssuePayload>(k, prune, sums.counts);
  mustMatch(
    await runLabelPass(
      sources,
      base,
      { pass: 'select', prune, labelCounts: sums.counts },
      pool,
      { ...opts, skip },
      {
        // Every object was readable in pass 1, and one that breaks now fails the round (mustMatch): chunks fold
        // straight into the run's selector, and its cut so far travels with each chunk as the threads' floors.
        start: () => selector,
        add: (acc: PruneSelector<IssuePayload>, out) => {
          acc.absorb(out.entries ?? []);
        },
        commit: () => undefined,
        extras: (acc) => ({ floors: acc.cutFloors() }),
      },
    ),
  );
  return {
    thresholds,
    labelCounts: sums.counts,
    rawJoint,
    confidentJoint,
    prune,
    noise: noiseRates(confidentJoint, k),
    issues: rankIssues(selector.flagged(), opts.rankBy),
    rejects: first.rejects,
    quarantined: [...first.quarantined.values()],
    read: first.read,
    used: first.used,
  };
}

function mustMatch(later: PassResult): void {
  if (later.quarantined.size === 0) return;
  const [uri, r] = [...later.quarantined][0];
  throw new ReviewloopError(
    'SCORING_FAILED',
    `${uri} was readable in the first label-issue pass but not in a later one (${r.reason}); the round is retried whole`,
    { retryable: true },
  );
}
