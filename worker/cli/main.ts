/**
 * The `reviewloop` command line. Each command opens what it needs through
 * openApp and closes it; errors become a one-line message on stderr and a
 * documented exit code (see README "Exit codes").
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import type { Config } from '../../config/schema.js';
import type { AppContext } from '../app/app.js';
import type { ScoringPool } from '../pool/pool.js';
import { loadCommandModules, type RegisterCommands } from './commands.js';
import { earlyScorePool } from '../pool/early-pool.js';
import { EXIT, errnoOf, exitCodeFor, fsError, isReviewloopError } from '../../domain/errors.js';
import { createLogger, redactString, type Logger } from '../core/log.js';
import { printTable } from './text-table.js';

/** Commands defined in this file; their heavy modules are imported inside the actions (start-up time). */
const CORE_COMMANDS = ['demo', 'round', 'merge', 'status', 'query', 'report'];

export interface CliIO {
  out: (s: string) => void;
  err: (s: string) => void;
}

const defaultIO: CliIO = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

/** What a command module gets to register its commands (see worker/commands/). */
export interface CommandEnv {
  io: CliIO;
  logger: Logger;
  /** `score` over JSONL files: a scoring pool started before the command modules loaded (see earlyScorePool); the command adopts or closes it. */
  earlyPool?: Promise<ScoringPool>;
  withApp: <T>(configPath: string, fn: (app: AppContext) => Promise<T>) => Promise<T>;
  configOption: () => Option;
}

