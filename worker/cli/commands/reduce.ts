/**
 * `reviewloop reduce`: merges the partial results of `score --shard I/N`
 * into exactly the unsharded output, or with `--round R` the partials of
 * `round --shard I/N` into round R (worker/round/shard.ts).
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { roundOptionsFor } from '../../app/round-options.js';
import { usageError, type CliIO, type CommandEnv } from '../env.js';
import { fractionOpt, intOpt, rankedLines, writeResult } from '../ranked-output.js';

interface ReduceOpts {
  top?: string;
  audit?: string;
  out?: string;
  round?: string;
  shards?: string;
  project?: string;
  config: string;
}

export function register(program: Command, env: CommandEnv): void {
  program
    .command('reduce')
    .description('merge the partial results of `score --shard I/N` (all N shards) into the unsharded output')
    .argument('[partial...]', 'partial result files (or --round R)')
    .option('--top <K>', 'items to select (default: what the shards used)')
    .option('--audit <fraction>', 'audit share (default: what the shards used)')
    .option('--out <file>', 'output file (default: stdout)')
    .option('--round <id>', 'write round R from the partials of `round --shard I/N` under rounds/R/partials/')
    .option('--shards <N>', 'with --round: the shard count (default: read off the partials)')
    .option('--project <name>', 'with --round: the project')
    .addOption(env.configOption())
    .action(async (files: string[], opts: ReduceOpts) => {
      if (opts.round !== undefined) return reduceRoundCommand(opts.round, opts, env);
      if (files.length === 0) throw usageError('give the partial result files, or --round R for a sharded round');
      await reduceFiles(files, opts, env.io);
    });
}

async function reduceFiles(files: string[], o: ReduceOpts, io: CliIO): Promise<void> {
  const { auditTarget } = await import('../../../domain/select.js');
  const { parsePartial, reducePartials } = await import('../../pool/partials.js');
  const partials = [];
  for (const f of files) partials.push({ origin: f, partial: parsePartial(await readFile(f, 'utf8'), f) });
  const r = reducePartials(partials);
  const topK = o.top === undefined ? r.params.topK : intOpt('--top', o.top, 0);
  if (topK > r.params.topK) throw usageError(`--top ${topK} is more than the ${r.params.topK} entries each shard kept; re-run the shards with --top ${topK}`);
  const auditFraction = o.audit === undefined ? r.params.auditFraction : fractionOpt('--audit', o.audit);
  if (auditTarget(topK, auditFraction) > r.params.auditK)
    throw usageError(`--audit ${auditFraction} needs ${auditTarget(topK, auditFraction)} audit entries; the shards kept ${r.params.auditK}`);
  await writeResult(o.out, rankedLines(r.top, r.audit, r.population, topK, auditFraction, r.params.labels), io);
  io.err(`reduced ${partials.length} partial(s): ${r.population} records scored, ${r.stats.rejected} rejected\n`);
}

/** `--round R [--shards N]`: prints what happened; an incomplete set is SHARDS_MISSING. */
async function reduceRoundCommand(roundId: string, o: ReduceOpts, env: CommandEnv): Promise<void> {
  // The round machinery is heavy; only `reduce --round` needs it.
  const [{ parseShard }, { reduceRound }] = await Promise.all([import('../../pool/partials.js'), import('../../round/shard.js')]);
  const count = o.shards === undefined ? undefined : parseShard(`0/${o.shards}`).count;
  await env.withApp(o.config, async (app) => {
    const project = app.project(o.project);
    const store = app.projectStore(project);
    const r = await reduceRound(await roundOptionsFor(app, project, roundId, env.logger), count);
    const c = r.manifest.counts;
    env.io.out(
      `${r.status === 'exists' ? `round ${roundId} already exists; nothing changed` : `round ${roundId} written from its partials`}: ${c.queued} queued (${c.audit} audit) from ${c.scored} scored, ${c.rejected} rejected\n`,
    );
    env.io.out(`queue: ${store.uri(r.manifest.files.queue[0])}\n`);
  });
}
