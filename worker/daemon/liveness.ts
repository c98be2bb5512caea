/**
 * Whether each project's scheduled jobs make progress, for `/readyz` and
 * `reviewloop_last_success_timestamp_seconds`. The truth is the store's done
 * markers (`state/done/<job>/<slot>`, written by every replica), so all
 * replicas agree and a restart forgets nothing.
 *
 * A job is stale when none of its last `worker.readyStaleSlots` slots that
 * must have ended by now (scheduled at or before now − `worker.jobTimeoutMs`)
 * succeeded: a success of slot s finishes at or after s, so "last success
 * older than the oldest of those slots" says exactly that. Deriving the bound
 * from each job's own cron fits an hourly round and a daily merge alike,
 * also when the cron is irregular (weekdays only). Only slots scheduled while
 * this process ran are judged: a fresh replica (a rollout that brings the fix)
 * is not held unready for its predecessors' failures; the metric shows them.
 */
import { CronExpressionParser } from 'cron-parser';
import type { Config } from '../../config/schema.js';
import type { JobName } from './prom-metrics.js';
import { slotRoundId } from '../../domain/round-id.js';
import { JOBS } from './schedule.js';
import type { RunningJob } from './slot-runner.js';
import type { ObjectStore } from '../store/store.js';

/** The newest successful slot on record and when it finished. */
export interface LastSuccess {
  slotId: string;
  atMs: number;
}

/** Options for {@link JobHistory}. */
export interface JobHistoryOptions {
  /** Clock in ms; injectable for tests. Default `Date.now`. */
  now?: () => number;
  /** A result is reused this long, in ms, so scrapes and probes share one listing. Default 1000. */
  refreshMs?: number;
  /** Markers read per refresh, newest first, looking for a success; the rest wait for the next refresh. Default 64. */
  maxReads?: number;
  /**
   * How far back the first listing starts, in ms. Default 7 days: about 10^4 markers for a
   * one-minute schedule (a 2 s listing on a local root); a success older than that reads as none.
   */
  lookBackMs?: number;
}

/** The last successful slot of one job of one project, from its done markers. */
export class JobHistory {
  private listedUpTo = '';
  /** Listed markers newer than the best success and not read yet, oldest first. */
  private unread: string[] = [];
  private best: LastSuccess | null = null;
  private readAt = -Infinity;
  private pending: Promise<LastSuccess | null> | null = null;
  private readonly now: () => number;

