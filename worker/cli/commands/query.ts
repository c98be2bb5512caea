/** `reviewloop query SQL`: one statement on the stats database, printed as a table or JSON. */
import type { Command } from 'commander';
import type { CommandEnv } from '../env.js';
import { printTable } from '../text-table.js';

export function register(program: Command, env: CommandEnv): void {
  program
    .command('query')
    .description('run SQL on the stats database and print a table')
    .argument('<sql>', 'one SQL statement; tables: rounds, drift, label_quality, annotators, annotator_agreement, snapshots, …')
    .addOption(env.configOption())
    .option('--json', 'print JSON rows')
    .action(async (sql: string, opts: { config: string; json?: boolean }) => {
      await env.withApp(opts.config, async (app) => {
        const rows = await (await app.sink()).query(sql);
        env.io.out(opts.json ? `${JSON.stringify(rows, null, 2)}\n` : printTable(rows));
      });
    });
}
