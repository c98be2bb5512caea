/**
 * `engine: bigquery`: scoring pushed into BigQuery for predictions that live
 * there (Vertex AI batch prediction can write to a table) or are exposed as
 * an external table over GCS. The strategy compiles to one GoogleSQL query
 * (scoring/sql.ts); its top-K and audit draw come back as the same
 * ScoredEntry lists the local engine produces, so select() and the queue
 * writers downstream are unchanged.
 *
 * Differences from the local engine, by design:
 * - the audit draw uses FARM_FINGERPRINT (seeded the same way), so it picks
 *   a different, equally uniform sample;
 * - rows that fail validation are counted (read − scored), not listed;
 * - ids tie-break by code point in BigQuery; entries are re-sorted here by
 *   the local order (UTF-16), which differs only for ids with characters
 *   beyond U+FFFF at the top-K boundary.
 */
import type { BigQuery } from '@google-cloud/bigquery';
import type { Command } from 'commander';
import { parseTableRef, scoringQuery, type ProbShape, type ScoringQueryOptions } from '../../scoring/sql.js';
import { compareDrawn, compareRanked } from '../../scoring/topk.js';
import type { ScoredEntry } from '../../scoring/types.js';
import { ReviewloopError } from '../../domain/errors.js';
import { withRetry } from '../core/retry.js';
import { dummyAuthClient, isLoopback, loadBigQuery } from '../core/lazy-deps.js';

/** What the scoring query takes (scoring/sql.ts), with the table as text and client settings. */
export type BigQueryScoreOptions = Omit<ScoringQueryOptions, 'table' | 'shape' | 'probTolerance'> & {
  /** PROJECT.DATASET.TABLE holding the predictions. */
  table: string;
  /** Probabilities as ARRAY<STRUCT<label STRING, p FLOAT64>> in this column (default `probs`), or one column per label. */
  shape?: ProbShape;
  /** Allowed |Σp − 1| for single-label tasks. Default 1e-3. */
  probTolerance?: number;
  /** Project that runs (and pays for) the query. Default: the table's project. */
  billingProject?: string;
  /** Job location. Default 'US'. */
  location?: string;
  /** e.g. `http://127.0.0.1:9050` for the emulator; null = Google. */
  apiEndpoint?: string | null;
};

export interface BigQueryScoreResult {
  top: ScoredEntry[];
  audit: ScoredEntry[];
  /** Rows in the table. */
  read: number;
  /** Rows that passed validation and were scored (the audit population). */
  scored: number;
  /** Valid rows skipped by `exclude`. */
  skipped: number;
}

interface ResultRow {
  slice: 'top' | 'audit' | 'counts';
  id: string | null;
  score: number | null;
  u: number | null;
  n_read: number;
  n_scored: number;
  n_skipped: number;
  text?: string | null;
  model?: string | null;
  [p: string]: unknown;
}

export async function scoreInBigQuery(o: BigQueryScoreOptions): Promise<BigQueryScoreResult> {
  let table: ReturnType<typeof parseTableRef>;
  let q: ReturnType<typeof scoringQuery>;
  try {
    table = parseTableRef(o.table);
    q = scoringQuery({
      table,
      idColumn: o.idColumn,
      shape: o.shape ?? { kind: 'array', column: 'probs' },
      labels: o.labels,
      task: o.task,
      strategy: o.strategy,
      seed: o.seed,
      topK: o.topK,
      auditK: o.auditK,
      probTolerance: o.probTolerance ?? 1e-3,
      textColumn: o.textColumn,
      modelColumn: o.modelColumn,
      exclude: o.exclude,
      asOf: o.asOf,
    });
  } catch (err) {
    throw Object.assign(new Error((err as Error).message), { code: 'USAGE' });
  }
  const client = bigQueryClient(o, table.project);
  let rows: ResultRow[];
  try {
    // A query job has no side effects, so retrying a transient failure is safe.
    // The API's parameter values are strings; the emulator refuses JSON numbers.
    const params = Object.fromEntries(Object.entries(q.params).map(([k, v]) => [k, typeof v === 'number' ? String(v) : v]));
    const [res] = await withRetry(() => client.query({ query: q.query, params, types: q.types, location: o.location ?? 'US' }));
    rows = res as ResultRow[];
  } catch (err) {
    throw new ReviewloopError('SCORING_FAILED', `BigQuery scoring query on ${o.table} failed: ${(err as Error).message}`, {
      cause: err,
      details: { table: o.table },
    });
  }
  const source = { object: `bq://${o.table}`, line: 0 };
  const entry = (r: ResultRow): ScoredEntry => ({
    id: r.id!,
    score: r.score!,
    u: r.u!,
    source,
    record: {
      id: r.id!,
      ...(typeof r.text === 'string' ? { text: r.text } : {}),
      ...(typeof r.model === 'string' ? { model: r.model } : {}),
      probs: Object.fromEntries(o.labels.map((l, i) => [l, r[`p${i}`] as number])),
    },
  });
  const counts = rows.find((r) => r.slice === 'counts');
  return {
    top: rows
      .filter((r) => r.slice === 'top')
      .map(entry)
      .sort(compareRanked),
    audit: rows
      .filter((r) => r.slice === 'audit')
      .map(entry)
      .sort(compareDrawn),
    read: Number(counts?.n_read ?? 0),
    scored: Number(counts?.n_scored ?? 0),
    skipped: Number(counts?.n_skipped ?? 0),
  };
}

