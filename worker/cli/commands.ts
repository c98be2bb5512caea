/**
 * Command modules beyond the core loop (score, reduce, run, push-annotations, …).
 * Each exports one `register(program, env)`. They are loaded by name so a
 * command starts with only its own dependencies; help loads them all.
 */
import type { Command } from 'commander';
import type { CommandEnv } from './main.js';

export type RegisterCommands = (program: Command, env: CommandEnv) => void;

const score = async () => (await import('./commands/score.js')).register;

/** Command name → its module's register function; adding a command is one line here. */
export const COMMAND_LOADERS: Record<string, () => Promise<RegisterCommands>> = {
  run: async () => (await import('../daemon/run-daemon.js')).register,
  score,
  reduce: score,
  'push-annotations': async () => (await import('./commands/push-annotations.js')).register,
  resign: async () => (await import('./commands/resign.js')).register,
};

/** The modules `argv` needs: its command's, none for a core command, all for help or an unknown word. */
export async function loadCommandModules(argv: string[], coreCommands: string[]): Promise<RegisterCommands[]> {
  const name = argv.slice(2).find((a) => !a.startsWith('-'));
  if (name !== undefined && coreCommands.includes(name)) return [];
  const loaders = name !== undefined && name in COMMAND_LOADERS ? [COMMAND_LOADERS[name]] : [...new Set(Object.values(COMMAND_LOADERS))];
  return [...new Set(await Promise.all(loaders.map((load) => load())))];
}
