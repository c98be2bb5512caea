/**
 * Structured logs in the shape Cloud Logging parses from stdout (`severity`,
 * `message`, `time`), human-readable on a TTY. Everything passes through
 * `redact` so credentials and signed URLs never reach a log line.
 */
import { clearProgress } from './progress.js';
export type Severity = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

const SECRET_KEY = /(secret|token|password|private_?key|credential|authorization|signature)/i;
const SIGNED_QUERY = /([?&](?:X-Goog-Signature|X-Goog-Credential|Signature|GoogleAccessId|X-Amz-Signature|access_token|sig)=)[^&\s"']+/gi;
const PEM = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g;
const BEARER = /(Bearer\s+)[A-Za-z0-9._~+/-]+=*/g;

/** Removes signatures, tokens and keys from a string. */
export function redactString(s: string): string {
  return s.replace(SIGNED_QUERY, '$1REDACTED').replace(PEM, '[REDACTED PRIVATE KEY]').replace(BEARER, '$1REDACTED');
}

/** Deep copy with secret-looking keys masked and strings scrubbed. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[…]';
  if (typeof value === 'string') return redactString(value);
  if (value instanceof Error) return { name: value.name, message: redactString(value.message), code: (value as { code?: unknown }).code };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? 'REDACTED' : redact(v, depth + 1);
    return out;
  }
  return value;
}

export interface LoggerOptions {
  /** Where lines go. Default process.stderr for CLI commands (stdout stays for data), stdout for the daemon. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Minimum severity. Default INFO (DEBUG when REVIEWLOOP_DEBUG is set). */
  level?: Severity;
  /** Force JSON or human lines; default: human on a TTY, JSON otherwise. */
  json?: boolean;
}

const ORDER: Record<Severity, number> = { DEBUG: 0, INFO: 1, WARNING: 2, ERROR: 3 };

export function createLogger(options: LoggerOptions = {}, base: Record<string, unknown> = {}): Logger {
  const stream = options.stream ?? process.stderr;
  const level = options.level ?? (process.env.REVIEWLOOP_DEBUG ? 'DEBUG' : 'INFO');
  const json = options.json ?? !stream.isTTY;
  const emit = (severity: Severity, message: string, fields: Record<string, unknown> = {}) => {
    if (ORDER[severity] < ORDER[level]) return;
    const safe = redact({ ...base, ...fields }) as Record<string, unknown>;
    const msg = redactString(message);
    clearProgress(stream);
    if (json) {
      stream.write(`${JSON.stringify({ severity, message: msg, time: new Date().toISOString(), ...safe })}\n`);
    } else {
      const extra = Object.entries(safe)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      stream.write(`${severity === 'INFO' ? '' : `${severity} `}${msg}${extra ? `  ${extra}` : ''}\n`);
    }
  };
  return {
    debug: (m, f) => emit('DEBUG', m, f),
    info: (m, f) => emit('INFO', m, f),
    warn: (m, f) => emit('WARNING', m, f),
    error: (m, f) => emit('ERROR', m, f),
    child: (fields) => createLogger(options, { ...base, ...fields }),
  };
}

/** A logger that drops everything (library use, tests). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};
