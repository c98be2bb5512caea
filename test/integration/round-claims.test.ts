import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import type { ProjectConfig } from '../../config/schema.js';
import { CLAIM_TTL_MS, claimName, outcomeName } from '../../worker/round/claims.js';
import { ReviewloopError, isReviewloopError } from '../../domain/errors.js';
import { GcsStore } from '../../worker/store/gcs-store.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { PrefixedStore } from '../../worker/store/open-store.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { runRound } from '../../worker/round/round.js';
import type { RoundOptions } from '../../worker/round/types.js';
import type { ObjectStore, WriteOptions, ObjectInfo } from '../../worker/store/store.js';
import { jsonLines } from '../../worker/store/write-once.js';
import { silentLogger } from '../../worker/core/log.js';
import { JobRunner } from '../../worker/daemon/slot-runner.js';
import { gcsEndpoint } from '../helpers/emulators.js';
import { makeTestBucket, type TestBucket } from '../helpers/gcs.js';
import { tempDir } from '../helpers/loop.js';

const project: ProjectConfig = parseConfig({
  storage: { root: '/unused' },
  stats: { sink: 'none' },
  projects: [{ name: 'p', task: 'textcat', labels: ['a', 'b'], strategy: { name: 'margin', topK: 100_000, auditFraction: 0, seed: 1 } }],
}).projects[0];

const OBJECTS = 24;
const LINES = 5;
const batch = (o: number) =>
  jsonLines(Array.from({ length: LINES }, (_, i) => ({ id: `o${o}-${i}`, text: `t${o}`, probs: { a: 0.3 + i / 20, b: 0.7 - i / 20 } })));

async function seed(store: ObjectStore): Promise<void> {
  for (let o = 0; o < OBJECTS; o++) await store.write(`predictions/f${o % 3}/part-${String(o).padStart(3, '0')}.jsonl`, batch(o));
}

/** Fails the first write of a round's plan.json: a round killed after claiming, before its plan. */
class CrashBeforePlan extends PrefixedStore {
  armed = true;
  override async write(name: string, data: Buffer | string, options?: WriteOptions): Promise<ObjectInfo> {
    if (this.armed && name.endsWith('/plan.json')) {
      this.armed = false;
      throw new ReviewloopError('STORE_UNAVAILABLE', 'simulated crash before the plan');
    }
    return super.write(name, data, options);
  }
}

const queueIds = async (store: ObjectStore, round: string) =>
  (await store.read(`rounds/${round}/queue.jsonl`))
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { meta: { id: string } }).meta.id);

function suite(name: string, open: (label: string) => ObjectStore) {
  describe(`plan-time claims on ${name}`, () => {
    let pool: ScoringPool;
    beforeAll(() => {
      pool = new ScoringPool({ threads: 1 });
    });
    afterAll(async () => {
      await pool?.close();
    });
    const opts = (store: ObjectStore, roundId: string, extra: Partial<RoundOptions> = {}): RoundOptions => ({
      project,
      store,
      pool,
      sink: null,
      roundId,
      chunkBytes: 64 * 1024,
      ...extra,
    });

    it('rounds with different ids started together consume every object exactly once', async () => {
      const store = open('race');
      await seed(store);
      const ids = ['20261101T0200Z', '20261101T0300Z', 'manual-a', 'manual-b'];
      const results = await Promise.all(ids.map((id) => runRound(opts(store, id))));
      const consumed = results.flatMap((r) => r.manifest.consumed.map((c) => c.name));
      expect(consumed).toHaveLength(OBJECTS);
      expect(new Set(consumed).size).toBe(OBJECTS);
      const queued = (await Promise.all(ids.map((id) => queueIds(store, id)))).flat();
      expect(queued).toHaveLength(OBJECTS * LINES);
      expect(new Set(queued).size).toBe(OBJECTS * LINES);
      // A later round finds nothing left.
      expect((await runRound(opts(store, 'after'))).manifest.consumed).toEqual([]);
    });

    it('a round killed after claiming reruns under its id to the same bytes; meanwhile others leave its objects alone', async () => {
      const crashing = new CrashBeforePlan(open('crash'), 'p');
      await seed(crashing);
      const err = await runRound(opts(crashing, 'r1')).catch((e: unknown) => e);
      expect(isReviewloopError(err, 'STORE_UNAVAILABLE')).toBe(true);
      expect(await crashing.stat('rounds/r1/plan.json')).toBeNull();
      // Another round before the rerun: every object is claimed by r1, which may still come back.
      expect((await runRound(opts(crashing, 'r2'))).manifest.consumed).toEqual([]);
      const rerun = await runRound(opts(crashing, 'r1'));
      expect(rerun.manifest.consumed).toHaveLength(OBJECTS);
      // The same inputs without any crash give the same queue bytes (sources named relative to each root).
      const clean = new PrefixedStore(open('clean'), 'p');
      await seed(clean);
      await runRound(opts(clean, 'r1'));
      const queue = async (s: ObjectStore) => (await s.read('rounds/r1/queue.jsonl')).toString().replaceAll(s.root, 'ROOT');
      expect(await queue(crashing)).toBe(await queue(clean));
      expect(await queue(clean)).toContain('ROOT/predictions/f0/part-000.jsonl#L1');
    });

    it('a claim of a round that never completes is taken over after the TTL, and that round can no longer commit', async () => {
      const crashing = new CrashBeforePlan(open('stale'), 'p');
      await seed(crashing);
      await runRound(opts(crashing, 'gone')).catch(() => undefined);
      const later = Date.now() + CLAIM_TTL_MS + 60_000;
      const taker = await runRound(opts(crashing, 'taker', { claims: { now: () => later } }));
      expect(taker.manifest.consumed).toHaveLength(OBJECTS);
      const outcome = JSON.parse((await crashing.read(outcomeName('gone'))).toString()) as { state: string };
      expect(outcome.state).toBe('released');
      const claim = JSON.parse((await crashing.read(claimName(taker.manifest.consumed[0].name, taker.manifest.consumed[0].generation))).toString()) as {
        round: string;
      };
      expect(claim.round).toBe('taker');
      const back = await runRound(opts(crashing, 'gone')).catch((e: unknown) => e);
      expect(isReviewloopError(back, 'CONFLICT')).toBe(true);
      expect(await crashing.stat('rounds/gone/manifest.json')).toBeNull();
    });
  });
}

