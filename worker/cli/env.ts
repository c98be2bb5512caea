/**
 * What every command module shares: the output streams, the logger, opening
 * the app from a config file, the `--config` option, writing a file the user
 * named and the usage error. Command modules import this file, never main.ts,
 * so the import graph runs one way: main.ts → commands.ts → commands/* → env.ts.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Option } from 'commander';
import type { Config } from '../../config/schema.js';
import type { AppContext } from '../app/app.js';
import type { ScoringPool } from '../pool/pool.js';
import { errnoOf, fsError } from '../../domain/errors.js';
import type { Logger } from '../core/log.js';

export interface CliIO {
  out: (s: string) => void;
  err: (s: string) => void;
}

export const defaultIO: CliIO = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

/** What a command module gets to register its commands (see worker/cli/commands/). */
export interface CommandEnv {
  io: CliIO;
  logger: Logger;
  /** `score` over JSONL files: a scoring pool started before the command modules loaded (see earlyScorePool); the command adopts or closes it. */
  earlyPool?: Promise<ScoringPool>;
  /** Wraps the scoring pool of the daemon's rounds (`run`); embedders and tests use it to observe or hold chunks. */
  wrapDaemonPool?: (pool: ScoringPool) => ScoringPool;
  withApp: <T>(configPath: string, fn: (app: AppContext) => Promise<T>) => Promise<T>;
  configOption: () => Option;
}

/** A mistake in the command line: main() prints the message and exits 2. */
export class UsageError extends Error {
  readonly code = 'USAGE';
}

export function usageError(message: string): UsageError {
  return new UsageError(message);
}

export function isUsageError(err: unknown): err is Error {
  return (err as { code?: unknown } | null)?.code === 'USAGE';
}

export function configOption(): Option {
  return new Option('-c, --config <file>', 'config file (YAML)').default('reviewloop.yaml');
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

/** Writes a file the user named with an option: a missing folder is a usage error, a full or read-only disk a typed one. */
export async function writeOutput(file: string, data: string): Promise<void> {
  try {
    await writeFile(file, data);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') throw usageError(`--out ${file}: the folder ${path.dirname(path.resolve(file))} does not exist`);
    throw fsError(err, file) ?? err;
  }
}
