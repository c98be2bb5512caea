import { availableParallelism } from 'node:os';
import { deserialize } from 'node:v8';
import { Piscina } from 'piscina';
import { ReviewloopError } from '../../domain/errors.js';
import { compiledModulePath } from '../core/module-path.js';
import type { LabelIssuesChunkInput } from '../../scoring/label-issues/chunk.js';
import type { LabelTaskOutput } from './label-task.js';
import type { ScoreTaskInput, ScoreTaskOutput } from './score-task.js';

/** Options for {@link ScoringPool}. */
export interface ScoringPoolOptions {
  /** Worker threads. Default: `os.availableParallelism()`. */
  threads?: number;
  /** false: the threads score in JS even where the native module was built (same results, slower). Default true. */
  native?: boolean;
  /** The file each thread loads. Default: {@link taskModulePath}; tests pass a stub task. */
  taskModule?: string;
  /**
   * A task not answered this long after it was handed to the pool (queueing included) fails with code
   * TASK_TIMEOUT and its thread is terminated (piscina replaces it). Default: no bound.
   */
  taskTimeoutMs?: number;
}

/** The file each scoring thread loads: a CommonJS entry that imports worker/pool/score-task.js (see score-task-entry.cts for why). */
export function taskModulePath(): string {
  return compiledModulePath('worker/pool/score-task-entry.cjs');
}

export class ScoringPool {
  private piscina: Piscina | null = null;
  private readonly filename: string;
  private closed = false;
  private warmArrow = false;
  private readonly native: boolean;
  readonly threads: number;
  private readonly taskTimeoutMs: number | undefined;

  constructor(options: ScoringPoolOptions = {}) {
    this.threads = options.threads ?? availableParallelism();
    this.native = options.native ?? true;
    this.taskTimeoutMs = options.taskTimeoutMs;
    this.filename = options.taskModule ?? taskModulePath();
  }

  /** Threads start on the first chunk (or {@link start}): a run over Arrow/Parquet only (scored on the main thread) never pays for them. */
  private get pool(): Piscina {
    if (this.closed) throw new ReviewloopError('INTERNAL', 'scoring pool is closed');
    this.piscina ??= new Piscina({
      filename: this.filename,
      name: 'scoreChunk',
      minThreads: this.threads,
      maxThreads: this.threads,
      idleTimeout: 30_000,
      // A small young generation keeps each thread's RSS low; chunk garbage dies young either way.
      resourceLimits: { maxYoungGenerationSizeMb: 8 },
      workerData: { warmArrow: this.warmArrow },
      // The threads read REVIEWLOOP_NATIVE when they load the native module (worker/core/native.ts).
      ...(this.native ? {} : { env: { ...process.env, REVIEWLOOP_NATIVE: '0' } }),
    });
    return this.piscina;
  }

  /**
   * Starts the threads now instead of on the first chunk, so their start-up overlaps the caller's.
   * With `arrow`, each thread also loads the Arrow reader while it waits (~10 ms of module
   * loading that would otherwise be on the first batch's path).
   */
  start(options: { arrow?: boolean } = {}): void {
    if (this.piscina === null) this.warmArrow = options.arrow ?? false;
    void this.pool;
  }

  /**
   * Runs one chunk (its buffer is transferred, not copied), one byte range or one Arrow record batch (the
   * thread reads those). Always settles: a crashed thread, a result that cannot be delivered and (with
   * `taskTimeoutMs`) a task that does not answer come back as `{ ok: false, code }`.
   */
  async score(input: ScoreTaskInput): Promise<ScoreTaskOutput> {
    const c = 'chunk' in input ? input.chunk : undefined;
    const transfer = c !== undefined && c.byteOffset === 0 && c.byteLength === c.buffer.byteLength ? [c.buffer as ArrayBuffer] : [];
    const where = () =>
      'range' in input
        ? `bytes ${input.range.start}…${input.range.end}`
        : 'batches' in input
          ? `record batches ${input.batches.from}…${input.batches.to - 1}`
          : `line ${input.firstLine}`;
    const signal = this.taskTimeoutMs === undefined ? undefined : AbortSignal.timeout(this.taskTimeoutMs);
    let raw: unknown;
    try {
      raw = await this.pool.run(input, {
        transferList: transfer,
        name: input.kind === 'score-arrow' ? 'scoreArrow' : 'scoreChunk',
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (signal?.aborted)
        return { ok: false, code: 'TASK_TIMEOUT', message: `scoring ${input.object} from ${where()} did not finish within ${this.taskTimeoutMs} ms` };
      // A crashed worker (OOM, native fault) surfaces here: name the object and chunk.
      return { ok: false, code: 'SCORING_FAILED', message: `worker thread failed on ${input.object} from ${where()}: ${(err as Error).message}` };
    }
    return decodeResult(raw, () => `${input.object} from ${where()}`);
  }

  /** Runs one chunk of a label-issue pass (worker/pool/label-task.ts); settles like {@link score}. */
  async labelIssues(input: LabelIssuesChunkInput): Promise<LabelTaskOutput> {
    const c = input.chunk;
    const transfer = c.byteOffset === 0 && c.byteLength === c.buffer.byteLength ? [c.buffer as ArrayBuffer] : [];
    const signal = this.taskTimeoutMs === undefined ? undefined : AbortSignal.timeout(this.taskTimeoutMs);
    let raw: unknown;
    try {
      raw = await this.pool.run(input, { transferList: transfer, name: 'labelIssuesChunk', ...(signal ? { signal } : {}) });
    } catch (err) {
      if (signal?.aborted)
        return {
          ok: false,
          code: 'TASK_TIMEOUT',
          message: `label-issue pass on ${input.object} from line ${input.firstLine} did not finish within ${this.taskTimeoutMs} ms`,
        };
      return { ok: false, code: 'SCORING_FAILED', message: `worker thread failed on ${input.object} from line ${input.firstLine}: ${(err as Error).message}` };
    }
    return decodeResult(raw, () => `${input.object} from line ${input.firstLine}`) as LabelTaskOutput;
  }

  /** Fraction of thread time busy since start (0..1), for /metrics. */
  utilization(): number {
    return this.piscina?.utilization ?? 0;
  }

  /**
   * Terminates every thread and lets the next task start fresh ones. Tasks on the old threads
   * resolve as SCORING_FAILED. This is the only way to stop a task that never returns: a thread
   * busy in JavaScript ignores abort signals, but `Worker.terminate` interrupts it (a thread inside
   * native code stops once that call returns to JavaScript).
   */
  async recycle(): Promise<void> {
    const old = this.piscina;
    this.piscina = null;
    await old?.destroy();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.piscina?.destroy();
  }
}

/**
 * A task's answer as the thread sent it: serialized by score-task-entry.cts, or a failure it built itself.
 * One this thread cannot deserialize fails typed (RESULT_UNDELIVERABLE) instead of never settling.
 */
export function decodeResult(raw: unknown, where: () => string): ScoreTaskOutput {
  if (!(raw instanceof Uint8Array)) return raw as ScoreTaskOutput;
  try {
    return deserialize(raw) as ScoreTaskOutput;
  } catch (err) {
    return { ok: false, code: 'RESULT_UNDELIVERABLE', message: `the result for ${where()} could not be delivered: ${(err as Error).message}` };
  }
}
