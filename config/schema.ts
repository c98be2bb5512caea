import { z } from 'zod';
import { buildColorTable } from '../scoring/segmentation/png/colors.js';
import { SEGMENTATION_DEFAULTS } from '../scoring/segmentation/line.js';
import { SQL_STRATEGIES } from '../scoring/sql.js';
import { STRATEGY_NAMES } from '../scoring/strategies.js';

/**
 * The one schema for reviewloop.yaml. Key names are a public contract
 * (see README). Unknown keys are errors, so a typo never becomes a silent default.
 */

const name = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, "-" and "_", starting with a letter or digit');
const cron = z
  .string()
  .min(1)
  .refine((s) => s.trim().split(/\s+/).length >= 5 && s.trim().split(/\s+/).length <= 6, 'a cron expression with 5 or 6 fields');
const bqIdent = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,1023}$/, 'letters, digits and "_", starting with a letter or "_"');
const endpoint = z.string().url().nullable().optional();

/** The scoring strategies, defined once beside their kernels in scoring/strategies.ts. */
export const strategyNames = STRATEGY_NAMES;

/** Rounds over raw items (`predictions.format: objects`) sample instead of ranking; `random` works for both. */
export const samplingStrategyNames = ['stratified-random', 'sequential'] as const;
const rawStrategies: readonly string[] = ['random', ...samplingStrategyNames];

/** Rounds that question the labels of the latest snapshot instead of the model (docs/label-issues.md). */
export const labelIssueStrategyNames = ['label-issues'] as const;
/** Tasks with one label per item, which confident learning needs. */
const singleLabelTasks: readonly string[] = ['textcat', 'image'];

export const taskTypes = ['textcat', 'textcat-multilabel', 'ner', 'image-boxes', 'image', 'audio', 'image-segmentation'] as const;
export const views = ['choice', 'classification', 'ner_manual', 'spans_manual', 'image_manual', 'audio_manual'] as const;

const strategySchema = z.strictObject({
  name: z.enum([...strategyNames, ...samplingStrategyNames, ...labelIssueStrategyNames]),
  /** `label-issues`: order of the flagged items, lowest first: p of the given label, or the normalised margin. Default self-confidence. */
  rankBy: z.enum(['self-confidence', 'normalized-margin']).optional(),
  /** `stratified-random`: strata are the object's folder under the prefix, or a metadata field (`meta.region`). Default `folder`. */
  stratifyBy: z
    .string()
    .regex(/^(folder|meta\.[^\s.]+)$/, '"folder" or "meta.<field>"')
    .optional(),
  /** Items in the queue (uncertainty ranking plus audit slice). */
  topK: z.number().int().min(1).max(10_000_000),
  /** Share of `topK` filled by a uniform random audit sample. Default 0. */
  auditFraction: z.number().min(0).max(1).default(0),
  /** Seed for `random` and the audit slice, mixed with the round id. Default 0. */
  seed: z.union([z.number().int(), z.string()]).default(0),
  /** `token-entropy`: reduce per-token entropies by max or mean. */
  reduce: z.enum(['max', 'mean']).default('max'),
  /** Where scoring runs. */
  engine: z.enum(['local', 'bigquery']).default('local'),
  diversity: z
    .strictObject({
      method: z.literal('k-center'),
      /** How many top candidates k-center greedy chooses from. */
      candidates: z.number().int().min(1),
    })
    .optional(),
  /** Minimum queue slots per predicted label. */
  quotas: z.record(z.string(), z.number().int().min(0)).optional(),
  /** Round fails when rejected / read exceeds this. Default 0.5. */
  maxRejectRatio: z.number().min(0).max(1).default(0.5),
  /** Allowed |Σp − 1| for single-label probabilities. Default 1e-3. */
  probTolerance: z.number().min(0).max(0.5).default(1e-3),
  /** Records on longer lines are rejected unread. Default 16 MiB. */
  maxLineBytes: z
    .number()
    .int()
    .min(1024)
    .default(16 * 1024 * 1024),
});

/**
 * Listing of a prefix (worker/store/listing.ts). `full` (default): every run lists the whole prefix.
 * `incremental`: only for prefixes declared date-partitioned; `fullRescanEvery` runs between full listings
 * (0 = only when an incremental listing finds nothing).
 */
