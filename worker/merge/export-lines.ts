/**
 * Reads a Prodigy export (JSONL, optionally gzip) as a stream of lines, so an
 * export of any size up to the documented 2 GiB is read in constant memory
 * per line: one string per line, never one string per file (V8 strings end
 * near 512 MiB).
 *
 * Failures of the bytes themselves (not gzip after all, truncated, too large)
 * raise INPUT_INVALID with `details.unreadable: true`: the caller quarantines
 * the object. Storage failures keep their own codes and are retried or fail
 * the run, never quarantine an object that is fine.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ReviewloopError } from '../../domain/errors.js';

/** Largest export accepted, in decompressed bytes: 2 GiB, as the docs promise. */
export const MAX_EXPORT_BYTES = 2 * 1024 * 1024 * 1024;
/** Longest export line, in bytes: a task with an inlined base64 image fits; a longer line is rejected alone. */
export const MAX_EXPORT_LINE_BYTES = 64 * 1024 * 1024;

export type ExportLine = { line: number; text: string } | { line: number; text: null; reason: string };

export interface ExportLineOptions {
  maxBytes?: number;
  maxLineBytes?: number;
}

export function unreadable(what: string, reason: string, cause?: unknown): ReviewloopError {
  return new ReviewloopError('INPUT_INVALID', `${what}: ${reason}`, { cause, details: { unreadable: true, reason } });
}

export function isUnreadable(err: unknown): err is ReviewloopError {
  return err instanceof ReviewloopError && err.code === 'INPUT_INVALID' && err.details.unreadable === true;
}

/** The decompressed bytes: gzip is recognised by its magic bytes, whatever the name says. */
async function* decoded(raw: AsyncIterable<Buffer>, what: string): AsyncGenerator<Buffer> {
  const it = raw[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headLen = 0;
  while (headLen < 2) {
    const n = await it.next();
    if (n.done) break;
    head.push(n.value);
    headLen += n.value.length;
  }
  const first = Buffer.concat(head);
  const gz = first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b;
  const rest = async function* (): AsyncGenerator<Buffer> {
    if (first.length > 0) yield first;
    for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
  };
  if (!gz) {
    yield* rest();
    return;
  }
  const src = Readable.from(rest(), { objectMode: false });
  const gunzip = createGunzip();
  // A storage error on the way in ends the gunzip stream with that error, unchanged.
  let sourceError: unknown = null;
  src.on('error', (err) => {
    sourceError = err;
    gunzip.destroy(err);
  });
  src.pipe(gunzip);
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (err) {
    if (sourceError !== null) throw sourceError;
    throw unreadable(what, `cannot decompress: ${(err as Error).message}`, err);
  } finally {
    src.destroy();
  }
}

/**
 * Every line of the export with its 1-based number; blank lines are skipped.
 * A line longer than `maxLineBytes` or not UTF-8 comes back with a reason instead of text.
 */
export async function* exportLines(raw: AsyncIterable<Buffer>, what: string, opts: ExportLineOptions = {}): AsyncGenerator<ExportLine> {
  const maxBytes = opts.maxBytes ?? MAX_EXPORT_BYTES;
  const maxLine = opts.maxLineBytes ?? MAX_EXPORT_LINE_BYTES;
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let total = 0;
  let lineNo = 0;
  let parts: Buffer[] = [];
  let partLen = 0;
  let tooLong = false;
  const finish = (): ExportLine | null => {
    lineNo++;
    const buf = parts.length === 1 ? parts[0] : Buffer.concat(parts, partLen);
    const wasLong = tooLong;
    parts = [];
    partLen = 0;
    tooLong = false;
    if (wasLong) return { line: lineNo, text: null, reason: `line longer than ${maxLine} bytes` };
    const end = buf.length > 0 && buf[buf.length - 1] === 0x0d ? buf.length - 1 : buf.length;
    let text: string;
    try {
      text = utf8.decode(buf.subarray(0, end));
    } catch {
      return { line: lineNo, text: null, reason: 'not UTF-8 text' };
    }
    return text.trim() === '' ? null : { line: lineNo, text };
  };
  for await (const chunk of decoded(raw, what)) {
    total += chunk.length;
    if (total > maxBytes) throw unreadable(what, `larger than ${maxBytes} bytes decompressed`);
    let from = 0;
    while (from < chunk.length) {
      const nl = chunk.indexOf(0x0a, from);
      const end = nl === -1 ? chunk.length : nl;
      if (!tooLong) {
        if (partLen + (end - from) > maxLine) {
          tooLong = true;
          parts = [];
          partLen = 0;
        } else if (end > from) {
          parts.push(chunk.subarray(from, end));
          partLen += end - from;
        }
      }
      if (nl === -1) break;
      const l = finish();
      if (l) yield l;
      from = nl + 1;
    }
  }
  if (partLen > 0 || tooLong) {
    const l = finish();
    if (l) yield l;
  }
}
