/**
 * Runs one pass of a label-issue round over JSONL prediction sources in the
 * pool: the main thread streams each source into line chunks, the threads
 * run the pass on them (worker/pool/label-task.ts) and the main thread adds
 * the partials. At most `inflight` chunks are alive at once.
 *
 * An object is merged only once all its chunks are in, so an object that
 * breaks mid-way (a truncated gzip, a generation gone) contributes nothing to
 * any pass: it is set aside whole with an object-level reject, and every pass
 * skips what the first pass set aside (`skip`). Rejects leave in input order.
 */
import type { IssuePayload, LabelIssuesChunkInput, LabelIssuesChunkOutput, LabelPass } from '../../scoring/label-issues/chunk.js';
import { type NoiseEstimate, calibrateJoint, mergeJointCounts, newJointCounts, noiseRates, pruneCounts } from '../../scoring/label-issues/joint.js';
import { type CellEntry, type LabelIssue, PruneSelector, type RankBy, rankIssues } from '../../scoring/label-issues/prune.js';
import { confidentThresholds, mergeClassSums, newClassSums } from '../../scoring/label-issues/sums.js';
import { ReviewloopError } from '../../domain/errors.js';
import type { Reject } from '../../scoring/types.js';
import { chunkLines } from '../sources/chunker.js';
import { decompressed, formatOf, type Source } from '../sources/sources.js';
import type { ScoringPool } from './pool.js';
import { quarantineCode } from './score-run.js';

export type LabelChunkBase = Omit<LabelIssuesChunkInput, 'kind' | 'chunk' | 'object' | 'firstLine' | 'pass' | 'thresholds' | 'prune' | 'labelCounts'>;

export interface LabelPassOptions {
  chunkBytes: number;
  maxLineBytes: number;
  signal?: AbortSignal;
  /** Sources (by URI) an earlier pass set aside. */
  skip?: ReadonlySet<string>;
}

/** One object's outputs, merged by the caller once complete. */
export interface ObjectPass {
  source: Source;
  outputs: LabelIssuesChunkOutput[];
  rejects: Reject[];
}

export interface PassResult {
  objects: ObjectPass[];
  /** Objects that could not be read: URI → object-level reject. */
  quarantined: Map<string, Reject & { code: string }>;
}

/** Runs `pass` over `sources` in order; the pool does the lines. */
export async function runLabelPass(
  sources: readonly Source[],
  base: LabelChunkBase,
  pass: LabelPass,
  pool: ScoringPool,
  opts: LabelPassOptions,
): Promise<PassResult> {
  const objects: ObjectPass[] = [];
  const quarantined = new Map<string, Reject & { code: string }>();
  const inflight = Math.max(2, pool.threads * 2);
  for (const source of sources) {
    if (opts.skip?.has(source.uri)) continue;
    if (formatOf(source.name) !== 'jsonl') {
      const reason = 'label-issues reads JSONL prediction records (optionally .gz); convert Arrow/Parquet predictions to JSONL';
      quarantined.set(source.uri, { object: source.uri, line: 0, field: null, reason, code: 'FORMAT_UNSUPPORTED' });
      continue;
    }
    const cursor = { line: 1 };
    const pending: Promise<LabelIssuesChunkOutput>[] = [];
    const oversized: Reject[] = [];
    let alive = 0;
    let wake: (() => void) | null = null;
    try {
      const stream = decompressed(source.open(), source.name);
      for await (const c of chunkLines(stream, { chunkBytes: opts.chunkBytes, maxLineBytes: opts.maxLineBytes, cursor })) {
        opts.signal?.throwIfAborted();
        if ('oversized' in c) {
          oversized.push({ object: source.uri, line: c.line, field: '(line)', reason: `line longer than ${opts.maxLineBytes} bytes` });
          continue;
        }
        const input = { ...base, ...pass, kind: 'label-issues-chunk', chunk: c.bytes, object: source.uri, firstLine: c.firstLine } as LabelIssuesChunkInput;
        alive++;
        const task = pool
          .labelIssues(input)
          .then((out) => {
            if (!out.ok) throw new ReviewloopError('SCORING_FAILED', out.message, { details: { code: out.code } });
            return out;
          })
          .finally(() => {
            alive--;
            wake?.();
          });
        task.catch(() => undefined); // surfaced by Promise.all below, not as an unhandled rejection meanwhile
        pending.push(task);
        // Bounded memory: no more than `inflight` chunks alive at once.
        while (alive >= inflight)
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
      }
      const outputs = await Promise.all(pending);
      const rejects = [...outputs.flatMap((o) => o.rejects), ...oversized].sort((a, b) => a.line - b.line);
      objects.push({ source, outputs, rejects });
    } catch (err) {
      await Promise.allSettled(pending);
      const code = quarantineCode(err);
      if (code === null) throw err;
      const reason = `unreadable after line ${cursor.line - 1}: ${(err as Error).message}; none of its records used`;
      quarantined.set(source.uri, { object: source.uri, line: 0, field: null, reason, code });
    }
  }
  return { objects, quarantined };
}

/** Every object's cell entries of a select pass, for one PruneSelector on the main thread. */
export function cellEntries(r: PassResult): CellEntry<IssuePayload>[] {
  return r.objects.flatMap((o) => o.outputs.flatMap((x) => x.entries ?? []));
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
  /** Record-level rejects in input order, then nothing else: object-level ones are in `quarantined`. */
  rejects: Reject[];
  quarantined: Array<Reject & { code: string }>;
  read: number;
  used: number;
}

/**
 * The three passes of a label-issue round in the pool. Pass 1 decides which
 * objects are readable; later passes skip the rest, so all three see the same
 * items. An object that breaks only in a later pass (it changed under a pinned
 * generation, which the store refuses) fails the round instead.
 */
export async function findLabelIssuesInPool(
  sources: readonly Source[],
  base: LabelChunkBase,
  pool: ScoringPool,
  opts: LabelPassOptions & { rankBy: RankBy },
): Promise<PoolAnalysis> {
  const k = base.labels.length;
  const first = await runLabelPass(sources, base, { pass: 'sums' }, pool, opts);
  const skip = new Set([...(opts.skip ?? []), ...first.quarantined.keys()]);
  let sums = newClassSums(k);
  for (const o of first.objects) for (const out of o.outputs) sums = mergeClassSums(sums, out.sums!);
  const thresholds = confidentThresholds(sums);
  const second = await runLabelPass(sources, base, { pass: 'joint', thresholds }, pool, { ...opts, skip });
  mustMatch(second);
  let rawJoint = newJointCounts(k);
  for (const o of second.objects) for (const out of o.outputs) rawJoint = mergeJointCounts(rawJoint, out.joint!);
  const confidentJoint = calibrateJoint(rawJoint, sums.counts);
  const prune = pruneCounts(confidentJoint, k);
  const third = await runLabelPass(sources, base, { pass: 'select', prune, labelCounts: sums.counts }, pool, { ...opts, skip });
  mustMatch(third);
  const selector = new PruneSelector<IssuePayload>(k, prune, sums.counts);
  selector.absorb(cellEntries(third));
  let read = 0;
  let used = 0;
  for (const o of first.objects)
    for (const out of o.outputs) {
      read += out.read;
      used += out.used;
    }
  return {
    thresholds,
    labelCounts: sums.counts,
    rawJoint,
    confidentJoint,
    prune,
    noise: noiseRates(confidentJoint, k),
    issues: rankIssues(selector.flagged(), opts.rankBy),
    rejects: first.objects.flatMap((o) => o.rejects),
    quarantined: [...first.quarantined.values()],
    read,
    used,
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
