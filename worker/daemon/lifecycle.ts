/**
 * The one owner of process lifecycle for `reviewloop run`. SIGTERM/SIGINT:
 * stop scheduling, give the running step `graceMs` to finish, close
 * everything, exit 0. Past the grace period the step is aborted through
 * `signal` (outputs are create-only and a round's manifest is written last,
 * so an aborted step is simply not visible) and the exit code is
 * EXIT.INTERRUPTED. A second signal exits at once. SIGHUP reloads config.
 */
import type { EventEmitter } from 'node:events';
import { EXIT, isReviewloopError } from '../../domain/errors.js';
import type { Logger } from '../core/log.js';

/** Options for {@link Lifecycle}. */
export interface LifecycleOptions {
  logger: Logger;
  /** Time the running step gets after the first signal, in ms; read when the signal arrives (SIGHUP may change it). */
  graceMs: () => number;
  /** Stops new ticks; called once, first thing on shutdown. */
  stopScheduling: () => void | Promise<void>;
  /** Resolves when no step is running. */
  idle: () => Promise<void>;
  /** Closes the HTTP server, pool and clients. Called exactly once. */
  close: () => Promise<void>;
  /** SIGHUP handler: reload config, keeping the old one when the new one is invalid (then it says `invalid`). */
  reload?: () => Promise<ReloadResult | undefined>;
  /** How long an aborted step may take to unwind before clients are closed under it, in ms. Default 3000. */
  abortSettleMs?: number;
  /** Signal source; default `process`. Injectable for tests. */
  signals?: EventEmitter;
  /** Immediate exit on a second signal; default `process.exit`. */
  forceExit?: (code: number) => void;
  /**
   * After `done`, exit anyway if something still holds the event loop this
   * long, in ms (an unref'd timer, so it never delays a clean exit). Default: off.
   */
  exitFallbackMs?: number;
  /** Every reload and each phase of a shutdown, in order (tests, and anything that must react without polling). */
  onEvent?: (event: LifecycleEvent) => void;
}

/** How a reload ended: `invalid` keeps the running config; `failed` is an error the handler did not expect. */
export type ReloadResult = 'ok' | 'invalid';

/** What the lifecycle did, as {@link LifecycleOptions.onEvent} reports it. */
export type LifecycleEvent =
  | { type: 'reloaded'; result: ReloadResult }
  | { type: 'reloaded'; result: 'failed'; code: string }
  | { type: 'draining'; reason: string; graceMs: number }
  | { type: 'aborting' }
  | { type: 'stopped'; code: number };

const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

function delay(ms: number): { promise: Promise<'timeout'>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

export class Lifecycle {
  private readonly controller = new AbortController();
  private readonly signals: EventEmitter;
  private readonly handlers = new Map<string, () => void>();
  private stopping: Promise<number> | null = null;
  private closing: Promise<void> | null = null;
  private resolveDone!: (code: number) => void;
  /** Resolves with the exit code once everything is closed. */
  readonly done: Promise<number>;

  constructor(private readonly options: LifecycleOptions) {
    this.signals = options.signals ?? process;
    this.done = new Promise<number>((resolve) => {
      this.resolveDone = resolve;
    });
  }

  /** Aborted when a step outlives the grace period; pass it to runRound/scoreSources. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** True once shutdown began: schedulers must not start new steps. */
  get shuttingDown(): boolean {
    return this.stopping !== null;
  }

  install(): this {
    for (const sig of STOP_SIGNALS) this.on(sig, () => this.onStopSignal(sig));
    this.on('SIGHUP', () => {
      if (this.stopping || !this.options.reload) return;
      this.options.logger.info('SIGHUP: reloading config');
      this.options.reload().then(
        (result) => this.emit({ type: 'reloaded', result: result ?? 'ok' }),
        (err: unknown) => {
          this.options.logger.error(`config reload failed: ${(err as Error).message}`);
          this.emit({ type: 'reloaded', result: 'failed', code: isReviewloopError(err) ? err.code : 'INTERNAL' });
        },
      );
    });
    return this;
  }

  /**
   * Drains and closes; idempotent (later calls return the first call's code).
   * `reason` is logged; the grace period applies as for a signal.
   * `exitCode` is what the exit fallback exits with when draining went well:
   * the caller's own verdict (a failed `--once` job), which must survive a
   * job left behind that holds the event loop.
   */
  shutdown(reason: string, options: { exitCode?: number } = {}): Promise<number> {
    this.stopping ??= this.drain(reason, options.exitCode);
    return this.stopping;
  }

  /** Closes without draining (startup failures); idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const [sig, fn] of this.handlers) this.signals.off(sig, fn);
      this.handlers.clear();
      await this.options.close();
    })();
    return this.closing;
  }

  private emit(event: LifecycleEvent): void {
    this.options.onEvent?.(event);
  }

  private exit(code: number): void {
    (this.options.forceExit ?? ((c: number) => process.exit(c)))(code);
  }

  private on(sig: string, fn: () => void): void {
    this.handlers.set(sig, fn);
    this.signals.on(sig, fn);
  }

  private onStopSignal(sig: string): void {
    if (this.stopping) {
      this.options.logger.warn(`${sig} again: exiting now`);
      this.exit(EXIT.INTERRUPTED);
      return;
    }
    void this.shutdown(sig);
  }

  private async drain(reason: string, callerCode?: number): Promise<number> {
    const log = this.options.logger;
    const graceMs = this.options.graceMs();
    log.info(`${reason}: stopping scheduling; running steps get ${graceMs} ms to finish`);
    this.emit({ type: 'draining', reason, graceMs });
    let code: number = EXIT.OK;
    try {
      await this.options.stopScheduling();
      const grace = delay(graceMs);
      const first = await Promise.race([this.options.idle().then(() => 'idle' as const), grace.promise]);
      grace.cancel();
      if (first === 'timeout') {
        code = EXIT.INTERRUPTED;
        log.warn(`grace period of ${graceMs} ms over: aborting the running step (its outputs stay invisible; the slot is redone on the next start)`);
        this.emit({ type: 'aborting' });
        this.controller.abort();
        const settle = delay(this.options.abortSettleMs ?? 3000);
        await Promise.race([this.options.idle(), settle.promise]);
        settle.cancel();
      }
    } catch (err) {
      log.error(`error while stopping: ${(err as Error).message}`);
      code = EXIT.FAILED;
    }
    try {
      await this.close();
    } catch (err) {
      log.error(`error while closing: ${(err as Error).message}`);
      if (code === EXIT.OK) code = EXIT.FAILED;
    }
    log.info(`stopped (exit ${code})`);
    if (this.options.exitFallbackMs !== undefined) {
      const final = code === EXIT.OK ? (callerCode ?? code) : code;
      setTimeout(() => this.exit(final), this.options.exitFallbackMs).unref();
    }
    this.emit({ type: 'stopped', code });
    this.resolveDone(code);
    return code;
  }
}
