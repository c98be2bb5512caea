/**
 * Stats sink on BigQuery. Tables are created when missing (day-partitioned on
 * `event_time`, clustered by `project` and a label-ish column), schemas only
 * grow, and rows arrive by load jobs (NDJSON from memory) whose job id is
 * derived from (dataset, table, batch id, content hash): a retried or repeated
 * write finds its job already there and does nothing.
 *
 * Emulator mode (goccy/bigquery-emulator; on when `apiEndpoint` is a loopback
 * address, or forced with `emulator`) uses a static dummy auth client so
 * nothing reaches Google or a metadata server, and tolerates these emulator
 * differences (v0.8.1):
 * - a duplicate job id answers 500 "job … is already created", not 409;
 * - jobs.get always says DONE without errorResult, even for a load whose data
 *   was refused, so a failed upload is not retried there (it would look done);
 * - jobs.query ignores `defaultDataset` when several datasets hold a table of
 *   the same name (it reads the first one), so in emulator mode bare table
 *   and view names after FROM/JOIN are qualified before the query is sent;
 * - tables.patch updates schema metadata only, so added columns are not
 *   queryable there until the table is recreated (real BigQuery is fine).
 */
import { createHash } from 'node:crypto';
import { BigQuery, type Dataset, type Job, type Table } from '@google-cloud/bigquery';
import { ReviewloopError } from '../../../domain/errors.js';
import { dummyAuthClient, isLoopback } from '../../core/lazy-deps.js';
import { isRetryable, withRetry } from '../../core/retry.js';
import { checkParamNames, contentSha256, normalizeValue, stampBatch, type ResultValue, type StatsSink } from './sink.js';
import { IDENT_RE, TABLES, VIEWS, bigqueryFields, tableDef, type Row, type Rows, type TableDef, type TableName } from '../../../domain/quality/tables.js';

/** Options for {@link openBigQuerySink}. */
export interface BigQuerySinkOptions {
  projectId: string;
  /** Dataset id; created when missing. */
  dataset: string;
  /** Dataset and job location. Default 'US'. */
  location?: string;
  /** e.g. `http://127.0.0.1:9050` for the emulator (no `/bigquery/v2` suffix); null = Google. */
  apiEndpoint?: string | null;
  /** Emulator mode (dummy auth, emulator quirks). Default: true when apiEndpoint's host is loopback. */
  emulator?: boolean;
  /** Job polling interval while waiting for a load job, in ms. Default 500 (50 in emulator mode). */
  pollMs?: number;
  /** Bound on one step (create, load, query) with its retries, in ms (`stats.timeoutMs`). Default 30000. */
  timeoutMs?: number;
}

/** Default of `stats.timeoutMs`: an unreachable endpoint fails a command in about this long, not after minutes of silent retries. */
export const BIGQUERY_TIMEOUT_MS = 30_000;

const BATCHES: TableDef = {
  name: '_batches' as TableName,
  description: 'Batches written (a batch is one round or one merge); checked before writing',
  clusterBy: [],
  columns: [
    { name: 'event_time', type: 'TIMESTAMP', required: true, description: 'Event time of the batch' },
    { name: 'project', type: 'STRING', required: true, description: 'reviewloop project' },
    { name: 'batch_id', type: 'STRING', required: true, description: 'Batch id' },
    { name: 'content_sha256', type: 'STRING', required: true, description: 'sha256 of the rows' },
    { name: 'row_count', type: 'INT64', required: true, description: 'Rows in the batch' },
  ],
};

/**
 * Opens the sink and makes sure dataset, tables and views exist.
 * @throws ReviewloopError STATS_FAILED (retryable for transient HTTP errors).
 */
