/**
 * Opens what a command needs (store, stats sink, scoring pool) from config
 * and closes it all once, in reverse order; `close()` is idempotent.
 */
import path from 'node:path';
import type { Config, ProjectConfig } from '../../config/schema.js';
import { ReviewloopError } from '../../domain/errors.js';
import type { Logger } from '../core/log.js';
import { mediaHeadReader, type MediaHeadReader } from '../media/media-read.js';
import type { MediaSignerOptions } from '../media/signing.js';
import { checkCredentialsFile, openStore, projectStore } from '../store/open-store.js';
import { ScoringPool } from '../pool/pool.js';
import { openStatsSink } from '../stats/sinks/open-sink.js';
import type { StatsSink } from '../stats/sinks/sink.js';
import type { ObjectStore } from '../store/store.js';

export interface AppContext {
  config: Config;
  store: ObjectStore;
  logger: Logger;
  /** Opened on first use: `status` never needs threads. */
  pool(): ScoringPool;
  /** Opened on first use; DuckDB allows one process per file. */
  sink(): Promise<StatsSink>;
  project(name?: string): ProjectConfig;
  projectStore(project: ProjectConfig): ObjectStore;
  /** Reads media headers in any bucket (the root's endpoint and credentials) or local path. */
  media: MediaHeadReader;
  /** How media URLs are signed: ADC, and the configured endpoint's host in the URL. */
  mediaSigner: MediaSignerOptions;
  close(): Promise<void>;
}

export interface AppOptions {
  logger: Logger;
  /** Called on every store retry (for /metrics). */
  onStoreRetry?: () => void;
}

export function defaultStatsPath(config: Config): string {
  const root = config.storage.root;
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(root) && !root.startsWith('file://')
    ? path.resolve('stats.duckdb')
    : path.join(root.replace(/^file:\/\//, ''), 'stats.duckdb');
}

export function openApp(config: Config, options: AppOptions): AppContext {
  checkCredentialsFile();
  const store = openStore(config.storage, { gcs: { onRetry: options.onStoreRetry ? () => options.onStoreRetry!() : undefined } });
  let pool: ScoringPool | null = null;
  let sink: Promise<StatsSink> | null = null;
  let closing: Promise<void> | null = null;
  return {
    config,
    store,
    logger: options.logger,
    pool: () =>
      (pool ??= new ScoringPool({
        threads: config.worker.threads,
        ...(config.worker.taskTimeoutMs > 0 ? { taskTimeoutMs: config.worker.taskTimeoutMs } : {}),
      })),
    sink: () => (sink ??= openStatsSink(config.stats, { defaultPath: defaultStatsPath(config) })),
    project(name?: string): ProjectConfig {
      if (name === undefined) {
        if (config.projects.length === 1) return config.projects[0];
        throw new ReviewloopError(
          'CONFIG_INVALID',
          `several projects are configured (${config.projects.map((p) => p.name).join(', ')}): choose one with --project`,
        );
      }
      const p = config.projects.find((x) => x.name === name);
      if (!p) throw new ReviewloopError('CONFIG_INVALID', `no project "${name}" in config (projects: ${config.projects.map((x) => x.name).join(', ')})`);
      return p;
    },
    projectStore: (project) => projectStore(store, project.name),
    mediaSigner: { apiEndpoint: config.storage.apiEndpoint ?? null, ...(config.storage.projectId ? { projectId: config.storage.projectId } : {}) },
    media: mediaHeadReader({
      store,
      localFiles: store.localPath !== undefined,
      bucketStore: (bucket) =>
        openStore({ ...config.storage, root: `gs://${bucket}` }, { gcs: { onRetry: options.onStoreRetry ? () => options.onStoreRetry!() : undefined } }),
    }),
    close(): Promise<void> {
      closing ??= (async () => {
        const errors: unknown[] = [];
        if (pool) await pool.close().catch((e) => errors.push(e));
        if (sink) await sink.then((s) => s.close()).catch((e) => errors.push(e));
        await store.close().catch((e) => errors.push(e));
        if (errors.length > 0) options.logger.warn(`errors while closing: ${errors.map((e) => (e as Error).message).join('; ')}`);
      })();
      return closing;
    },
  };
}
