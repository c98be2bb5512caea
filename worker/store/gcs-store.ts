import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Bucket, File, FileMetadata, Storage } from '@google-cloud/storage';
import { loadStorage } from '../core/lazy-deps.js';
import { ReviewloopError } from '../../domain/errors.js';
import { TRANSIENT_NET_CODES, backoffDelayMs, withRetry, type RetryOptions } from '../core/retry.js';
import {
  alreadyExists,
  conflict,
  notFound,
  validateObjectName,
  type ListOptions,
  type ObjectInfo,
  type ObjectStore,
  type ReadRange,
  type WriteOptions,
} from './store.js';

/** Options for {@link GcsStore}. */
export interface GcsStoreOptions {
  /**
   * API endpoint without `/storage/v1`, e.g. `http://127.0.0.1:4443` for
   * fake-gcs-server. Unset = Google. With an endpoint and
   * `useAuthWithCustomEndpoint` false, requests carry no credentials and a
   * dummy service account stands in, so nothing asks a metadata server.
   */
  apiEndpoint?: string | null;
  /** Project for the client. Default: from ADC, or `reviewloop-local` with a custom endpoint. */
  projectId?: string;
  /** Authenticate against a custom endpoint (Private Service Connect). Default false (emulator). */
  useAuthWithCustomEndpoint?: boolean;
  /** A ready client (tests, shared pools). Its own retries should be off: this store retries. */
  storage?: Storage;
  /** Backoff for every call; see {@link RetryOptions}. Default: the helper's defaults. */
  retry?: Omit<RetryOptions, 'onRetry'>;
  /** Called before each retry (metrics: `store_retries_total{op}`). */
  onRetry?: (err: unknown, attempt: number, delayMs: number, op: string) => void;
  /** Bodies larger than this go up as a resumable upload, in bytes. Default 8 MiB. */
  resumableThresholdBytes?: number;
}

/** Parses `gs://bucket/prefix` into a bucket and a prefix that is empty or ends with `/`. */
export function parseGcsUri(uri: string): { bucket: string; prefix: string } {
  const m = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])(?:\/(.*))?$/.exec(uri);
  if (!m) throw new ReviewloopError('CONFIG_INVALID', `not a gs://bucket[/prefix] URI: ${JSON.stringify(uri)}`);
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix !== '') validateObjectName(prefix);
  return { bucket: m[1], prefix: prefix === '' ? '' : `${prefix}/` };
}

/**
 * An {@link ObjectStore} on Cloud Storage. Names are relative to the root's prefix.
 *
 * Retries: the client's own retry is off; every call goes through
 * {@link withRetry}, and every write carries `ifGenerationMatch` (an
 * unguarded write uses the generation it just saw), so a repeated request can
 * neither duplicate nor clobber. When a write's response is lost and the
 * repeat fails its precondition (412), the first attempt may well have
 * landed: if the live object then holds exactly our bytes (md5 and size),
 * the write counts as done. Only after such an ambiguous failure, never on a
 * first attempt, so concurrent create-only writers still see ALREADY_EXISTS.
 * Callers that must know *who* won (leases) write distinguishing content.
 */
export class GcsStore implements ObjectStore {
  readonly root: string;
  private readonly bucket: Bucket;
  private readonly prefix: string;
  private readonly options: GcsStoreOptions;

  constructor(root: string, options: GcsStoreOptions = {}) {
    const { bucket, prefix } = parseGcsUri(root);
    this.root = `gs://${bucket}${prefix === '' ? '' : `/${prefix.slice(0, -1)}`}`;
    this.prefix = prefix;
    this.options = options;
    this.bucket = (options.storage ?? makeClient(options)).bucket(bucket);
  }

  uri(name: string): string {
    return `gs://${this.bucket.name}/${this.full(name)}`;
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    if (prefix !== '') validateObjectName(prefix.replace(/\/+$/, '') || 'x');
    const maxResults = options.pageSize ?? 1000;
    const startOffset = options.startOffset === undefined ? undefined : this.prefix + options.startOffset;
    let pageToken: string | undefined;
    do {
      const token = pageToken;
      const [files, , resp] = await this.retry(
        'list',
        () => this.bucket.getFiles({ prefix: this.prefix + prefix, startOffset, autoPaginate: false, maxResults, pageToken: token }),
        prefix,
      ).catch((err: unknown) => {
        // Listing a prefix never 404s in a bucket that exists: the bucket itself is missing.
        if (err instanceof ReviewloopError && err.code === 'NOT_FOUND') {
          throw new ReviewloopError('CONFIG_INVALID', `bucket gs://${this.bucket.name} does not exist (listing ${this.where(prefix)})`, {
            cause: err,
            details: { bucket: this.bucket.name },
          });
        }
        throw err;
      });
      for (const f of files) yield this.toInfo(f.metadata);
      pageToken = (resp as { nextPageToken?: string } | undefined)?.nextPageToken || undefined;
    } while (pageToken);
  }

