/**
 * Exports the merge cannot read (not gzip, truncated, too large) are
 * quarantined per (name, generation): a marker under `state/quarantine/`
 * keeps every later merge from reading them again, and the next snapshot
 * lists them in its manifest and rejects. A new generation of the same name
 * is a new export and is read again.
 *
 * The marker is written before any snapshot, so a merge with nothing else to
 * commit still records the quarantine (visible in `status`), and a rerun
 * after a crash lists the same objects with the same reasons.
 */
import { createHash } from 'node:crypto';
import { isReviewloopError } from '../../domain/errors.js';
import type { ConsumedObject } from '../../domain/records.js';
import type { ObjectStore } from '../store/store.js';
import { writeOnce } from '../store/write-once.js';
import { consumedKey } from '../store/listing.js';

export const QUARANTINE_PREFIX = 'state/quarantine/annotations/';

export interface QuarantinedExport extends ConsumedObject {
  reason: string;
}

export function exportKey(o: { name: string; generation: string }): string {
  return consumedKey(o.name, o.generation);
}

function markerName(o: { name: string; generation: string }): string {
  return `${QUARANTINE_PREFIX}${createHash('sha256').update(exportKey(o)).digest('hex').slice(0, 40)}.json`;
}

/** Every quarantined export of the project, in (name, generation) order. */
export async function readQuarantine(store: ObjectStore): Promise<QuarantinedExport[]> {
  const out: QuarantinedExport[] = [];
  for await (const o of store.list(QUARANTINE_PREFIX)) {
    if (!o.name.endsWith('.json')) continue;
    try {
      const q = JSON.parse((await store.read(o.name)).toString('utf8')) as QuarantinedExport;
      if (typeof q.name === 'string' && typeof q.generation === 'string' && typeof q.reason === 'string') out.push(q);
    } catch {
      // A marker is written create-only in one piece; one that cannot be read quarantines nothing.
    }
  }
  return sortExports(out);
}

export async function recordQuarantine(store: ObjectStore, q: QuarantinedExport): Promise<void> {
  const body = `${JSON.stringify({ name: q.name, generation: q.generation, size: q.size, reason: q.reason })}\n`;
  try {
    await writeOnce(store, markerName(q), body, 'application/json');
  } catch (err) {
    // Another merge recorded this export first, perhaps in other words: it is quarantined either way.
    if (!isReviewloopError(err, 'CONFLICT')) throw err;
  }
}

export function sortExports<T extends { name: string; generation: string }>(xs: T[]): T[] {
  return xs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : compareGenerations(a.generation, b.generation)));
}

/** Generations are decimal strings beyond 2^53: compare by length, then text. */
function compareGenerations(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
