/** `reviewloop run [-c reviewloop.yaml] [--once]`: the long-running worker (worker/daemon/run-daemon.ts). */
import type { Command } from 'commander';
import type { CommandEnv } from '../env.js';

export function register(program: Command, env: CommandEnv): void {
  program
    .command('run')
    .description('the worker: run rounds and merges on their schedules (or, with --once, every due job once and exit); see docs/operations.md')
    .addOption(env.configOption())
    .option('--once', 'run every due job once and exit (Cloud Scheduler + Cloud Run jobs, cron on a VM)')
    .action(async (opts: { config: string; once?: boolean }) => {
      const [{ runDaemon }, { createLogger }, { EXIT, ReviewloopError }] = await Promise.all([
        import('../../daemon/run-daemon.js'),
        import('../../core/log.js'),
        import('../../../domain/errors.js'),
      ]);
      // The daemon's logs go to stdout, as Cloud Logging and `kubectl logs` expect.
      const code = await runDaemon({
        configPath: opts.config,
        once: opts.once,
        logger: createLogger({ stream: process.stdout }),
        wrapPool: env.wrapDaemonPool,
      });
      if (code === EXIT.INTERRUPTED)
        throw new ReviewloopError(
          'ABORTED',
          'interrupted: a running step did not finish within worker.shutdownGraceMs and was aborted; its slot is redone on the next start',
        );
      if (code !== EXIT.OK) throw new ReviewloopError('INTERNAL', `stopped with errors (exit ${code})`);
    });
}