  async stat(name: string): Promise<ObjectInfo | null> {
    const meta = await this.statRaw(name);
    return meta ? this.toInfo(meta) : null;
  }

  async read(name: string, options: { generation?: string } = {}): Promise<Buffer> {
    const file = this.file(name, options.generation);
    const [buf] = await this.retry('read', () => file.download(), name);
    return buf;
  }

  readStream(name: string, options: { range?: ReadRange; generation?: string } = {}): Readable {
    const out = new PassThrough();
    let file: File;
    try {
      file = this.file(name, options.generation);
    } catch (err) {
      process.nextTick(() => out.destroy(err as Error));
      return out;
    }
    const range = options.range;
    const retry = this.options.retry ?? {};
    const started = Date.now();
    // Until the first byte arrives a failed request is repeated like any other call (one 429 must not
    // fail a round); a mid-stream failure cannot be retried transparently: the caller re-reads from its last offset.
    const open = (attempt: number) => {
      let flowing = false;
      // Whole objects come as stored: an object written with `Content-Encoding: gzip` (gsutil -Z) arrives
      // compressed, and readers gunzip it by its magic bytes (worker/sources/sources.ts decompressed), with their
      // bounds on size and deterministic handling of a broken member. The client's own gunzip would hand
      // plain bytes to a reader that trusts a `.gz` name, and has neither bound.
      const src = file.createReadStream(range ? { start: range.start, end: range.end, validation: false } : { decompress: false });
      // pipe(), not pipeline(): pipeline would destroy `out` with the raw client error before we can map it.
      src.pipe(out);
      src.once('data', () => {
        flowing = true;
      });
      src.on('error', (raw: unknown) => {
        const err = mapGcsError(raw, this.where(name));
        const again = !flowing && err.retryable && attempt + 1 < (retry.maxAttempts ?? 6) && Date.now() - started < (retry.budgetMs ?? 60_000);
        if (!again) return out.destroy(err);
        src.unpipe(out);
        const delayMs = backoffDelayMs(attempt, retry.baseDelayMs ?? 100, retry.maxDelayMs ?? 5000, retry.random ?? Math.random);
        this.options.onRetry?.(err, attempt + 1, delayMs, 'readStream');
        setTimeout(() => {
          if (!out.destroyed) open(attempt + 1);
        }, delayMs);
      });
    };
    open(0);
    return out;
  }

  async write(name: string, data: Buffer | string, options: WriteOptions = {}): Promise<ObjectInfo> {
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    const md5 = createHash('md5').update(body).digest('base64');
    const resumable = body.length > (this.options.resumableThresholdBytes ?? 8 * 1024 * 1024);
    return this.put(name, options, md5, body.length, async (file, ifGenerationMatch) => {
      await file.save(body, { ...this.uploadOptions(options, ifGenerationMatch), resumable });
      return file.metadata;
    });
  }

