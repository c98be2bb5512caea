/**
 * `reviewloop round`: scores new prediction objects into a round, whole or
 * as one shard of N (a job engine's task; the task that completes the set
 * writes the round unless `--no-finish`).
 */
import type { Command } from 'commander';
import { roundOptionsFor } from '../../app/round-options.js';
import type { AppContext } from '../../app/app.js';
import type { runRound } from '../../round/round.js';
import { createProgress, type Progress } from '../../core/progress.js';
import { usageError, type CliIO, type CommandEnv } from '../env.js';

type RoundResult = Awaited<ReturnType<typeof runRound>>;

interface RoundOpts {
  config: string;
  project?: string;
  round?: string;
  shard?: string;
  shards?: string;
  finish: boolean;
}

export function register(program: Command, env: CommandEnv): void {
  program
    .command('round')
    .description('score new prediction objects and write rounds/R/{queue.jsonl,rejects.jsonl,manifest.json}')
    .addOption(env.configOption())
    .option('--project <name>', 'project to run (required when several are configured)')
    .option('--round <id>', 'round id; default: the latest slot of schedule.round (e.g. 20261127T0200Z)')
    .option('--shard <I/N|auto>', 'score shard I (0-based) of N into rounds/R/partials/; `auto` reads CLOUD_RUN_TASK_INDEX/COUNT or JOB_COMPLETION_INDEX')
    .option('--shards <N>', 'shard count (implies --shard auto when --shard is absent); Kubernetes indexed Jobs need it')
    .option('--no-finish', 'with --shard: never write the round, even when this shard completes the set (a separate `reviewloop reduce --round R` will)')
    .action(async (opts: RoundOpts) => {
      await env.withApp(opts.config, (app) => runRoundCommand(app, opts, env));
    });
}

async function runRoundCommand(app: AppContext, opts: RoundOpts, env: CommandEnv): Promise<void> {
  const { io, logger } = env;
  const project = app.project(opts.project);
  const store = app.projectStore(project);
  let roundId = opts.round;
  if (roundId === undefined) {
    if (!project.schedule.round) throw usageError('no --round given and the project has no schedule.round to derive one from');
    const { latestSlot, slotRoundId } = await import('../../../domain/round-id.js');
    roundId = slotRoundId(latestSlot(project.schedule.round, project.schedule.timezone, new Date()));
  }
  (await import('../../core/native.js')).logNativeStatus(logger);
  // A bar on a terminal only (createProgress draws nothing on pipes); log lines clear it first.
  let bar: Progress | undefined;
  const onScoring = ({ objects, bytes }: { objects: number; bytes: number | undefined }) => {
    bar = createProgress({ label: `round ${roundId}: ${objects} object(s)`, totalBytes: bytes });
    return bar;
  };
  const roundOpts = { ...(await roundOptionsFor(app, project, roundId, logger)), onScoring };
  const [{ runRound }, { resolveShard, runRoundShard }] = await Promise.all([import('../../round/round.js'), import('../../round/shard.js')]);
  const shard = resolveShard(opts.shard, opts.shards);
  const sharded = shard === undefined ? undefined : await runRoundShard(roundOpts, shard, opts.finish).finally(() => bar?.done());
  if (sharded?.status === 'partial') {
    const waiting = sharded.missing ? ` (waiting for shard${sharded.missing.length > 1 ? 's' : ''} ${sharded.missing.join(', ')})` : '';
    io.out(`round ${roundId} shard ${shard!.index}/${shard!.count} written: ${store.uri(sharded.partial!)}${waiting}\n`);
    return;
  }
  const result = sharded?.result ?? (await runRound(roundOpts).finally(() => bar?.done()));
  printRound(result, roundId, store.uri.bind(store), io);
}

function printRound(r: RoundResult, roundId: string, uri: (name: string) => string, io: CliIO): void {
  const c = r.manifest.counts;
  const deferred = c.deferred ? `, ${c.deferred} deferred to the next round (media not readable now)` : '';
  io.out(
    `${r.status === 'exists' ? `round ${roundId} already exists; nothing changed` : `round ${roundId} written`}: ${c.queued} queued (${c.audit} audit) from ${c.scored} scored, ${c.rejected} rejected, ${c.skipped} already queued or labelled${deferred}\n`,
  );
  io.out(`queue: ${uri(r.manifest.files.queue[0])}\n`);
  const quarantined = r.manifest.quarantined ?? [];
  if (quarantined.length > 0) {
    io.err(
      `${quarantined.length} object(s) could not be read and were quarantined (a new generation is read by the next round); see ${uri(r.manifest.files.rejects)}\n`,
    );
    for (const q of quarantined.slice(0, 20)) io.err(`  ${uri(q.name)} (${q.code}, line ${q.line})\n`);
  }
}
