/**
 * `reviewloop score INPUT...` ranks predictions without a project: the same
 * pipeline a round runs (scoreSources → select), output as JSONL in rank
 * order. `--shard I/N` writes a partial instead, and `reviewloop reduce`
 * (reduce.ts) merges a complete set of partials into exactly the unsharded output.
 */
import { createWriteStream } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { STRATEGY_NAMES } from '../../../scoring/strategies.js';
import type { StrategyName, TaskType } from '../../../scoring/types.js';
import { usageError as usage, type CliIO, type CommandEnv } from '../env.js';
import { fractionOpt, intOpt, rankedLines, writeResult } from '../ranked-output.js';
import { resolveInputs } from '../../sources/inputs.js';
import { assignShards, inputsHash, partialJson, resolveShard, PARTIAL_KIND, PARTIAL_VERSION, type PartialResult, type ShardSpec } from '../../pool/partials.js';
import { logNativeStatus } from '../../core/native.js';
import { ScoringPool } from '../../pool/pool.js';
import { addBigQueryOptions, bigQueryScoreOptions, scoreInBigQuery, type BigQueryCliOptions } from '../../round/bq-engine.js';
import { createProgress } from '../../core/progress.js';
import { scoredInPool, scoreSources, type ScoreParams } from '../../pool/score-run.js';
import { auditTarget } from '../../../domain/select.js';
import { formatOf, isGzipName, type Source } from '../../sources/sources.js';

const TASKS: TaskType[] = ['textcat', 'textcat-multilabel', 'ner', 'image-boxes', 'image', 'audio', 'image-segmentation'];

interface ScoreOpts extends BigQueryCliOptions {
  task: TaskType;
  strategy: StrategyName;
  labels?: string;
  top: string;
  audit: string;
  seed: string;
  shard?: string;
  shards?: string;
  out?: string;
  progress?: boolean;
  threads?: string;
  format: ScoreParams['format'];
  rejects?: string;
  reduce?: 'max' | 'mean';
  apiEndpoint?: string;
  chunkBytes: string;
  maxLineBytes: string;
  probTolerance: string;
}

/** The checked options every engine needs, in the order the user sees their errors. */
interface Checked {
  labels: string[];
  topK: number;
  auditFraction: number;
  shard: ShardSpec | undefined;
  threads: number | undefined;
}

function checkOptions(o: ScoreOpts): Checked {
  if (!TASKS.includes(o.task)) throw usage(`--task must be one of ${TASKS.join(', ')}`);
  if (!STRATEGY_NAMES.includes(o.strategy)) throw usage(`--strategy must be one of ${STRATEGY_NAMES.join(', ')}`);
  const labels = (o.labels ?? '')
    .split(',')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  if (labels.length === 0 && o.strategy !== 'random') throw usage('--labels a,b,… is required (the label order of score vectors and the set of valid labels)');
  const topK = intOpt('--top', o.top, 0);
  const auditFraction = fractionOpt('--audit', o.audit);
  // `auto` (or --shards N) reads the job engine's task index and count, as `round --shard auto` does.
  const shard = resolveShard(o.shard, o.shards);
  const threads = o.threads === undefined ? undefined : intOpt('--threads', o.threads, 1);
  return { labels, topK, auditFraction, shard, threads };
}

