/**
 * Plan-time claims: each input object (name, generation) is consumed by one
 * round, even when rounds with different ids plan at the same moment.
 *
 * - A claim is `state/claims/objects/<sha256(name\0generation)>.json`, written
 *   create-only with bytes that depend only on (round, name, generation). Of
 *   rounds racing for an object exactly one create succeeds; a retry or a rerun
 *   of the same round finds its own claim and keeps it.
 * - A round's outcome is `state/claims/rounds/<round>.json`, create-only:
 *   `committed` (written by the round just before its manifest) or `released`
 *   (its claims are free). Both are written create-only to the same name, so a
 *   round that commits and a planner that releases it cannot both win.
 * - A claim held by another round Y is honoured while Y may still consume the
 *   object. It is taken over (a write guarded by the claim's generation) when
 *   Y is released, when Y's plan exists and does not list the object (Y will
 *   never read it), when Y committed a manifest that does not consume it (its
 *   records were deferred to the next round), or when the claim is older than the claim TTL and Y has no
 *   outcome: the planner then first releases Y. A released round can no longer
 *   commit (CONFLICT), so an object is never consumed twice; a round that
 *   crashed and is never rerun strands its objects for at most the TTL.
 *
 * docs/reliability.md ("Claims") walks through the crash cases.
 */
import { createHash } from 'node:crypto';
import { ReviewloopError, isReviewloopError } from '../../domain/errors.js';
import { consumedKey } from '../store/listing.js';
import type { ObjectInfo, ObjectStore } from '../store/store.js';
import { readJson } from '../store/write-once.js';

/** Default age after which a claim of a round with no outcome may be taken over: longer than any round runs. */
export const CLAIM_TTL_MS = 6 * 3600 * 1000;
/** Claim writes in flight at once while planning. */
const CLAIM_CONCURRENCY = 16;

interface ClaimBody {
  kind: 'reviewloop.claim';
  round: string;
  name: string;
  generation: string;
}
interface OutcomeBody {
  kind: 'reviewloop.round-outcome';
  round: string;
  state: 'committed' | 'released';
  by?: string;
  reason?: string;
}

export const claimName = (name: string, generation: string) =>
  `state/claims/objects/${createHash('sha256').update(consumedKey(name, generation)).digest('hex')}.json`;
export const outcomeName = (round: string) => `state/claims/rounds/${round}.json`;

const claimBytes = (round: string, o: { name: string; generation: string }) =>
  `${JSON.stringify({ kind: 'reviewloop.claim', round, name: o.name, generation: o.generation } satisfies ClaimBody)}\n`;

export interface ClaimOptions {
  /** See {@link CLAIM_TTL_MS}. */
  ttlMs?: number;
  /** Clock in ms; injectable for tests. */
  now?: () => number;
}

/** What other rounds hold, learned once per planning. */
class RoundView {
  private readonly outcomes = new Map<string, Promise<OutcomeBody | null>>();
  private readonly plans = new Map<string, Promise<Set<string> | null>>();
  private readonly consumed = new Map<string, Promise<Set<string> | null>>();
  constructor(private readonly store: ObjectStore) {}
  /** Keys of the objects the round's manifest consumed, or null when it has no manifest (yet). */
  committed(round: string): Promise<Set<string> | null> {
    if (!this.consumed.has(round)) {
      this.consumed.set(
        round,
        readJson<{ consumed?: Array<{ name: string; generation: string }> }>(this.store, `rounds/${round}/manifest.json`).then((m) =>
          m ? new Set((m.consumed ?? []).map((o) => consumedKey(o.name, o.generation))) : null,
        ),
      );
    }
    return this.consumed.get(round)!;
  }
  outcome(round: string, fresh = false): Promise<OutcomeBody | null> {
    if (fresh || !this.outcomes.has(round)) this.outcomes.set(round, readJson<OutcomeBody>(this.store, outcomeName(round)));
    return this.outcomes.get(round)!;
  }
  /** Keys of the objects the round's plan pins, or null when it has no plan yet. */
  planned(round: string): Promise<Set<string> | null> {
    if (!this.plans.has(round)) {
      this.plans.set(
        round,
        readJson<{ objects?: Array<{ name: string; generation: string }> }>(this.store, `rounds/${round}/plan.json`).then((p) =>
          p ? new Set((p.objects ?? []).map((o) => consumedKey(o.name, o.generation))) : null,
        ),
      );
    }
    return this.plans.get(round)!;
  }
}

/** Throws when `round` was released: its claims may belong to other rounds now, so it must not run. */
export async function assertNotReleased(store: ObjectStore, round: string): Promise<void> {
  const o = await readJson<OutcomeBody>(store, outcomeName(round));
  if (o?.state === 'released') throw releasedError(store, round, o);
}

function releasedError(store: ObjectStore, round: string, o: OutcomeBody): ReviewloopError {
  return new ReviewloopError(
    'CONFLICT',
    `round ${round} was released (${o.reason ?? 'no reason given'}${o.by ? `, by ${o.by}` : ''}; see ${store.uri(outcomeName(round))}): its inputs may be consumed by other rounds, so it cannot complete; run a new round id`,
    { details: { round } },
  );
}

