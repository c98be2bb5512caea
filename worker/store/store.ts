import type { Readable } from 'node:stream';
import { ReviewloopError } from '../../domain/errors.js';

/**
 * The object-store contract shared by the local-directory store and the GCS
 * store. Names are relative to the store's root and use `/` separators.
 * Generations are decimal strings (GCS generations exceed 2^53).
 */
export interface ObjectInfo {
  name: string;
  /** Monotonic per name: a rewrite gets a new, larger generation. */
  generation: string;
  size: number;
  updated: string;
  contentType?: string;
  metadata?: Record<string, string>;
}

export interface ListOptions {
  /** Only names lexicographically >= this (GCS `startOffset`): lets rounds skip history. */
  startOffset?: string;
  /** Page size for one underlying list call. Default 1000. */
  pageSize?: number;
}

export interface WriteOptions {
  /** `'0'` = create-only (fails with ALREADY_EXISTS); a generation = replace only that one (else CONFLICT). */
  ifGenerationMatch?: string;
  contentType?: string;
  metadata?: Record<string, string>;
}

export interface ReadRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive (as in HTTP ranges). */
  end?: number;
}

export interface ObjectStore {
  /** Human-readable root, e.g. `gs://bucket/prefix` or `/abs/dir`. */
  readonly root: string;
  /** URI for one name, used in provenance (`meta.source`, rejects). */
  uri(name: string): string;
  /** All objects under prefix, in name order, paged internally. */
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo>;
  /** Metadata, or null when absent. */
  stat(name: string): Promise<ObjectInfo | null>;
  read(name: string, options?: { generation?: string }): Promise<Buffer>;
  readStream(name: string, options?: { range?: ReadRange; generation?: string }): Readable;
  /**
   * The file behind `name` when the store is a local directory, so scoring
   * threads can read byte ranges of it themselves. Readers must check the
   * generation they were given (a local generation is the file's mtime in ns).
   * Absent on remote stores.
   */
  localPath?(name: string): string;
  write(name: string, data: Buffer | string, options?: WriteOptions): Promise<ObjectInfo>;
  /** Streams a large body; the precondition is applied when the object becomes visible. */
  writeStream(name: string, body: Readable, options?: WriteOptions): Promise<ObjectInfo>;
  delete(name: string, options?: { ifGenerationMatch?: string }): Promise<void>;
  close(): Promise<void>;
}

/** Rejects names that could escape the root or confuse a filesystem. */
export function validateObjectName(name: string): string {
  const bad = (why: string): never => {
    throw new ReviewloopError('PATH_INVALID', `invalid object name ${JSON.stringify(name)}: ${why}`, { details: { name } });
  };
  if (typeof name !== 'string' || name.length === 0) bad('empty');
  if (name.length > 1024) bad('longer than 1024 bytes');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) bad('contains NUL or control characters');
  if (name.startsWith('/') || /^[a-zA-Z]:[\\/]/.test(name)) bad('absolute paths are not allowed');
  if (name.includes('\\')) bad('backslashes are not allowed');
  for (const seg of name.split('/')) {
    if (seg === '..' || seg === '.') bad('"." and ".." segments are not allowed');
  }
  return name;
}

export function joinName(...parts: string[]): string {
  return parts
    .filter((p) => p.length > 0)
    .map((p) => p.replace(/^\/+|\/+$/g, ''))
    .filter(Boolean)
    .join('/');
}

export function alreadyExists(name: string, cause?: unknown): ReviewloopError {
  return new ReviewloopError('ALREADY_EXISTS', `object ${name} already exists`, { cause, details: { name } });
}
export function conflict(name: string, expected: string, cause?: unknown): ReviewloopError {
  return new ReviewloopError('CONFLICT', `object ${name} changed (expected generation ${expected})`, { cause, details: { name, expected } });
}
export function notFound(name: string, cause?: unknown): ReviewloopError {
  return new ReviewloopError('NOT_FOUND', `object ${name} not found`, { cause, details: { name } });
}
