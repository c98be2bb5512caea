/**
 * Picks the stats sink from config. Apart from the contract (sink.ts) so the
 * sinks import the contract and this file imports the sinks, never both ways.
 */
import type { StatsConfig } from '../../../config/schema.js';
import { ReviewloopError } from '../../../domain/errors.js';
import type { StatsSink } from './sink.js';

/** Options for {@link openStatsSink}. */
export interface OpenStatsSinkOptions {
  /** DuckDB file used when `stats.path` is not set (e.g. `<root>/stats.duckdb`). */
  defaultPath: string;
}

/**
 * Opens the configured sink. DuckDB allows one process per file: open per
 * command and close after. `sink: none` gives a sink that drops writes and
 * refuses queries with STATS_FAILED.
 */
export async function openStatsSink(stats: StatsConfig, options: OpenStatsSinkOptions): Promise<StatsSink> {
  switch (stats.sink) {
    case 'duckdb': {
      const { openDuckdbSink } = await import('./duckdb-sink.js');
      return openDuckdbSink(stats.path ?? options.defaultPath);
    }
    case 'bigquery': {
      const { openBigQuerySink } = await import('./bigquery-sink.js');
      return openBigQuerySink({
        projectId: stats.projectId,
        dataset: stats.dataset,
        location: stats.location,
        apiEndpoint: stats.apiEndpoint ?? null,
        timeoutMs: stats.timeoutMs,
      });
    }
    case 'none':
      return nullSink();
  }
}

function nullSink(): StatsSink {
  return {
    write: async () => ({ written: false }),
    query: async () => {
      throw new ReviewloopError('STATS_FAILED', 'no stats sink configured (stats.sink: none)');
    },
    close: async () => {},
  };
}