async function runScore(inputs: string[], o: ScoreOpts, io: CliIO, earlyPool?: Promise<ScoringPool>): Promise<void> {
  const c = checkOptions(o);
  if (o.engine !== undefined && o.engine !== 'local') {
    // Scoring inside BigQuery (worker/round/bq-engine.ts): same selection and output, no local inputs.
    const { labels, topK, auditFraction } = c;
    const r = await scoreInBigQuery(
      bigQueryScoreOptions(
        o,
        { labels, task: o.task, strategy: o.strategy, seed: o.seed, topK, auditK: auditTarget(topK, auditFraction), probTolerance: Number(o.probTolerance) },
        inputs,
      ),
    );
    await writeResult(o.out, rankedLines(r.top, r.audit, r.scored, topK, auditFraction, labels), io);
    io.err(`scored ${r.scored} of ${r.read} rows in ${o.table} (BigQuery): ${r.read - r.scored} rejected\n`);
    return;
  }
  if (inputs.length === 0) throw usage('give at least one input (file, directory, glob, gs:// prefix or -), or --engine bigquery --table P.D.T');
  let rejects: RejectsFile | undefined;
  // The pool main() started early for JSONL files, when it has the thread count asked for (main closes it otherwise).
  const early = await earlyPool;
  const pool = early !== undefined && (c.threads === undefined || early.threads === c.threads) ? early : new ScoringPool({ threads: c.threads });
  let resolved: Awaited<ReturnType<typeof resolveInputs>> | undefined;
  try {
    resolved = await resolveInputs(inputs, { apiEndpoint: o.apiEndpoint });
    // JSONL and large Arrow files are scored in the pool: its threads boot (~0.1 s each) while this
    // one sets the run up. Other runs leave it alone (small Arrow, Parquet: scored here; ~70 MB saved).
    if (resolved.sources.some((x) => scoredInPool(x, o.format)))
      pool.start({ arrow: resolved.sources.some((x) => formatOf(x.name, o.format) === 'arrow' && scoredInPool(x, o.format)) });
    const mine = shardSources(resolved.sources, c.shard);
    const params = scoreParams(o, c);
    if (o.rejects !== undefined) rejects = rejectsFile(o.rejects);
    await scoreLocal(mine, params, pool, o, c, io, rejects);
  } finally {
    await pool.close();
    await resolved?.close();
    await rejects?.close();
  }
}

function scoreParams(o: ScoreOpts, c: Checked): ScoreParams {
  return {
    task: o.task,
    labels: c.labels,
    strategy: { name: o.strategy, reduce: o.reduce, seed: o.seed },
    topK: c.topK,
    auditK: auditTarget(c.topK, c.auditFraction),
    keepEmbedding: false,
    // The output is ids and scores; partials (--shard) keep whole records for the reduce.
    keepRecords: c.shard !== undefined,
    maxLineBytes: intOpt('--max-line-bytes', o.maxLineBytes, 1024),
    probTolerance: Number(o.probTolerance),
    chunkBytes: intOpt('--chunk-bytes', o.chunkBytes, 64 * 1024),
    format: o.format,
  };
}

interface RejectsFile {
  write: (rs: unknown[]) => Promise<void>;
  close: () => Promise<void>;
}

/** `--rejects FILE`: rejected records as JSONL, written with back-pressure. */
function rejectsFile(file: string): RejectsFile {
  const out = createWriteStream(file);
  return {
    write: async (rs) => {
      let text = '';
      for (const r of rs) text += `${JSON.stringify(r)}\n`;
      if (!out.write(text)) await new Promise<void>((r) => out.once('drain', () => r()));
    },
    close: () => new Promise<void>((done, fail) => out.end((err?: Error | null) => (err ? fail(err) : done()))),
  };
}

/** This shard's inputs (all without --shard), and the hash of all of them that ties the partials together. */
function shardSources(all: Source[], shard: ShardSpec | undefined): { sources: Source[]; hash: string } {
  const hash = inputsHash(all);
  if (shard === undefined) return { sources: all, hash };
  if (all.some((s) => s.uri === '-')) throw usage('--shard cannot split stdin; give files or gs:// objects');
  const shardOf = assignShards(all, shard.count);
  return { sources: all.filter((_, i) => shardOf[i] === shard.index), hash };
}