/** Fails writing a round's queue: a round that fails for good after planning (and claiming). */
class FailQueueOnce extends PrefixedStore {
  armed = true;
  override async write(name: string, data: Buffer | string, options?: WriteOptions): Promise<ObjectInfo> {
    if (this.armed && name.endsWith('/queue.jsonl')) {
      this.armed = false;
      throw new ReviewloopError('INPUT_INVALID', 'simulated permanent failure after planning');
    }
    return super.write(name, data, options);
  }
}

describe('the daemon releases the claims of a round it marks failed', () => {
  it("so the next slot reads the failed round's objects", async () => {
    const store = new FailQueueOnce(new LocalStore(path.join(dir, 'daemon')), 'p');
    await seed(store);
    const pool = new ScoringPool({ threads: 1 });
    try {
      const config = parseConfig({
        storage: { root: '/unused' },
        stats: { sink: 'none' },
        projects: [
          {
            name: 'p',
            task: 'textcat',
            labels: ['a', 'b'],
            strategy: { name: 'margin', topK: 100_000, auditFraction: 0, seed: 1 },
            schedule: { round: '0 * * * *' },
          },
        ],
      });
      const consumed: string[][] = [];
      const runner = new JobRunner({
        app: { projectStore: () => store },
        config: () => config,
        holder: 'replica-a',
        logger: silentLogger,
        jobs: {
          round: async (run) => {
            consumed.push(
              (await runRound({ project: run.project, store, pool, sink: null, roundId: run.slotId, chunkBytes: 64 * 1024 })).manifest.consumed.map(
                (c) => c.name,
              ),
            );
          },
          merge: async () => {},
        },
        shutdown: new AbortController().signal,
        stopping: () => false,
        now: () => Date.parse('2026-11-27T03:00:30Z'),
      });
      const first = await runner.tick('p', 'round', new Date('2026-11-27T02:00:00Z'));
      expect(first.status === 'ran' && isReviewloopError(first.ran[0].error, 'INPUT_INVALID')).toBe(true);
      expect(JSON.parse((await store.read(outcomeName('20261127T0200Z'))).toString())).toMatchObject({
        state: 'released',
        reason: 'round failed: INPUT_INVALID',
      });
      await runner.tick('p', 'round', new Date('2026-11-27T03:00:00Z'));
      expect(consumed).toHaveLength(1);
      expect(consumed[0]).toHaveLength(OBJECTS);
    } finally {
      await pool.close();
    }
  });
});

let dir: string;
let bucket: TestBucket | undefined;
beforeAll(async () => {
  dir = tempDir('claims');
  if (process.env.RL_GCS_ENDPOINT) bucket = await makeTestBucket('claims');
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await bucket?.cleanup();
});

suite('a local root', (label) => new PrefixedStore(new LocalStore(path.join(dir, label)), 'p'));
suite('fake-gcs-server', (label) => new PrefixedStore(new GcsStore(`gs://${bucket!.name}/${label}`, { apiEndpoint: gcsEndpoint() }), 'p'));
