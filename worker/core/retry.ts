import { isReviewloopError } from '../../domain/errors.js';

/** Options for {@link withRetry}. */
export interface RetryOptions {
  /** Attempts in total, including the first. Default 6. */
  maxAttempts?: number;
  /** Delay before the first retry, in ms. Default 100. */
  baseDelayMs?: number;
  /** Upper bound for one delay, in ms. Default 5000. */
  maxDelayMs?: number;
  /** Give up once this much time has passed since the first attempt, in ms. Default 60000. */
  budgetMs?: number;
  /** Decides whether an error is worth another attempt. Default: `isRetryable`. */
  retryable?: (err: unknown) => boolean;
  /** Called before each retry; used for the `store_retries_total` metric and logs. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
  /** Injectable for tests: returns a number in [0, 1). Default Math.random. */
  random?: () => number;
}

/** Node and undici codes of a connection that failed or broke: a retry can get through. */
export const TRANSIENT_NET_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** The one place that decides "transient": typed errors say so themselves; raw HTTP/network errors by status or errno. */
export function isRetryable(err: unknown): boolean {
  if (isReviewloopError(err)) return err.retryable;
  const e = err as { code?: unknown; status?: unknown; statusCode?: unknown; name?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  const status = Number(e.code ?? e.status ?? e.statusCode);
  if (status === 408 || status === 429 || (status >= 500 && status < 600)) return true;
  if (typeof e.code === 'string' && TRANSIENT_NET_CODES.has(e.code)) return true;
  return e.name === 'FetchError';
}

/** Capped exponential backoff with full jitter: delay = random(0, min(cap, base * 2^n)). */
export function backoffDelayMs(attempt: number, baseDelayMs: number, maxDelayMs: number, random: () => number): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

/**
 * Runs `fn` until it succeeds, a permanent error occurs, or the attempt/time
 * budget is spent. Only idempotent or precondition-guarded calls belong here.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 6;
  const baseDelayMs = options.baseDelayMs ?? 100;
  const maxDelayMs = options.maxDelayMs ?? 5000;
  const budgetMs = options.budgetMs ?? 60_000;
  const retryable = options.retryable ?? isRetryable;
  const random = options.random ?? Math.random;
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const last = attempt + 1 >= maxAttempts || Date.now() - started >= budgetMs;
      if (last || !retryable(err) || options.signal?.aborted) throw err;
      const delayMs = backoffDelayMs(attempt, baseDelayMs, maxDelayMs, random);
      options.onRetry?.(err, attempt + 1, delayMs);
      await sleep(delayMs, options.signal);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
