/**
 * Runs one scheduled job under a time bound (`worker.jobTimeoutMs`), so that
 * a job that cannot make progress fails instead of holding its slot, its
 * lease and the scoring threads forever:
 *
 * 1. past the bound the job's signal is aborted; a job that unwinds within
 *    `settleMs` fails with JOB_TIMEOUT (one that still finishes successfully
 *    in that window counts as finished: its outputs are complete and visible);
 * 2. a job that ignores the abort (a scoring thread stuck in a loop, a result
 *    message that never arrives) gets `onStuck`, which terminates and replaces
 *    the scoring threads; their tasks fail, so the job unwinds;
 * 3. a job that still does not settle is abandoned: the caller gets
 *    JOB_TIMEOUT all the same and the next slot runs. Its signal stays
 *    aborted, and every write of a job is create-only or generation-guarded,
 *    so a late write of the abandoned job cannot overwrite the next one's.
 */
import { ReviewloopError } from '../../domain/errors.js';

export type BoundStage = 'timed-out' | 'stuck' | 'abandoned';

/** Options for {@link runBounded}. */
export interface BoundOptions {
  /** What the error and events name, e.g. `round 20261127T0200Z`. */
  what: string;
  /** Time the job may run, in ms. */
  boundMs: number;
  /** Time an aborted job gets to unwind, in ms, before `onStuck` and again after it. */
  settleMs: number;
  /** Aborts from outside (shutdown, lost lease); such an abort is the job's own failure, not a timeout. */
  outer: AbortSignal;
  /** Frees what a job deaf to its abort is blocked on (the scoring threads), so that the job and the next one can run. */
  onStuck?: () => Promise<void>;
  /** Called at each stage past the bound, in order. */
  onStage?: (stage: BoundStage) => void;
}

type Race = 'settled' | 'timeout';

function within(p: Promise<unknown>, ms: number): Promise<Race> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<Race>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  return Promise.race([
    p.then(
      () => 'settled' as const,
      () => 'settled' as const,
    ),
    t,
  ]).finally(() => clearTimeout(timer));
}

/**
 * Starts `start` with a signal that aborts on `outer` or at the bound, and
 * settles like the job, except that a job still running at the bound rejects
 * with JOB_TIMEOUT (details: `boundMs`, `unwound`: aborted | recycled | abandoned).
 */
export async function runBounded(start: (signal: AbortSignal) => Promise<void>, o: BoundOptions): Promise<void> {
  const timeout = new AbortController();
  const signal = AbortSignal.any([o.outer, timeout.signal]);
  const job = Promise.resolve().then(() => start(signal));
  // Late rejections of an abandoned job are expected; they must not become unhandled.
  job.catch(() => undefined);
  // An outside abort the job ignores until the bound ends here too: nothing else would end it.
  if ((await within(job, o.boundMs)) === 'settled') return job;
  const fail = (unwound: 'aborted' | 'recycled' | 'abandoned', cause?: unknown) =>
    new ReviewloopError(
      'JOB_TIMEOUT',
      `${o.what} did not finish within worker.jobTimeoutMs (${o.boundMs} ms) and was aborted${unwound === 'abandoned' ? '; it ignores the abort and is left behind' : ''}`,
      { details: { boundMs: o.boundMs, unwound }, cause },
    );
  const outcome = (unwound: 'aborted' | 'recycled') =>
    job.then(
      () => undefined,
      (err: unknown) => {
        throw fail(unwound, err);
      },
    );
  timeout.abort(fail('aborted'));
  o.onStage?.('timed-out');
  if ((await within(job, o.settleMs)) === 'settled') return outcome('aborted');
  o.onStage?.('stuck');
  if (o.onStuck) {
    // Tearing threads down may itself hang (a thread inside native code): bounded too.
    await within(o.onStuck(), o.settleMs);
    if ((await within(job, o.settleMs)) === 'settled') return outcome('recycled');
  }
  o.onStage?.('abandoned');
  throw fail('abandoned');
}
