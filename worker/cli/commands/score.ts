/**
 * `reviewloop score INPUT...` ranks predictions without a project: the same
 * pipeline a round runs (scoreSources → select), output as JSONL in rank
 * order. `--shard I/N` writes a partial instead, and `reviewloop reduce`
 * merges a complete set of partials into exactly the unsharded output.
 */
import { createWriteStream } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { Option } from 'commander';
import { STRATEGY_NAMES } from '../../../scoring/strategies.js';
import type { StrategyName, TaskType } from '../../../scoring/types.js';
import type { CliIO, CommandEnv } from '../main.js';
import { resolveInputs } from '../../sources/inputs.js';
import {
  assignShards, inputsHash, parsePartial, partialJson, reducePartials, resolveShard,
  PARTIAL_KIND, PARTIAL_VERSION, type PartialResult,
} from '../../pool/partials.js';
import { ScoringPool } from '../../pool/pool.js';
import { addBigQueryOptions, bigQueryScoreOptions, scoreInBigQuery, type BigQueryCliOptions } from '../../round/bq-engine.js';
import { createProgress } from '../../core/progress.js';
import { scoredInPool, scoreSources, type ScoreParams } from '../../pool/score-run.js';
import { auditTarget, select } from '../../../domain/select.js';
import { formatOf, isGzipName } from '../../sources/sources.js';
import type { ScoredEntry } from '../../../scoring/types.js';

const TASKS: TaskType[] = ['textcat', 'textcat-multilabel', 'ner', 'image-boxes', 'image', 'audio'];

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

function usage(message: string): Error {
  return Object.assign(new Error(message), { code: 'USAGE' });
}

