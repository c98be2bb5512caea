/**
 * GoogleSQL for the probability strategies, built from the same definitions
 * as the kernels in strategies.ts: each kernel below is the kernel's loop
 * written out over k columns `p0 … p{k-1}` (the record's probabilities in
 * `labels` order, absent labels 0), in the same evaluation order, so sums
 * round the same way and max-type scores are exact. test/unit/sql.test.ts
 * evaluates these expressions (in DuckDB) against the JS kernels.
 *
 * Pure: no I/O. Identifiers are validated here; values (labels, seed, K)
 * travel as query parameters, never as SQL text.
 */
import type { StrategyName, TaskType } from './types.js';

/** Strategies that compile to SQL. */
export const SQL_STRATEGIES: readonly StrategyName[] = Object.freeze([
  'least-confidence',
  'margin',
  'ratio',
  'entropy',
  'multilabel-entropy',
  'multilabel-min-margin',
] as const);

/** One step of named intermediate columns (a SELECT level), then the score over them. */
export interface KernelSql {
  steps: Array<Array<[name: string, expr: string]>>;
  score: string;
}

const cols = (k: number) => Array.from({ length: k }, (_, i) => `p${i}`);

/** `h = 0; for v: h -= term(v)` — left to right, like the JS loops. */
function foldMinus(terms: string[]): string {
  return terms.reduce((acc, t) => `(${acc} - ${t})`, '0');
}

/** `-v ln v` guarded as in `entropy` (0 ln 0 = 0). */
const xlnx = (v: string) => `IF(${v} > 0, ${v} * LN(${v}), 0)`;

/**
 * The two largest values with multiplicity, floored at 0 (the JS loop starts
 * p1 = p2 = 0): `m1` the max, `a1` the index of its first occurrence, `m2`
 * the max of the rest.
 */
function topTwo(k: number): KernelSql['steps'] {
  const p = cols(k);
  const m1 = `GREATEST(0, ${p.join(', ')})`;
  const a1 = `CASE ${p.map((c, i) => `WHEN ${c} = m1 THEN ${i}`).join(' ')} ELSE -1 END`;
  const m2 = `GREATEST(0, ${p.map((c, i) => `IF(a1 = ${i}, 0, ${c})`).join(', ')})`;
  return [[['m1', m1]], [['a1', a1]], [['m2', m2]]];
}

/** The kernel of `name` over columns p0 … p{k-1}. */
export function kernelSql(name: StrategyName, k: number): KernelSql {
  if (!Number.isInteger(k) || k < 1) throw new Error(`kernelSql: need at least one label, got ${k}`);
  const p = cols(k);
  switch (name) {
    case 'least-confidence':
      return { steps: [], score: `(1 - GREATEST(0, ${p.join(', ')}))` };
    case 'margin':
      return { steps: topTwo(k), score: '(1 - (m1 - m2))' };
    case 'ratio':
      return { steps: topTwo(k), score: 'IF(m1 > 0, m2 / m1, 1)' };
    case 'entropy':
      return { steps: [], score: foldMinus(p.map(xlnx)) };
    case 'multilabel-entropy': {
      // binaryEntropy(q) = (0 − q ln q) − (1−q) ln(1−q), summed from 0 left to right, then / k.
      const b = p.map((q) => `((0 - ${xlnx(q)}) - ${xlnx(`(1 - ${q})`)})`);
      return { steps: [], score: `(${b.reduce((acc, t) => `(${acc} + ${t})`, '0')} / ${k})` };
    }
    case 'multilabel-min-margin':
      return { steps: [], score: `(1 - LEAST(${p.map((q) => `ABS(2 * ${q} - 1)`).join(', ')}))` };
    default:
      throw new Error(`strategy "${name}" has no SQL form (supported: ${SQL_STRATEGIES.join(', ')})`);
  }
}

/** Table reference PROJECT.DATASET.TABLE; each part checked against BigQuery's naming rules. */
export interface TableRef {
  project: string;
  dataset: string;
  table: string;
}

const PROJECT_RE = /^[a-z][a-z0-9-]{4,61}[a-z0-9]$/;
const DATASET_RE = /^[A-Za-z_][A-Za-z0-9_]{0,1023}$/;
const TABLE_RE = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,1023}$/;
/** Column names: letters, digits and "_", not starting with a digit. */
export const COLUMN_RE = /^[A-Za-z_][A-Za-z0-9_]{0,299}$/;

export function parseTableRef(ref: string): TableRef {
  const parts = ref.split('.');
  if (parts.length !== 3 || !PROJECT_RE.test(parts[0]) || !DATASET_RE.test(parts[1]) || !TABLE_RE.test(parts[2])) {
    throw new Error(`table "${ref}": expected PROJECT.DATASET.TABLE (project id, dataset and table names of letters, digits, "_"${''} and "-")`);
  }
  return { project: parts[0], dataset: parts[1], table: parts[2] };
}

/**
 * How probabilities are stored:
 * - `array`: one column `ARRAY<STRUCT<label STRING, p FLOAT64>>` (Vertex AI style);
 * - `columns`: one FLOAT64 column per label, in `labels` order (NULL = absent).
 */