const listing = (fullRescanEvery: number) =>
  z
    .strictObject({
      mode: z.enum(['incremental', 'full']).default('full'),
      fullRescanEvery: z.number().int().min(0).default(fullRescanEvery),
    })
    .prefault({});

/**
 * Names that object-keyed code cannot hold as plain keys (`obj[label]` reads
 * or replaces an inherited member): every member of Object.prototype, and
 * `prototype`. Labels are used as keys in quotas, stats and reports.
 */
export const reservedLabelNames: readonly string[] = [...new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype'])].sort();

/** A list whose entries must each appear once; a repeat is reported at its own index. */
function uniqueList<T extends z.ZodType<string>>(item: T, what: string) {
  return z.array(item).superRefine((xs, ctx) => {
    const seen = new Set<string>();
    xs.forEach((x, i) => {
      if (seen.has(x)) ctx.addIssue({ code: 'custom', path: [i], message: `duplicate ${what} "${x}"` });
      seen.add(x);
    });
  });
}

const label = z
  .string()
  .min(1)
  .superRefine((l, ctx) => {
    if (reservedLabelNames.includes(l))
      ctx.addIssue({ code: 'custom', message: `"${l}" is a reserved name (a built-in member of every JavaScript object); rename the label` });
  });

const projectSchema = z
  .strictObject({
    name,
    task: z.enum(taskTypes),
    labels: uniqueList(label, 'label').min(1),
    predictions: z
      .strictObject({
        prefix: z.string().default('predictions/'),
        format: z.enum(['auto', 'native', 'vertex', 'arrow', 'parquet', 'objects']).default('auto'),
        /**
         * Glob(s) over names below `prefix`, e.g. `**` + `/prediction.results-*`; other objects are ignored (every format).
         * Default: raw objects, all; predictions, data files by name, never Vertex AI `errors_stats` reports.
         */
        include: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
        /** `objects`: text objects and raw records with longer text are rejected with a reason. Default 1 MiB. */
        maxTextBytes: z
          .number()
          .int()
          .min(1)
          .default(1024 * 1024),
        /** Default: full. `incremental` (date-partitioned prefixes): a full rescan every 10th round by default. */
        listing: listing(10),
        /** `strategy.engine: bigquery`: the predictions table, PROJECT.DATASET.TABLE (worker/round/bq-round.ts). */
        table: z
          .string()
          .regex(/^[a-z][a-z0-9-]{4,61}[a-z0-9]\.[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z0-9_][A-Za-z0-9_-]*$/, 'PROJECT.DATASET.TABLE')
          .optional(),
        /** `engine: bigquery`: STRING id column. Default `id`. */
        idColumn: bqIdent.optional(),
        /** `engine: bigquery`: ARRAY<STRUCT<label STRING, p FLOAT64>> column. Default `probs`. */
        probsColumn: bqIdent.optional(),
        /** `engine: bigquery`: one FLOAT64 column per label, in `labels` order, instead of `probsColumn`. */
        labelColumns: z.array(bqIdent).min(1).optional(),
        /** `engine: bigquery`: where the query runs. */
        bigquery: z
          .strictObject({
            /** Job location. Default `US`. */
            location: z.string().default('US'),
            /** API endpoint for emulators (http://127.0.0.1:9050); null = Google. */
            apiEndpoint: endpoint,
            /** Project that runs (and pays for) the query. Default: the table's project. */
            billingProject: z
              .string()
              .regex(/^[a-z][a-z0-9-]{4,61}[a-z0-9]$/, 'a Google Cloud project id')
              .optional(),
            /** Read the table `FOR SYSTEM_TIME AS OF` the plan's instant, so reruns see the same rows (BigQuery time travel, up to 7 days). Default false. */
            timeTravel: z.boolean().default(false),
          })
          .optional(),
      })
      .prefault({}),
    strategy: strategySchema,
    queue: z
      .strictObject({
        view: z.enum(views).optional(),
        /** Each reviewer once: a repeated name would get every item of its share twice. */
        annotators: uniqueList(name, 'annotator').optional(),
        overlap: z.number().int().min(1).default(1),
        /** textcat-multilabel: pre-select labels at or above this probability. Default 0.5. */
        acceptThreshold: z.number().min(0).max(1).default(0.5),
        /** TTL of signed media URLs, in seconds. At most 7 days. Default 3 days. */
        signedUrlTtlSeconds: z.number().int().min(60).max(604_800).default(259_200),
      })
      .prefault({}),
    merge: z
      .strictObject({
        conflict: z.enum(['latest', 'majority', 'unanimous']).default('latest'),
        /** Default: full. `incremental` (date-partitioned prefixes): a full rescan every 4th merge by default. */
        listing: listing(4),
      })
      .prefault({}),
    snapshot: z
      .strictObject({
        formats: z
          .array(z.enum(['arrow', 'jsonl', 'parquet']))
          .min(1)
          .default(['arrow', 'jsonl']),
      })
      .prefault({}),
    schedule: z
      .strictObject({
        round: cron.optional(),
        merge: cron.optional(),
        timezone: z.string().default('UTC'),
      })
      .prefault({}),
    /** Round id of a pinned drift reference. */
    referenceRound: z.string().optional(),
    /** `task: image-segmentation` only (docs/inputs.md). */
    segmentation: z
      .strictObject({
        /** label → "#rrggbb": the colour of each label in Vertex AI category masks (from the model's metadata); black is background. Needed for Vertex AI lines only. */
        colors: z.record(z.string(), z.string().regex(/^#[0-9a-fA-F]{6}$/, 'a colour like "#ff0000"')).optional(),
        /** Most points a traced polygon may have in the review queue; the simplification tolerance grows until it fits. Default 200. */
        maxPoints: z.number().int().min(4).max(10_000).default(SEGMENTATION_DEFAULTS.maxPoints),
        /** `mask-low-confidence-area`: a foreground pixel whose confidence is below this counts as low. Default 0.5. */
        lowConfidenceBelow: z.number().gt(0).max(1).default(SEGMENTATION_DEFAULTS.lowConfidenceBelow),
      })
      .optional(),
  })
  .superRefine((p, ctx) => {
    segmentationIssues(p, ctx);
    if (p.strategy.quotas) {
      for (const label of Object.keys(p.strategy.quotas)) {
        if (!p.labels.includes(label))
          ctx.addIssue({ code: 'custom', path: ['strategy', 'quotas', label], message: `unknown label "${label}" (labels: ${p.labels.join(', ')})` });
      }
    }
    const raw = p.predictions.format === 'objects';
    if (raw && !rawStrategies.includes(p.strategy.name)) {
      ctx.addIssue({ code: 'custom', path: ['strategy', 'name'], message: `raw objects have no model scores to rank: use ${rawStrategies.join(', ')}` });
    }
    if (!raw && (samplingStrategyNames as readonly string[]).includes(p.strategy.name)) {
      ctx.addIssue({ code: 'custom', path: ['strategy', 'name'], message: `${p.strategy.name} samples raw items: it needs predictions.format: objects` });
    }
    if (p.strategy.name === 'label-issues') labelIssueRules(p, ctx);
    else if (p.strategy.rankBy !== undefined) ctx.addIssue({ code: 'custom', path: ['strategy', 'rankBy'], message: 'only used by label-issues' });
    if (p.strategy.stratifyBy !== undefined && p.strategy.name !== 'stratified-random') {
      ctx.addIssue({ code: 'custom', path: ['strategy', 'stratifyBy'], message: 'only used by stratified-random' });
    }
    if (raw) {
      for (const key of ['diversity', 'quotas'] as const) {
        if (p.strategy[key] !== undefined)
          ctx.addIssue({ code: 'custom', path: ['strategy', key], message: 'needs model predictions; not available with predictions.format: objects' });
      }
      if (p.strategy.auditFraction > 0)
        ctx.addIssue({
          code: 'custom',
          path: ['strategy', 'auditFraction'],
          message: 'raw rounds are already sampled; set 0 with predictions.format: objects',
        });
    }
    if (p.strategy.engine === 'bigquery') {
      if (p.predictions.table === undefined)
        ctx.addIssue({ code: 'custom', path: ['predictions', 'table'], message: 'strategy.engine: bigquery reads PROJECT.DATASET.TABLE from here' });
      if (!(SQL_STRATEGIES as readonly string[]).includes(p.strategy.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['strategy', 'name'],
          message: `${p.strategy.name} has no SQL form; strategy.engine: bigquery supports ${SQL_STRATEGIES.join(', ')}`,
        });
      }
      if (p.strategy.diversity !== undefined)
        ctx.addIssue({ code: 'custom', path: ['strategy', 'diversity'], message: 'needs embeddings, which strategy.engine: bigquery does not read' });
      if (p.predictions.labelColumns && p.predictions.probsColumn !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['predictions', 'probsColumn'], message: 'give probsColumn or labelColumns, not both' });
      }
      if (p.predictions.labelColumns && p.predictions.labelColumns.length !== p.labels.length) {
        ctx.addIssue({
          code: 'custom',
          path: ['predictions', 'labelColumns'],
          message: `${p.predictions.labelColumns.length} columns for ${p.labels.length} labels (one per label, in labels order)`,
        });
      }
    } else {
      for (const key of ['table', 'idColumn', 'probsColumn', 'labelColumns', 'bigquery'] as const) {
        if (p.predictions[key] !== undefined) ctx.addIssue({ code: 'custom', path: ['predictions', key], message: 'only read with strategy.engine: bigquery' });
      }
    }
    if (p.queue.annotators && p.queue.overlap > p.queue.annotators.length) {
      ctx.addIssue({ code: 'custom', path: ['queue', 'overlap'], message: `overlap ${p.queue.overlap} exceeds the ${p.queue.annotators.length} annotators` });
    }
  });