  async writeStream(name: string, body: Readable, options: WriteOptions = {}): Promise<ObjectInfo> {
    this.full(name);
    // Spooling to disk lets every attempt replay the exact bytes and gives the md5 for the lost-response check.
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'reviewloop-upload-'));
    const spool = path.join(dir, 'body');
    try {
      const hash = createHash('md5');
      let size = 0;
      const tap = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          size += chunk.length;
          cb(null, chunk);
        },
      });
      await pipeline(body, tap, createWriteStream(spool));
      const md5 = hash.digest('base64');
      const small = size <= (this.options.resumableThresholdBytes ?? 8 * 1024 * 1024);
      return await this.put(name, options, md5, size, async (file, ifGenerationMatch) => {
        const opts = this.uploadOptions(options, ifGenerationMatch);
        if (small) await file.save(await fs.readFile(spool), { ...opts, resumable: false });
        else await pipeline(createReadStream(spool), file.createWriteStream({ ...opts, resumable: true }));
        return file.metadata;
      });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  async delete(name: string, options: { ifGenerationMatch?: string } = {}): Promise<void> {
    const expected = options.ifGenerationMatch;
    // Naming the generation as well makes fake-gcs-server (which ignores ifGenerationMatch on delete) refuse a newer version with 404.
    const file = this.file(name, expected);
    let ambiguous = false;
    await this.retry(
      'delete',
      async () => {
        try {
          await file.delete(expected === undefined ? {} : { ifGenerationMatch: expected });
        } catch (raw) {
          const err = mapGcsError(raw, this.where(name), expected);
          if (err.code === 'NOT_FOUND' && ambiguous) return; // our earlier attempt did it
          if (err.code === 'NOT_FOUND' && expected !== undefined && (await this.statRaw(name))) throw conflict(this.where(name), expected, raw);
          ambiguous ||= err.retryable;
          throw err;
        }
      },
      name,
    );
  }

  async close(): Promise<void> {
    // The client keeps no connections of its own (it uses the global agent): nothing to release.
  }

  /** `gs://bucket/prefix/name` for messages: errors name the whole location, never a name relative to a root the reader cannot see. */
  private where(name: string): string {
    return `gs://${this.bucket.name}/${this.prefix}${name}`;
  }

  private full(name: string): string {
    return this.prefix + validateObjectName(name);
  }

  private file(name: string, generation?: string): File {
    return this.bucket.file(this.full(name), generation === undefined ? {} : { generation: Number(generation) });
  }

  private uploadOptions(options: WriteOptions, ifGenerationMatch: string): Record<string, unknown> {
    return {
      contentType: options.contentType ?? 'application/octet-stream',
      metadata: options.metadata ? { metadata: options.metadata } : {},
      preconditionOpts: { ifGenerationMatch },
      validation: 'md5',
    };
  }

  private async put(
    name: string,
    options: WriteOptions,
    md5: string,
    size: number,
    upload: (file: File, ifGenerationMatch: string) => Promise<FileMetadata>,
  ): Promise<ObjectInfo> {
    const file = this.file(name);
    let ambiguous = false;
    return this.retry(
      'write',
      async () => {
        const precondition = options.ifGenerationMatch ?? (await this.statRaw(name))?.generation?.toString() ?? '0';
        try {
          return this.toInfo(await upload(file, precondition));
        } catch (raw) {
          const err = mapGcsError(raw, this.where(name), precondition);
          const lostRace = err.code === 'ALREADY_EXISTS' || err.code === 'CONFLICT';
          if (lostRace && ambiguous) {
            const cur = await this.statRaw(name);
            if (cur && cur.md5Hash === md5 && Number(cur.size) === size) return this.toInfo(cur);
          }
          ambiguous ||= err.retryable;
          // An unguarded write only lost to a write that landed between our stat and upload: look again.
          if (lostRace && options.ifGenerationMatch === undefined) {
            throw new ReviewloopError('TRANSIENT', `object ${this.where(name)} changed during an unguarded write`, { retryable: true, cause: raw });
          }
          throw err;
        }
      },
      name,
    );
  }

  private async statRaw(name: string): Promise<FileMetadata | null> {
    const file = this.file(name);
    try {
      const [meta] = await this.retry('stat', () => file.getMetadata(), name);
      return meta;
    } catch (err) {
      if (err instanceof ReviewloopError && err.code === 'NOT_FOUND') return null;
      throw err;
    }
  }

  private retry<T>(op: string, fn: () => Promise<T>, name: string): Promise<T> {
    const onRetry = this.options.onRetry;
    return withRetry(
      async () => {
        try {
          return await fn();
        } catch (err) {
          throw err instanceof ReviewloopError ? err : mapGcsError(err, this.where(name));
        }
      },
      { ...this.options.retry, onRetry: onRetry ? (err, attempt, delayMs) => onRetry(err, attempt, delayMs, op) : undefined },
    );
  }

  private toInfo(meta: FileMetadata): ObjectInfo {
    const full = meta.name ?? '';
    const info: ObjectInfo = {
      name: full.startsWith(this.prefix) ? full.slice(this.prefix.length) : full,
      generation: String(meta.generation),
      size: Number(meta.size ?? 0),
      updated: String(meta.updated ?? ''),
    };
    if (meta.contentType) info.contentType = meta.contentType;
    if (meta.metadata) {
      info.metadata = Object.fromEntries(
        Object.entries(meta.metadata)
          .filter(([, v]) => v != null)
          .map(([k, v]) => [k, String(v)]),
      );
    }
    return info;
  }
}

