/**
 * The first bytes of a media file named by a prediction (`gs://bucket/x.jpg`,
 * `file:///x.jpg` or an absolute path), wherever it lives: Vertex AI batch
 * output names images in any bucket, not only under the storage root. One
 * ranged read per call; no caching, no listing.
 *
 * Failures are typed so the caller can tell "this image will never be
 * readable" (NOT_FOUND, PATH_INVALID, INPUT_INVALID: reject the record) from
 * "not now" (network, 5xx, 403, EACCES: try the record again next round).
 */
import { open } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ReviewloopError } from '../../domain/errors.js';
import { parseGcsUri } from '../store/gcs-store.js';
import type { ObjectStore } from '../store/store.js';

/** Reads bytes `[0, bytes)` of `uri` (fewer when the file is shorter). Throws a ReviewloopError. */
export type MediaHeadReader = (uri: string, bytes: number) => Promise<Buffer>;

export interface MediaReaderOptions {
  /** The store for `gs://bucket` (the root's client and endpoint); undefined when no GCS is configured. */
  bucketStore?: (bucket: string) => ObjectStore;
  /** A store whose own URIs are read through it (the project store: local roots, tests with one store). */
  store?: ObjectStore;
  /**
   * Read `file://` URIs and absolute paths outside `store`. Only for local
   * roots: with a gs:// root, predictions naming files on the worker's disk
   * would let whoever writes predictions probe that disk through rejects.
   */
  localFiles: boolean;
}

/** Builds a {@link MediaHeadReader}; see the file comment for what it reads. */
export function mediaHeadReader(opts: MediaReaderOptions): MediaHeadReader {
  const base = opts.store ? opts.store.uri('x').slice(0, -1) : undefined;
  const buckets = new Map<string, ObjectStore>();
  return async (uri, bytes) => {
    if (opts.store && base !== undefined && uri.startsWith(base) && uri.length > base.length) {
      let name = uri.slice(base.length);
      if (base.startsWith('file:')) name = decodeURIComponent(name);
      return readHead(opts.store, name, bytes);
    }
    if (uri.startsWith('gs://')) {
      const { bucket, prefix } = parseMediaUri(uri);
      if (!opts.bucketStore) throw new ReviewloopError('STORE_UNAVAILABLE', `${uri}: no Cloud Storage client is configured to read it`, { details: { uri } });
      let store = buckets.get(bucket);
      if (!store) buckets.set(bucket, (store = opts.bucketStore(bucket)));
      return readHead(store, prefix, bytes);
    }
    if (uri.startsWith('file://') || path.isAbsolute(uri)) {
      if (!opts.localFiles) throw new ReviewloopError('PATH_INVALID', `${uri}: local media is read only with a local storage root`, { details: { uri } });
      return readLocalHead(uri, bytes);
    }
    throw new ReviewloopError('PATH_INVALID', `${uri}: image sizes are read from gs://, file:// or absolute paths only`, { details: { uri } });
  };
}

function parseMediaUri(uri: string): { bucket: string; prefix: string } {
  let parsed: ReturnType<typeof parseGcsUri>;
  try {
    parsed = parseGcsUri(uri);
  } catch (err) {
    throw new ReviewloopError('PATH_INVALID', `${uri}: not a valid gs://bucket/object URI`, { cause: err, details: { uri } });
  }
  // parseGcsUri gives a folder-style prefix; the object name is that prefix without its trailing slash.
  const name = parsed.prefix.replace(/\/$/, '');
  if (name === '' || uri.endsWith('/')) throw new ReviewloopError('PATH_INVALID', `${uri}: names a bucket or folder, not an image`, { details: { uri } });
  return { bucket: parsed.bucket, prefix: name };
}

async function readHead(store: ObjectStore, name: string, bytes: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const b of store.readStream(name, { range: { start: 0, end: bytes - 1 } })) {
    parts.push(b as Buffer);
    size += (b as Buffer).length;
    // Stores that ignore the range (none in worker/store/ does) still stop at the header.
    if (size >= bytes) break;
  }
  return Buffer.concat(parts).subarray(0, bytes);
}

const PERMANENT_FS = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'ELOOP']);

async function readLocalHead(uri: string, bytes: number): Promise<Buffer> {
  let file: string;
  try {
    file = uri.startsWith('file://') ? fileURLToPath(uri) : uri;
  } catch (err) {
    throw new ReviewloopError('PATH_INVALID', `${uri}: not a valid file:// URL`, { cause: err, details: { uri } });
  }
  let fh: import('node:fs/promises').FileHandle | undefined;
  try {
    fh = await open(file, 'r');
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (PERMANENT_FS.has(code))
      throw new ReviewloopError('NOT_FOUND', `${uri}: ${code === 'EISDIR' ? 'is a directory' : 'no such file'}`, { cause: err, details: { uri, errno: code } });
    throw new ReviewloopError('STORE_UNAVAILABLE', `${uri}: cannot be read (${code || (err as Error).message})`, {
      retryable: true,
      cause: err,
      details: { uri, errno: code },
    });
  } finally {
    await fh?.close();
  }
}
