/** `reviewloop import-labels FILE...`: existing labelled data becomes the next snapshot (provenance import). */
import type { Command } from 'commander';
import { errnoOf } from '../../../domain/errors.js';
import { type CommandEnv, usageError } from '../env.js';

export function register(program: Command, env: CommandEnv): void {
  program
    .command('import-labels')
    .description(
      'import existing labels (JSONL, Arrow or Parquet rows with id, label and text/image/audio) as a new snapshot; create-only and idempotent, never overwriting a label already in the snapshot',
    )
    .argument('<files...>', 'label files: .jsonl, .jsonl.gz, .arrow, .parquet')
    .addOption(env.configOption())
    .option('--project <name>', 'project to import into (required when several are configured)')
    .action(async (files: string[], opts: { config: string; project?: string }) => {
      const { io } = env;
      const { readLabelFile } = await import('../../sources/label-files.js');
      const read: Awaited<ReturnType<typeof readLabelFile>>[] = [];
      for (const f of files) {
        try {
          read.push(await readLabelFile(f));
        } catch (err) {
          if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'EISDIR') throw usageError(`${f}: no such file`);
          throw err;
        }
      }
      await env.withApp(opts.config, async (app) => {
        const project = app.project(opts.project);
        const { importLabels } = await import('../../merge/import-labels.js');
        const r = await importLabels(app.projectStore(project), project, read, await app.sink());
        const rejects = [...read.flatMap((f) => f.rejects), ...r.rejects];
        if (r.status === 'nothing-new') io.out(`nothing new to import (${r.unchanged} row(s) already in the snapshot); snapshot stays at v${r.version ?? 0}\n`);
        else io.out(`snapshot v${r.version} written: ${r.added} label(s) imported, ${r.unchanged} already there, ${rejects.length} row(s) rejected\n`);
        for (const b of rejects.slice(0, 20)) io.err(`  ${b.object} line ${b.line}: ${b.field}: ${b.reason}\n`);
        if (rejects.length > 20) io.err(`  … ${rejects.length - 20} more\n`);
      });
    });
}
