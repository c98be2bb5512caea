/**
 * The stats sink contract and the helpers both sinks share (open-sink.ts picks one from config).
 * Both sinks hold the same tables (tables.ts) and answer the same SQL, so the
 * CLI, the report and the README queries do not care which one is behind.
 */
import { createHash } from 'node:crypto';
import { ReviewloopError } from '../../../domain/errors.js';
import type { Rows, TableName } from '../../../domain/quality/tables.js';

/** A value in a query result, normalised across sinks. */
export type ResultValue = string | number | boolean | null;

export interface StatsSink {
  /**
   * Writes one batch (one round or one merge) atomically per table. Writing a
   * `batchId` that was already written is a no-op and returns `{written: false}`.
   * Every row's `batch_id` column is set to `batchId`.
   */
  write(batchId: string, rows: Rows): Promise<{ written: boolean }>;
  /**
   * Runs one SQL statement. Tables and views are referenced by bare name on
   * both sinks. Parameters are named `@name` on both sinks (DuckDB's `$name`
   * is rewritten). Result values are normalised: INT64 → number, TIMESTAMP →
   * ISO-8601 UTC string with milliseconds (`2026-11-27T02:00:00.000Z`).
   */
  query(sql: string, params?: Record<string, unknown>): Promise<Record<string, ResultValue>[]>;
  /** Releases the connection; calling it again does nothing. */
  close(): Promise<void>;
}

/** Normalises one result value so both sinks return the same JS shapes. */
export function normalizeValue(v: unknown): ResultValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  // BigQueryTimestamp / BigQueryDate / Big.js numerics carry `.value` or toString().
  const value = (v as { value?: unknown }).value;
  if (typeof value === 'string') {
    const t = Date.parse(value);
    return /^\d{4}-\d{2}-\d{2}T/.test(value) && !Number.isNaN(t) ? new Date(t).toISOString() : value;
  }
  return String(v);
}

/** Rows to write for one table, with `batch_id` stamped. */
export function stampBatch(rows: Rows, batchId: string): Rows {
  const out: Rows = {};
  for (const [table, list] of Object.entries(rows) as Array<[keyof Rows, NonNullable<Rows[keyof Rows]>]>) {
    out[table] = list.map((r) => ({ ...r, batch_id: batchId }));
  }
  return out;
}

/** Parameter names must be plain identifiers in both dialects. */
export function checkParamNames(params: Record<string, unknown>): void {
  for (const name of Object.keys(params)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new ReviewloopError('STATS_FAILED', `bad query parameter name "${name}"`);
  }
}

/** sha256 of the batch's rows, recorded next to the batch id for audits and BigQuery job ids. */
export function contentSha256(rows: Rows): string {
  const tables = Object.keys(rows).sort() as TableName[];
  return createHash('sha256')
    .update(JSON.stringify(tables.map((t) => [t, rows[t]])))
    .digest('hex');
}
