import { randomBytes } from 'node:crypto';
import { ReviewloopError, isReviewloopError } from '../../domain/errors.js';
import type { ObjectStore } from '../store/store.js';

/** Options for {@link Lease}. */
export interface LeaseOptions {
  /** Identity of this replica, e.g. `hostname-pid`. A lease held under the same id (a previous run) may be taken over. */
  holder: string;
  /** Lifetime granted by each acquire/renew, in ms. Renew well before it runs out (e.g. every ttl/3). Default 120000. */
  ttlMs?: number;
  /** Object name of the lease. Default `state/lease`; use `state/lease-<job>` for one lease per job. */
  name?: string;
  /** Clock in ms since the epoch; injectable for tests. Default `Date.now`. */
  now?: () => number;
}

/** What the lease object holds. */
export interface LeaseRecord {
  holder: string;
  /** Random per acquire: tells this acquisition apart from an earlier one by the same holder. */
  token: string;
  acquiredAt: string;
  expiresAt: string;
}

/** A lease as read, with the generation that guards its next change. */
export interface LeaseState extends LeaseRecord {
  generation: string;
}

function leaseHeld(message: string, details: Record<string, unknown>): ReviewloopError {
  return new ReviewloopError('LEASE_HELD', message, { details });
}

/**
 * A lease object (holder + expiry) in the store, changed only with
 * preconditions: create-only when absent, `ifGenerationMatch` on the generation
 * read when taking over an expired lease or renewing. Of several replicas
 * racing, exactly one write succeeds; the rest see ALREADY_EXISTS/CONFLICT and
 * report LEASE_HELD. Expiry is judged by the reader's clock: keep replicas'
 * clocks within a small fraction of `ttlMs`.
 */
export class Lease {
  private readonly holder: string;
  private readonly ttlMs: number;
  private readonly name: string;
  private readonly now: () => number;
  private current: LeaseState | null = null;

  constructor(
    private readonly store: ObjectStore,
    options: LeaseOptions,
  ) {
    if (!options.holder) throw new ReviewloopError('CONFIG_INVALID', 'lease holder must be a non-empty id');
    this.holder = options.holder;
    this.ttlMs = options.ttlMs ?? 120_000;
    this.name = options.name ?? 'state/lease';
    this.now = options.now ?? Date.now;
  }

  /** The lease this instance holds, as last written, or null. */
  get state(): LeaseState | null {
    return this.current;
  }

  /** True while this instance holds the lease and, by its clock, it has not expired. */
  get held(): boolean {
    return this.current !== null && Date.parse(this.current.expiresAt) > this.now();
  }

  /** Reads the lease object; null when there is none. A malformed body reads as expired. */
  async read(): Promise<LeaseState | null> {
    for (;;) {
      const info = await this.store.stat(this.name);
      if (!info) return null;
      let body: Buffer;
      try {
        body = await this.store.read(this.name, { generation: info.generation });
      } catch (err) {
        if (isReviewloopError(err, 'NOT_FOUND')) continue; // replaced between stat and read
        throw err;
      }
      try {
        const rec = JSON.parse(body.toString('utf8')) as LeaseRecord;
        if (typeof rec.holder === 'string' && typeof rec.expiresAt === 'string') return { ...rec, generation: info.generation };
      } catch {
        // fall through
      }
      return { holder: '', token: '', acquiredAt: new Date(0).toISOString(), expiresAt: new Date(0).toISOString(), generation: info.generation };
    }
  }

  /** Takes the lease, or throws LEASE_HELD when someone else holds a live one. */
  async acquire(): Promise<LeaseState> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const seen = await this.read();
      if (seen && seen.holder !== this.holder && Date.parse(seen.expiresAt) > this.now()) {
        throw leaseHeld(`lease ${this.name} is held by ${seen.holder} until ${seen.expiresAt}`, {
          name: this.name,
          holder: seen.holder,
          expiresAt: seen.expiresAt,
        });
      }
      try {
        return await this.put(seen?.generation ?? '0', randomBytes(8).toString('hex'), new Date(this.now()).toISOString());
      } catch (err) {
        // Someone else moved first: look again (they may hold it now, or have released it).
        if (!isReviewloopError(err, 'ALREADY_EXISTS') && !isReviewloopError(err, 'CONFLICT')) throw err;
      }
    }
    throw leaseHeld(`lease ${this.name} is contended`, { name: this.name });
  }

  /** Extends the lease this instance holds; LEASE_HELD if it was lost (taken over or deleted). */
  async renew(): Promise<LeaseState> {
    const cur = this.current;
    if (!cur) throw leaseHeld(`lease ${this.name} is not held by ${this.holder}`, { name: this.name });
    try {
      return await this.put(cur.generation, cur.token, cur.acquiredAt);
    } catch (err) {
      if (!isReviewloopError(err, 'CONFLICT') && !isReviewloopError(err, 'NOT_FOUND')) throw err;
      this.current = null;
      throw leaseHeld(`lease ${this.name} was lost by ${this.holder}`, { name: this.name });
    }
  }

  /** Gives the lease up if still ours. Idempotent: a lost or missing lease is not an error. */
  async release(): Promise<void> {
    const cur = this.current;
    this.current = null;
    if (!cur) return;
    try {
      await this.store.delete(this.name, { ifGenerationMatch: cur.generation });
    } catch (err) {
      if (!isReviewloopError(err, 'NOT_FOUND') && !isReviewloopError(err, 'CONFLICT')) throw err;
    }
  }

  private async put(ifGenerationMatch: string, token: string, acquiredAt: string): Promise<LeaseState> {
    const rec: LeaseRecord = { holder: this.holder, token, acquiredAt, expiresAt: new Date(this.now() + this.ttlMs).toISOString() };
    const info = await this.store.write(this.name, `${JSON.stringify(rec)}\n`, { ifGenerationMatch, contentType: 'application/json' });
    this.current = { ...rec, generation: info.generation };
    return this.current;
  }
}

const SLOT_PART = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Claims one scheduled slot (e.g. job `round`, slot `20261127T0200Z`) for
 * this replica: a create-only marker `state/slots/<job>/<slotId>`. True when
 * this holder owns the claim (also when re-claiming its own), false when
 * another replica claimed it first.
 *
 * Why claims on top of the lease: the lease stops two replicas running at
 * once, but it can change hands (a paused replica's lease expires, another
 * takes it) and a replica that starts late would run a slot that already
 * ran. A claim is permanent, so each slot runs at most once across replicas
 * and restarts; a slot whose claim exists but whose round manifest does not
 * (a crash mid-run) is re-run on purpose with `--round`, which is safe since
 * a round is deterministic in its slot id.
 */
export async function claimSlot(store: ObjectStore, job: string, slotId: string, holder: string, now: () => number = Date.now): Promise<boolean> {
  if (!SLOT_PART.test(job) || !SLOT_PART.test(slotId)) {
    throw new ReviewloopError('PATH_INVALID', `invalid slot claim ${JSON.stringify(job)}/${JSON.stringify(slotId)}`, { details: { job, slotId } });
  }
  const name = `state/slots/${job}/${slotId}`;
  try {
    await store.write(name, `${JSON.stringify({ holder, job, slotId, claimedAt: new Date(now()).toISOString() })}\n`, {
      ifGenerationMatch: '0',
      contentType: 'application/json',
    });
    return true;
  } catch (err) {
    if (!isReviewloopError(err, 'ALREADY_EXISTS')) throw err;
  }
  const existing = JSON.parse((await store.read(name)).toString('utf8')) as { holder?: string };
  return existing.holder === holder;
}
