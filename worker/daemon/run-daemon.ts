/**
 * `reviewloop run [-c reviewloop.yaml] [--once]`: the long-running worker.
 * Wires config, app, metrics, the job runner, cron schedules, the ops HTTP
 * server and the lifecycle together; the behaviour lives in those modules.
 *
 * Test-only knob: `REVIEWLOOP_TEST_CHUNK_DELAY_MS` delays every scoring chunk
 * so an e2e test can signal a round while it is provably in progress. It
 * changes timing only, never output, and is not for production.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { loadConfig } from '../core/load-config.js';
import type { Config } from '../../config/schema.js';
import { openApp, type AppContext } from '../app/app.js';
import type { CommandEnv } from '../cli/main.js';
import { EXIT, exitCodeFor, ReviewloopError, isReviewloopError } from '../../domain/errors.js';
import { Lifecycle } from './lifecycle.js';
import { describeProblem, JobHistory, jobProblems, type JobProblem } from './liveness.js';
import { createLogger, type Logger } from '../core/log.js';
import { runMerge } from '../merge/merge.js';
import { uploadReport } from '../stats/report-upload.js';
import { MergeBacklogTracker } from '../merge/merge-lag.js';
import { createMetrics, type DaemonMetrics, type JobName } from './prom-metrics.js';
import { ReadinessFailure, startOpsServer, type OpsServer, type ReadinessCheck } from './ops-http.js';
import type { ScoringPool } from '../pool/pool.js';
import { runRound } from '../round/round.js';
import { runDue, scheduledJobs, Scheduler, validateSchedules } from './schedule.js';
import { JobRunner, type JobFn, type TickOutcome } from './slot-runner.js';

export interface RunOptions {
  config: string;
  once?: boolean;
}

function delayedPool(pool: ScoringPool, ms: number): ScoringPool {
  const wrapped = Object.create(pool) as ScoringPool;
  wrapped.score = async (input) => {
    await new Promise((r) => setTimeout(r, ms));
    return pool.score(input);
  };
  wrapped.recycle = () => pool.recycle();
  return wrapped;
}

/** The real jobs, and the pool once a round opened it (for /metrics). */
function realJobs(app: AppContext, metrics: DaemonMetrics): { jobs: Record<JobName, JobFn>; pool: () => ScoringPool | null } {
  const delayMs = Number(process.env.REVIEWLOOP_TEST_CHUNK_DELAY_MS ?? 0);
  let pool: ScoringPool | null = null;
  const getPool = () => (pool ??= delayMs > 0 ? delayedPool(app.pool(), delayMs) : app.pool());
  const jobs: Record<JobName, JobFn> = {
    round: async ({ project, store, slotId, signal, logger, config }) => {
      const r = await runRound({ project, store, pool: getPool(), sink: await app.sink(), roundId: slotId, chunkBytes: config.worker.chunkBytes, logger, signal, media: app.media, mediaSigner: app.mediaSigner });
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
  return { ...next, storage: current.storage, stats: current.stats, worker: { ...next.worker, threads: current.worker.threads, httpPort: current.worker.httpPort } };
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

/** Runs the daemon (or one pass with `once`) and resolves with the exit code. */
export async function runWorker(opts: RunOptions, logger: Logger): Promise<number> {
  let config = await loadConfig(opts.config);
  validateSchedules(config);
  const holder = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const trackers = new Map<string, MergeBacklogTracker>();
  const sinceMs = Date.now();
  let opened: AppContext | null = null;
  let real: ReturnType<typeof realJobs> | null = null;
  const history = histories(() => opened, () => config, logger);
  const metrics = createMetrics({
    lastSuccess: async () => Promise.all(scheduledJobs(config).map(async (s) => ({ project: s.project, job: s.job, atMs: (await history.lastSuccess(s.project, s.job))?.atMs ?? null }))),
    running: () => runner.running(),
    poolUtilization: () => real?.pool()?.utilization() ?? null,
    mergeBacklog: async () => {
      const out = new Map<string, { pending: number; oldestMs: number | null }>();
      for (const p of config.projects) {
        if (!opened) break;
        let t = trackers.get(p.name);
        if (!t) trackers.set(p.name, (t = new MergeBacklogTracker(opened.projectStore(p))));
        try {
          out.set(p.name, await t.read());
        } catch (err) {
          logger.warn(`merge backlog of ${p.name} unavailable: ${(err as Error).message}`, { project: p.name });
        }
      }
      return out;
    },
  });
  const app = openApp(config, { logger, onStoreRetry: () => metrics.storeRetries.inc() });
  opened = app;
  real = realJobs(app, metrics);
  let http: OpsServer | null = null;
  let scheduler: Scheduler | null = null;
  const lifecycle: Lifecycle = new Lifecycle({
    logger,
    graceMs: () => config.worker.shutdownGraceMs,
    stopScheduling: () => scheduler?.stop(),
    idle: () => runner.idle(),
    close: async () => {
      await http?.close();
      await app.close();
    },
    reload: async () => {
      let next: Config;
      try {
        next = await loadConfig(opts.config);
        validateSchedules(next);
      } catch (err) {
        metrics.configReloads.inc({ result: 'invalid' });
        logger.error(`config reload rejected; the running config stays: ${(err as Error).message}`);
        return;
      }
      config = keepRestartOnly(config, next, logger);
      metrics.configReloads.inc({ result: 'ok' });
      if (scheduler && !lifecycle.shuttingDown) scheduler.start(config);
      logger.info('config reloaded');
    },
    exitFallbackMs: 2000,
  }).install();
  const runner = new JobRunner({
    app, config: () => config, holder, jobs: real.jobs, logger, metrics,
    shutdown: lifecycle.signal, stopping: () => lifecycle.shuttingDown,
    // A job deaf to its abort at the bound is waiting on a scoring thread: fresh threads free it and the next job.
    onStuck: async () => { await real?.pool()?.recycle(); },
    onEvent: (e) => {
      if (e.type === 'finished' && e.outcome === 'success') history.of(e.project, e.job)?.note({ slotId: e.slotId, atMs: e.atMs });
    },
  });

  try {
    try {
      await storeReachable(app, config);
    } catch (err) {
      throw isReviewloopError(err, 'STORE_UNAVAILABLE') ? err : new ReviewloopError('STORE_UNAVAILABLE', `storage root ${app.store.root} is not reachable: ${(err as Error).message}`, { cause: err });
    }
    logger.info(`reviewloop run${opts.once ? ' --once' : ''}: replica ${holder}, root ${app.store.root}, ${config.projects.length} project(s)`);
    if (opts.once) {
      const outcomes = await runDue(runner, config, new Date());
      const failure = firstFailure(outcomes);
      const code = await lifecycle.shutdown('--once finished', { exitCode: failure === undefined ? EXIT.OK : exitCodeFor(failure) });
      if (code !== EXIT.OK) return code;
      if (failure !== undefined) throw failure;
      return EXIT.OK;
    }
    if (config.worker.httpPort !== 0) {
      http = await startOpsServer({
        port: config.worker.httpPort,
        registry: metrics.registry,
        accepting: () => !lifecycle.shuttingDown,
        logger,
        checks: [
          { name: 'store', run: () => storeReachable(app, config) },
          { name: 'stats', run: async () => { if (config.stats.sink !== 'none') await (await app.sink()).query('SELECT 1'); } },
          jobsCheck(() => jobProblems({ config, nowMs: Date.now(), sinceMs, lastSuccess: history.lastSuccess, running: runner.running() })),
        ],
      });
    }
    scheduler = new Scheduler(runner, logger);
    scheduler.start(config);
    // First pass: a slot missed while no replica ran, or left unfinished by a crash, runs now.
    void runDue(runner, config, new Date()).catch((err: unknown) => {
      if (!isReviewloopError(err, 'ABORTED')) logger.error(`startup pass failed: ${(err as Error).message}`);
    });
    return await lifecycle.done;
  } catch (err) {
    await lifecycle.close();
    throw err;
  }
}

export function register(program: Command, env: CommandEnv): void {
  program.command('run')
    .description('the worker: run rounds and merges on their schedules (or, with --once, every due job once and exit); see docs/operations.md')
    .addOption(env.configOption())
    .option('--once', 'run every due job once and exit (Cloud Scheduler + Cloud Run jobs, cron on a VM)')
    .action(async (opts: RunOptions) => {
      // The daemon's logs go to stdout, as Cloud Logging and `kubectl logs` expect.
      const code = await runWorker(opts, createLogger({ stream: process.stdout }));
      if (code === EXIT.INTERRUPTED) throw new ReviewloopError('ABORTED', 'interrupted: a running step did not finish within worker.shutdownGraceMs and was aborted; its slot is redone on the next start');
      if (code !== EXIT.OK) throw new ReviewloopError('INTERNAL', `stopped with errors (exit ${code})`);
    });
}
