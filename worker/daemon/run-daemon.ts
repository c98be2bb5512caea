/**
 * The long-running worker behind `reviewloop run` (worker/cli/commands/run.ts).
 * Wires config, app, metrics, the job runner, cron schedules, the ops HTTP
 * server and the lifecycle together; the behaviour lives in those modules.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { loadConfig } from '../core/load-config.js';
import type { Config } from '../../config/schema.js';
import { openApp, type AppContext } from '../app/app.js';
import { EXIT, exitCodeFor, ReviewloopError, isReviewloopError } from '../../domain/errors.js';
import { Lifecycle, type ReloadResult } from './lifecycle.js';
import { describeProblem, JobHistory, jobProblems, type JobProblem } from './liveness.js';
import type { Logger } from '../core/log.js';
import { runMerge } from '../merge/merge.js';
import { uploadReport } from '../stats/report-upload.js';
import { MergeBacklogTracker } from '../merge/merge-lag.js';
import { createMetrics, type DaemonMetrics, type JobName } from './prom-metrics.js';
import { ReadinessFailure, startOpsServer, type OpsServer, type ReadinessCheck } from './ops-http.js';
import { logNativeStatus } from '../core/native.js';
import type { ScoringPool } from '../pool/pool.js';
import { runRound } from '../round/round.js';
import { runDue, scheduledJobs, Scheduler, validateSchedules } from './schedule.js';
import { JobRunner, type JobFn, type TickOutcome } from './slot-runner.js';

export interface DaemonOptions {
  /** The config file, read at start and again on SIGHUP. */
  configPath: string;
  /** Run every due job once and resolve, instead of running on the schedules. */
  once?: boolean;
  logger: Logger;
  /** Wraps the scoring pool the rounds use; instrumentation, and tests that need a round held mid-scoring. */
  wrapPool?: (pool: ScoringPool) => ScoringPool;
}

/** The real jobs, and the pool once a round opened it (for /metrics). */
function realJobs(
  app: AppContext,
  metrics: DaemonMetrics,
  wrapPool?: (pool: ScoringPool) => ScoringPool,
): { jobs: Record<JobName, JobFn>; pool: () => ScoringPool | null } {
  let pool: ScoringPool | null = null;
  const getPool = () => (pool ??= wrapPool ? wrapPool(app.pool()) : app.pool());
  const jobs: Record<JobName, JobFn> = {
    round: async ({ project, store, slotId, signal, logger, config }) => {
      const r = await runRound({
        project,
        store,
        pool: getPool(),
        sink: await app.sink(),
        roundId: slotId,
        chunkBytes: config.worker.chunkBytes,
        logger,
        signal,
        media: app.media,
        mediaSigner: app.mediaSigner,
      });
      if (r.status === 'created') metrics.itemsScored.inc({ project: project.name }, r.manifest.counts.scored);
      metrics.queueItems.set({ project: project.name }, r.manifest.counts.queued);
    },
    merge: async ({ project, store, logger }) => {
      const sink = await app.sink();
      const m = await runMerge({ project, store, sink, logger });
      if (m.status === 'created' && m.manifest && app.config.stats.sink !== 'none') {
        logger.info(`report published: ${await uploadReport(store, sink, project, m.manifest)}`);
      }
    },
  };
  return { jobs, pool: () => pool };
}

/** Fields of a reloaded config that need a restart; the running values are kept. */
function keepRestartOnly(current: Config, next: Config, logger: Logger): Config {
  const changed: string[] = [];
  if (JSON.stringify(current.storage) !== JSON.stringify(next.storage)) changed.push('storage');
  if (JSON.stringify(current.stats) !== JSON.stringify(next.stats)) changed.push('stats');
  if (current.worker.threads !== next.worker.threads) changed.push('worker.threads');
  if (current.worker.httpPort !== next.worker.httpPort) changed.push('worker.httpPort');
  if (changed.length > 0) logger.warn(`config reload: ${changed.join(', ')} changed; these take effect on restart, running values kept`);
  return {
    ...next,
    storage: current.storage,
    stats: current.stats,
    worker: { ...next.worker, threads: current.worker.threads, httpPort: current.worker.httpPort },
  };
}

async function storeReachable(app: AppContext, config: Config): Promise<void> {
  for await (const _ of app.store.list(`${config.projects[0].name}/state/`, { pageSize: 1 })) break;
}