/** Scores the inputs and writes the ranked lines, or the partial with --shard. */
async function scoreLocal(
  mine: { sources: Source[]; hash: string },
  params: ScoreParams,
  pool: ScoringPool,
  o: ScoreOpts,
  c: Checked,
  io: CliIO,
  rejects?: RejectsFile,
): Promise<void> {
  const { shard } = c;
  const { sources, hash } = mine;
  const known = sources.every((s) => s.size !== undefined && !isGzipName(s.name));
  const progress = createProgress({ totalBytes: known ? sources.reduce((a, s) => a + (s.size ?? 0), 0) : undefined });
  const result = await scoreSources(sources, params, pool, {
    onRejects: rejects?.write,
    onProgress: o.progress === false ? undefined : (records, bytes) => progress.update(records, bytes),
  });
  progress.done();
  const s = result.stats;
  if (shard !== undefined) {
    const partial: PartialResult = {
      kind: PARTIAL_KIND,
      version: PARTIAL_VERSION,
      shard,
      inputsHash: hash,
      inputs: sources.map((x) => x.uri),
      params: {
        task: o.task,
        labels: c.labels,
        strategy: o.strategy,
        ...(o.reduce ? { reduce: o.reduce } : {}),
        seed: o.seed,
        topK: c.topK,
        auditK: params.auditK,
        auditFraction: c.auditFraction,
        format: o.format,
      },
      population: s.scored,
      stats: s,
      top: result.top,
      audit: result.audit,
    };
    await writeResult(o.out, partialJson(partial), io);
  } else {
    await writeResult(o.out, rankedLines(result.top, result.audit, s.scored, c.topK, c.auditFraction, c.labels), io);
  }
  io.err(
    `scored ${s.scored} of ${s.read} records from ${sources.length} input(s)${shard ? ` (shard ${shard.index}/${shard.count})` : ''}: ${s.rejected} rejected${s.rejected > 0 && o.rejects === undefined ? ' (see them with --rejects FILE)' : ''}\n`,
  );
}

export function register(program: Command, env: CommandEnv): void {
  addBigQueryOptions(program.command('score'))
    .description('rank prediction records by a strategy and print the selection as JSONL ({"id","score","rank","audit"} in rank order)')
    .argument('[input...]', 'files, directories, globs, gs://bucket/prefix, or - for stdin (none with --engine bigquery)')
    .requiredOption('--task <task>', `task type: ${TASKS.join(', ')}`)
    .requiredOption('--strategy <name>', 'scoring strategy (entropy, margin, least-confidence, …)')
    .option('--labels <a,b,...>', 'labels, in the order of score vectors')
    .option('--top <K>', 'items to select', '100')
    .option('--audit <fraction>', 'share of --top drawn uniformly at random as an audit slice', '0')
    .option('--seed <seed>', 'seed for the audit draw and the random strategy', 'reviewloop')
    .option(
      '--shard <I/N|auto>',
      'score shard I (0-based) of N and write a partial result for `reviewloop reduce`; `auto` reads CLOUD_RUN_TASK_INDEX/COUNT or JOB_COMPLETION_INDEX',
    )
    .option('--shards <N>', 'shard count (implies --shard auto when --shard is absent); Kubernetes indexed Jobs need it')
    .option('--out <file>', 'output file (default: stdout)')
    .option('--progress', 'progress bar on stderr (only on a terminal; on by default there)')
    .option('--no-progress', 'no progress bar')
    .option('--threads <n>', 'scoring threads (default: available cores); never changes the output')
    .addOption(new Option('--format <format>', 'input format').choices(['auto', 'native', 'vertex', 'arrow', 'parquet']).default('auto'))
    .option('--rejects <file>', 'write rejected records as JSONL {object, line, id?, field?, reason}')
    .addOption(new Option('--reduce <how>', 'token-entropy: reduce per-token entropies by').choices(['max', 'mean']))
    .option('--api-endpoint <url>', 'GCS API endpoint for gs:// inputs (emulators)')
    .option('--chunk-bytes <n>', 'bytes per scoring chunk', String(16 * 1024 * 1024))
    .option('--max-line-bytes <n>', 'reject lines longer than this', String(16 * 1024 * 1024))
    .option('--prob-tolerance <x>', 'allowed |Σp − 1| for single-label probabilities', '0.001')
    .action(async (inputs: string[], opts: ScoreOpts) => {
      logNativeStatus(env.logger);
      await runScore(inputs, opts, env.io, env.earlyPool);
    });
}