/** Cross-field rules of `task: image-segmentation` (and of its keys on other tasks). */
function segmentationIssues(
  p: {
    task: string;
    labels: string[];
    strategy: { name: string };
    predictions: { format: string };
    queue: { view?: string };
    segmentation?: { colors?: Record<string, string> };
  },
  ctx: z.RefinementCtx,
): void {
  const seg = p.task === 'image-segmentation';
  if (!seg && p.segmentation !== undefined) ctx.addIssue({ code: 'custom', path: ['segmentation'], message: 'only read with task: image-segmentation' });
  if (seg && p.segmentation?.colors) {
    const colors = buildColorTable(p.segmentation.colors, p.labels);
    if (!colors.ok) {
      const [a, b, ...rest] = colors.field.split('.');
      ctx.addIssue({ code: 'custom', path: [a, b, rest.join('.')], message: colors.reason });
    }
  }
  if (seg !== p.strategy.name.startsWith('mask-') && p.strategy.name !== 'random') {
    const message = seg
      ? 'image-segmentation scores masks: use mask-mean-uncertainty, mask-low-confidence-area, mask-min-instance or random'
      : `${p.strategy.name} scores segmentation masks: it needs task: image-segmentation`;
    ctx.addIssue({ code: 'custom', path: ['strategy', 'name'], message });
  }
  if (seg && !['auto', 'native', 'vertex'].includes(p.predictions.format)) {
    ctx.addIssue({ code: 'custom', path: ['predictions', 'format'], message: 'image-segmentation reads JSONL lines (auto, native or vertex)' });
  }
  if (seg && p.queue.view !== undefined && p.queue.view !== 'image_manual') {
    ctx.addIssue({ code: 'custom', path: ['queue', 'view'], message: 'image-segmentation is reviewed as polygons in image_manual' });
  }
}

