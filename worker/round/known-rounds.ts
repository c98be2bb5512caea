/**
 * Which rounds a project has, and the ones nearest a mistyped id: exports
 * pushed under a round that does not exist are refused up front, naming the
 * rounds the user most likely meant.
 */
import type { ObjectStore } from '../store/store.js';

/** Ids of completed rounds (those with `rounds/R/manifest.json`), in name order. */
export async function knownRounds(store: ObjectStore): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list('rounds/')) {
    const m = /^rounds\/([^/]+)\/manifest\.json$/.exec(o.name);
    if (m) out.push(m[1]);
  }
  return out;
}

/** Levenshtein distance (insert, delete, substitute: cost 1 each). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Up to `n` known ids nearest `round`: smallest edit distance, then longest shared prefix, then name. */
export function nearestRounds(round: string, known: string[], n = 3): string[] {
  return known
    .map((id) => ({ id, d: editDistance(round, id), p: commonPrefix(round, id) }))
    .sort((x, y) => x.d - y.d || y.p - x.p || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
    .slice(0, n)
    .map((x) => x.id);
}

/** A usage error (exit 2) for a round id with no manifest, naming the nearest known ids. `what` ends the message. */
export async function unknownRoundError(store: ObjectStore, round: string, what = ''): Promise<Error> {
  const near = nearestRounds(round, await knownRounds(store));
  const hint = near.length > 0 ? `; nearest known: ${near.join(', ')}` : '; this project has no rounds yet';
  return Object.assign(new Error(`no round ${round} in ${store.root}/rounds/${hint}${what}`), { code: 'USAGE', details: { round, nearest: near } });
}

/**
 * Throws a usage error (exit 2) when `round` has no manifest: a mistyped
 * `--round` would otherwise put answers where no merge joins them to items.
 */
export async function refuseUnknownRound(store: ObjectStore, round: string): Promise<void> {
  if (await store.stat(`rounds/${round}/manifest.json`)) return;
  throw await unknownRoundError(store, round, ' (pass --allow-unknown-round to upload anyway)');
}
