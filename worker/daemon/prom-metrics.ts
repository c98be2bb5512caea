/**
 * The daemon's Prometheus metrics, on a registry of their own so that tests
 * (and several daemons in one process) never share counters through
 * prom-client's global registry. Names and labels are listed in
 * docs/operations.md; keep the two in step.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { nativeStatus, type NativeStatus } from '../core/native.js';

export type JobName = 'round' | 'merge';

/** Why a tick did not run its job. */
export type SkipReason = 'overlap' | 'lease' | 'done' | 'shutdown';

/** Sources for gauges read at scrape time. */
export interface MetricSources {
  /** Busy share of the scoring threads since start (0..1), or null before the pool exists. */
  poolUtilization: () => number | null;
  /** Per project: pending exports and the `updated` time (ms) of the oldest one, or null when none. */
  mergeBacklog: () => Promise<Map<string, { pending: number; oldestMs: number | null }>>;
  /** Per scheduled project and job: when its last successful slot finished (ms), or null when none is on record. Default: none. */
  lastSuccess?: () => Promise<Array<{ project: string; job: JobName; atMs: number | null }>>;
  /** Jobs running here and since when (ms). Default: none. */
  running?: () => Array<{ project: string; job: JobName; startedAtMs: number }>;
  /** Whether the native module is in use and why not. Default: this process's {@link nativeStatus}. */
  native?: () => NativeStatus;
  now?: () => number;
}

export interface DaemonMetrics {
  registry: Registry;
  runs: Counter<'project' | 'job' | 'outcome'>;
  failures: Counter<'project' | 'job' | 'code'>;
  skipped: Counter<'project' | 'job' | 'reason'>;
  takeovers: Counter<'project' | 'job'>;
  itemsScored: Counter<'project'>;
  queueItems: Gauge<'project'>;
  lastSuccess: Gauge<'project' | 'job'>;
  duration: Histogram<'project' | 'job'>;
  storeRetries: Counter<string>;
  configReloads: Counter<'result'>;
}

// long: one declaration per metric, so every name /metrics exports reads in one place.
export function createMetrics(sources: MetricSources): DaemonMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'reviewloop_' });
  const now = sources.now ?? Date.now;
  const registers = [registry];
  const backlog = { at: 0, value: new Map<string, { pending: number; oldestMs: number | null }>() };
  // Both merge gauges come from one store listing per scrape.
  const readBacklog = async () => {
    if (now() - backlog.at > 1000) {
      backlog.value = await sources.mergeBacklog();
      backlog.at = now();
    }
    return backlog.value;
  };
  new Gauge({
    name: 'reviewloop_merge_pending_exports',
    help: 'Prodigy exports under annotations/ not yet merged into a snapshot',
    labelNames: ['project'],
    registers,
    async collect() {
      this.reset();
      for (const [project, b] of await readBacklog()) this.set({ project }, b.pending);
    },
  });
  new Gauge({
    name: 'reviewloop_merge_lag_seconds',
    help: 'Seconds since the oldest unmerged export was written (0 when none)',
    labelNames: ['project'],
    registers,
    async collect() {
      this.reset();
      for (const [project, b] of await readBacklog()) this.set({ project }, b.oldestMs === null ? 0 : Math.max(0, (now() - b.oldestMs) / 1000));
    },
  });
  new Gauge({
    name: 'reviewloop_job_running_seconds',
    help: 'Seconds the job running here has run (no series while idle); above worker.jobTimeoutMs/1000 it is stuck',
    labelNames: ['project', 'job'],
    registers,
    collect() {
      this.reset();
      const longest = new Map<string, number>();
      for (const r of sources.running?.() ?? []) {
        const key = JSON.stringify([r.project, r.job]);
        longest.set(key, Math.max(longest.get(key) ?? 0, (now() - r.startedAtMs) / 1000));
      }
      for (const [key, seconds] of longest) {
        const [project, job] = JSON.parse(key) as [string, string];
        this.set({ project, job }, seconds);
      }
    },
  });
  new Gauge({
    name: 'reviewloop_native_module',
    help: 'Native module in use (1) or not (0); reason: avx2 or scalar (in use, settler kernels), disabled (REVIEWLOOP_NATIVE=0), absent (not built), load-error',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      const s = (sources.native ?? nativeStatus)();
      this.set({ reason: s.reason }, s.inUse ? 1 : 0);
    },
  });
  new Gauge({
    name: 'reviewloop_pool_utilization',
    help: 'Busy share of the scoring threads since the pool started (0..1)',
    registers,
    collect() {
      this.set(sources.poolUtilization() ?? 0);
    },
  });
  return {
    registry,
    runs: new Counter({
      name: 'reviewloop_runs_total',
      help: 'Jobs run, by outcome (success, failed, aborted)',
      labelNames: ['project', 'job', 'outcome'],
      registers,
    }),
    failures: new Counter({
      name: 'reviewloop_job_failures_total',
      help: 'Jobs that failed, by error code (JOB_TIMEOUT: past worker.jobTimeoutMs)',
      labelNames: ['project', 'job', 'code'],
      registers,
    }),
    skipped: new Counter({
      name: 'reviewloop_skipped_total',
      help: 'Ticks that did not run: overlap (still running here), lease (another replica runs it), done (slot already ran), shutdown',
      labelNames: ['project', 'job', 'reason'],
      registers,
    }),
    takeovers: new Counter({
      name: 'reviewloop_takeovers_total',
      help: 'Slots claimed by a replica that stopped before finishing, redone here',
      labelNames: ['project', 'job'],
      registers,
    }),
    itemsScored: new Counter({
      name: 'reviewloop_items_scored_total',
      help: 'Prediction records scored by rounds run here',
      labelNames: ['project'],
      registers,
    }),
    queueItems: new Gauge({ name: 'reviewloop_queue_items', help: 'Tasks in the queue of the latest round run here', labelNames: ['project'], registers }),
    lastSuccess: new Gauge({
      name: 'reviewloop_last_success_timestamp_seconds',
      help: 'Unix time the last successful slot of each scheduled job finished, by any replica (0: none on record)',
      labelNames: ['project', 'job'],
      registers,
      async collect() {
        this.reset();
        for (const s of (await sources.lastSuccess?.()) ?? []) this.set({ project: s.project, job: s.job }, s.atMs === null ? 0 : s.atMs / 1000);
      },
    }),
    duration: new Histogram({
      name: 'reviewloop_run_duration_seconds',
      help: 'Wall time of job runs',
      labelNames: ['project', 'job'],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
      registers,
    }),
    storeRetries: new Counter({ name: 'reviewloop_store_retries_total', help: 'Object-store requests retried after a transient error', registers }),
    configReloads: new Counter({ name: 'reviewloop_config_reloads_total', help: 'SIGHUP reloads, by result (ok, invalid)', labelNames: ['result'], registers }),
  };
}
