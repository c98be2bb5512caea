/**
 * The command table: each command's module, loaded by name so a command
 * starts with only its own dependencies (`score` never loads zod, yaml or
 * the config); help and unknown words load them all. Each module exports
 * one `register(program, env)`; adding a command is one line here.
 */
import type { Command } from 'commander';
import type { CommandEnv } from './env.js';

export type RegisterCommands = (program: Command, env: CommandEnv) => void;

/** Command name → its module's register function, in the order help lists them. */
export const COMMAND_LOADERS: Record<string, () => Promise<RegisterCommands>> = {
  demo: async () => (await import('./commands/demo.js')).register,
  round: async () => (await import('./commands/round.js')).register,
  merge: async () => (await import('./commands/merge.js')).register,
  'import-labels': async () => (await import('./commands/import-labels.js')).register,
  status: async () => (await import('./commands/status.js')).register,
  query: async () => (await import('./commands/query.js')).register,
  report: async () => (await import('./commands/report.js')).register,
  run: async () => (await import('./commands/run.js')).register,
  score: async () => (await import('./commands/score.js')).register,
  reduce: async () => (await import('./commands/reduce.js')).register,
  'push-annotations': async () => (await import('./commands/push-annotations.js')).register,
  resign: async () => (await import('./commands/resign.js')).register,
  queue: async () => (await import('./commands/queue.js')).register,
};

/** The modules `argv` needs: its command's, or all of them for help or an unknown word. */
export async function loadCommandModules(argv: string[]): Promise<RegisterCommands[]> {
  const name = argv.slice(2).find((a) => !a.startsWith('-'));
  const loaders = name !== undefined && Object.hasOwn(COMMAND_LOADERS, name) ? [COMMAND_LOADERS[name]] : Object.values(COMMAND_LOADERS);
  return Promise.all(loaders.map((load) => load()));
}