  constructor(
    private readonly store: ObjectStore,
    private readonly job: JobName,
    private readonly options: JobHistoryOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Records a success seen here, so it counts before the next listing. */
  note(s: LastSuccess): void {
    if (!this.best || s.atMs > this.best.atMs) this.best = s;
  }

  /**
   * The newest success on record, or null when none is. The first call lists
   * the markers of the last `lookBackMs`; later calls list only names after the
   * newest one seen (slot ids sort by time).
   */
  lastSuccess(): Promise<LastSuccess | null> {
    if (this.now() - this.readAt < (this.options.refreshMs ?? 1000)) return Promise.resolve(this.best);
    // A probe and a scrape at once share one listing.
    this.pending ??= this.refresh().finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  private async refresh(): Promise<LastSuccess | null> {
    const prefix = `state/done/${this.job}/`;
    const fresh: string[] = [];
    this.listedUpTo ||= slotRoundId(new Date(this.now() - (this.options.lookBackMs ?? 7 * 86_400_000)));
    for await (const o of this.store.list(prefix, { startOffset: prefix + this.listedUpTo })) {
      const id = o.name.slice(prefix.length);
      if (id > this.listedUpTo) fresh.push(id);
    }
    fresh.sort();
    if (fresh.length > 0) this.listedUpTo = fresh[fresh.length - 1];
    // Every unread name is older than every fresh one: newest first is popping from the end.
    const queue = [...this.unread, ...fresh];
    for (let reads = 0; queue.length > 0 && reads < (this.options.maxReads ?? 64); reads++) {
      const id = queue.pop()!;
      const found = await this.successOf(prefix + id, id);
      if (found) {
        this.note(found);
        queue.length = 0; // older markers cannot hold a newer success
      }
    }
    this.unread = queue;
    this.readAt = this.now();
    return this.best;
  }

  private async successOf(name: string, slotId: string): Promise<LastSuccess | null> {
    let rec: { status?: unknown; finishedAt?: unknown };
    try {
      rec = JSON.parse((await this.store.read(name)).toString('utf8')) as typeof rec;
    } catch {
      return null; // deleted by a lifecycle rule meanwhile, or not a marker
    }
    if (rec.status !== 'ok') return null;
    const at = typeof rec.finishedAt === 'string' ? Date.parse(rec.finishedAt) : NaN;
    return Number.isFinite(at) ? { slotId, atMs: at } : null;
  }
}

/** Why a project's job makes `/readyz` fail. */
export type JobProblem =
  | { project: string; job: JobName; problem: 'stale'; lastSuccessAt: string | null; ageSeconds: number | null; staleSlots: number; oldestSlotJudged: string }
  | { project: string; job: JobName; problem: 'overrunning'; slotId: string; runningSeconds: number; boundSeconds: number; abandoned: boolean };

/** The `slots`-th latest slot of `cron` at or before `atMs` (the oldest judged), in ms; null when the cron has none. */
export function oldestJudgedSlot(cron: string, timezone: string, atMs: number, slots: number): number | null {
  try {
    // As latestSlot: a slot at exactly `atMs` (second precision) counts as at or before it.
    const it = CronExpressionParser.parse(cron, { currentDate: new Date(atMs + 1000), tz: timezone });
    let slot = NaN;
    for (let i = 0; i < slots; i++) slot = it.prev().toDate().getTime();
    return slot;
  } catch {
    return null;
  }
}

export interface LivenessInput {
  config: Config;
  nowMs: number;
  /** When this process started, in ms: slots before it are not judged. */
  sinceMs: number;
  lastSuccess: (project: string, job: JobName) => Promise<LastSuccess | null>;
  running: RunningJob[];
}

/** Every stale scheduled job and every job running past `worker.jobTimeoutMs`; empty when all make progress. */
export async function jobProblems(input: LivenessInput): Promise<JobProblem[]> {
  const { config, nowMs } = input;
  const boundMs = config.worker.jobTimeoutMs;
  const out: JobProblem[] = [];
  for (const p of config.projects) {
    for (const job of JOBS) {
      const cron = p.schedule[job];
      if (!cron) continue;
      const oldest = oldestJudgedSlot(cron, p.schedule.timezone, nowMs - boundMs, config.worker.readyStaleSlots);
      if (oldest === null || input.sinceMs > oldest) continue;
      const last = await input.lastSuccess(p.name, job);
      if (last !== null && last.atMs >= oldest) continue;
      out.push({
        project: p.name,
        job,
        problem: 'stale',
        lastSuccessAt: last ? new Date(last.atMs).toISOString() : null,
        ageSeconds: last ? Math.round((nowMs - last.atMs) / 1000) : null,
        staleSlots: config.worker.readyStaleSlots,
        oldestSlotJudged: new Date(oldest).toISOString(),
      });
    }
  }
  for (const r of input.running) {
    if (nowMs - r.startedAtMs <= boundMs) continue;
    out.push({
      project: r.project,
      job: r.job,
      problem: 'overrunning',
      slotId: r.slotId,
      runningSeconds: Math.round((nowMs - r.startedAtMs) / 1000),
      boundSeconds: boundMs / 1000,
      abandoned: r.abandoned,
    });
  }
  return out;
}

/** One line per problem, for the readiness check's message and logs. */
export function describeProblem(p: JobProblem): string {
  if (p.problem === 'overrunning') {
    return `${p.job} ${p.slotId} of ${p.project} has run ${p.runningSeconds} s, past its bound of ${p.boundSeconds} s${p.abandoned ? ' (it ignored its abort)' : ''}`;
  }
  const since = p.lastSuccessAt ? `last success ${p.lastSuccessAt} (${p.ageSeconds} s ago)` : 'no success on record';
  return `${p.job} of ${p.project}: none of its last ${p.staleSlots} slots since ${p.oldestSlotJudged} succeeded; ${since}`;
}