/** The fields of a project that label-issue rounds constrain. */
interface LabelIssueProjectFields {
  task: string;
  labels: string[];
  predictions: { format: string };
  strategy: { engine: string; diversity?: unknown; quotas?: unknown; auditFraction: number };
}

/** What confident learning needs: single-label items with model probabilities, at most 255 labels (scoring/label-issues/chunk.ts). */
function labelIssueRules(p: LabelIssueProjectFields, ctx: z.RefinementCtx): void {
  const issue = (path: Array<string | number>, message: string) => ctx.addIssue({ code: 'custom', path, message });
  if (!singleLabelTasks.includes(p.task))
    issue(['strategy', 'name'], `label-issues needs one label per item: task ${singleLabelTasks.join(' or ')}, not ${p.task}`);
  if (p.predictions.format === 'objects') issue(['strategy', 'name'], 'label-issues needs out-of-sample model probabilities, not raw objects');
  if (p.labels.length < 2 || p.labels.length > 255) issue(['labels'], `label-issues works with 2 to 255 labels, not ${p.labels.length}`);
  if (p.strategy.engine !== 'local') issue(['strategy', 'engine'], 'label-issues runs in the local pool');
  for (const key of ['diversity', 'quotas'] as const) {
    if (p.strategy[key] !== undefined) issue(['strategy', key], 'not used by label-issues: the queue holds the flagged items, ranked');
  }
  if (p.strategy.auditFraction > 0) issue(['strategy', 'auditFraction'], 'label-issues queues only flagged items; set 0');
}

