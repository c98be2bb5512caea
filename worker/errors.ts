/**
 * Every error reviewloop raises carries a stable string `code` and says whether
 * a retry can help. Callers branch on `code`, never on message text or class.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'CONFLICT'
  | 'PATH_INVALID'
  | 'STORE_UNAVAILABLE'
  | 'TRANSIENT'
  | 'INPUT_INVALID'
  | 'REJECT_RATIO_EXCEEDED'
  | 'SCORING_FAILED'
  | 'SHARDS_MISSING'
  | 'LEASE_HELD'
  | 'STATS_FAILED'
  | 'ABORTED'
  | 'JOB_TIMEOUT'
  | 'INTERNAL';

export interface ReviewloopErrorOptions {
  /** True when the same call may succeed if repeated (network blips, 429, 5xx). Default false. */
  retryable?: boolean;
  cause?: unknown;
  /** Extra structured context for logs (object name, line, field). Never secrets. */
  details?: Record<string, unknown>;
}

export class ReviewloopError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: ReviewloopErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ReviewloopError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}

export function isReviewloopError(err: unknown, code?: ErrorCode): err is ReviewloopError {
  return err instanceof ReviewloopError && (code === undefined || err.code === code);
}

/** Process exit codes, documented in the README. */
export const EXIT = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  CONFIG: 78,
  STORE_UNREACHABLE: 69,
  INTERRUPTED: 130,
  INTERNAL: 70,
} as const;

export function exitCodeFor(err: unknown): number {
  if (!isReviewloopError(err)) return EXIT.INTERNAL;
  switch (err.code) {
    case 'CONFIG_INVALID':
      return EXIT.CONFIG;
    case 'STORE_UNAVAILABLE':
      return EXIT.STORE_UNREACHABLE;
    case 'ABORTED':
      return EXIT.INTERRUPTED;
    default:
      return EXIT.FAILED;
  }
}
