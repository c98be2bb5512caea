/**
 * The one definition of the stats tables and views. DuckDB DDL and the
 * BigQuery schema are both generated from it, so the two sinks cannot drift
 * apart. Schema changes must be additive: append nullable columns, never
 * rename, retype or drop (both sinks only ever ADD COLUMN).
 */

/** Column types, named as in BigQuery; {@link duckdbType} maps them. */
export type ColumnType = 'STRING' | 'INT64' | 'FLOAT64' | 'BOOL' | 'TIMESTAMP';

export interface ColumnDef {
  name: string;
  type: ColumnType;
  /** NOT NULL / REQUIRED. Only the key columns; added columns must stay nullable. */
  required?: boolean;
  description: string;
}

export interface TableDef {
  name: TableName;
  description: string;
  columns: ColumnDef[];
  /** BigQuery clustering, after `project` (a label-ish column where one exists). */
  clusterBy: string[];
}

export const TABLE_NAMES = [
  'rounds',
  'round_histograms',
  'round_labels',
  'drift',
  'label_quality',
  'quality_estimates',
  'annotators',
  'annotator_agreement',
  'snapshots',
  'segmentation_iou',
  'label_issues',
] as const;
export type TableName = (typeof TABLE_NAMES)[number];

/** A value in a stats row; TIMESTAMP columns take ISO-8601 UTC strings. */
export type CellValue = string | number | boolean | null;
export type Row = Record<string, CellValue>;
/** Rows per table for one batch (one round or one merge); missing tables mean no rows. */
export type Rows = Partial<Record<TableName, Row[]>>;

const key: ColumnDef[] = [
  {
    name: 'event_time',
    type: 'TIMESTAMP',
    required: true,
    description: 'Time the figures refer to: round slot time, or snapshot asOf (never wall-clock); partition column',
  },
  { name: 'project', type: 'STRING', required: true, description: 'reviewloop project name' },
  { name: 'batch_id', type: 'STRING', required: true, description: 'Write batch (one round or one merge); a batch is written at most once' },
];
const c = (name: string, type: ColumnType, description: string): ColumnDef => ({ name, type, description });

