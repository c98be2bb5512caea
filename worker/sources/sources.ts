import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import picomatch from 'picomatch';
import { ReviewloopError } from '../../domain/errors.js';

export type SourceFormat = 'jsonl' | 'arrow' | 'parquet';

/** One input to score: a store object, a local file or stdin. */
export interface Source {
  /** URI used in rejects and `meta.source` (gs://…, file path, or `-`). */
  uri: string;
  /** Short name used in chunk errors; the object name for store objects. */
  name: string;
  size?: number;
  /** Local file path, when there is one: columnar readers then seek instead of buffering, JSONL is read in byte ranges. */
  path?: string;
  /** The version of `path` a round pinned (its mtime in ns): range readers check it, as the store would. */
  generation?: string;
  open(): Readable;
}

/** Format from the name; content sniffing happens per line (native vs Vertex AI). */
export function formatOf(name: string, override?: string): SourceFormat {
  if (override === 'arrow' || override === 'parquet') return override;
  const n = name.toLowerCase().replace(/\.gz$/, '');
  if (n.endsWith('.arrow') || n.endsWith('.feather') || n.endsWith('.ipc') || n.endsWith('.arrows')) return 'arrow';
  if (n.endsWith('.parquet')) return 'parquet';
  return 'jsonl';
}

export function isGzipName(name: string): boolean {
  return name.toLowerCase().endsWith('.gz');
}

/**
 * Error reports Vertex AI batch prediction writes beside its results:
 * `prediction.errors_stats-00000-of-00001` (one line per failed instance and
 * a summary) and the documented `errors_0001.jsonl` form. They hold
 * `google.rpc.Status` records, not predictions.
 */
export function isVertexErrorsFile(base: string): boolean {
  return /(^|\.)errors_stats-/i.test(base) || /^errors_\d+\./i.test(base);
}

/** Objects under predictions/ that are data, not markers written by pipelines (`_SUCCESS`, `.tmp`, folders) nor Vertex error reports. */
export function isDataObject(name: string): boolean {
  const base = name.slice(name.lastIndexOf('/') + 1);
  if (base.length === 0 || base.startsWith('_') || base.startsWith('.')) return false;
  if (isVertexErrorsFile(base)) return false;
  return /\.(jsonl|ndjson|json|txt|arrow|feather|ipc|arrows|parquet)(\.gz)?$/i.test(base) || /prediction/i.test(base);
}

/**
 * Which names under `prefix` a prediction round reads: with `include` (globs
 * over the name below the prefix), exactly the matches, markers aside; else
 * {@link isDataObject}.
 */
export function predictionObjectFilter(prefix: string, include: string | string[] | undefined): (name: string) => boolean {
  if (include === undefined) return isDataObject;
  const match = picomatch(include, { dot: false });
  return (name) => {
    const base = name.slice(name.lastIndexOf('/') + 1);
    if (base.length === 0 || base.startsWith('_') || base.startsWith('.')) return false;
    return match(name.startsWith(prefix) ? name.slice(prefix.length).replace(/^\/+/, '') : name);
  };
}

/** Options for {@link decompressed}. */
export interface DecompressOptions {
  /** Abort an object whose output exceeds this many bytes per compressed byte (gzip bombs). Default 1000. */
  maxRatio?: number;
  /** Ratio checks start after this many output bytes. Default 64 MiB. */
  graceBytes?: number;
  /**
   * The object's stored size in bytes, when known (a store listing). The ratio is then taken against it,
   * so where a bomb is stopped depends on the object's bytes only; otherwise against the bytes fed so far.
   */
  compressedBytes?: number;
}

/** What made an object unreadable: the `code` of its quarantine line (worker/pool/score-run.ts). */
export type UnreadableCode = 'GZIP_TRUNCATED' | 'GZIP_INVALID' | 'GZIP_RATIO_EXCEEDED';

