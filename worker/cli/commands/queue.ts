/**
 * `reviewloop queue cat --round R [--annotator NAME]`: a round's queue on
 * stdout from any root, for `… | prodigy image.manual DATASET - --loader jsonl`.
 * Prints tasks only; how many URLs were signed afresh goes to stderr, and no
 * URL is ever logged.
 */
import type { Command } from 'commander';
import type { CommandEnv } from '../env.js';

export function register(program: Command, env: CommandEnv): void {
  const queue = program.command('queue').description("read a round's review queue");
  queue
    .command('cat')
    .description("print a round's queue (JSONL) for Prodigy: media URLs expiring within an hour are signed afresh, task hashes and order unchanged")
    .requiredOption('--round <id>', 'the round whose queue to print')
    .addOption(env.configOption())
    .option('--project <name>', 'project (required when several are configured)')
    .option('--annotator <name>', "the reviewer's own queue, when queue.annotators splits it")
    .action(async (opts: { round: string; config: string; project?: string; annotator?: string }) => {
      const { catQueue } = await import('../../queue/queue-cat.js');
      await env.withApp(opts.config, async (app) => {
        const project = app.project(opts.project);
        const store = app.projectStore(project);
        const r = await catQueue({ project, store, roundId: opts.round, annotator: opts.annotator, signer: app.mediaSigner, logger: env.logger });
        for (const line of r.lines) env.io.out(`${line}\n`);
        if (r.resigned > 0)
          env.io.err(`${r.resigned} media URL(s) signed afresh for ${project.queue.signedUrlTtlSeconds} s; ${store.uri(r.file)} is unchanged\n`);
      });
    });
}