export const TABLES: readonly TableDef[] = [
  {
    name: 'rounds',
    description: 'One row per round: counts, score quantiles of the queued items, confidence and entropy means',
    clusterBy: ['round_id'],
    columns: [
      ...key,
      c('round_id', 'STRING', 'Round id (schedule slot, e.g. 20261127T0200Z)'),
      c('model', 'STRING', 'Model version of the predictions'),
      c('task', 'STRING', 'Task type'),
      c('strategy', 'STRING', 'Scoring strategy'),
      c('items_read', 'INT64', 'Records read (valid + rejected)'),
      c('items_scored', 'INT64', 'Valid records scored'),
      c('items_rejected', 'INT64', 'Records rejected as invalid'),
      c('items_skipped', 'INT64', 'Valid records skipped (already queued or labelled)'),
      c('items_queued', 'INT64', 'Tasks queued (uncertainty + audit)'),
      c('items_audit', 'INT64', 'Tasks in the audit slice'),
      c('audit_population', 'INT64', 'Records the audit slice was drawn from'),
      c(
        'mean_confidence',
        'FLOAT64',
        'Mean max predicted probability over scored records with class probabilities; null when none have them (NER, boxes, regions)',
      ),
      c('mean_entropy', 'FLOAT64', 'Mean predictive entropy (nats) over scored records with single-label class probabilities; null otherwise'),
      c('score_p10', 'FLOAT64', 'Score quantile 0.10 of the queued uncertainty items (linear interpolation)'),
      c('score_p25', 'FLOAT64', 'Score quantile 0.25'),
      c('score_p50', 'FLOAT64', 'Score median'),
      c('score_p75', 'FLOAT64', 'Score quantile 0.75'),
      c('score_p90', 'FLOAT64', 'Score quantile 0.90'),
    ],
  },
  {
    name: 'round_histograms',
    description: 'Per round: the score histogram (20 bins) and confidence histogram (10 bins) of all scored records',
    clusterBy: ['round_id', 'histogram'],
    columns: [
      ...key,
      c('round_id', 'STRING', 'Round id'),
      c('histogram', 'STRING', '"score" or "confidence"'),
      c('bin_index', 'INT64', '0-based bin'),
      c('bin_lower', 'FLOAT64', 'Inclusive lower edge'),
      c('bin_upper', 'FLOAT64', 'Upper edge (exclusive, except the last bin)'),
      c('n', 'INT64', 'Records in the bin'),
    ],
  },
  {
    name: 'round_labels',
    description: 'Per round: predicted (argmax) label distribution',
    clusterBy: ['label'],
    columns: [
      ...key,
      c('round_id', 'STRING', 'Round id'),
      c('label', 'STRING', 'Predicted label'),
      c('n', 'INT64', 'Records with this argmax label'),
      c('share', 'FLOAT64', 'n / records with a label'),
    ],
  },
  {
    name: 'drift',
    description: 'Per round and baseline: PSI of the confidence histogram, Jensen–Shannon divergence of the label distribution, entropy change',
    clusterBy: ['baseline'],
    columns: [
      ...key,
      c('round_id', 'STRING', 'Round id'),
      c('baseline', 'STRING', '"previous" or "reference"'),
      c('baseline_round_id', 'STRING', 'Round compared against'),
      c(
        'psi_confidence',
        'FLOAT64',
        "PSI of max predicted probability over bins at the baseline round's quantiles (deciles, at the resolution of the 10 stored confidence bins: adjacent bins grouped until each holds ≥ 1/10 of the baseline; see psi_bins), ε = 1e-4; null without class probabilities",
      ),
      c('psi_band', 'STRING', 'within-noise (PSI ≤ psi_noise_p95), else stable (< 0.1), moderate (0.1–0.25), significant (> 0.25)'),
      c('js_labels', 'FLOAT64', 'Jensen–Shannon divergence (log2, in [0, 1]) of predicted label shares'),
      c('mean_entropy_delta', 'FLOAT64', 'mean entropy − baseline mean entropy (nats); null when either side is undefined'),
      c(
        'mean_confidence_delta',
        'FLOAT64',
        'mean confidence − baseline mean confidence; null when either side has no class probabilities (never 0 for "undefined")',
      ),
      c('psi_bins', 'INT64', 'Quantile bins the PSI used'),
      c(
        'psi_noise_p95',
        'FLOAT64',
        'Noise floor: 95th percentile of PSI between two samples of these sizes from one distribution, (1/n_baseline + 1/n_round)·χ²₀.₉₅(psi_bins − 1)',
      ),
    ],
  },
  {
    name: 'label_quality',
    description: 'Per merge: model vs human quality, overall (label "*") and per label, per scope and slice',
    clusterBy: ['label', 'slice'],
    columns: [
      ...key,
      c('snapshot_version', 'INT64', 'Snapshot version the merge produced'),
      c('scope', 'STRING', '"merge" (items changed by this merge) or "snapshot" (all items so far)'),
      c('slice', 'STRING', '"all", "uncertainty" (biased: chosen for doubt) or "audit" (uniform sample, weighted)'),
      c('weighted', 'BOOL', 'Counts weighted by 1/inclusion_p (Hájek estimate)'),
      c('label', 'STRING', 'Label, or "*" for the micro average and overall figures'),
      c('items', 'INT64', 'Labelled items with a model prediction evaluated'),
      c('support', 'FLOAT64', 'Gold decisions with this label (weighted when weighted)'),
      c('tp', 'FLOAT64', 'True positives (weighted when weighted)'),
      c('fp', 'FLOAT64', 'False positives'),
      c('fn', 'FLOAT64', 'False negatives'),
      c('precision_score', 'FLOAT64', 'tp / (tp + fp)'),
      c('recall_score', 'FLOAT64', 'tp / (tp + fn)'),
      c('f1_score', 'FLOAT64', 'Harmonic mean of precision and recall'),
      c(
        'agreement',
        'FLOAT64',
        '"*" rows: model-human agreement. Classification: share of items where the predicted label (set) equals the human one. NER, boxes, audio regions: share of predicted spans/regions the reviewer kept (exact span; IoU ≥ 0.5 for regions); null when the model predicted none',
      ),
      c(
        'acceptance_rate',
        'FLOAT64',
        '"*" rows: share of accept/reject answers that left the model\'s pre-filled suggestion unchanged (choice: accept list equal to the predicted label or label set; classification: accept of the shown label; ner_manual/spans_manual: same spans; image/audio regions: one-to-one IoU ≥ 0.5 match of the same labels); ignores do not count',
      ),
      c('ignore_rate', 'FLOAT64', '"*" rows: ignore / all answers'),
      c(
        'ece',
        'FLOAT64',
        '"*" rows, audit slice only: expected calibration error, 10 equal-width bins (single-label classification); null elsewhere. Intervals and the small-n flag are in quality_estimates',
      ),
      c(
        'exact_match',
        'FLOAT64',
        '"*" rows: share of items whose prediction equals the human answer as a whole (NER: the document\'s full span set; classification: same as agreement)',
      ),
    ],
  },
  {
    name: 'quality_estimates',
    description:
      'Per merge: design-based estimates of model quality from the audit slice (a uniform random sample of each round), per model version and round, per model over its rounds (round_id null) and pooled over models (model "*"), each with a 95% interval and its sample size. The only table whose figures estimate quality on the scored population',
    clusterBy: ['model', 'measure'],
    columns: [
      ...key,
      c('snapshot_version', 'INT64', 'Snapshot version the merge produced (figures are cumulative over the snapshot)'),
      c('model', 'STRING', 'Model version of the predictions; "*" pools all models (a separate figure, never a headline)'),
      c('round_id', 'STRING', 'Round whose audit slice the figure comes from; null for the figure over all rounds of the model'),
      c('slice', 'STRING', '"audit" (only the random sample yields estimates)'),
      c('label', 'STRING', 'Label, or "*" for the overall figure'),
      c(
        'measure',
        'STRING',
        'accuracy (classification, share of items right), exact_match (NER/regions: whole item right), precision, recall, f1 (micro on "*"), span_precision/span_recall/span_f1 (NER, exact spans), region_* (boxes, audio regions, IoU ≥ 0.5), kappa (Cohen, model vs human), ece (10 equal-width bins)',
      ),
      c('estimate', 'FLOAT64', 'Point estimate (Hájek, weighted by 1/inclusion_p, when inclusion probabilities differ); null when undefined'),
      c('ci_low', 'FLOAT64', 'Lower end of the 95% interval'),
      c('ci_high', 'FLOAT64', 'Upper end of the 95% interval'),
      c('n_sample', 'INT64', 'Unweighted audited items behind the figure ("*": evaluated items; a label: items where it was predicted or given)'),
      c(
        'method',
        'STRING',
        'Interval method: "wilson score" for proportions of a simple random sample, else the seeded percentile bootstrap (replicates, strata, weights)',
      ),
      c('flag', 'STRING', '"low_n" when n_sample < 10 (ece: < 100, ten per bin); such figures keep their numbers and every display marks them; else null'),
    ],
  },
  {
    name: 'annotators',
    description: 'Per merge, cumulative over the snapshot: answers and pace of each annotator',
    clusterBy: ['annotator'],
    columns: [
      ...key,
      c('snapshot_version', 'INT64', 'Snapshot version'),
      c('annotator', 'STRING', '_annotator_id, else _session_id, else "unknown"'),
      c('answers', 'INT64', 'Answers given'),
      c('accepts', 'INT64', 'accept answers'),
      c('rejects', 'INT64', 'reject answers'),
      c('ignores', 'INT64', 'ignore answers'),
      c('items', 'INT64', 'Distinct items answered'),
      c('gap_p50_s', 'FLOAT64', 'Median seconds between consecutive answers'),
      c('gap_p90_s', 'FLOAT64', '90th percentile of seconds between answers'),
      c('gap_mean_s', 'FLOAT64', 'Mean seconds between answers'),
      c('first_answer_at', 'TIMESTAMP', 'First _timestamp'),
      c('last_answer_at', 'TIMESTAMP', 'Last _timestamp'),
    ],
  },
  {
    name: 'annotator_agreement',
    description: 'Per merge, cumulative: pairwise Cohen kappa and Fleiss kappa ("*" pair) on items several annotators answered',
    clusterBy: ['metric'],
    columns: [
      ...key,
      c('snapshot_version', 'INT64', 'Snapshot version'),
      c('metric', 'STRING', '"cohen" or "fleiss"'),
      c('annotator_a', 'STRING', 'First annotator ("*" for fleiss)'),
      c('annotator_b', 'STRING', 'Second annotator ("*" for fleiss)'),
      c('items', 'INT64', 'Items both (fleiss: at least two) annotators answered'),
      c('raters', 'INT64', 'Annotators involved'),
      c('observed_agreement', 'FLOAT64', 'Observed agreement p_o (fleiss: mean P_i)'),
      c('kappa', 'FLOAT64', 'Chance-corrected agreement; null when undefined'),
    ],
  },
  {
    name: 'snapshots',
    description: 'One row per snapshot version: growth of the training set',
    clusterBy: ['snapshot_version'],
    columns: [
      ...key,
      c('snapshot_version', 'INT64', 'Snapshot version'),
      c('task', 'STRING', 'Task type'),
      c('items', 'INT64', 'Items in the snapshot'),
      c('labelled', 'INT64', 'Items with status labelled'),
      c('changed', 'INT64', 'Items changed by this merge'),
      c('audit_items', 'INT64', 'Items from an audit slice'),
      c('external_items', 'INT64', 'Items not known from a round (provenance external)'),
      c('conflicts', 'INT64', 'Items left in conflict'),
      c('answers', 'INT64', 'Answers in the snapshot'),
    ],
  },
  {
    name: 'segmentation_iou',
    description:
      'Per merge, image-segmentation projects: IoU between the model\'s mask (the prediction polygons shown) and the reviewed mask, per label and overall ("*"), over labelled items',
    clusterBy: ['label', 'scope'],
    columns: [
      ...key,
      c('snapshot_version', 'INT64', 'Snapshot version the merge produced'),
      c('scope', 'STRING', '"merge" (items changed by this merge) or "snapshot" (all items so far)'),
      c('label', 'STRING', 'Label, or "*" for the overall figures'),
      c('items', 'INT64', 'Labelled items with a prediction and an image size, evaluated'),
      c('images_with_label', 'INT64', 'Items where the label is in the model\'s or the reviewed mask ("*": items with any label in either)'),
      c('intersection_px', 'INT64', 'Pixels of the label in both masks, summed over items ("*": over labels too)'),
      c('union_px', 'INT64', 'Pixels of the label in either mask, summed over items'),
      c(
        'iou',
        'FLOAT64',
        'Pooled IoU: intersection_px / union_px; null when the label is in no mask (never 0 for "absent"). "*": mean IoU, the mean of the labels\' non-null iou',
      ),
      c('mean_image_iou', 'FLOAT64', 'Mean over images_with_label items of the per-image IoU; "*": mean over items of each image\'s mean IoU'),
    ],
  },
  {
    name: 'label_issues',
    description:
      'Per merge, cumulative: for every label-issue round and given label, what the detector flagged and what reviewers made of it (docs/label-issues.md)',
    clusterBy: ['round_id', 'label'],
    columns: [
      ...key,
      c('snapshot_version', 'INT64', 'Snapshot version the verdicts are counted in'),
      c('round_id', 'STRING', 'Label-issue round'),
      c('label', 'STRING', 'Given label of the flagged items'),
      c('flagged', 'INT64', 'Items with this label the round queued'),
      c('reviewed', 'INT64', 'Of those, items a reviewer answered with a label'),
      c('changed', 'INT64', 'Of those, items whose label the reviewer changed (confirmed errors)'),
      c('precision', 'FLOAT64', 'changed / reviewed: how often the detector was right; null before any review'),
      c('precision_low', 'FLOAT64', 'Lower end of the 95 % Wilson interval of precision'),
      c('precision_high', 'FLOAT64', 'Upper end of the 95 % Wilson interval of precision'),
      c('noise_rate', 'FLOAT64', "P(true label differs | given label) estimated by the round's confident joint; null when no item had the label"),
    ],
  },
];

