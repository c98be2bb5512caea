/**
 * A one-line progress bar on stderr for long scoring runs: records, rate and,
 * when the total input size is known, percent and ETA. Draws nothing unless
 * the stream is a TTY, so piped and logged runs stay clean.
 */
import type { WriteStream } from 'node:tty';

/** Options for {@link createProgress}. */
export interface ProgressOptions {
  /** Where to draw. Default `process.stderr`. */
  stream?: NodeJS.WriteStream | WriteStream;
  /** Total input bytes, when every input's size is known and not compressed; enables percent and ETA. */
  totalBytes?: number;
  /** Minimum time between redraws, ms. Default 100. */
  intervalMs?: number;
  /** What the bar says first, e.g. `round 20261101T0200Z: 12 objects`. Default `scoring`. */
  label?: string;
  /** What `update`'s first number counts. Default `records`. */
  unit?: string;
  /** Draw even when the stream is not a TTY (tests). Default false. */
  force?: boolean;
}

export interface Progress {
  update(records: number, bytes: number): void;
  /** Clears the bar (the caller prints its summary after). */
  done(): void;
}

function human(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

function clock(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const ss = String(Math.floor(s % 60)).padStart(2, '0');
  return h > 0 ? `${h}:${String(m % 60).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

const NOOP: Progress = { update() {}, done() {} };

/** Streams with a bar drawn on their last line, and how to clear it. */
const drawnOn = new Map<unknown, () => void>();

/**
 * Clears a bar drawn on `stream`, so a log line starts on a clean line; the
 * bar comes back at its next update. The logger calls it before each line.
 */
export function clearProgress(stream: unknown): void {
  drawnOn.get(stream)?.();
}

export function createProgress(options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  if (!options.force && !stream.isTTY) return NOOP;
  const interval = options.intervalMs ?? 100;
  const total = options.totalBytes;
  const t0 = Date.now();
  let last = 0;
  let drawn = false;
  const clear = () => {
    if (drawn) stream.write('\r\u001b[K');
    drawn = false;
    drawnOn.delete(stream);
  };
  return {
    update(records, bytes) {
      const now = Date.now();
      if (now - last < interval) return;
      last = now;
      const secs = Math.max((now - t0) / 1000, 1e-3);
      let line = `${options.label ?? 'scoring'}: ${human(records)} ${options.unit ?? 'records'}, ${human(records / secs)}/s`;
      if (total !== undefined && total > 0) {
        const frac = Math.min(1, bytes / total);
        const width = 24;
        const fill = Math.round(frac * width);
        const eta = frac > 0 ? (secs / frac) * (1 - frac) : NaN;
        line = `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(frac * 100).toFixed(1).padStart(5)}% ${line}, ${human(bytes)}B of ${human(total)}B, ETA ${clock(eta)}`;
      }
      stream.write(`\r${line}\u001b[K`);
      drawn = true;
      drawnOn.set(stream, clear);
    },
    done: clear,
  };
}