export type ProbShape = { kind: 'array'; column: string } | { kind: 'columns'; columns: string[] };

export interface ScoringQueryOptions {
  table: TableRef;
  /** STRING column with the item id. Default `id`. */
  idColumn?: string;
  shape: ProbShape;
  labels: string[];
  task: TaskType;
  strategy: StrategyName;
  /** Seed of the audit draw (the round's seed). */
  seed: string;
  topK: number;
  auditK: number;
  /** Allowed |Σp − 1| for single-label tasks. */
  probTolerance: number;
  /** STRING column passed through as `text` (queue tasks show it). Default: none. */
  textColumn?: string;
  /** STRING column with the model version: passed through as `model` and matched by `exclude.pairs`. Default: none. */
  modelColumn?: string;
  /**
   * Rows skipped (counted as `n_skipped`, never scored) like the local
   * engine's isExcluded: `ids` for every model, `pairs` (from {@link exclusionPairKey})
   * only for that model and only with a `modelColumn`. Default: none.
   */
  exclude?: { ids: string[]; pairs: string[] };
  /** ISO instant: read the table `FOR SYSTEM_TIME AS OF` it (BigQuery time travel; the emulator lacks it). Default: now. */
  asOf?: string;
}

export interface ScoringQuery {
  query: string;
  params: Record<string, unknown>;
  /** GoogleSQL type of each parameter (INT64 values must reach the API as strings). */
  types: Record<string, string | string[]>;
}

/**
 * (id, model) as one STRING, the same in JS and in the query: the model's
 * length in code points (CHAR_LENGTH) prefixes it, so no separator can be
 * forged by an id or model containing it.
 */
export function exclusionPairKey(id: string, model: string): string {
  return `${[...model].length}:${model}:${id}`;
}

const ident = (name: string, what: string) => {
  if (!COLUMN_RE.test(name)) throw new Error(`${what} "${name}": letters, digits and "_" only, not starting with a digit`);
  return `\`${name}\``;
};

/**
 * Each label's probability as SQL (`values`, in label order) and the condition that the row's
 * probabilities have the shape the local engine accepts (`valid`); adds the parameters it uses.
 */
function shapeSql(o: ScoringQueryOptions, params: Record<string, unknown>, types: Record<string, string | string[]>): { values: string[]; valid: string } {
  const k = o.labels.length;
  if (o.shape.kind === 'array') {
    const c = `t.${ident(o.shape.column, 'probabilities column')}`;
    const values = o.labels.map((_, i) => `IFNULL((SELECT ANY_VALUE(x.p) FROM UNNEST(${c}) AS x WHERE x.label = @label_${i}), 0)`);
    o.labels.forEach((l, i) => {
      params[`label_${i}`] = l;
      types[`label_${i}`] = 'STRING';
    });
    params.labels = o.labels;
    types.labels = ['STRING'];
    // Like gatherProbs: every entry a known label (once) with p in [0, 1], at least one entry.
    const valid =
      `ARRAY_LENGTH(${c}) > 0 AND NOT EXISTS (SELECT 1 FROM UNNEST(${c}) AS x WHERE x.label IS NULL OR x.label NOT IN UNNEST(@labels) OR NOT (x.p >= 0 AND x.p <= 1))` +
      ` AND (SELECT COUNT(DISTINCT x.label) FROM UNNEST(${c}) AS x) = ARRAY_LENGTH(${c})`;
    return { values, valid };
  }
  if (o.shape.columns.length !== k) throw new Error(`${o.shape.columns.length} probability columns for ${k} labels`);
  const cs = o.shape.columns.map((c) => `t.${ident(c, 'probability column')}`);
  const values = cs.map((c) => `IFNULL(${c}, 0)`);
  const valid = `(${cs.map((c) => `(${c} IS NULL OR (${c} >= 0 AND ${c} <= 1))`).join(' AND ')}) AND COALESCE(${cs.join(', ')}) IS NOT NULL`;
  return { values, valid };
}

/**
 * One query: rows are validated and scored in a scan, then the top-K by
 * (score DESC, id ASC) and the audit draw by (u ASC, id ASC) come back as
 * `slice` 'top' / 'audit' rows with `p0 … p{k-1}` (and `text` / `model` when
 * those columns are given), and every row carries the table's `read`,
 * `scored` and `skipped` counts (also on a lone 'counts' row, so an empty
 * selection still reports them).
 *
 * The audit draw's `u` is the top 53 bits of FARM_FINGERPRINT(seed || '/' || id)
 * over 2^53: uniform in [0, 1) and seeded like the JS draw, but not the same
 * numbers as `uniform01`, so the two engines draw different (equally valid)
 * audit samples.
 */