/** The store-backed last success of every project's job, one {@link JobHistory} each, made on first use. */
function histories(app: () => AppContext | null, config: () => Config, logger: Logger) {
  const byKey = new Map<string, JobHistory>();
  const of = (project: string, job: JobName): JobHistory | null => {
    const a = app();
    // The running config, not the app's first one: a reload may add projects.
    const p = config().projects.find((x) => x.name === project);
    if (!a || !p) return null;
    const key = `${project}/${job}`;
    let h = byKey.get(key);
    if (!h) byKey.set(key, (h = new JobHistory(a.projectStore(p), job)));
    return h;
  };
  const lastSuccess = async (project: string, job: JobName) => {
    try {
      return (await of(project, job)?.lastSuccess()) ?? null;
    } catch (err) {
      logger.warn(`last success of ${project} ${job} unavailable: ${(err as Error).message}`, { project, job });
      return null;
    }
  };
  return { of, lastSuccess };
}

/** `/readyz`'s `jobs` check: fails naming every stale or overrunning job (worker/daemon/liveness.ts). */
function jobsCheck(problems: () => Promise<JobProblem[]>): ReadinessCheck {
  return {
    name: 'jobs',
    run: async () => {
      const found = await problems();
      if (found.length > 0) throw new ReadinessFailure(found.map(describeProblem).join('; '), found);
    },
  };
}

function firstFailure(outcomes: TickOutcome[]): unknown {
  for (const o of outcomes) if (o.status === 'ran') for (const r of o.ran) if (r.error !== undefined) return r.error;
  return undefined;
}

/** The daemon's parts; the functions below fill it in order and read `config` live, since a reload replaces it. */
interface Daemon {
  opts: DaemonOptions;
  logger: Logger;
  config: Config;
  holder: string;
  sinceMs: number;
  opened: AppContext | null;
  real: ReturnType<typeof realJobs> | null;
  history: ReturnType<typeof histories>;
  metrics: DaemonMetrics;
  lifecycle: Lifecycle;
  runner: JobRunner;
  http: OpsServer | null;
  scheduler: Scheduler | null;
}

function daemonMetrics(d: Daemon): DaemonMetrics {
  const trackers = new Map<string, MergeBacklogTracker>();
  return createMetrics({
    lastSuccess: async () =>
      Promise.all(
        scheduledJobs(d.config).map(async (s) => ({ project: s.project, job: s.job, atMs: (await d.history.lastSuccess(s.project, s.job))?.atMs ?? null })),
      ),
    running: () => d.runner.running(),
    poolUtilization: () => d.real?.pool()?.utilization() ?? null,
    mergeBacklog: async () => {
      const out = new Map<string, { pending: number; oldestMs: number | null }>();
      for (const p of d.config.projects) {
        if (!d.opened) break;
        let t = trackers.get(p.name);
        if (!t) trackers.set(p.name, (t = new MergeBacklogTracker(d.opened.projectStore(p))));
        try {
          out.set(p.name, await t.read());
        } catch (err) {
          d.logger.warn(`merge backlog of ${p.name} unavailable: ${(err as Error).message}`, { project: p.name });
        }
      }
      return out;
    },
  });
}

/** SIGHUP: a valid config replaces the running one (restart-only fields kept); an invalid one is refused. */
async function reloadConfig(d: Daemon): Promise<ReloadResult> {
  let next: Config;
  try {
    next = await loadConfig(d.opts.configPath);
    validateSchedules(next);
  } catch (err) {
    d.metrics.configReloads.inc({ result: 'invalid' });
    d.logger.error(`config reload rejected; the running config stays: ${(err as Error).message}`);
    return 'invalid';
  }
  d.config = keepRestartOnly(d.config, next, d.logger);
  d.metrics.configReloads.inc({ result: 'ok' });
  if (d.scheduler && !d.lifecycle.shuttingDown) d.scheduler.start(d.config);
  d.logger.info('config reloaded');
  return 'ok';
}

function daemonLifecycle(d: Daemon, app: AppContext): Lifecycle {
  return new Lifecycle({
    logger: d.logger,
    graceMs: () => d.config.worker.shutdownGraceMs,
    stopScheduling: () => d.scheduler?.stop(),
    idle: () => d.runner.idle(),
    close: async () => {
      await d.http?.close();
      await app.close();
    },
    reload: () => reloadConfig(d),
    exitFallbackMs: 2000,
  }).install();
}