/** Marks `round` committed (just before its manifest); CONFLICT when it was released first. Safe to repeat. */
export async function commitClaims(store: ObjectStore, round: string): Promise<void> {
  const body: OutcomeBody = { kind: 'reviewloop.round-outcome', round, state: 'committed' };
  try {
    await store.write(outcomeName(round), `${JSON.stringify(body)}\n`, { ifGenerationMatch: '0', contentType: 'application/json' });
  } catch (err) {
    if (!isReviewloopError(err, 'ALREADY_EXISTS')) throw err;
    const o = await readJson<OutcomeBody>(store, outcomeName(round));
    if (o?.state === 'released') throw releasedError(store, round, o);
  }
}

/** Releases `round`'s claims unless it committed first; returns the outcome that stands. */
export async function releaseRound(store: ObjectStore, round: string, by: string, reason: string): Promise<OutcomeBody['state']> {
  const body: OutcomeBody = { kind: 'reviewloop.round-outcome', round, state: 'released', by, reason };
  try {
    await store.write(outcomeName(round), `${JSON.stringify(body)}\n`, { ifGenerationMatch: '0', contentType: 'application/json' });
    return 'released';
  } catch (err) {
    if (!isReviewloopError(err, 'ALREADY_EXISTS')) throw err;
    return (await readJson<OutcomeBody>(store, outcomeName(round)))?.state ?? 'released';
  }
}

/**
 * Claims `objects` for `round`; returns the ones it holds (in the given order).
 * The others are held by rounds that may still consume them.
 */
export async function claimObjects<T extends Pick<ObjectInfo, 'name' | 'generation'>>(
  store: ObjectStore,
  round: string,
  objects: T[],
  opts: ClaimOptions = {},
): Promise<T[]> {
  const view = new RoundView(store);
  const held = new Array<boolean>(objects.length).fill(false);
  let next = 0;
  const worker = async () => {
    while (next < objects.length) {
      const i = next++;
      held[i] = await claimOne(store, view, round, objects[i], opts);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CLAIM_CONCURRENCY, objects.length) }, worker));
  return objects.filter((_, i) => held[i]);
}

async function claimOne(store: ObjectStore, view: RoundView, round: string, o: { name: string; generation: string }, opts: ClaimOptions): Promise<boolean> {
  const name = claimName(o.name, o.generation);
  const bytes = claimBytes(round, o);
  try {
    await store.write(name, bytes, { ifGenerationMatch: '0', contentType: 'application/json' });
    return true;
  } catch (err) {
    if (!isReviewloopError(err, 'ALREADY_EXISTS')) throw err;
  }
  // Someone holds it: ours from an earlier attempt, or another round's. A lost takeover race is looked at again.
  for (let attempt = 0; attempt < 5; attempt++) {
    const info = await store.stat(name);
    if (!info) {
      try {
        await store.write(name, bytes, { ifGenerationMatch: '0', contentType: 'application/json' });
        return true;
      } catch (err) {
        if (isReviewloopError(err, 'ALREADY_EXISTS')) continue;
        throw err;
      }
    }
    let holder: string;
    try {
      holder = (JSON.parse((await store.read(name, { generation: info.generation })).toString('utf8')) as ClaimBody).round;
    } catch (err) {
      if (isReviewloopError(err, 'NOT_FOUND')) continue; // taken over between stat and read
      holder = ''; // an unreadable claim holds nothing
    }
    if (holder === round) return true;
    if (holder !== '' && !(await claimIsVoid(store, view, holder, o, info, round, opts))) return false;
    try {
      await store.write(name, bytes, { ifGenerationMatch: info.generation, contentType: 'application/json' });
      return true;
    } catch (err) {
      if (!isReviewloopError(err, 'CONFLICT') && !isReviewloopError(err, 'NOT_FOUND')) throw err;
    }
  }
  throw new ReviewloopError('CONFLICT', `claim on ${store.uri(o.name)} keeps changing hands`, { retryable: true, details: { name: o.name } });
}

/** True when `holder` will never consume `o`, so its claim may be taken over. */
async function claimIsVoid(
  store: ObjectStore,
  view: RoundView,
  holder: string,
  o: { name: string; generation: string },
  claim: ObjectInfo,
  round: string,
  opts: ClaimOptions,
): Promise<boolean> {
  const outcome = await view.outcome(holder);
  if (outcome?.state === 'released') return true;
  const planned = await view.planned(holder);
  // A fixed plan without the object: the holder never reads it (a replica of it planned first without it).
  if (planned && !planned.has(consumedKey(o.name, o.generation))) return true;
  if (outcome?.state === 'committed') {
    // A committed round that left a planned object unconsumed (its records were deferred: media not
    // readable yet) hands it to the next round; until its manifest is there, it still holds it.
    const consumed = await view.committed(holder);
    return consumed !== null && !consumed.has(consumedKey(o.name, o.generation));
  }
  const age = (opts.now ?? Date.now)() - Date.parse(claim.updated);
  if (!(age > (opts.ttlMs ?? CLAIM_TTL_MS))) return false;
  const state = await releaseRound(store, holder, `round ${round}`, `claim on ${o.name} held for ${Math.round(age / 60_000)} min without completing`);
  await view.outcome(holder, true);
  return state === 'released';
}
