import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import type { Config } from '../../config/schema.js';
import { EXIT, isReviewloopError, ReviewloopError } from '../../domain/errors.js';
import { claimSlot } from '../../worker/daemon/lease.js';
import { Lifecycle, type LifecycleEvent, type ReloadResult } from '../../worker/daemon/lifecycle.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { silentLogger } from '../../worker/core/log.js';
import { createMetrics, type DaemonMetrics, type JobName } from '../../worker/daemon/prom-metrics.js';
import { dueSlots, validateSchedules } from '../../worker/daemon/schedule.js';
import { floorToMinute, isSlotDone, JobRunner, type JobFn, type JobRun } from '../../worker/daemon/slot-runner.js';
import type { ObjectStore } from '../../worker/store/store.js';

function config(schedule: Record<string, string> = { round: '0 2 * * *', merge: '*/15 * * * *' }): Config {
  return parseConfig({
    storage: { root: '/unused' },
    stats: { sink: 'none' },
    projects: [{ name: 'p', task: 'textcat', labels: ['a', 'b'], strategy: { name: 'entropy', topK: 5 }, schedule }],
  });
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const S1 = new Date('2026-11-27T02:00:17Z');
const S2 = new Date('2026-11-27T02:15:00Z');

let dir: string;
let store: ObjectStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rl-sched-'));
  store = new LocalStore(dir);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function runner(
  holder: string,
  jobs: Partial<Record<JobName, JobFn>>,
  opts: { shutdown?: AbortSignal; metrics?: DaemonMetrics } = {},
): { runner: JobRunner; calls: string[] } {
  const calls: string[] = [];
  const wrap =
    (job: JobName): JobFn =>
    async (run: JobRun) => {
      calls.push(`${job}:${run.slotId}`);
      await jobs[job]?.(run);
    };
  const cfg = config();
  return {
    calls,
    runner: new JobRunner({
      app: { projectStore: () => store },
      config: () => cfg,
      holder,
      logger: silentLogger,
      metrics: opts.metrics,
      jobs: { round: wrap('round'), merge: wrap('merge') },
      shutdown: opts.shutdown ?? new AbortController().signal,
      stopping: () => false,
      // A fixed clock: the takeover window is relative to it.
      now: () => Date.parse('2026-11-27T02:20:00Z'),
    }),
  };
}

describe('JobRunner', () => {
  it('floors a tick to its minute slot and runs it once: later ticks of the minute are skipped as done', async () => {
    const metrics = createMetrics({ poolUtilization: () => null, mergeBacklog: async () => new Map() });
    const { runner: r, calls } = runner('a', {}, { metrics });
    expect(floorToMinute(S1).toISOString()).toBe('2026-11-27T02:00:00.000Z');
    const first = await r.tick('p', 'round', S1);
    expect(first).toMatchObject({ status: 'ran', slotId: '20261127T0200Z' });
    expect(await r.tick('p', 'round', new Date('2026-11-27T02:00:45Z'))).toEqual({ status: 'skipped', reason: 'done', slotId: '20261127T0200Z' });
    expect(calls).toEqual(['round:20261127T0200Z']);
    expect(await isSlotDone(store, 'round', '20261127T0200Z')).toBe(true);
    const text = await metrics.registry.metrics();
    expect(text).toContain('reviewloop_runs_total{project="p",job="round",outcome="success"} 1');
    expect(text).toContain('reviewloop_skipped_total{project="p",job="round",reason="done"} 1');
    // The lease is released after the run.
    expect(await store.stat('state/lease-round')).toBeNull();
  });

  it('skips a tick while the previous run of the same job is still going, and counts it', async () => {
    const gate = deferred();
    const metrics = createMetrics({ poolUtilization: () => null, mergeBacklog: async () => new Map() });
    const { runner: r, calls } = runner('a', { round: () => gate.promise }, { metrics });
    const running = r.tick('p', 'round', S1);
    // The run is registered synchronously: the next tick sees it at once.
    expect(await r.tick('p', 'round', S2)).toEqual({ status: 'skipped', reason: 'overlap', slotId: '20261127T0215Z' });
    // Another job of the same project is not blocked.
    expect((await r.tick('p', 'merge', S2)).status).toBe('ran');
    gate.resolve();
    await running;
    expect([...calls].sort()).toEqual(['merge:20261127T0215Z', 'round:20261127T0200Z']);
    expect(await metrics.registry.metrics()).toContain('reviewloop_skipped_total{project="p",job="round",reason="overlap"} 1');
  });

  it('lets only one replica run a slot: the other sees the lease and skips', async () => {
    const gate = deferred();
    const started = deferred();
    const a = runner('a', {
      round: () => {
        started.resolve();
        return gate.promise;
      },
    });
    const b = runner('b', {});
    const running = a.runner.tick('p', 'round', S1);
    await started.promise; // a holds the lease from here on
    expect(await b.runner.tick('p', 'round', S1)).toMatchObject({ status: 'skipped', reason: 'lease' });
    gate.resolve();
    await running;
    // Arriving after the run, the second replica finds the slot done.
    expect(await b.runner.tick('p', 'round', S1)).toMatchObject({ status: 'skipped', reason: 'done' });
    expect([...a.calls, ...b.calls]).toEqual(['round:20261127T0200Z']);
  });

  it('redoes slots claimed by a replica that died before finishing, oldest first, then the current slot', async () => {
    expect(await claimSlot(store, 'round', '20261127T0130Z', 'dead-replica')).toBe(true);
    expect(await claimSlot(store, 'round', '20261127T0200Z', 'dead-replica')).toBe(true);
    const { runner: r, calls } = runner('a', {});
    const out = await r.tick('p', 'round', S2);
    expect(calls).toEqual(['round:20261127T0130Z', 'round:20261127T0200Z', 'round:20261127T0215Z']);
    expect(out).toMatchObject({ status: 'ran', ran: [{ takeover: true }, { takeover: true }, { takeover: false }] });
  });

  it('marks a failed slot done as failed (the next slot takes its inputs) and returns the error', async () => {
    const { runner: r, calls } = runner('a', {
      merge: async () => {
        throw new Error('boom');
      },
    });
    const out = await r.tick('p', 'merge', S1);
    expect(out.status === 'ran' && (out.ran[0].error as Error).message).toBe('boom');
    const marker = JSON.parse((await store.read('state/done/merge/20261127T0200Z')).toString('utf8'));
    expect(marker).toMatchObject({ status: 'failed', message: 'boom', holder: 'a' });
    expect(await r.tick('p', 'merge', S2)).toMatchObject({ status: 'ran', ran: [{ slotId: '20261127T0215Z' }] });
    expect(calls).toEqual(['merge:20261127T0200Z', 'merge:20261127T0215Z']);
  });

  it('leaves an aborted slot unmarked so that the next start redoes it', async () => {
    const stop = new AbortController();
    const { runner: r } = runner(
      'a',
      {
        round: async () => {
          stop.abort();
          throw new Error('interrupted mid-write');
        },
      },
      { shutdown: stop.signal },
    );
    const err = await r.tick('p', 'round', S1).catch((e: unknown) => e);
    expect(isReviewloopError(err, 'ABORTED')).toBe(true);
    expect(await isSlotDone(store, 'round', '20261127T0200Z')).toBe(false);
    const next = runner('b', {});
    await next.runner.tick('p', 'round', S1);
    expect(next.calls).toEqual(['round:20261127T0200Z']);
  });
});

describe('schedules', () => {
  it('rejects a bad cron expression or time zone with the config path', () => {
    expect(() => validateSchedules(config({ round: '61 * * * *' }))).toThrow(/projects\[0\]\.schedule\.round/);
    expect(() =>
      validateSchedules(parseConfig({ ...config(), projects: [{ ...config().projects[0], schedule: { round: '0 2 * * *', timezone: 'Mars/Olympus' } }] })),
    ).toThrow(/schedule\.timezone/);
    expect(() => validateSchedules(config({ round: '*/5 * * * * *' }))).not.toThrow();
  });

  it('takes the latest slot at or before now as due, per job', () => {
    const due = dueSlots(config(), new Date('2026-11-27T05:07:30Z'));
    expect(due.map((d) => [d.job, d.slot.toISOString()])).toEqual([
      ['round', '2026-11-27T02:00:00.000Z'],
      ['merge', '2026-11-27T05:00:00.000Z'],
    ]);
  });
});

describe('Lifecycle', () => {
  function lifecycle(idle: () => Promise<void>, extra: { reload?: () => Promise<ReloadResult | undefined>; onEvent?: (e: LifecycleEvent) => void } = {}) {
    const signals = new EventEmitter();
    const events: string[] = [];
    const exits: number[] = [];
    const seen: LifecycleEvent[] = [];
    const lc = new Lifecycle({
      logger: silentLogger,
      graceMs: () => 200,
      abortSettleMs: 100,
      signals,
      stopScheduling: () => {
        events.push('stop');
      },
      idle,
      close: async () => {
        events.push('close');
      },
      forceExit: (c) => exits.push(c),
      ...extra,
      onEvent: (e) => {
        seen.push(e);
        extra.onEvent?.(e);
      },
    }).install();
    return { lc, signals, events, exits, seen };
  }

  it('lets a step finish within the grace period, closes once and exits 0', async () => {
    const step = deferred();
    // The step ends once draining began: inside the grace period by construction, not by a timer.
    const { lc, signals, events, seen } = lifecycle(() => step.promise, {
      onEvent: (e) => {
        if (e.type === 'draining') step.resolve();
      },
    });
    signals.emit('SIGTERM');
    expect(await lc.done).toBe(EXIT.OK);
    expect(lc.signal.aborted).toBe(false);
    await lc.close();
    expect(events).toEqual(['stop', 'close']);
    expect(seen).toEqual([
      { type: 'draining', reason: 'SIGTERM', graceMs: 200 },
      { type: 'stopped', code: EXIT.OK },
    ]);
  });

  it('aborts a step that outlives the grace period and exits INTERRUPTED; a second signal forces exit', async () => {
    const step = deferred();
    const { lc, signals, exits, seen } = lifecycle(() => step.promise);
    lc.signal.addEventListener('abort', () => step.resolve());
    signals.emit('SIGINT');
    expect(await lc.done).toBe(EXIT.INTERRUPTED);
    expect(lc.signal.aborted).toBe(true);
    expect(seen.map((e) => e.type)).toEqual(['draining', 'aborting', 'stopped']);
    const again = lifecycle(() => new Promise(() => undefined));
    again.signals.emit('SIGTERM');
    again.signals.emit('SIGTERM');
    expect(again.exits).toEqual([EXIT.INTERRUPTED]);
    expect(exits).toEqual([]);
  });

  it("reloads on SIGHUP and reports each reload's result", async () => {
    let reloads = 0;
    const results = ['ok', 'invalid', new ReviewloopError('CONFIG_INVALID', 'unexpected')] as const;
    const reloaded: Array<Extract<LifecycleEvent, { type: 'reloaded' }>> = [];
    let next = deferred();
    const { lc, signals } = lifecycle(async () => undefined, {
      reload: async () => {
        const r = results[reloads++];
        if (typeof r !== 'string') throw r;
        return r;
      },
      onEvent: (e) => {
        if (e.type === 'reloaded') {
          reloaded.push(e);
          next.resolve();
        }
      },
    });
    for (let i = 0; i < results.length; i++) {
      signals.emit('SIGHUP');
      await next.promise;
      next = deferred();
    }
    expect(reloads).toBe(3);
    expect(reloaded).toEqual([
      { type: 'reloaded', result: 'ok' },
      { type: 'reloaded', result: 'invalid' },
      { type: 'reloaded', result: 'failed', code: 'CONFIG_INVALID' },
    ]);
    await lc.shutdown('test');
    // No reload once shutdown began.
    signals.emit('SIGHUP');
    expect(reloads).toBe(3);
  });
});
