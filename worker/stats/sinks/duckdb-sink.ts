/**
 * Embedded stats sink on a DuckDB file. DuckDB locks the file for one
 * process, so commands open the sink, write or query, and close it again.
 * Idempotency: a `_batches` row is inserted in the same transaction as the
 * batch's rows, so a batch is either fully written once or not at all.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { ReviewloopError } from '../../../domain/errors.js';
import { checkParamNames, contentSha256, normalizeValue, stampBatch, type ResultValue, type StatsSink } from './sink.js';
import { TABLES, VIEWS, duckdbAddColumn, duckdbCreateTable, tableDef, type Row, type Rows, type TableName } from '../../../domain/quality/tables.js';

/** Rows per INSERT statement; keeps statements and parameter lists small. */
const INSERT_CHUNK_ROWS = 200;

/**
 * Opens (creating when missing) the DuckDB file at `path`, then creates the
 * tables and views and adds any new columns. `:memory:` works for tests.
 * @throws ReviewloopError STATS_FAILED (retryable when the file is locked by another process).
 */
export async function openDuckdbSink(path: string): Promise<StatsSink> {
  let instance: DuckDBInstance;
  let conn: DuckDBConnection;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    instance = await DuckDBInstance.create(path);
    conn = await instance.connect();
  } catch (err) {
    const locked = /lock/i.test(String((err as Error)?.message));
    throw new ReviewloopError('STATS_FAILED', `cannot open DuckDB stats file ${path}: ${(err as Error)?.message}`, {
      cause: err,
      retryable: locked,
      details: { path },
    });
  }
  const sink = new DuckdbSink(instance, conn, path);
  try {
    await sink.migrate();
  } catch (err) {
    await sink.close();
    throw wrap(err, `cannot prepare the stats tables in ${path}`);
  }
  return sink;
}

class DuckdbSink implements StatsSink {
  private closed = false;
  constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly path: string,
  ) {}

  /** Creates missing tables and views; appends the columns tables.ts defines that the file lacks. */
  async migrate(): Promise<void> {
    await this.conn.run('CREATE TABLE IF NOT EXISTS _batches (batch_id VARCHAR PRIMARY KEY, content_sha256 VARCHAR NOT NULL, row_count BIGINT NOT NULL)');
    for (const t of TABLES) {
      await this.conn.run(duckdbCreateTable(t));
      const existing = await this.conn.runAndReadAll('SELECT column_name FROM information_schema.columns WHERE table_name = $t', { t: t.name });
      const have = new Set(existing.getRowObjectsJS().map((r) => String(r.column_name)));
      for (const col of t.columns) if (!have.has(col.name)) await this.conn.run(duckdbAddColumn(t, col));
    }
    // Views are derived: recreating them picks up a changed definition.
    for (const v of VIEWS) await this.conn.run(`CREATE OR REPLACE VIEW ${v.name} AS\n${v.sql((t) => t)}`);
  }

  async write(batchId: string, rows: Rows): Promise<{ written: boolean }> {
    this.assertOpen();
    const stamped = stampBatch(rows, batchId);
    const count = Object.values(stamped).reduce((s, l) => s + (l?.length ?? 0), 0);
    try {
      await this.conn.run('BEGIN TRANSACTION');
      try {
        const seen = await this.conn.runAndReadAll('SELECT 1 FROM _batches WHERE batch_id = $b', { b: batchId });
        if (seen.currentRowCount > 0) {
          await this.conn.run('ROLLBACK');
          return { written: false };
        }
        for (const [table, list] of Object.entries(stamped) as Array<[TableName, Row[]]>) await this.insert(table, list);
        await this.conn.run('INSERT INTO _batches VALUES ($1, $2, $3)', [batchId, contentSha256(stamped), count]);
        await this.conn.run('COMMIT');
        return { written: true };
      } catch (err) {
        await this.conn.run('ROLLBACK').catch(() => {});
        throw err;
      }
    } catch (err) {
      throw wrap(err, `cannot write stats batch ${batchId} to ${this.path}`);
    }
  }

  private async insert(table: TableName, rows: Row[]): Promise<void> {
    if (rows.length === 0) return;
    const cols = tableDef(table).columns.map((c) => c.name);
    for (let i = 0; i < rows.length; i += INSERT_CHUNK_ROWS) {
      const chunk = rows.slice(i, i + INSERT_CHUNK_ROWS);
      const values: DuckDBValue[] = [];
      const tuples = chunk.map(
        (r) =>
          `(${cols
            .map((c) => {
              values.push(r[c] ?? null);
              return `$${values.length}`;
            })
            .join(', ')})`,
      );
      await this.conn.run(`INSERT INTO ${table} (${cols.join(', ')}) VALUES ${tuples.join(', ')}`, values);
    }
  }

  async query(sql: string, params: Record<string, unknown> = {}): Promise<Record<string, ResultValue>[]> {
    this.assertOpen();
    checkParamNames(params);
    try {
      const reader = await this.conn.runAndReadAll(atToDollar(sql), params as Record<string, DuckDBValue>);
      return reader.getRowObjectsJS().map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, normalizeValue(v)])));
    } catch (err) {
      throw wrap(err, 'stats query failed');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.conn.closeSync();
    this.instance.closeSync();
  }

  private assertOpen(): void {
    if (this.closed) throw new ReviewloopError('STATS_FAILED', 'stats sink is closed');
  }
}

function wrap(err: unknown, message: string): ReviewloopError {
  if (err instanceof ReviewloopError) return err;
  return new ReviewloopError('STATS_FAILED', `${message}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

/** Rewrites `@name` parameters to DuckDB's `$name`, leaving quoted strings and identifiers alone. */
export function atToDollar(sql: string): string {
  let out = '';
  let quote: string | null = null;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i];
    if (quote) {
      if (ch === quote) quote = null;
      out += ch;
    } else if (ch === "'" || ch === '"' || ch === '`') {
      quote = ch;
      out += ch;
    } else if (ch === '@' && /[A-Za-z_]/.test(sql[i + 1] ?? '')) {
      out += '$';
    } else {
      out += ch;
    }
  }
  return out;
}