/** Looks a table up by name; throws on an unknown name (a programming error). */
export function tableDef(name: TableName): TableDef {
  const t = TABLES.find((x) => x.name === name);
  if (!t) throw new Error(`unknown stats table ${name}`);
  return t;
}

/** The DuckDB type for a column type (the one place of the mapping). */
export function duckdbType(t: ColumnType): string {
  switch (t) {
    case 'STRING':
      return 'VARCHAR';
    case 'INT64':
      return 'BIGINT';
    case 'FLOAT64':
      return 'DOUBLE';
    case 'BOOL':
      return 'BOOLEAN';
    // UTC instants; TIMESTAMPTZ would render in the session time zone.
    case 'TIMESTAMP':
      return 'TIMESTAMP';
  }
}

/** `CREATE TABLE IF NOT EXISTS` for DuckDB. */
export function duckdbCreateTable(t: TableDef): string {
  const cols = t.columns.map((col) => `  ${col.name} ${duckdbType(col.type)}${col.required ? ' NOT NULL' : ''}`);
  return `CREATE TABLE IF NOT EXISTS ${t.name} (\n${cols.join(',\n')}\n)`;
}

/** `ALTER TABLE … ADD COLUMN` for DuckDB (new columns are nullable). */
export function duckdbAddColumn(t: TableDef, col: ColumnDef): string {
  return `ALTER TABLE ${t.name} ADD COLUMN ${col.name} ${duckdbType(col.type)}`;
}

