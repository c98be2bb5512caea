/** `reviewloop resign --round R [-c reviewloop.yaml] [--project P]`: see worker/queue/resign.ts. */
import type { Command } from 'commander';
import type { CommandEnv } from '../env.js';

export function register(program: Command, env: CommandEnv): void {
  program
    .command('resign')
    .description("write copies of a round's queue with fresh signed media URLs (rounds/R/queue….resigned-<n>.jsonl); hashes and order unchanged")
    .requiredOption('--round <id>', 'the round whose queue to re-sign')
    .addOption(env.configOption())
    .option('--project <name>', 'project (required when several are configured)')
    .option('--ttl-seconds <s>', 'URL lifetime in seconds, at most 604800 (default: queue.signedUrlTtlSeconds)')
    .action(async (opts: { round: string; config: string; project?: string; ttlSeconds?: string }) => {
      await env.withApp(opts.config, async (app) => {
        const project = app.project(opts.project);
        const store = app.projectStore(project);
        const ttl = opts.ttlSeconds === undefined ? undefined : Number(opts.ttlSeconds);
        const { resignRound } = await import('../../queue/resign.js');
        const r = await resignRound({ project, store, roundId: opts.round, ttlSeconds: ttl, signer: app.mediaSigner, logger: env.logger });
        if (r.written.length === 0) env.io.out(`round ${opts.round}: no gs:// media in the queue; nothing written\n`);
        for (const name of r.written) env.io.out(`${store.uri(name)}\n`);
      });
    });
}
