/**
 * The `reviewloop` command line. Each command lives in its own module
 * (worker/cli/commands/, listed in commands.ts) and opens what it needs
 * through withApp; errors become a one-line message on stderr and a
 * documented exit code (see README "Exit codes").
 */
import { Command, CommanderError } from 'commander';
import type { ScoringPool } from '../pool/pool.js';
import { loadCommandModules, type RegisterCommands } from './commands.js';
import { earlyScorePool } from '../pool/early-pool.js';
import { EXIT, exitCodeFor, fsError, isReviewloopError } from '../../domain/errors.js';
import { createLogger, redactString } from '../core/log.js';
import { configOption, defaultIO, isUsageError, withApp, type CliIO, type CommandEnv } from './env.js';

export type { CliIO, CommandEnv } from './env.js';

/** What a caller that embeds the CLI may hand its commands beyond argv and the output streams. */
export type MainOptions = Pick<CommandEnv, 'wrapDaemonPool'>;

export function buildProgram(io: CliIO = defaultIO, modules: RegisterCommands[] = [], earlyPool?: Promise<ScoringPool>, options: MainOptions = {}): Command {
  const logger = createLogger();
  const program = new Command('reviewloop')
    .description(
      'Active-learning review loop: predictions in GCS → ranked Prodigy queues → corrected labels → versioned training snapshots, with drift and quality stats.',
    )
    .version('0.1.0')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');
  const env: CommandEnv = { io, logger, withApp: (p, fn) => withApp(p, logger, fn), configOption, earlyPool, ...options };
  for (const register of modules) register(program, env);
  return program;
}

/**
 * Entry point: returns the process exit code instead of exiting, so tests can call it.
 * `earlyPool`: a pool bin/reviewloop.js started before this module loaded (early-pool.ts); closed here either way.
 */
export async function main(argv: string[], io: CliIO = defaultIO, earlyPool = earlyScorePool(argv), options: MainOptions = {}): Promise<number> {
  try {
    const program = buildProgram(io, await loadCommandModules(argv), earlyPool, options);
    await program.parseAsync(argv);
    return EXIT.OK;
  } catch (err) {
    return failureExit(err, io);
  } finally {
    // Closed here whatever the command did with it (close() is idempotent): a usage error must not leave threads running.
    await (await earlyPool?.catch(() => undefined))?.close();
  }
}

/** The exit code for an error a command threw, after one line about it on stderr. */
function failureExit(err: unknown, io: CliIO): number {
  if (err instanceof CommanderError) {
    return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  }
  if (isUsageError(err)) {
    io.err(`reviewloop: ${err.message}\n`);
    return EXIT.USAGE;
  }
  // A file-system failure no store mapped (a stats file, a temp folder) is still the operator's to fix, not a bug.
  const typed = isReviewloopError(err) ? err : (fsError(err, String((err as { path?: unknown }).path ?? 'a local file')) ?? err);
  const message = isReviewloopError(typed) ? `${typed.code}: ${typed.message}` : ((typed as Error)?.stack ?? String(typed));
  io.err(`reviewloop: ${redactString(message)}\n`);
  return exitCodeFor(typed);
}