/** BigQuery field schema (the `schema.fields` of a table resource). */
export function bigqueryFields(t: TableDef): Array<{ name: string; type: ColumnType; mode: 'REQUIRED' | 'NULLABLE'; description: string }> {
  return t.columns.map((col) => ({ name: col.name, type: col.type, mode: col.required ? 'REQUIRED' : 'NULLABLE', description: col.description }));
}

export type ViewName = 'v_drift_trend' | 'v_label_f1_trend' | 'v_annotator_agreement';

export interface ViewDef {
  name: ViewName;
  description: string;
  /**
   * The SELECT, in the subset of SQL DuckDB and BigQuery GoogleSQL share.
   * `ref` renders a table reference: bare in DuckDB, `project.dataset.table`
   * in BigQuery (views there must name the dataset).
   */
  sql: (ref: (table: TableName) => string) => string;
}

export const VIEWS: readonly ViewDef[] = [
  {
    name: 'v_drift_trend',
    description: 'Drift per round and baseline, with the PSI band (noise-checked) and its noise floor',
    sql: (ref) => `SELECT project, event_time, round_id, baseline, baseline_round_id, psi_confidence,
  psi_band, psi_noise_p95, psi_bins,
  js_labels, mean_entropy_delta, mean_confidence_delta
FROM ${ref('drift')}`,
  },
  {
    name: 'v_label_f1_trend',
    description: 'Per-label F1 of the model against human labels over snapshots (cumulative scope), one row per slice',
    sql: (ref) => `SELECT project, event_time, snapshot_version, slice, weighted, label, items, support, precision_score, recall_score, f1_score
FROM ${ref('label_quality')}
WHERE scope = 'snapshot'`,
  },
  {
    name: 'v_annotator_agreement',
    description: 'Annotator agreement (Cohen pairs and Fleiss) per snapshot, with the answers of both annotators',
    sql: (ref) => `SELECT g.project, g.event_time, g.snapshot_version, g.metric, g.annotator_a, g.annotator_b, g.items, g.raters, g.observed_agreement, g.kappa,
  a.answers AS answers_a, b.answers AS answers_b
FROM ${ref('annotator_agreement')} AS g
LEFT JOIN ${ref('annotators')} AS a ON a.project = g.project AND a.snapshot_version = g.snapshot_version AND a.annotator = g.annotator_a
LEFT JOIN ${ref('annotators')} AS b ON b.project = g.project AND b.snapshot_version = g.snapshot_version AND b.annotator = g.annotator_b`,
  },
];

/** Identifiers (dataset, table, column) are checked against this before they reach SQL or an API path. */
export const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]{0,1023}$/;