/** An endpoint as the client would use it: scheme added, no trailing slash, no `/storage/v1`. */
function endpointKey(e: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(e) ? e : `http://${e}`;
  return withScheme
    .replace(/\/+$/, '')
    .replace(/\/storage\/v1$/, '')
    .toLowerCase();
}

/**
 * The endpoint the client will really use. @google-cloud/storage lets
 * `STORAGE_EMULATOR_HOST` override any `apiEndpoint` without a word; here it
 * counts as the endpoint when the config names none, and naming two
 * different ones is a configuration error, so requests never go somewhere
 * the config does not say.
 */
export function effectiveEndpoint(configured: string | null | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromEnv = env.STORAGE_EMULATOR_HOST?.trim() || undefined;
  if (fromEnv === undefined) return configured ?? undefined;
  if (configured == null) return endpointKey(fromEnv);
  if (endpointKey(fromEnv) !== endpointKey(configured)) {
    throw new ReviewloopError(
      'CONFIG_INVALID',
      `storage.apiEndpoint is ${configured} but STORAGE_EMULATOR_HOST=${fromEnv} is set, and the storage client would use STORAGE_EMULATOR_HOST: unset it or make them agree`,
      { details: { apiEndpoint: configured, STORAGE_EMULATOR_HOST: fromEnv } },
    );
  }
  return configured;
}

function makeClient(options: GcsStoreOptions): Storage {
  const endpoint = effectiveEndpoint(options.apiEndpoint);
  const emulator = endpoint !== undefined && !options.useAuthWithCustomEndpoint;
  const { Storage } = loadStorage();
  return new Storage({
    apiEndpoint: endpoint,
    projectId: options.projectId ?? (emulator ? 'reviewloop-local' : undefined),
    useAuthWithCustomEndpoint: options.useAuthWithCustomEndpoint,
    retryOptions: { autoRetry: false, maxRetries: 0 },
    // Never consulted against an unauthenticated custom endpoint, but it keeps google-auth from probing ADC or a metadata server.
    ...(emulator ? { credentials: { client_email: 'emulator@reviewloop.invalid', private_key: 'unused' } } : {}),
  });
}

/** Maps a client error to a {@link ReviewloopError}; `ifGenerationMatch` tells a 412 apart (ALREADY_EXISTS vs CONFLICT). */
export function mapGcsError(err: unknown, name: string, ifGenerationMatch?: string): ReviewloopError {
  if (err instanceof ReviewloopError) return err;
  const e = (err ?? {}) as { code?: unknown; status?: unknown; response?: { status?: unknown }; message?: string; name?: string };
  const status = [e.code, e.status, e.response?.status].map(Number).find((n) => Number.isInteger(n) && n >= 100 && n < 600);
  const msg = e.message ?? String(err);
  if (status === 412) return ifGenerationMatch === '0' ? alreadyExists(name, err) : conflict(name, ifGenerationMatch ?? '?', err);
  if (status === 404) return notFound(name, err);
  if (status === 408 || status === 429 || (status !== undefined && status >= 500)) {
    return new ReviewloopError('TRANSIENT', `GCS answered ${status} for ${name}: ${msg}`, { retryable: true, cause: err, details: { name, status } });
  }
  if (status === 401 || status === 403) {
    return new ReviewloopError('STORE_UNAVAILABLE', `GCS refused access to ${name} (${status}): ${msg}`, { cause: err, details: { name, status } });
  }
  if (status !== undefined)
    return new ReviewloopError('STORE_UNAVAILABLE', `GCS answered ${status} for ${name}: ${msg}`, { cause: err, details: { name, status } });
  const net =
    (typeof e.code === 'string' && TRANSIENT_NET_CODES.has(e.code)) || e.name === 'FetchError' || /socket hang up|ECONNRESET|premature close/i.test(msg);
  return new ReviewloopError('STORE_UNAVAILABLE', `GCS request for ${name} failed: ${msg}`, { retryable: net, cause: err, details: { name } });
}
