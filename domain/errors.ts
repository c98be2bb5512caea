import { ConfigError } from '../config/error.js';

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
  /** The file system under a local root (or an output file) is mounted read-only. */
  | 'STORE_READ_ONLY'
  /** No space (or quota) left where a local root (or an output file) lives. */
  | 'STORE_FULL'
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

/** True for reviewloop's errors, config/'s ConfigError included (it has the same shape and code CONFIG_INVALID). */
export function isReviewloopError(err: unknown, code?: ErrorCode): err is ReviewloopError {
  return (err instanceof ReviewloopError || err instanceof ConfigError) && (code === undefined || err.code === code);
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
    case 'STORE_READ_ONLY':
    case 'STORE_FULL':
      return EXIT.STORE_UNREACHABLE;
    case 'ABORTED':
      return EXIT.INTERRUPTED;
    default:
      return EXIT.FAILED;
  }
}

/** Errnos a retry can outlast (another process holds the file, too many open files for a moment). */
const RETRYABLE_ERRNO = new Set(['EBUSY', 'EAGAIN', 'EMFILE', 'ENFILE', 'EINTR']);

/** The errno string of a Node.js file-system error (`ENOSPC`), or undefined. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/**
 * A file-system error as a typed one: `subject` names what was being read or
 * written (an object name, a path). Null when `err` carries no errno.
 * Read-only and full file systems, permissions and over-long names are
 * things the operator fixes, so none of them is an internal error.
 */
export function fsError(err: unknown, subject: string): ReviewloopError | null {
  if (isReviewloopError(err)) return err;
  const code = errnoOf(err);
  if (code === undefined) return null;
  const o = { cause: err, details: { path: subject, errno: code } };
  switch (code) {
    case 'EROFS':
      return new ReviewloopError('STORE_READ_ONLY', `${subject}: read-only file system`, o);
    case 'ENOSPC':
    case 'EDQUOT':
      return new ReviewloopError('STORE_FULL', `${subject}: no space left on device${code === 'EDQUOT' ? ' (quota)' : ''}`, o);
    case 'EACCES':
    case 'EPERM':
      return new ReviewloopError('STORE_UNAVAILABLE', `${subject}: permission denied`, o);
    case 'ENAMETOOLONG':
      return new ReviewloopError('PATH_INVALID', `${subject}: name too long for the file system (a path segment is over 255 bytes?)`, o);
    case 'ENOENT':
      return new ReviewloopError('NOT_FOUND', `${subject}: no such file or folder`, o);
    case 'ENOTDIR':
      return new ReviewloopError('PATH_INVALID', `${subject}: a part of the path is a file, not a folder`, o);
    case 'EISDIR':
      return new ReviewloopError('PATH_INVALID', `${subject}: is a folder, not a file`, o);
    case 'EEXIST':
      return new ReviewloopError('PATH_INVALID', `${subject}: a file is in the way of a folder`, o);
    default:
      return new ReviewloopError('STORE_UNAVAILABLE', `${subject}: I/O failed (${code})`, { ...o, retryable: RETRYABLE_ERRNO.has(code) });
  }
}
