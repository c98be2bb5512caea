/** `reviewloop demo`: two full rounds of the loop on bundled sample data, no cloud account. */
import type { Command } from 'commander';
import type { CommandEnv } from '../env.js';

export function register(program: Command, env: CommandEnv): void {
  program
    .command('demo')
    .description('run two full rounds of the loop on bundled sample data (local directory + DuckDB, no cloud account)')
    .option('--dir <dir>', 'where to put the demo project', './demo')
    .action(async (opts: { dir: string }) => {
      const [{ runDemo }, { createLogger }] = await Promise.all([import('../../demo/run.js'), import('../../core/log.js')]);
      // The demo prints its own summary; only warnings and errors go to the log.
      await runDemo(opts.dir, createLogger({ level: 'WARNING' }), (line) => env.io.out(`${line}\n`));
    });
}
