import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import picomatch from 'picomatch';
import { ReviewloopError } from './errors.js';

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
}

/**
 * Gunzips when the name says .gz or the bytes start with the gzip magic.
 * Output is bounded by a ratio to the input so a bomb fails with a clear
 * error instead of spinning for hours.
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
  let inBytes = 0;
  const compressed = Readable.from((async function* () {
    inBytes += head.length;
    yield head;
    for (let n = await it.next(); !n.done; n = await it.next()) {
      inBytes += n.value.length;
      yield n.value;
    }
  })());
  const gunzip = createGunzip();
  compressed.on('error', (e) => gunzip.destroy(e));
  compressed.pipe(gunzip);
  let outBytes = 0;
  try {
    for await (const out of gunzip as AsyncIterable<Buffer>) {
      outBytes += out.length;
      if (outBytes > graceBytes && outBytes > inBytes * maxRatio) {
        throw new ReviewloopError('INPUT_INVALID', `${name}: decompressed size exceeds ${maxRatio}x the compressed size (gzip bomb?)`, { details: { object: name } });
      }
      yield out;
    }
  } catch (err) {
    if (err instanceof ReviewloopError) throw err;
    throw new ReviewloopError('INPUT_INVALID', `${name}: invalid gzip data: ${(err as Error).message}`, { cause: err, details: { object: name } });
  } finally {
    compressed.destroy();
    gunzip.destroy();
  }
}