function intOpt(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw usage(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}

function fractionOpt(name: string, v: string): number {
  const n = Number(v);
  if (!(n >= 0 && n <= 1)) throw usage(`${name} must be a number in [0, 1], got ${JSON.stringify(v)}`);
  return n;
}

/** The ranked output: one JSON line per selected item; `p` only on audit items. */
export function rankedLines(top: ScoredEntry[], audit: ScoredEntry[], population: number, topK: number, auditFraction: number, labels: string[]): string {
  const sel = select(top, audit, population, { topK, auditFraction, labels });
  let out = '';
  for (const it of sel.items) {
    const line = it.audit
      ? { id: it.entry.id, score: it.entry.score, rank: it.rank, audit: true, p: it.p }
      : { id: it.entry.id, score: it.entry.score, rank: it.rank, audit: false };
    out += `${JSON.stringify(line)}\n`;
  }
  return out;
}

/** Writes next to the target and renames, so a reader never sees half a file. */
async function writeResult(out: string | undefined, text: string, io: CliIO): Promise<void> {
  if (out === undefined || out === '-') {
    io.out(text);
    return;
  }
  const tmp = `${out}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, out);
}

async function runScore(inputs: string[], o: ScoreOpts, io: CliIO, earlyPool?: Promise<ScoringPool>): Promise<void> {
  if (!TASKS.includes(o.task)) throw usage(`--task must be one of ${TASKS.join(', ')}`);
  if (!STRATEGY_NAMES.includes(o.strategy)) throw usage(`--strategy must be one of ${STRATEGY_NAMES.join(', ')}`);
  const labels = (o.labels ?? '').split(',').map((l) => l.trim()).filter((l) => l.length > 0);
  if (labels.length === 0 && o.strategy !== 'random') throw usage('--labels a,b,… is required (the label order of score vectors and the set of valid labels)');
  const topK = intOpt('--top', o.top, 0);
  const auditFraction = fractionOpt('--audit', o.audit);
  // `auto` (or --shards N) reads the job engine's task index and count, as `round --shard auto` does.
  const shard = resolveShard(o.shard, o.shards);
  const threads = o.threads === undefined ? undefined : intOpt('--threads', o.threads, 1);

  if (o.engine !== undefined && o.engine !== 'local') {
    // Scoring inside BigQuery (worker/round/bq-engine.ts): same selection and output, no local inputs.
    const r = await scoreInBigQuery(bigQueryScoreOptions(o, { labels, task: o.task, strategy: o.strategy, seed: o.seed, topK, auditK: auditTarget(topK, auditFraction), probTolerance: Number(o.probTolerance) }, inputs));
    await writeResult(o.out, rankedLines(r.top, r.audit, r.scored, topK, auditFraction, labels), io);
    io.err(`scored ${r.scored} of ${r.read} rows in ${o.table} (BigQuery): ${r.read - r.scored} rejected\n`);
    return;
  }
  if (inputs.length === 0) throw usage('give at least one input (file, directory, glob, gs:// prefix or -), or --engine bigquery --table P.D.T');
  let rejectsOut: ReturnType<typeof createWriteStream> | undefined;
  // The pool main() started early for JSONL files, when it has the thread count asked for (main closes it otherwise).
  const early = await earlyPool;
  const pool = early !== undefined && (threads === undefined || early.threads === threads) ? early : new ScoringPool({ threads });
  let resolved: Awaited<ReturnType<typeof resolveInputs>> | undefined;
  try {
    resolved = await resolveInputs(inputs, { apiEndpoint: o.apiEndpoint });
    // JSONL and large Arrow files are scored in the pool: its threads boot (~0.1 s each) while this
    // one sets the run up. Other runs leave it alone (small Arrow, Parquet: scored here; ~70 MB saved).
    if (resolved.sources.some((x) => scoredInPool(x, o.format))) pool.start({ arrow: resolved.sources.some((x) => formatOf(x.name, o.format) === 'arrow' && scoredInPool(x, o.format)) });
    let sources = resolved.sources;
    const hash = inputsHash(sources);
    if (shard !== undefined) {
      if (sources.some((s) => s.uri === '-')) throw usage('--shard cannot split stdin; give files or gs:// objects');
      const shardOf = assignShards(sources, shard.count);
      sources = sources.filter((_, i) => shardOf[i] === shard.index);
    }
    const auditK = auditTarget(topK, auditFraction);
    const params: ScoreParams = {
      task: o.task,
      labels,
      strategy: { name: o.strategy, reduce: o.reduce, seed: o.seed },
      topK,
      auditK,
      keepEmbedding: false,
      // The output is ids and scores; partials (--shard) keep whole records, as they always have.
      keepRecords: shard !== undefined,
      maxLineBytes: intOpt('--max-line-bytes', o.maxLineBytes, 1024),
      probTolerance: Number(o.probTolerance),
      chunkBytes: intOpt('--chunk-bytes', o.chunkBytes, 64 * 1024),
      format: o.format,
    };
    if (o.rejects !== undefined) rejectsOut = createWriteStream(o.rejects);
    const known = sources.every((s) => s.size !== undefined && !isGzipName(s.name));
    const progress = createProgress({ totalBytes: known ? sources.reduce((a, s) => a + (s.size ?? 0), 0) : undefined });
    const out = rejectsOut;
    const result = await scoreSources(sources, params, pool, {
      onRejects: out === undefined ? undefined : async (rs) => {
        let text = '';
        for (const r of rs) text += `${JSON.stringify(r)}\n`;
        if (!out.write(text)) await new Promise<void>((r) => out.once('drain', () => r()));
      },
      onProgress: o.progress === false ? undefined : (records, bytes) => progress.update(records, bytes),
    });
    progress.done();
    const s = result.stats;
    if (shard !== undefined) {
      const partial: PartialResult = {
        kind: PARTIAL_KIND, version: PARTIAL_VERSION, shard, inputsHash: hash,
        inputs: sources.map((x) => x.uri),
        params: { task: o.task, labels, strategy: o.strategy, ...(o.reduce ? { reduce: o.reduce } : {}), seed: o.seed, topK, auditK, auditFraction, format: o.format },
        population: s.scored, stats: s, top: result.top, audit: result.audit,
      };
      await writeResult(o.out, partialJson(partial), io);
    } else {
      await writeResult(o.out, rankedLines(result.top, result.audit, s.scored, topK, auditFraction, labels), io);
    }
    io.err(`scored ${s.scored} of ${s.read} records from ${sources.length} input(s)${shard ? ` (shard ${shard.index}/${shard.count})` : ''}: ${s.rejected} rejected${s.rejected > 0 && o.rejects === undefined ? ' (see them with --rejects FILE)' : ''}\n`);
  } finally {
    await pool.close();
    await resolved?.close();
    if (rejectsOut !== undefined) {
      const r = rejectsOut;
      await new Promise<void>((done, fail) => r.end((err?: Error | null) => (err ? fail(err) : done())));
    }
  }
}

async function runReduce(files: string[], o: { top?: string; audit?: string; out?: string }, io: CliIO): Promise<void> {
  const partials = [];
  for (const f of files) partials.push({ origin: f, partial: parsePartial(await readFile(f, 'utf8'), f) });
  const r = reducePartials(partials);
  const topK = o.top === undefined ? r.params.topK : intOpt('--top', o.top, 0);
  if (topK > r.params.topK) throw usage(`--top ${topK} is more than the ${r.params.topK} entries each shard kept; re-run the shards with --top ${topK}`);
  const auditFraction = o.audit === undefined ? r.params.auditFraction : fractionOpt('--audit', o.audit);
  if (auditTarget(topK, auditFraction) > r.params.auditK) throw usage(`--audit ${auditFraction} needs ${auditTarget(topK, auditFraction)} audit entries; the shards kept ${r.params.auditK}`);
  await writeResult(o.out, rankedLines(r.top, r.audit, r.population, topK, auditFraction, r.params.labels), io);
  io.err(`reduced ${partials.length} partial(s): ${r.population} records scored, ${r.stats.rejected} rejected\n`);
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
    .option('--shard <I/N|auto>', 'score shard I (0-based) of N and write a partial result for `reviewloop reduce`; `auto` reads CLOUD_RUN_TASK_INDEX/COUNT or JOB_COMPLETION_INDEX')
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
      await runScore(inputs, opts, env.io, env.earlyPool);
    });

  program.command('reduce')
    .description('merge the partial results of `score --shard I/N` (all N shards) into the unsharded output')
    .argument('[partial...]', 'partial result files (or --round R)')
    .option('--top <K>', 'items to select (default: what the shards used)')
    .option('--audit <fraction>', 'audit share (default: what the shards used)')
    .option('--out <file>', 'output file (default: stdout)')
    // Sharded rounds (worker/round/shard.ts): merge rounds/R/partials/ into round R.
    .option('--round <id>', 'write round R from the partials of `round --shard I/N` under rounds/R/partials/')
    .option('--shards <N>', 'with --round: the shard count (default: read off the partials)')
    .option('--project <name>', 'with --round: the project')
    .addOption(env.configOption())
    .action(async (files: string[], opts: { top?: string; audit?: string; out?: string; round?: string; shards?: string; project?: string; config: string }) => {
      // The round machinery is heavy; only `reduce --round` needs it.
      if (opts.round !== undefined) return (await import('../../round/shard.js')).reduceRoundCommand({ env, config: opts.config, project: opts.project, round: opts.round, shards: opts.shards });
      if (files.length === 0) throw usage('give the partial result files, or --round R for a sharded round');
      await runReduce(files, opts, env.io);
    });
}
