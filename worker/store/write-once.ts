import { createHash } from 'node:crypto';
import { ReviewloopError, isReviewloopError } from '../../domain/errors.js';
import type { ObjectInfo, ObjectStore } from './store.js';

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Create-only write that is safe to repeat: when the object already exists
 * with the same bytes (a rerun after a crash, or a retry whose response was
 * lost), that is success; different bytes are a CONFLICT, never an overwrite.
 */
export async function writeOnce(
  store: ObjectStore,
  name: string,
  data: Buffer | string,
  contentType = 'application/json',
  metadata?: Record<string, string>,
): Promise<{ created: boolean; info: ObjectInfo | null }> {
  try {
    const info = await store.write(name, data, { ifGenerationMatch: '0', contentType, ...(metadata ? { metadata } : {}) });
    return { created: true, info };
  } catch (err) {
    if (!isReviewloopError(err, 'ALREADY_EXISTS')) throw err;
    const existing = await store.read(name);
    const want = typeof data === 'string' ? Buffer.from(data) : data;
    if (existing.equals(want)) return { created: false, info: await store.stat(name) };
    throw new ReviewloopError(
      'CONFLICT',
      `${store.uri(name)} already exists with different content (sha256 ${sha256(existing).slice(0, 12)} ≠ ${sha256(want).slice(0, 12)})`,
      { details: { name } },
    );
  }
}

/** Reads and parses a JSON object, or null when absent. */
export async function readJson<T>(store: ObjectStore, name: string): Promise<T | null> {
  try {
    return JSON.parse((await store.read(name)).toString('utf8')) as T;
  } catch (err) {
    if (isReviewloopError(err, 'NOT_FOUND')) return null;
    if (err instanceof SyntaxError) throw new ReviewloopError('INPUT_INVALID', `${store.uri(name)} is not valid JSON: ${err.message}`, { cause: err });
    throw err;
  }
}

/** Stable JSON for files we write: keys in insertion order, one trailing newline. */
export function jsonFile(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

export function jsonLines(values: Iterable<unknown>): string {
  let out = '';
  for (const v of values) out += `${JSON.stringify(v)}\n`;
  return out;
}

/**
 * Create-only write of a JSON document where the first writer wins: when
 * another process created it first, its document is returned instead, so
 * every replica goes on with the same one (round plans).
 */
export async function firstWriteWins<T>(store: ObjectStore, name: string, value: T): Promise<T> {
  try {
    await store.write(name, jsonFile(value), { ifGenerationMatch: '0', contentType: 'application/json' });
    return value;
  } catch (err) {
    if (isReviewloopError(err, 'ALREADY_EXISTS')) return (await readJson<T>(store, name))!;
    throw err;
  }
}
