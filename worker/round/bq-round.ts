/**
 * Rounds with `strategy.engine: bigquery`: the plan pins a table instead of
 * objects, the strategy runs as one query (worker/round/bq-engine.ts), and the
 * usual finish phase writes queue, items and manifest from its result.
 *
 * History is excluded IN the query (ids and (id, model) pairs as ARRAY<STRING>
 * parameters), so round 2 ranks what round 1 did not queue, exactly like the
 * local engine's isExcluded.
 *
 * Reruns are byte-identical only on the same rows: the plan records the
 * table's lastModifiedTime and numRows to make a changed table visible, and
 * with `predictions.bigquery.timeTravel` the query reads the table as of the
 * plan's instant (BigQuery time travel, up to 7 days back; the emulator has
 * none). Manifest stats carry counts only: histograms, label counts and mean
 * confidence/entropy stay empty for this engine.
 */
import type { ProjectConfig } from '../../config/schema.js';
import { emptyStats } from '../../scoring/chunk.js';
import { exclusionPairKey, parseTableRef } from '../../scoring/sql.js';
import { bigQueryClient, scoreInBigQuery, type BigQueryScoreOptions, type BigQueryScoreResult } from './bq-engine.js';
import { ReviewloopError } from '../../domain/errors.js';
import { withRetry } from '../core/retry.js';
import { finishRound } from './finish-round.js';
import { excludedItems } from './history.js';
import { scoringStrategy } from './open.js';
import { heapSizes, predictionPlanShape } from './score-round.js';
import type { BigQueryPin, OpenRound, RoundKind, RoundOptions, RoundResult, RoundScores } from './types.js';

/**
 * A request to BigQuery carries at most 10 MB, parameters included; past
 * this share of it the exclusion list cannot travel as parameters.
 */
const MAX_EXCLUDE_BYTES = 8 * 1024 * 1024;

type TableOptions = Pick<BigQueryScoreOptions, 'table' | 'idColumn' | 'shape' | 'billingProject' | 'location' | 'apiEndpoint'>;

function tableOptions(project: ProjectConfig): TableOptions {
  const p = project.predictions;
  if (p.table === undefined) throw new ReviewloopError('CONFIG_INVALID', `project ${project.name}: strategy.engine: bigquery needs predictions.table`);
  return {
    table: p.table,
    idColumn: p.idColumn,
    shape: p.labelColumns ? { kind: 'columns', columns: p.labelColumns } : { kind: 'array', column: p.probsColumn ?? 'probs' },
    billingProject: p.bigquery?.billingProject,
    location: p.bigquery?.location,
    apiEndpoint: p.bigquery?.apiEndpoint,
  };
}

async function pinTable(project: ProjectConfig, now: number): Promise<BigQueryPin> {
  const t = tableOptions(project);
  const ref = parseTableRef(t.table);
  const client = bigQueryClient(t, ref.project);
  let md: { lastModifiedTime?: string; numRows?: string; schema?: { fields?: Array<{ name?: string; type?: string; mode?: string }> } };
  try {
    [md] = await withRetry(() => client.dataset(ref.dataset, { projectId: ref.project }).table(ref.table).getMetadata());
  } catch (err) {
    throw new ReviewloopError('SCORING_FAILED', `reading the metadata of ${t.table} failed: ${(err as Error).message}`, {
      cause: err,
      details: { table: t.table },
    });
  }
  const fields = md.schema?.fields ?? [];
  const stringColumn = (name: string) => (fields.some((f) => f.name === name && f.type === 'STRING' && f.mode !== 'REPEATED') ? name : null);
  return {
    table: t.table,
    lastModifiedTime: md.lastModifiedTime ?? null,
    numRows: md.numRows ?? null,
    textColumn: stringColumn('text'),
    modelColumn: stringColumn('model'),
    asOf: new Date(now).toISOString(),
    timeTravel: project.predictions.bigquery?.timeTravel ?? false,
  };
}

/** History as query parameters: ids excluded for every model (queued or labelled without one) and (id, model) pairs. */
export function exclusionParams(items: Array<[id: string, model: string | undefined]>): { ids: string[]; pairs: string[] } {
  const ids = new Set<string>();
  const pairs = new Set<string>();
  for (const [id, model] of items) {
    if (model === undefined || model === '') ids.add(id);
    else pairs.add(exclusionPairKey(id, model));
  }
  return { ids: [...ids].sort(), pairs: [...pairs].sort() };
}

/** The engine's result in the shape finishRound takes; only counts are known (see the file comment). */
function roundScores(r: BigQueryScoreResult): RoundScores {
  const stats = { ...emptyStats(), read: r.read, scored: r.scored, skipped: r.skipped, rejected: r.read - r.scored - r.skipped };
  return { top: r.top, audit: r.audit, copies: { top: [], audit: [] }, stats, rejects: [] };
}

/** A BigQuery table: the plan pins the table instead of objects, and one query produces the candidates. */
export const BIGQUERY_ROUND: RoundKind = {
  label: 'BigQuery-table',
  planKind: 'reviewloop.round-plan',
  planned: (o) => ({ name: o.name, generation: o.generation, size: o.size }),
  pin: (opts, now) => pinTable(opts.project, now),
  planShape: predictionPlanShape,
  run: scoreTableRound,
};

async function scoreTableRound(opts: RoundOptions, round: OpenRound): Promise<RoundResult> {
  const { project, store } = opts;
  const t = tableOptions(project);
  const pin = round.plan.bigquery;
  if (pin?.table !== t.table) {
    throw new ReviewloopError(
      'CONFIG_INVALID',
      `round ${round.roundId} was planned on ${pin ? pin.table : 'prediction objects'}, but project ${project.name} now reads ${t.table}; use another round id`,
    );
  }
  const history = exclusionParams(await excludedItems(store, round.previous, round.plan.snapshotVersion ?? null));
  // Without a model column every row is model-less: only items answered without a model match it (as isExcluded does).
  const exclude = pin.modelColumn === null ? { ids: history.ids, pairs: [] } : history;
  const bytes = [...exclude.ids, ...exclude.pairs].reduce((n, s) => n + Buffer.byteLength(s) + 3, 0);
  if (bytes > MAX_EXCLUDE_BYTES) {
    throw new ReviewloopError(
      'SCORING_FAILED',
      `round ${round.roundId}: ${exclude.ids.length + exclude.pairs.length} already queued or labelled items (${(bytes / 1e6).toFixed(1)} MB) exceed what one BigQuery request carries as parameters`,
      { details: { round: round.roundId } },
    );
  }
  if (opts.signal?.aborted) throw new ReviewloopError('ABORTED', `round ${round.roundId} aborted before its query`);
  round.log.info(
    `round ${round.roundId}: scoring ${pin.table} in BigQuery (${pin.numRows ?? '?'} rows at planning, ${exclude.ids.length + exclude.pairs.length} excluded)`,
  );
  const strategy = scoringStrategy(project);
  const result = await scoreInBigQuery({
    ...t,
    labels: project.labels,
    task: project.task,
    strategy: strategy.name,
    seed: round.seed,
    ...heapSizes(project),
    probTolerance: strategy.probTolerance,
    textColumn: pin.textColumn ?? undefined,
    modelColumn: pin.modelColumn ?? undefined,
    exclude,
    asOf: pin.timeTravel ? pin.asOf : undefined,
  });
  return finishRound(opts, round, roundScores(result));
}