export async function openBigQuerySink(options: BigQuerySinkOptions): Promise<StatsSink> {
  for (const id of [options.dataset]) {
    if (!IDENT_RE.test(id)) throw new ReviewloopError('STATS_FAILED', `invalid BigQuery dataset id "${id}"`);
  }
  const endpoint = options.apiEndpoint ?? null;
  const emulator = options.emulator ?? (endpoint !== null && isLoopback(endpoint));
  const client = new BigQuery({
    projectId: options.projectId,
    location: options.location ?? 'US',
    ...(endpoint ? { apiEndpoint: endpoint.replace(/\/+$/, '').replace(/\/bigquery\/v2$/, '') } : {}),
    ...(emulator ? { authClient: dummyAuthClient() } : {}),
    // One retry loop, ours, bounded by timeoutMs: the client's own (3 retries with backoff per request) multiplied it.
    autoRetry: false,
    maxRetries: 0,
  });
  const sink = new BigQuerySink(client, options, emulator);
  await sink.ensureSchema();
  return sink;
}

class BigQuerySink implements StatsSink {
  private readonly dataset: Dataset;
  private readonly location: string;
  private readonly pollMs: number;
  private closed = false;

  constructor(
    private readonly client: BigQuery,
    private readonly options: BigQuerySinkOptions,
    private readonly emulator: boolean,
  ) {
    this.location = options.location ?? 'US';
    this.dataset = client.dataset(options.dataset, { location: this.location });
    this.pollMs = options.pollMs ?? (emulator ? 50 : 500);
  }

  /** Dataset, tables (partitioned, clustered), additive columns, views. */
  async ensureSchema(): Promise<void> {
    await this.step('create dataset', async () => {
      const [exists] = await this.dataset.exists();
      if (!exists) await ignoreAlreadyExists(this.dataset.create({ location: this.location }));
    });
    for (const t of [...TABLES, BATCHES]) await this.step(`prepare table ${t.name}`, () => this.ensureTable(t));
    for (const v of VIEWS) {
      const query = v.sql((t) => `\`${this.options.projectId}.${this.options.dataset}.${t}\``);
      await this.step(`prepare view ${v.name}`, async () => {
        const view = this.dataset.table(v.name);
        const [exists] = await view.exists();
        if (!exists) await ignoreAlreadyExists(this.dataset.createTable(v.name, { view: { query, useLegacySql: false }, description: v.description }));
        else {
          const [meta] = await view.getMetadata();
          if (meta.view?.query !== query) await view.setMetadata({ view: { query, useLegacySql: false } });
        }
      });
    }
  }

  private async ensureTable(t: TableDef): Promise<void> {
    const fields = bigqueryFields(t);
    const table = this.dataset.table(t.name);
    const [exists] = await table.exists();
    if (!exists) {
      await ignoreAlreadyExists(
        this.dataset.createTable(t.name, {
          schema: { fields },
          description: t.description,
          timePartitioning: { type: 'DAY', field: 'event_time' },
          // BigQuery allows at most four clustering columns.
          clustering: { fields: ['project', ...t.clusterBy].slice(0, 4) },
        }),
      );
      return;
    }
    const [meta] = await table.getMetadata();
    const have: Array<{ name: string }> = meta.schema?.fields ?? [];
    const names = new Set(have.map((f) => f.name));
    const missing = fields.filter((f) => !names.has(f.name)).map((f) => ({ ...f, mode: 'NULLABLE' as const }));
    // Additive only: existing fields are kept as they are, new ones appended.
    if (missing.length > 0) await table.setMetadata({ schema: { fields: [...have, ...missing] } });
  }

  async write(batchId: string, rows: Rows): Promise<{ written: boolean }> {
    this.assertOpen();
    const stamped = stampBatch(rows, batchId);
    const hash = contentSha256(stamped);
    if (await this.batchExists(batchId)) return { written: false };
    let ran = false;
    const entries = (Object.entries(stamped) as Array<[TableName, Row[]]>).filter(([, l]) => l.length > 0);
    for (const [table, list] of entries) ran = (await this.load(tableDef(table), batchId, hash, list)) || ran;
    const first = entries[0]?.[1][0];
    const marker: Row = {
      event_time: (first?.event_time as string | undefined) ?? new Date(0).toISOString(),
      project: (first?.project as string | undefined) ?? '',
      batch_id: batchId,
      content_sha256: hash,
      row_count: entries.reduce((s, [, l]) => s + l.length, 0),
    };
    // The marker goes last: it is only there once every table's load succeeded.
    ran = (await this.load(BATCHES, batchId, hash, [marker])) || ran;
    return { written: ran };
  }