function daemonRunner(d: Daemon, app: AppContext, jobs: Record<JobName, JobFn>): JobRunner {
  return new JobRunner({
    app,
    config: () => d.config,
    holder: d.holder,
    jobs,
    logger: d.logger,
    metrics: d.metrics,
    shutdown: d.lifecycle.signal,
    stopping: () => d.lifecycle.shuttingDown,
    // A job deaf to its abort at the bound is waiting on a scoring thread: fresh threads free it and the next job.
    onStuck: async () => {
      await d.real?.pool()?.recycle();
    },
    onEvent: (e) => {
      if (e.type === 'finished' && e.outcome === 'success') d.history.of(e.project, e.job)?.note({ slotId: e.slotId, atMs: e.atMs });
    },
  });
}

async function serveOps(d: Daemon, app: AppContext): Promise<OpsServer> {
  return startOpsServer({
    port: d.config.worker.httpPort,
    registry: d.metrics.registry,
    accepting: () => !d.lifecycle.shuttingDown,
    logger: d.logger,
    checks: [
      { name: 'store', run: () => storeReachable(app, d.config) },
      {
        name: 'stats',
        run: async () => {
          if (d.config.stats.sink !== 'none') await (await app.sink()).query('SELECT 1');
        },
      },
      jobsCheck(() =>
        jobProblems({ config: d.config, nowMs: Date.now(), sinceMs: d.sinceMs, lastSuccess: d.history.lastSuccess, running: d.runner.running() }),
      ),
    ],
  });
}

/** `once`: every due job once, then a clean shutdown; resolves with the exit code or throws the first failure. */
async function runOnce(d: Daemon): Promise<number> {
  const outcomes = await runDue(d.runner, d.config, new Date());
  const failure = firstFailure(outcomes);
  const code = await d.lifecycle.shutdown('--once finished', { exitCode: failure === undefined ? EXIT.OK : exitCodeFor(failure) });
  if (code !== EXIT.OK) return code;
  if (failure !== undefined) throw failure;
  return EXIT.OK;
}

/** Runs the daemon (or one pass with `once`) and resolves with the exit code. */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const { logger } = opts;
  const config = await loadConfig(opts.configPath);
  validateSchedules(config);
  const d = {
    opts,
    logger,
    config,
    holder: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    sinceMs: Date.now(),
    opened: null,
    real: null,
    http: null,
    scheduler: null,
  } as Daemon;
  d.history = histories(
    () => d.opened,
    () => d.config,
    logger,
  );
  d.metrics = daemonMetrics(d);
  const app = openApp(config, { logger, onStoreRetry: () => d.metrics.storeRetries.inc() });
  d.opened = app;
  const real = realJobs(app, d.metrics, opts.wrapPool);
  d.real = real;
  d.lifecycle = daemonLifecycle(d, app);
  d.runner = daemonRunner(d, app, real.jobs);
  try {
    try {
      await storeReachable(app, d.config);
    } catch (err) {
      throw isReviewloopError(err, 'STORE_UNAVAILABLE')
        ? err
        : new ReviewloopError('STORE_UNAVAILABLE', `storage root ${app.store.root} is not reachable: ${(err as Error).message}`, { cause: err });
    }
    logger.info(`reviewloop run${opts.once ? ' --once' : ''}: replica ${d.holder}, root ${app.store.root}, ${d.config.projects.length} project(s)`);
    logNativeStatus(logger);
    if (opts.once) return await runOnce(d);
    if (d.config.worker.httpPort !== 0) d.http = await serveOps(d, app);
    d.scheduler = new Scheduler(d.runner, logger);
    d.scheduler.start(d.config);
    // First pass: a slot missed while no replica ran, or left unfinished by a crash, runs now.
    void runDue(d.runner, d.config, new Date()).catch((err: unknown) => {
      if (!isReviewloopError(err, 'ABORTED')) logger.error(`startup pass failed: ${(err as Error).message}`);
    });
    return await d.lifecycle.done;
  } catch (err) {
    await d.lifecycle.close();
    throw err;
  }
}
