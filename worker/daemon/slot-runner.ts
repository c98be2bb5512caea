/**
 * Runs one scheduled slot of one job (round or merge) of one project, so that
 * across replicas and restarts each slot runs once:
 *
 * 1. a slot already marked done (`state/done/<job>/<slot>`) is skipped;
 * 2. the per-job lease `state/lease-<job>` is taken (held elsewhere → skip),
 *    and renewed every ttl/3 while the job runs (lost → the job is aborted);
 * 3. slots claimed earlier (`state/slots/<job>/<slot>`, see lease.ts) but
 *    never marked done belong to a replica that stopped mid-run: holding the
 *    lease proves it is gone, so they are redone first, oldest first;
 * 4. the slot is claimed and run, then marked done. A job that fails is
 *    marked done with `status: failed` (the next slot picks up its inputs);
 *    an aborted one is not marked, so it is redone. A job still running after
 *    `worker.jobTimeoutMs` fails with JOB_TIMEOUT (see job-bound.ts): redoing
 *    its slot would most likely hang on the same input again.
 *
 * Redoing is safe because round ids come from the slot and rounds are
 * deterministic in their id (plan.json fixes the inputs), and merges are
 * idempotent on consumed exports.
 */
import type { Config, ProjectConfig } from '../../config/schema.js';
import type { AppContext } from '../app/app.js';
import { ReviewloopError, isReviewloopError } from '../../domain/errors.js';
import { runBounded, type BoundStage } from '../core/job-bound.js';
import { claimSlot, Lease } from './lease.js';
import { releaseRound } from '../round/claims.js';
import { redactString, type Logger } from '../core/log.js';
import type { DaemonMetrics, JobName, SkipReason } from './prom-metrics.js';
import { slotRoundId } from '../../domain/round-id.js';
import type { ObjectStore } from '../store/store.js';

/** Claims older than this are not looked at for takeover. */
export const RECOVERY_WINDOW_MS = 24 * 3600 * 1000;

export interface JobRun {
  project: ProjectConfig;
  store: ObjectStore;
  /** Slot id, e.g. `20261127T0200Z`; also the round id. */
  slotId: string;
  signal: AbortSignal;
  logger: Logger;
  config: Config;
}

/** Runs the job's work; throws on failure. */
export type JobFn = (run: JobRun) => Promise<void>;

/** Options for {@link JobRunner}. */
export interface JobRunnerOptions {
  app: Pick<AppContext, 'projectStore'>;
  /** Current config (SIGHUP may replace it between ticks). */
  config: () => Config;
  /** This replica's id in leases and claims. */
  holder: string;
  jobs: Record<JobName, JobFn>;
  logger: Logger;
  metrics?: DaemonMetrics;
  /** Aborted by the lifecycle when the grace period is over. */
  shutdown: AbortSignal;
  /** True once shutdown began: no new slot starts. */
  stopping: () => boolean;
  /** Clock in ms; injectable for tests. Default `Date.now`. */
  now?: () => number;
  /** Frees the scoring threads when a job ignores its abort at the time bound (see job-bound.ts). */
  onStuck?: () => Promise<void>;
  /** Time a job aborted at its bound gets to unwind, in ms, before and after `onStuck`. Default 5000. */
  abortSettleMs?: number;
  /** Every start, stage past the bound and finish, in order (metrics, tests). */
  onEvent?: (event: JobEvent) => void;
}

/** What a job run is doing, as {@link JobRunnerOptions.onEvent} reports it. */
export type JobEvent = { project: string; job: JobName; slotId: string; atMs: number } & JobEventBody;

type JobEventBody = { type: 'started' } | { type: BoundStage } | { type: 'finished'; outcome: 'success' | 'failed' | 'aborted'; code?: string };

/** A job running here; `abandoned` once it ignored its abort past the bound. */
export interface RunningJob {
  project: string;
  job: JobName;
  slotId: string;
  startedAtMs: number;
  abandoned: boolean;
}

export type TickOutcome = { status: 'skipped'; reason: SkipReason; slotId: string } | { status: 'ran'; slotId: string; ran: SlotRun[] };

export interface SlotRun {
  slotId: string;
  takeover: boolean;
  /** Set when the job failed (the slot is then marked done as failed). */
  error?: unknown;
}

/** A tick's scheduled time, floored to the minute: slot ids have minute precision. */
export function floorToMinute(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 60_000) * 60_000);
}

const doneName = (job: JobName, slotId: string) => `state/done/${job}/${slotId}`;

export async function isSlotDone(store: ObjectStore, job: JobName, slotId: string): Promise<boolean> {
  return (await store.stat(doneName(job, slotId))) !== null;
}

async function markDone(store: ObjectStore, job: JobName, slotId: string, body: Record<string, unknown>): Promise<void> {
  try {
    await store.write(doneName(job, slotId), `${JSON.stringify({ job, slotId, ...body })}\n`, { ifGenerationMatch: '0', contentType: 'application/json' });
  } catch (err) {
    if (!isReviewloopError(err, 'ALREADY_EXISTS')) throw err;
  }
}