const statsSchema = z.discriminatedUnion('sink', [
  z.strictObject({
    sink: z.literal('duckdb'),
    /** DuckDB file. Default `<root>/stats.duckdb` for local roots, `./stats.duckdb` otherwise. */
    path: z.string().optional(),
  }),
  z.strictObject({
    sink: z.literal('bigquery'),
    projectId: z.string().regex(/^[a-z][a-z0-9-]{4,61}[a-z0-9]$/, 'a Google Cloud project id'),
    dataset: bqIdent,
    location: z.string().default('US'),
    apiEndpoint: endpoint,
    /** Bound on each BigQuery step (dataset/table set-up, a load, a query) with its retries, in ms. Default 30000. */
    timeoutMs: z.number().int().min(100).max(3_600_000).default(30_000),
  }),
  z.strictObject({ sink: z.literal('none') }),
]);

export const configSchema = z.strictObject({
  storage: z.strictObject({
    /** A directory, file:///path, or gs://bucket/prefix. */
    root: z.string().min(1),
    /** GCS API endpoint for emulators or private endpoints (http://127.0.0.1:4443). */
    apiEndpoint: endpoint,
    /** GCP project for the storage client (emulators need one). */
    projectId: z.string().optional(),
  }),
  stats: statsSchema.prefault({ sink: 'duckdb' }),
  worker: z
    .strictObject({
      /** Scoring threads. Default: available cores. */
      threads: z.number().int().min(1).max(256).optional(),
      /** Bytes per scoring chunk. Default 16 MiB: fewer chunks fill fewer per-chunk heaps before the run's floor reaches them (5% faster at 10^6 records); 4 in flight stay far under the memory budget. */
      chunkBytes: z
        .number()
        .int()
        .min(64 * 1024)
        .default(16 * 1024 * 1024),
      /**
       * A scoring task (one chunk, byte range or run of Arrow batches) not answered within this many ms of being
       * handed to the pool fails its run with SCORING_FAILED (details.code TASK_TIMEOUT) instead of waiting forever.
       * Default 600000: a 16 MiB chunk scores in about a second; 0 disables the bound.
       */
      taskTimeoutMs: z.number().int().min(0).default(600_000),
      /** Time a running step gets after SIGTERM, in ms. Default 25000 (fits Cloud Run's 30 s). */
      shutdownGraceMs: z.number().int().min(0).default(25_000),
      /** Lease lifetime, in ms. Default 120000. */
      leaseTtlMs: z.number().int().min(1000).default(120_000),
      /**
       * Time one scheduled job (a round or a merge) may run, in ms; past it the job is aborted and its slot
       * is marked failed with JOB_TIMEOUT (worker/core/job-bound.ts). Default 3600000 (1 h).
       */
      jobTimeoutMs: z.number().int().min(1000).default(3_600_000),
      /**
       * `/readyz` fails for a project's job when none of its last this-many slots (those that must have ended,
       * i.e. at or before now − jobTimeoutMs) succeeded (worker/daemon/liveness.ts). Default 3.
       */
      readyStaleSlots: z.number().int().min(1).max(1000).default(3),
      /** HTTP port for /healthz, /readyz, /metrics; 0 disables. Default 8080. */
      httpPort: z.number().int().min(0).max(65535).default(8080),
    })
    .prefault({}),
  projects: z
    .array(projectSchema)
    .min(1)
    .superRefine((ps, ctx) => {
      const seen = new Set<string>();
      ps.forEach((p, i) => {
        if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate project name "${p.name}"` });
        seen.add(p.name);
      });
    }),
});

export type Config = z.infer<typeof configSchema>;
export type ProjectConfig = Config['projects'][number];
export type StrategyConfig = ProjectConfig['strategy'];
export type StatsConfig = Config['stats'];
