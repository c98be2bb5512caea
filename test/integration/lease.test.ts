import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorCode } from '../helpers/errors.js';
import { GcsStore } from '../../worker/store/gcs-store.js';
import { Lease, claimSlot } from '../../worker/daemon/lease.js';
import { LocalStore } from '../../worker/store/local-store.js';
import type { ObjectStore } from '../../worker/store/store.js';
import { gcsEndpoint } from '../helpers/emulators.js';
import { makeTestBucket } from '../helpers/gcs.js';

function leaseSuite(label: string, make: () => Promise<{ open(): ObjectStore; cleanup(): Promise<void> }>): void {
  describe(`Lease on ${label}`, () => {
    let fx: Awaited<ReturnType<typeof make>>;
    let t: number;
    const clock = () => t;
    beforeEach(async () => {
      fx = await make();
      t = Date.parse('2026-11-27T02:00:00Z');
    });
    afterEach(async () => fx.cleanup());

    it('two holders: the second is refused while the first holds, and gets it after release', async () => {
      const a = new Lease(fx.open(), { holder: 'a', ttlMs: 60_000, now: clock });
      const b = new Lease(fx.open(), { holder: 'b', ttlMs: 60_000, now: clock });
      const first = await a.acquire();
      expect(first.holder).toBe('a');
      expect(a.held).toBe(true);
      expect(await errorCode(b.acquire())).toBe('LEASE_HELD');
      t += 30_000;
      const renewed = await a.renew();
      expect(renewed.generation).not.toBe(first.generation);
      expect(Date.parse(renewed.expiresAt)).toBe(t + 60_000);
      t += 45_000; // past the first expiry, within the renewed one
      expect(await errorCode(b.acquire())).toBe('LEASE_HELD');
      await a.release();
      await a.release(); // idempotent
      expect((await b.acquire()).holder).toBe('b');
      expect((await b.read())?.holder).toBe('b');
    });

    it('an expired lease is taken over, and the old holder learns it lost on renew', async () => {
      const a = new Lease(fx.open(), { holder: 'a', ttlMs: 1000, now: clock });
      const b = new Lease(fx.open(), { holder: 'b', ttlMs: 1000, now: clock });
      await a.acquire();
      t += 1500;
      expect(a.held).toBe(false);
      expect((await b.acquire()).holder).toBe('b');
      expect(await errorCode(a.renew())).toBe('LEASE_HELD');
      await a.release(); // must not delete b's lease
      expect((await b.read())?.holder).toBe('b');
      expect((await b.renew()).holder).toBe('b');
    });

    it('concurrent acquires: exactly one winner', async () => {
      const leases = Array.from({ length: 6 }, (_, i) => new Lease(fx.open(), { holder: `r${i}`, ttlMs: 60_000, now: clock }));
      const results = await Promise.all(leases.map((l) => errorCode(l.acquire())));
      expect(results.filter((r) => r === 'OK')).toHaveLength(1);
      expect(results.filter((r) => r === 'LEASE_HELD')).toHaveLength(5);
      const winner = leases[results.indexOf('OK')];
      expect((await winner.read())?.holder).toBe(winner.state?.holder);
    });

    it('concurrent takeover of an expired lease: exactly one winner', async () => {
      await new Lease(fx.open(), { holder: 'old', ttlMs: 10, now: clock }).acquire();
      t += 1000;
      const leases = Array.from({ length: 5 }, (_, i) => new Lease(fx.open(), { holder: `r${i}`, ttlMs: 60_000, now: clock }));
      const results = await Promise.all(leases.map((l) => errorCode(l.acquire())));
      expect(results.filter((r) => r === 'OK')).toHaveLength(1);
    });

    it('slot claims: each slot is claimed once across replicas', async () => {
      const results = await Promise.all(Array.from({ length: 5 }, (_, i) => claimSlot(fx.open(), 'round', '20261127T0200Z', `r${i}`, clock)));
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = `r${results.indexOf(true)}`;
      expect(await claimSlot(fx.open(), 'round', '20261127T0200Z', winner, clock)).toBe(true);
      expect(await claimSlot(fx.open(), 'round', '20261127T0300Z', 'r0', clock)).toBe(true);
      expect(await errorCode(claimSlot(fx.open(), '../x', 'y', 'r0'))).toBe('PATH_INVALID');
    });
  });
}

leaseSuite('LocalStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rl-lease-'));
  return { open: () => new LocalStore(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

leaseSuite('GcsStore (fake-gcs-server)', async () => {
  const b = await makeTestBucket('lease');
  return { open: () => new GcsStore(`gs://${b.name}/proj`, { apiEndpoint: gcsEndpoint() }), cleanup: () => b.cleanup() };
});
