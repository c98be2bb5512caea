/** `reviewloop report --out FILE`: a self-contained HTML report of one project. */
import type { Command } from 'commander';
import { writeOutput, type CommandEnv } from '../env.js';

export function register(program: Command, env: CommandEnv): void {
  program
    .command('report')
    .description('write a self-contained HTML report (charts as inline SVG) for one project')
    .addOption(env.configOption())
    .option('--project <name>', 'project to report on')
    .requiredOption('--out <file>', 'output HTML file')
    .action(async (opts: { config: string; project?: string; out: string }) => {
      await env.withApp(opts.config, async (app) => {
        const project = app.project(opts.project);
        const { loadReportData, renderReport } = await import('../../stats/report.js');
        await writeOutput(opts.out, renderReport(await loadReportData(await app.sink(), project.name, new Date().toISOString())));
        env.io.out(`report written to ${opts.out}\n`);
      });
    });
}