export async function withApp<T>(configPath: string, logger: Logger, fn: (app: AppContext) => Promise<T>): Promise<T> {
  // Loaded here, not at the top: zod and yaml cost ~170 ms of start-up that `score` never needs.
  const { loadConfig } = await import('../core/load-config.js');
  const config: Config = await loadConfig(configPath);
  const { openApp } = await import('../app/app.js');
  const app = openApp(config, { logger });
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

export function buildProgram(io: CliIO = defaultIO, modules: RegisterCommands[] = [], earlyPool?: Promise<ScoringPool>): Command {
  const logger = createLogger();
  const program = new Command('reviewloop')
    .description('Active-learning review loop: predictions in GCS → ranked Prodigy queues → corrected labels → versioned training snapshots, with drift and quality stats.')
    .version('0.1.0')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');
  const configOption = () => new Option('-c, --config <file>', 'config file (YAML)').default('reviewloop.yaml');

  program.command('demo')
    .description('run two full rounds of the loop on bundled sample data (local directory + DuckDB, no cloud account)')
    .option('--dir <dir>', 'where to put the demo project', './demo')
    .action(async (opts: { dir: string }) => {
      const { runDemo } = await import('../demo/run.js');
      // The demo prints its own summary; only warnings and errors go to the log.
      await runDemo(opts.dir, createLogger({ level: 'WARNING' }), (line) => io.out(`${line}\n`));
    });

  program.command('round')
    .description('score new prediction objects and write rounds/R/{queue.jsonl,rejects.jsonl,manifest.json}')
    .addOption(configOption())
    .option('--project <name>', 'project to run (required when several are configured)')
    .option('--round <id>', 'round id; default: the latest slot of schedule.round (e.g. 20261127T0200Z)')
    .option('--shard <I/N|auto>', 'score shard I (0-based) of N into rounds/R/partials/; `auto` reads CLOUD_RUN_TASK_INDEX/COUNT or JOB_COMPLETION_INDEX')
    .option('--shards <N>', 'shard count (implies --shard auto when --shard is absent); Kubernetes indexed Jobs need it')
    .option('--no-finish', 'with --shard: never write the round, even when this shard completes the set (a separate `reviewloop reduce --round R` will)')
    .action(async (opts: { config: string; project?: string; round?: string; shard?: string; shards?: string; finish: boolean }) => {
      await withApp(opts.config, logger, async (app) => {
        const project = app.project(opts.project);
        let roundId = opts.round;
        if (roundId === undefined) {
          if (!project.schedule.round) throw Object.assign(new Error('no --round given and the project has no schedule.round to derive one from'), { code: 'USAGE' });
          const { latestSlot, slotRoundId } = await import('../../domain/round-id.js');
          roundId = slotRoundId(latestSlot(project.schedule.round, project.schedule.timezone, new Date()));
        }
        const roundOpts = { project, store: app.projectStore(project), pool: app.pool(), sink: await app.sink(), roundId, chunkBytes: app.config.worker.chunkBytes, logger, media: app.media, mediaSigner: app.mediaSigner };
        const [{ runRound }, { resolveShard, runRoundShard }] = await Promise.all([import('../round/round.js'), import('../round/shard.js')]);
        const shard = resolveShard(opts.shard, opts.shards);
        const sharded = shard === undefined ? undefined : await runRoundShard(roundOpts, shard, opts.finish);
        if (sharded?.status === 'partial') {
          io.out(`round ${roundId} shard ${shard!.index}/${shard!.count} written: ${app.projectStore(project).uri(sharded.partial!)}${sharded.missing ? ` (waiting for shard${sharded.missing.length > 1 ? 's' : ''} ${sharded.missing.join(', ')})` : ''}\n`);
          return;
        }
        const r = sharded?.result ?? await runRound(roundOpts);
        const c = r.manifest.counts;
        io.out(`${r.status === 'exists' ? `round ${roundId} already exists; nothing changed` : `round ${roundId} written`}: ${c.queued} queued (${c.audit} audit) from ${c.scored} scored, ${c.rejected} rejected, ${c.skipped} already queued or labelled${c.deferred ? `, ${c.deferred} deferred to the next round (media not readable now)` : ''}\n`);
        io.out(`queue: ${app.projectStore(project).uri(r.manifest.files.queue[0])}\n`);
        const quarantined = r.manifest.quarantined ?? [];
        if (quarantined.length > 0) {
          io.err(`${quarantined.length} object(s) could not be read and were quarantined (a new generation is read by the next round); see ${app.projectStore(project).uri(r.manifest.files.rejects)}\n`);
          for (const q of quarantined.slice(0, 20)) io.err(`  ${app.projectStore(project).uri(q.name)} (${q.code}, line ${q.line})\n`);
        }
      });
    });

  program.command('merge')
    .description('merge new Prodigy exports under annotations/ into a new snapshot and move snapshots/LATEST.json')
    .addOption(configOption())
    .option('--project <name>', 'project to merge (required when several are configured)')
    .action(async (opts: { config: string; project?: string }) => {
      await withApp(opts.config, logger, async (app) => {
        const project = app.project(opts.project);
        const { runMerge } = await import('../merge/merge.js');
        const m = await runMerge({ project, store: app.projectStore(project), sink: await app.sink(), logger });
        if (m.status === 'nothing-new') io.out(`no new exports; snapshot stays at v${m.version ?? 0}\n`);
        else io.out(`snapshot v${m.version} written: ${m.manifest!.counts.answers} answers merged, ${m.manifest!.counts.items} items, ${m.badLines.length} bad export line(s) skipped\n`);
        for (const b of m.badLines.slice(0, 20)) io.err(`  ${b.object} line ${b.line}: ${b.field}: ${b.reason}\n`);
        for (const q of m.quarantined) io.err(`  quarantined ${q.name} (generation ${q.generation}): ${q.reason}\n`);
      });
    });

  program.command('status')
    .description('rounds, pending exports, snapshots and the latest stats of each project')
    .addOption(configOption())
    .option('--project <name>', 'only this project')
    .option('--json', 'print JSON')
    .action(async (opts: { config: string; project?: string; json?: boolean }) => {
      await withApp(opts.config, logger, async (app) => {
        const { statusReport } = await import('../app/status.js');
        const report = await statusReport(app, opts.project);
        if (opts.json) io.out(`${JSON.stringify(report, null, 2)}\n`);
        else io.out(report.text);
      });
    });

  program.command('query')
    .description('run SQL on the stats database and print a table')
    .argument('<sql>', 'one SQL statement; tables: rounds, drift, label_quality, annotators, annotator_agreement, snapshots, …')
    .addOption(configOption())
    .option('--json', 'print JSON rows')
    .action(async (sql: string, opts: { config: string; json?: boolean }) => {
      await withApp(opts.config, logger, async (app) => {
        const rows = await (await app.sink()).query(sql);
        io.out(opts.json ? `${JSON.stringify(rows, null, 2)}\n` : printTable(rows));
      });
    });

  program.command('report')
    .description('write a self-contained HTML report (charts as inline SVG) for one project')
    .addOption(configOption())
    .option('--project <name>', 'project to report on')
    .requiredOption('--out <file>', 'output HTML file')
    .action(async (opts: { config: string; project?: string; out: string }) => {
      await withApp(opts.config, logger, async (app) => {
        const project = app.project(opts.project);
        const { loadReportData, renderReport } = await import('../stats/report.js');
        await writeOutput(opts.out, renderReport(await loadReportData(await app.sink(), project.name, new Date().toISOString())));
        io.out(`report written to ${opts.out}\n`);
      });
    });

  const env: CommandEnv = { io, logger, withApp: (p, fn) => withApp(p, logger, fn), configOption, earlyPool };
  for (const register of modules) register(program, env);
  return program;
}

/** Writes a file the user named with an option: a missing folder is a usage error, a full or read-only disk a typed one. */
export async function writeOutput(file: string, data: string): Promise<void> {
  try {
    await writeFile(file, data);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') throw Object.assign(new Error(`--out ${file}: the folder ${path.dirname(path.resolve(file))} does not exist`), { code: 'USAGE' });
    throw fsError(err, file) ?? err;
  }
}

/**
 * Entry point: returns the process exit code instead of exiting, so tests can call it.
 * `earlyPool`: a pool bin/reviewloop.js started before this module loaded (early-pool.ts); closed here either way.
 */
export async function main(argv: string[], io: CliIO = defaultIO, earlyPool = earlyScorePool(argv)): Promise<number> {
  try {
    const program = buildProgram(io, await loadCommandModules(argv, CORE_COMMANDS), earlyPool);
    await program.parseAsync(argv);
    return EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    if ((err as { code?: string }).code === 'USAGE') {
      io.err(`reviewloop: ${(err as Error).message}\n`);
      return EXIT.USAGE;
    }
    // A file-system failure no store mapped (a stats file, a temp folder) is still the operator's to fix, not a bug.
    const typed = isReviewloopError(err) ? err : fsError(err, String((err as { path?: unknown }).path ?? 'a local file')) ?? err;
    const message = isReviewloopError(typed) ? `${typed.code}: ${typed.message}` : (typed as Error)?.stack ?? String(typed);
    io.err(`reviewloop: ${redactString(message)}\n`);
    return exitCodeFor(typed);
  } finally {
    // Closed here whatever the command did with it (close() is idempotent): a usage error must not leave threads running.
    await (await earlyPool?.catch(() => undefined))?.close();
  }
}