async function idsUnder(store: ObjectStore, prefix: string, from: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix, { startOffset: prefix + from })) out.push(o.name.slice(prefix.length));
  return out;
}

/** Claimed, never finished slots before `before` within the recovery window, oldest first. */
export async function unfinishedSlots(store: ObjectStore, job: JobName, before: string, now: number): Promise<string[]> {
  const from = slotRoundId(new Date(now - RECOVERY_WINDOW_MS));
  const done = new Set(await idsUnder(store, `state/done/${job}/`, from));
  return (await idsUnder(store, `state/slots/${job}/`, from)).filter((id) => id < before && !done.has(id)).sort();
}

export class JobRunner {
  private readonly inflight = new Map<string, Promise<TickOutcome>>();
  private readonly runningJobs = new Set<RunningJob>();
  private readonly now: () => number;

  constructor(private readonly options: JobRunnerOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Jobs running here now, abandoned ones included until they settle. */
  running(): RunningJob[] {
    return [...this.runningJobs].map((r) => ({ ...r }));
  }

  /** Resolves when no job is running here. */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight.values()]);
  }

  /** Runs `job` for the slot of `tick` unless it is running here, ran, or runs elsewhere. */
  async tick(projectName: string, job: JobName, tick: Date): Promise<TickOutcome> {
    const slotId = slotRoundId(floorToMinute(tick));
    const key = `${projectName}/${job}`;
    if (this.options.stopping()) return this.skip(projectName, job, slotId, 'shutdown');
    if (this.inflight.has(key)) return this.skip(projectName, job, slotId, 'overlap');
    const p = this.runTick(projectName, job, slotId);
    this.inflight.set(key, p);
    try {
      return await p;
    } finally {
      this.inflight.delete(key);
    }
  }

  private skip(project: string, job: JobName, slotId: string, reason: SkipReason): TickOutcome {
    this.options.metrics?.skipped.inc({ project, job, reason });
    this.options.logger.debug(`${job} ${slotId} skipped: ${reason}`, { project, job, slot: slotId, reason });
    return { status: 'skipped', reason, slotId };
  }

  private async runTick(projectName: string, job: JobName, slotId: string): Promise<TickOutcome> {
    const config = this.options.config();
    const project = config.projects.find((p) => p.name === projectName);
    if (!project) return this.skip(projectName, job, slotId, 'shutdown');
    const store = this.options.app.projectStore(project);
    if (await isSlotDone(store, job, slotId)) return this.skip(projectName, job, slotId, 'done');
    const ttlMs = config.worker.leaseTtlMs;
    const lease = new Lease(store, { holder: this.options.holder, ttlMs, name: `state/lease-${job}`, now: this.now });
    try {
      await lease.acquire();
    } catch (err) {
      if (isReviewloopError(err, 'LEASE_HELD')) return this.skip(projectName, job, slotId, 'lease');
      throw err;
    }
    const log = this.options.logger.child({ project: projectName, job });
    const lost = new AbortController();
    const renew = setInterval(
      () => {
        lease.renew().catch((err: unknown) => {
          log.error(`lease lost while running: aborting (${(err as Error).message})`);
          lost.abort();
        });
      },
      Math.max(250, Math.floor(ttlMs / 3)),
    );
    const signal = AbortSignal.any([this.options.shutdown, lost.signal]);
    const ran: SlotRun[] = [];
    try {
      for (const old of await unfinishedSlots(store, job, slotId, this.now())) {
        if (this.options.stopping()) break;
        ran.push({ slotId: old, takeover: true, error: await this.runSlot(project, store, job, old, signal, true) });
      }
      if (this.options.stopping()) return ran.length > 0 ? { status: 'ran', slotId, ran } : this.skip(projectName, job, slotId, 'shutdown');
      const mine = await claimSlot(store, job, slotId, this.options.holder, this.now);
      // Claimed by another replica yet not done, while we hold the lease: that replica stopped mid-run.
      if (!mine && (await isSlotDone(store, job, slotId))) {
        return ran.length > 0 ? { status: 'ran', slotId, ran } : this.skip(projectName, job, slotId, 'done');
      }
      ran.push({ slotId, takeover: !mine, error: await this.runSlot(project, store, job, slotId, signal, !mine) });
      return { status: 'ran', slotId, ran };
    } finally {
      clearInterval(renew);
      await lease.release().catch((err: unknown) => log.warn(`lease release failed: ${(err as Error).message}`));
    }
  }

  /** Undefined on success, the error on failure (the slot is marked done as failed); rethrows an abort. */
  private async runSlot(project: ProjectConfig, store: ObjectStore, job: JobName, slotId: string, signal: AbortSignal, takeover: boolean): Promise<unknown> {
    const labels = { project: project.name, job };
    const m = this.options.metrics;
    const log = this.options.logger.child({ project: project.name, job, slot: slotId, ...(job === 'round' ? { round: slotId } : {}) });
    const emit = (e: JobEventBody) => this.options.onEvent?.({ project: project.name, job, slotId, atMs: this.now(), ...e });
    if (takeover) {
      m?.takeovers.inc(labels);
      log.warn(`${job} ${slotId} was claimed by a replica that did not finish it: redoing it`);
    }
    const stopTimer = m?.duration.startTimer(labels);
    const startedAt = this.now();
    const config = this.options.config();
    // `event` and `outcome` are the fields to read these lines by (dashboards, tests); the wording is for people.
    log.info(`${job} ${slotId} starting`, { event: 'slot-started', takeover });
    emit({ type: 'started' });
    try {
      if (signal.aborted) throw new ReviewloopError('ABORTED', `${job} ${slotId} aborted before it started`);
      await this.runJob(project, store, job, slotId, signal, log, config);
      await markDone(store, job, slotId, {
        status: 'ok',
        holder: this.options.holder,
        startedAt: new Date(startedAt).toISOString(),
        finishedAt: new Date(this.now()).toISOString(),
      });
      m?.runs.inc({ ...labels, outcome: 'success' });
      log.info(`${job} ${slotId} done in ${((this.now() - startedAt) / 1000).toFixed(1)} s`, {
        event: 'slot-finished',
        outcome: 'success',
        durationMs: this.now() - startedAt,
      });
      emit({ type: 'finished', outcome: 'success' });
      return undefined;
    } catch (err) {
      if (!isReviewloopError(err, 'JOB_TIMEOUT') && (signal.aborted || isReviewloopError(err, 'ABORTED'))) {
        m?.runs.inc({ ...labels, outcome: 'aborted' });
        log.warn(`${job} ${slotId} aborted; nothing of it is visible and it will be redone`, { event: 'slot-finished', outcome: 'aborted', code: 'ABORTED' });
        emit({ type: 'finished', outcome: 'aborted', code: 'ABORTED' });
        throw isReviewloopError(err, 'ABORTED') ? err : new ReviewloopError('ABORTED', `${job} ${slotId} aborted`, { cause: err });
      }
      m?.runs.inc({ ...labels, outcome: 'failed' });
      const code = isReviewloopError(err) ? err.code : 'INTERNAL';
      m?.failures.inc({ ...labels, code });
      // Marked first, so that whoever reads this line finds the marker.
      await markDone(store, job, slotId, {
        status: 'failed',
        holder: this.options.holder,
        code,
        message: redactString((err as Error).message),
        finishedAt: new Date(this.now()).toISOString(),
      }).catch((e: unknown) => log.warn(`could not mark ${job} ${slotId} failed: ${(e as Error).message}`));
      // A failed slot is never redone: free the objects its round claimed so the next slot reads them (worker/round/claims.ts).
      if (job === 'round') {
        await releaseRound(store, slotId, this.options.holder, `round failed: ${code}`).catch((e: unknown) =>
          log.warn(`could not release the claims of round ${slotId}: ${(e as Error).message}`),
        );
      }
      log.error(`${job} ${slotId} failed: ${code}: ${(err as Error).message}`, { event: 'slot-finished', outcome: 'failed', code });
      emit({ type: 'finished', outcome: 'failed', code });
      return err ?? new Error('unknown failure');
    } finally {
      stopTimer?.();
    }
  }

  /** The job under `worker.jobTimeoutMs`, listed in {@link running} until it settles (even when abandoned). */
  private async runJob(
    project: ProjectConfig,
    store: ObjectStore,
    job: JobName,
    slotId: string,
    signal: AbortSignal,
    log: Logger,
    config: Config,
  ): Promise<void> {
    const entry: RunningJob = { project: project.name, job, slotId, startedAtMs: this.now(), abandoned: false };
    this.runningJobs.add(entry);
    const forget = () => {
      this.runningJobs.delete(entry);
    };
    const onStuck = this.options.onStuck;
    await runBounded(
      (bounded) => {
        const p = Promise.resolve().then(() => this.options.jobs[job]({ project, store, slotId, signal: bounded, logger: log, config }));
        p.then(forget, forget);
        return p;
      },
      {
        what: `${job} ${slotId}`,
        boundMs: config.worker.jobTimeoutMs,
        settleMs: this.options.abortSettleMs ?? 5000,
        outer: signal,
        onStuck:
          onStuck &&
          (async () => {
            log.error(`${job} ${slotId} ignores its abort: terminating the scoring threads so that it and the next job can go on`);
            await onStuck();
          }),
        onStage: (stage) => {
          if (stage === 'timed-out') log.warn(`${job} ${slotId} has run for worker.jobTimeoutMs (${config.worker.jobTimeoutMs} ms): aborting it`);
          if (stage === 'abandoned') {
            entry.abandoned = true;
            log.error(`${job} ${slotId} still runs after its abort; it is left behind and /readyz reports it until it ends`);
          }
          this.options.onEvent?.({ project: project.name, job, slotId, atMs: this.now(), type: stage });
        },
      },
    );
  }
}