/**
 * Compressed bytes go into gunzip in pieces of exactly this size (the last one shorter), each written only
 * after the previous one was processed. Invariant: what gunzip outputs before a failure (a truncation, trailing
 * junk, a bad checksum) is then a function of the object's bytes alone, not of how the network or the disk
 * delivered them, so a rerun of a round keeps exactly the same records from a broken object.
 */
const FEED_BYTES = 64 * 1024;

/** Re-cuts a byte stream into FEED_BYTES pieces. */
async function* fixedPieces(first: Uint8Array, rest: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  let held: Uint8Array[] = [];
  let size = 0;
  for (let v: Uint8Array | undefined = first; v !== undefined; ) {
    held.push(v);
    size += v.length;
    if (size >= FEED_BYTES) {
      const all = Buffer.concat(held, size);
      let at = 0;
      for (; size - at >= FEED_BYTES; at += FEED_BYTES) yield all.subarray(at, at + FEED_BYTES);
      held = at < size ? [all.subarray(at)] : [];
      size -= at;
    }
    const n = await rest.next();
    v = n.done ? undefined : n.value;
  }
  if (size > 0) yield Buffer.concat(held, size);
}

function unreadable(name: string, code: UnreadableCode, message: string, cause?: unknown): ReviewloopError {
  return new ReviewloopError('INPUT_INVALID', `${name}: ${message}`, { cause, details: { object: name, unreadable: code } });
}

/**
 * Gunzips when the name says .gz or the bytes start with the gzip magic.
 * Output is bounded by a ratio to the input so a bomb fails with a clear
 * error instead of spinning for hours. A truncated member, trailing bytes that
 * are not another member, or a bad checksum fail with INPUT_INVALID whose
 * `details.unreadable` names the case, after the output decoded before it.
 */
export async function* decompressed(stream: AsyncIterable<Uint8Array>, name: string, options: DecompressOptions = {}): AsyncGenerator<Uint8Array> {
  const maxRatio = options.maxRatio ?? 1000;
  const graceBytes = options.graceBytes ?? 64 * 1024 * 1024;
  const it = stream[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return;
  const head = first.value;
  const gz = isGzipName(name) || (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b);
  if (!gz) {
    yield head;
    for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
    return;
  }
  const gunzip = createGunzip();
  let fed = 0;
  let sourceError: unknown;
  const closed = new Promise<void>((resolve) => gunzip.once('close', resolve));
  gunzip.on('error', () => {
    /* read by the loop below */
  });
  const feed = (async () => {
    try {
      for await (const piece of fixedPieces(head, it)) {
        fed += piece.length;
        const written = new Promise<void>((resolve) => gunzip.write(piece, () => resolve()));
        await Promise.race([written, closed]);
        if (gunzip.destroyed) return;
      }
      gunzip.end();
    } catch (err) {
      // The store's own failure (network, a replaced generation) keeps its code.
      sourceError = err;
      gunzip.destroy(err as Error);
    }
  })();
  let outBytes = 0;
  try {
    for await (const out of gunzip as AsyncIterable<Buffer>) {
      outBytes += out.length;
      if (outBytes > graceBytes && outBytes > (options.compressedBytes ?? fed) * maxRatio) {
        throw unreadable(name, 'GZIP_RATIO_EXCEEDED', `decompressed size exceeds ${maxRatio}x the compressed size (gzip bomb?)`);
      }
      yield out;
    }
  } catch (err) {
    if (err instanceof ReviewloopError) throw err;
    if (sourceError !== undefined && err === sourceError) throw err;
    const zerr = err as Error & { code?: string };
    if (zerr.code === 'Z_BUF_ERROR') throw unreadable(name, 'GZIP_TRUNCATED', `gzip data is truncated (${zerr.message})`, err);
    throw unreadable(name, 'GZIP_INVALID', `invalid gzip data: ${zerr.message}`, err);
  } finally {
    gunzip.destroy();
    // Stops the store's stream when reading ended early (a bomb, a consumer that broke off).
    void Promise.resolve(it.return?.()).catch(() => undefined);
    void feed;
  }
}