  private async batchExists(batchId: string): Promise<boolean> {
    const rows = await this.query('SELECT COUNT(*) AS n FROM _batches WHERE batch_id = @b', { b: batchId });
    return Number(rows[0]?.n ?? 0) > 0;
  }

  /** Runs one load job; returns false when the job (same id) already existed and succeeded. */
  private async load(t: TableDef, batchId: string, hash: string, rows: Row[]): Promise<boolean> {
    const jobId = loadJobId(this.options.dataset, t.name, batchId, hash);
    const ndjson = rows.map((r) => JSON.stringify(Object.fromEntries(t.columns.map((c) => [c.name, r[c.name] ?? null])))).join('\n') + '\n';
    return this.step(`load ${t.name} (job ${jobId})`, async () => {
      const existing = await this.existingJob(jobId);
      if (existing) return false;
      let job: Job;
      try {
        job = await this.upload(this.dataset.table(t.name), jobId, ndjson);
      } catch (err) {
        if (!isAlreadyExists(err)) {
          // The emulator registers the job before reading the data and later
          // reports it DONE without error: a retry would take a failed load for
          // a finished one, so emulator upload failures are final.
          if (this.emulator)
            throw new ReviewloopError('STATS_FAILED', `load job ${jobId} failed: ${(err as Error)?.message}`, { cause: err, details: { jobId } });
          throw err;
        }
        // Lost a race with an earlier attempt that did create the job: its outcome decides.
        if (await this.existingJob(jobId)) return false;
        throw err;
      }
      await this.waitDone(job, jobId);
      return true;
    });
  }

  /** Metadata of a finished, successful job with this id; null when there is none. Throws when it failed. */
  private async existingJob(jobId: string): Promise<boolean> {
    const job = this.client.job(jobId, { location: this.location });
    let meta: { status?: { state?: string; errorResult?: { message?: string } } };
    try {
      [meta] = await job.getMetadata();
    } catch (err) {
      if (httpStatus(err) === 404) return false;
      throw err;
    }
    if (meta.status?.state !== 'DONE') {
      await this.waitDone(job, jobId);
      return true;
    }
    if (meta.status.errorResult) {
      // The same id can never run again: a failed deterministic job needs a human.
      throw new ReviewloopError('STATS_FAILED', `load job ${jobId} failed earlier: ${meta.status.errorResult.message}`, { details: { jobId } });
    }
    return true;
  }

  private upload(table: Table, jobId: string, ndjson: string): Promise<Job> {
    return new Promise<Job>((resolve, reject) => {
      const ws = table.createWriteStream({
        sourceFormat: 'NEWLINE_DELIMITED_JSON',
        writeDisposition: 'WRITE_APPEND',
        createDisposition: 'CREATE_NEVER',
        jobId,
      });
      ws.on('error', reject);
      ws.on('job', (job: Job | null) => (job ? resolve(job) : reject(new Error('load job upload returned no job reference'))));
      ws.end(Buffer.from(ndjson, 'utf8'));
    });
  }

