/** `reviewloop status`: rounds, pending exports, snapshots and the latest stats of each project. */
import type { Command } from 'commander';
import type { CommandEnv } from '../env.js';

export function register(program: Command, env: CommandEnv): void {
  program
    .command('status')
    .description('rounds, pending exports, snapshots and the latest stats of each project')
    .addOption(env.configOption())
    .option('--project <name>', 'only this project')
    .option('--json', 'print JSON')
    .action(async (opts: { config: string; project?: string; json?: boolean }) => {
      await env.withApp(opts.config, async (app) => {
        const { statusReport } = await import('../../app/status.js');
        const report = await statusReport(app, opts.project);
        if (opts.json) env.io.out(`${JSON.stringify(report, null, 2)}\n`);
        else env.io.out(report.text);
      });
    });
}
