/** `reviewloop merge`: new Prodigy exports under annotations/ become the next snapshot. */
import type { Command } from 'commander';
import { createProgress, type Progress } from '../../core/progress.js';
import type { CommandEnv } from '../env.js';

export function register(program: Command, env: CommandEnv): void {
  program
    .command('merge')
    .description('merge new Prodigy exports under annotations/ into a new snapshot and move snapshots/LATEST.json')
    .addOption(env.configOption())
    .option('--project <name>', 'project to merge (required when several are configured)')
    .action(async (opts: { config: string; project?: string }) => {
      const { io, logger } = env;
      await env.withApp(opts.config, async (app) => {
        const project = app.project(opts.project);
        const { runMerge } = await import('../../merge/merge.js');
        // A bar on a terminal only (createProgress draws nothing on pipes); log lines clear it first.
        let bar: Progress | undefined;
        const onReading = ({ exports, bytes }: { exports: number; bytes: number | undefined }) => {
          bar = createProgress({ label: `merge: ${exports} export(s)`, unit: 'lines', totalBytes: bytes });
          return bar;
        };
        const m = await runMerge({ project, store: app.projectStore(project), sink: await app.sink(), logger, onReading }).finally(() => bar?.done());
        if (m.status === 'nothing-new') io.out(`no new exports; snapshot stays at v${m.version ?? 0}\n`);
        else
          io.out(
            `snapshot v${m.version} written: ${m.manifest!.counts.answers} answers merged, ${m.manifest!.counts.items} items, ${m.badLines.length} bad export line(s) skipped\n`,
          );
        for (const b of m.badLines.slice(0, 20)) io.err(`  ${b.object} line ${b.line}: ${b.field}: ${b.reason}\n`);
        for (const q of m.quarantined) io.err(`  quarantined ${q.name} (generation ${q.generation}): ${q.reason}\n`);
      });
    });
}