/** A client for the query's billing project; the emulator (a loopback endpoint) gets a dummy credential. */
export function bigQueryClient(o: Pick<BigQueryScoreOptions, 'billingProject' | 'location' | 'apiEndpoint'>, tableProject: string): BigQuery {
  const endpoint = o.apiEndpoint ?? null;
  const { BigQuery } = loadBigQuery();
  return new BigQuery({
    projectId: o.billingProject ?? tableProject,
    location: o.location ?? 'US',
    ...(endpoint ? { apiEndpoint: endpoint.replace(/\/+$/, '') } : {}),
    ...(endpoint && isLoopback(endpoint) ? { authClient: dummyAuthClient() } : {}),
  });
}

/** Options `reviewloop score` gains for this engine (worker/cli/commands/score.ts adds them with one call). */
export interface BigQueryCliOptions {
  engine?: 'local' | 'bigquery';
  table?: string;
  idColumn?: string;
  probsColumn?: string;
  labelColumns?: string;
  bqProject?: string;
  bqLocation?: string;
  bqEndpoint?: string;
}

export function addBigQueryOptions(cmd: Command): Command {
  return cmd
    .option('--engine <engine>', 'local (default) or bigquery: score inside BigQuery with one SQL query (--table)')
    .option('--table <PROJECT.DATASET.TABLE>', 'with --engine bigquery: the predictions table')
    .option('--id-column <name>', 'with --engine bigquery: STRING id column', 'id')
    .option('--probs-column <name>', 'with --engine bigquery: ARRAY<STRUCT<label STRING, p FLOAT64>> column', 'probs')
    .option('--label-columns <a,b,...>', 'with --engine bigquery: one FLOAT64 column per label (in --labels order) instead of --probs-column')
    .option('--bq-project <id>', "with --engine bigquery: project that runs the query (default: the table's)")
    .option('--bq-location <loc>', 'with --engine bigquery: job location', 'US')
    .option('--bq-endpoint <url>', 'with --engine bigquery: API endpoint (emulators)');
}

/** Maps parsed CLI options onto {@link scoreInBigQuery}; USAGE errors for misuse. */
export function bigQueryScoreOptions(
  o: BigQueryCliOptions,
  base: Pick<BigQueryScoreOptions, 'labels' | 'task' | 'strategy' | 'seed' | 'topK' | 'auditK' | 'probTolerance'>,
  inputs: string[],
): BigQueryScoreOptions {
  const usage = (m: string) => Object.assign(new Error(m), { code: 'USAGE' });
  if (o.engine !== 'bigquery') throw usage(`--engine must be local or bigquery, got ${JSON.stringify(o.engine)}`);
  if (o.table === undefined) throw usage('--engine bigquery needs --table PROJECT.DATASET.TABLE');
  if (inputs.length > 0) throw usage('--engine bigquery reads --table, not input files');
  const columns = o.labelColumns
    ?.split(',')
    .map((c) => c.trim())
    .filter((c) => c.length > 0);
  return {
    ...base,
    table: o.table,
    idColumn: o.idColumn,
    billingProject: o.bqProject,
    location: o.bqLocation,
    apiEndpoint: o.bqEndpoint,
    shape: columns ? { kind: 'columns', columns } : { kind: 'array', column: o.probsColumn ?? 'probs' },
  };
}