export function scoringQuery(o: ScoringQueryOptions): ScoringQuery {
  const k = o.labels.length;
  const kernel = kernelSql(o.strategy, k);
  const id = ident(o.idColumn ?? 'id', 'id column');
  const table = `\`${o.table.project}.${o.table.dataset}.${o.table.table}\``;
  const p = cols(k);
  const params: Record<string, unknown> = { seed: o.seed, top_k: o.topK, audit_k: o.auditK };
  const types: Record<string, string | string[]> = { seed: 'STRING', top_k: 'INT64', audit_k: 'INT64' };
  const { values, valid } = shapeSql(o, params, types);
  const pass: Array<[name: string, column: string]> = [];
  if (o.textColumn !== undefined) pass.push(['text', `t.${ident(o.textColumn, 'text column')}`]);
  if (o.modelColumn !== undefined) pass.push(['model', `t.${ident(o.modelColumn, 'model column')}`]);
  const passNames = pass.map(([n]) => n);
  // The emulator refuses parameters a query does not use: only what applies is sent.
  const skip: string[] = [];
  if (o.exclude && o.exclude.ids.length > 0) {
    skip.push(`${id} IN UNNEST(@exclude_ids)`);
    params.exclude_ids = o.exclude.ids;
    types.exclude_ids = ['STRING'];
  }
  if (o.exclude && o.exclude.pairs.length > 0 && o.modelColumn !== undefined) {
    const m = `IFNULL(t.${ident(o.modelColumn, 'model column')}, '')`;
    skip.push(`CONCAT(CAST(CHAR_LENGTH(${m}) AS STRING), ':', ${m}, ':', ${id}) IN UNNEST(@exclude_pairs)`);
    params.exclude_pairs = o.exclude.pairs;
    types.exclude_pairs = ['STRING'];
  }
  let asOf = '';
  if (o.asOf !== undefined) {
    asOf = ' FOR SYSTEM_TIME AS OF TIMESTAMP(@as_of)';
    params.as_of = o.asOf;
    types.as_of = 'STRING';
  }
  let sumOk = 'TRUE';
  if (o.task !== 'textcat-multilabel') {
    sumOk = `ABS(${p.reduce((a, v) => `(${a} + ${v})`, '0')} - 1) <= @tolerance`;
    params.tolerance = o.probTolerance;
    types.tolerance = 'FLOAT64';
  }
  let from = 'checked';
  const levels: string[] = [];
  kernel.steps.forEach((step, i) => {
    levels.push(`s${i} AS (SELECT *, ${step.map(([n, e]) => `${e} AS ${n}`).join(', ')} FROM ${from})`);
    from = `s${i}`;
  });
  const pList = [...p, ...passNames].join(', ');
  const query = [
    'WITH src AS (',
    // The CAST is a no-op in BigQuery; the emulator keeps integer-looking JSON values (0, 1) as integers.
    `  SELECT ${id} AS id, ${values.map((v, i) => `CAST(${v} AS FLOAT64) AS p${i}`).join(', ')}, ${pass.map(([n, c]) => `CAST(${c} AS STRING) AS ${n}, `).join('')}IFNULL(${id} IS NOT NULL AND ${valid}, FALSE) AS shape_ok, ${skip.length > 0 ? `IFNULL(${skip.join(' OR ')}, FALSE)` : 'FALSE'} AS excluded`,
    `  FROM ${table}${asOf} AS t`,
    '),',
    // Like the local engine: valid but already queued or labelled = skipped, neither scored nor rejected.
    `checked AS (SELECT id, ${pList}, IFNULL(shape_ok AND ${sumOk}, FALSE) AND NOT excluded AS ok, IFNULL(shape_ok AND ${sumOk}, FALSE) AND excluded AS is_skipped FROM src),`,
    ...levels.map((l) => `${l},`),
    `scored AS (SELECT id, ${pList}, ${kernel.score} AS score, ((FARM_FINGERPRINT(CONCAT(@seed, '/', id)) >> 11) & 9007199254740991) / 9007199254740992 AS u FROM ${from} WHERE ok),`,
    'counts AS (SELECT COUNT(*) AS n_read, COUNTIF(ok) AS n_scored, COUNTIF(is_skipped) AS n_skipped FROM checked),',
    `top AS (SELECT 'top' AS slice, id, score, u, ${pList} FROM scored ORDER BY score DESC, id ASC LIMIT @top_k),`,
    `audit AS (SELECT 'audit' AS slice, id, score, u, ${pList} FROM scored ORDER BY u ASC, id ASC LIMIT @audit_k),`,
    `totals_row AS (SELECT 'counts' AS slice, CAST(NULL AS STRING) AS id, CAST(NULL AS FLOAT64) AS score, CAST(NULL AS FLOAT64) AS u, ${[...p.map((c) => `CAST(NULL AS FLOAT64) AS ${c}`), ...passNames.map((c) => `CAST(NULL AS STRING) AS ${c}`)].join(', ')})`,
    'SELECT r.*, counts.n_read, counts.n_scored, counts.n_skipped',
    'FROM (SELECT * FROM top UNION ALL SELECT * FROM audit UNION ALL SELECT * FROM totals_row) AS r CROSS JOIN counts',
    "ORDER BY r.slice DESC, IF(r.slice = 'audit', r.u, 0 - r.score), r.id",
  ].join('\n');
  return { query, params, types };
}
