/**
 * node-cron schedules for each project's `round` and `merge` (cron in
 * `schedule.*`, zone in `schedule.timezone`). A tick hands its scheduled
 * time (never "now") to the {@link JobRunner}, which floors it to the minute
 * for the slot id and makes sure the slot runs once across replicas.
 */
import cron, { type ScheduledTask } from 'node-cron';
import type { Config } from '../../config/schema.js';
import { ReviewloopError } from '../../domain/errors.js';
import type { Logger } from '../core/log.js';
import type { JobName } from './prom-metrics.js';
import { latestSlot } from '../../domain/round-id.js';
import type { JobRunner, TickOutcome } from './slot-runner.js';

export const JOBS: readonly JobName[] = ['round', 'merge'];

/** Every (project, job, cron, timezone) the config schedules. */
export function scheduledJobs(config: Config): Array<{ project: string; job: JobName; cron: string; timezone: string }> {
  const out: Array<{ project: string; job: JobName; cron: string; timezone: string }> = [];
  for (const p of config.projects) {
    for (const job of JOBS) {
      const expr = p.schedule[job];
      if (expr) out.push({ project: p.name, job, cron: expr, timezone: p.schedule.timezone });
    }
  }
  return out;
}

/** Throws CONFIG_INVALID naming the first bad cron expression or time zone. */
export function validateSchedules(config: Config): void {
  config.projects.forEach((p, i) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: p.schedule.timezone });
    } catch {
      throw new ReviewloopError(
        'CONFIG_INVALID',
        `projects[${i}].schedule.timezone: unknown time zone "${p.schedule.timezone}" (use an IANA name such as UTC or Europe/Berlin)`,
      );
    }
    for (const job of JOBS) {
      const expr = p.schedule[job];
      if (expr === undefined) continue;
      const v = cron.validateDetailed(expr);
      if (!v.valid)
        throw new ReviewloopError('CONFIG_INVALID', `projects[${i}].schedule.${job}: invalid cron "${expr}": ${v.errors.map((e) => e.message).join('; ')}`);
      latestSlot(expr, p.schedule.timezone, new Date());
    }
  });
}

/**
 * The due slots for `run --once` (and the daemon's first pass): per project
 * and job, the latest slot at or before `now`. The runner skips it when it is
 * already done and first redoes earlier slots left unfinished by a crash.
 */
export function dueSlots(config: Config, now: Date): Array<{ project: string; job: JobName; slot: Date }> {
  return scheduledJobs(config).map((s) => ({ project: s.project, job: s.job, slot: latestSlot(s.cron, s.timezone, now) }));
}

/** Runs every due slot; jobs of one project run in order, projects one after another. */
export async function runDue(runner: JobRunner, config: Config, now: Date): Promise<TickOutcome[]> {
  const out: TickOutcome[] = [];
  for (const d of dueSlots(config, now)) out.push(await runner.tick(d.project, d.job, d.slot));
  return out;
}

export class Scheduler {
  private tasks: ScheduledTask[] = [];

  constructor(
    private readonly runner: JobRunner,
    private readonly logger: Logger,
  ) {}

  /** (Re)creates one cron task per scheduled job of `config`. */
  start(config: Config): void {
    this.stop();
    const cronLogger = {
      info: (m: string) => this.logger.debug(m),
      warn: (m: string) => this.logger.warn(m),
      error: (m: string | Error) => this.logger.error(typeof m === 'string' ? m : m.message),
      debug: (m: string | Error) => this.logger.debug(typeof m === 'string' ? m : m.message),
    };
    for (const s of scheduledJobs(config)) {
      const task = cron.schedule(s.cron, (ctx) => this.onTick(s.project, s.job, ctx.date), {
        timezone: s.timezone,
        name: `${s.project}/${s.job}`,
        logger: cronLogger,
      });
      this.tasks.push(task);
      this.logger.info(`scheduled ${s.job} "${s.cron}" (${s.timezone}); next ${task.getNextRun()?.toISOString() ?? 'never'}`, {
        project: s.project,
        job: s.job,
      });
    }
  }

  /** No tick fires after this; running jobs go on. */
  stop(): void {
    for (const t of this.tasks) void t.destroy();
    this.tasks = [];
  }

  private async onTick(project: string, job: JobName, date: Date): Promise<void> {
    try {
      await this.runner.tick(project, job, date);
    } catch (err) {
      // Aborts are logged by the runner; anything else here is a store or lease error.
      if ((err as { code?: string }).code !== 'ABORTED') this.logger.error(`${job} tick failed: ${(err as Error).message}`, { project, job });
    }
  }
}