  private async waitDone(job: Job, jobId: string): Promise<void> {
    for (;;) {
      const [meta] = await job.getMetadata();
      if (meta.status?.state === 'DONE') {
        if (meta.status.errorResult)
          throw new ReviewloopError('STATS_FAILED', `load job ${jobId} failed: ${meta.status.errorResult.message}`, {
            details: { jobId, errors: meta.status.errors },
          });
        return;
      }
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  async query(sql: string, params: Record<string, unknown> = {}): Promise<Record<string, ResultValue>[]> {
    this.assertOpen();
    checkParamNames(params);
    return this.step('query', async () => {
      const [rows] = await this.client.query({
        query: this.emulator ? qualifyTables(sql, `${this.options.projectId}.${this.options.dataset}`) : sql,
        params,
        location: this.location,
        defaultDataset: { projectId: this.options.projectId, datasetId: this.options.dataset },
      });
      return (rows as Array<Record<string, unknown>>).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, normalizeValue(v)])));
    });
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Retries transient failures (every step is idempotent) and wraps errors with a code. */
  private step<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const bound = this.options.timeoutMs ?? BIGQUERY_TIMEOUT_MS;
    const until = Date.now() + bound;
    const attempt = () =>
      withDeadline(
        fn(),
        until - Date.now(),
        () =>
          new ReviewloopError('STATS_FAILED', `BigQuery ${what}: no answer within ${bound} ms (stats.timeoutMs)`, {
            details: { dataset: this.options.dataset, timeoutMs: bound },
          }),
      );
    return withRetry(attempt, {
      maxAttempts: 5,
      baseDelayMs: 200,
      maxDelayMs: Math.max(1, Math.floor(bound / 10)),
      budgetMs: bound,
      retryable: (e) => !isAlreadyExists(e) && isRetryable(e),
    }).catch((err: unknown) => {
      if (err instanceof ReviewloopError) throw err;
      throw new ReviewloopError('STATS_FAILED', `BigQuery ${what} failed: ${(err as Error)?.message ?? String(err)}`, {
        cause: err,
        retryable: isRetryable(err),
        details: { dataset: this.options.dataset },
      });
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new ReviewloopError('STATS_FAILED', 'stats sink is closed');
  }
}

/**
 * Deterministic load job id: same dataset, table, batch and content → same id.
 * Job ids allow letters, digits, `_` and `-` (≤ 1024 chars), hence the hashes.
 */
export function loadJobId(dataset: string, table: string, batchId: string, contentHash: string): string {
  const batch = createHash('sha256').update(batchId).digest('hex').slice(0, 24);
  return `reviewloop_${dataset}_${table}_${batch}_${contentHash.slice(0, 24)}`;
}

const KNOWN_RELATIONS = new Set<string>([...TABLES.map((t) => t.name), ...VIEWS.map((v) => v.name), BATCHES.name]);

/**
 * Emulator only: rewrites bare names of our tables and views that follow FROM
 * or JOIN into `project.dataset.name`, outside string literals.
 */
export function qualifyTables(sql: string, prefix: string): string {
  // Split on quoted segments so literals and quoted identifiers stay untouched.
  return sql
    .split(/('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`]*`)/)
    .map((part, i) =>
      i % 2 === 1
        ? part
        : part.replace(/\b(FROM|JOIN)(\s+)([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\.)/gi, (m, kw: string, ws: string, name: string) =>
            KNOWN_RELATIONS.has(name) ? `${kw}${ws}\`${prefix}.${name}\`` : m,
          ),
    )
    .join('');
}

/** `p`, or `timeout()` as a rejection once `ms` have passed (the call itself is left to finish or fail unobserved). */
function withDeadline<T>(p: Promise<T>, ms: number, timeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeout()), Math.max(0, ms));
  });
  p.catch(() => undefined);
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

function httpStatus(err: unknown): number | null {
  const e = err as { code?: unknown; response?: { status?: unknown } } | null;
  const n = Number(e?.code ?? e?.response?.status);
  return Number.isFinite(n) ? n : null;
}

/** 409 from BigQuery; the emulator answers a duplicate job id with 500 "… is already created". */
function isAlreadyExists(err: unknown): boolean {
  if (httpStatus(err) === 409) return true;
  return /already (created|exists)/i.test(String((err as Error)?.message ?? ''));
}

async function ignoreAlreadyExists(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
}
