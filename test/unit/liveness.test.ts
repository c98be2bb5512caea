import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import type { Config } from '../../config/schema.js';
import { describeProblem, JobHistory, jobProblems, oldestJudgedSlot, type LastSuccess } from '../../worker/daemon/liveness.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { silentLogger } from '../../worker/core/log.js';
import { createMetrics } from '../../worker/daemon/prom-metrics.js';
import { ReadinessFailure, startOpsServer } from '../../worker/daemon/ops-http.js';
import type { ObjectStore } from '../../worker/store/store.js';

const at = (iso: string) => Date.parse(iso);

function config(worker: Record<string, unknown> = {}): Config {
  return parseConfig({
    storage: { root: '/unused' },
    stats: { sink: 'none' },
    // Hourly rounds, a merge at 06:00 on weekdays only.
    worker: { jobTimeoutMs: 600_000, readyStaleSlots: 3, ...worker },
    projects: [
      { name: 'p', task: 'textcat', labels: ['a', 'b'], strategy: { name: 'entropy', topK: 5 }, schedule: { round: '0 * * * *', merge: '0 6 * * 1-5' } },
    ],
  });
}

describe('config', () => {
  it('states the bounds with their units and defaults: 1 h per job, 3 slots for readiness', () => {
    const c = parseConfig({ storage: { root: '/x' }, projects: [{ name: 'p', task: 'textcat', labels: ['a'], strategy: { name: 'entropy', topK: 1 } }] });
    expect([c.worker.jobTimeoutMs, c.worker.readyStaleSlots]).toEqual([3_600_000, 3]);
    expect(() => config({ jobTimeoutMs: 10 })).toThrow(/worker\.jobTimeoutMs/);
    expect(() => config({ readyStaleSlots: 0 })).toThrow(/worker\.readyStaleSlots/);
  });
});

describe('jobProblems (fake clock)', () => {
  // Now is Friday 2026-11-27 12:30 UTC: judged slots end at 12:20 → rounds 12:00, 11:00, 10:00; merges Fri, Thu, Wed 06:00.
  const now = at('2026-11-27T12:30:00Z');
  const since = at('2026-11-01T00:00:00Z');
  const last =
    (m: Record<string, string | null>) =>
    async (_p: string, job: string): Promise<LastSuccess | null> =>
      m[job] ? { slotId: 'x', atMs: at(m[job]!) } : null;

  it('takes the N-th latest slot that must have ended, per cron (irregular ones too)', () => {
    expect(new Date(oldestJudgedSlot('0 * * * *', 'UTC', now - 600_000, 3)!).toISOString()).toBe('2026-11-27T10:00:00.000Z');
    // Monday 09:00: the three latest weekday merges are Thu, Fri and Mon.
    expect(new Date(oldestJudgedSlot('0 6 * * 1-5', 'UTC', at('2026-11-30T09:00:00Z'), 3)!).toISOString()).toBe('2026-11-26T06:00:00.000Z');
  });

  it('is empty while a success follows the oldest judged slot', async () => {
    expect(
      await jobProblems({
        config: config(),
        nowMs: now,
        sinceMs: since,
        running: [],
        lastSuccess: last({ round: '2026-11-27T10:04:00Z', merge: '2026-11-25T06:01:00Z' }),
      }),
    ).toEqual([]);
  });

  it('names the project, job and age of a job without a success among its last 3 slots', async () => {
    const problems = await jobProblems({
      config: config(),
      nowMs: now,
      sinceMs: since,
      running: [],
      lastSuccess: last({ round: '2026-11-27T09:05:00Z', merge: null }),
    });
    expect(problems).toEqual([
      {
        project: 'p',
        job: 'round',
        problem: 'stale',
        lastSuccessAt: '2026-11-27T09:05:00.000Z',
        ageSeconds: 12_300,
        staleSlots: 3,
        oldestSlotJudged: '2026-11-27T10:00:00.000Z',
      },
      { project: 'p', job: 'merge', problem: 'stale', lastSuccessAt: null, ageSeconds: null, staleSlots: 3, oldestSlotJudged: '2026-11-25T06:00:00.000Z' },
    ]);
    expect(describeProblem(problems[0])).toMatch(/round of p: .*12300 s ago/);
  });

  it('judges only slots scheduled since this process started (a fresh replica is not held for its predecessors)', async () => {
    const fresh = await jobProblems({
      config: config(),
      nowMs: now,
      sinceMs: at('2026-11-27T10:30:00Z'),
      running: [],
      lastSuccess: last({ round: null, merge: null }),
    });
    expect(fresh).toEqual([]);
  });

  it('follows worker.readyStaleSlots and skips jobs without a schedule', async () => {
    const c = config({ readyStaleSlots: 1 });
    c.projects[0].schedule.merge = undefined;
    const problems = await jobProblems({ config: c, nowMs: now, sinceMs: since, running: [], lastSuccess: last({ round: '2026-11-27T11:30:00Z' }) });
    expect(problems).toMatchObject([{ job: 'round', problem: 'stale', oldestSlotJudged: '2026-11-27T12:00:00.000Z' }]);
  });

  it('reports a job running past worker.jobTimeoutMs, and not one within it', async () => {
    const running = [
      { project: 'p', job: 'round' as const, slotId: '20261127T1200Z', startedAtMs: at('2026-11-27T12:19:00Z'), abandoned: false },
      { project: 'p', job: 'merge' as const, slotId: '20261127T0600Z', startedAtMs: at('2026-11-27T12:21:00Z'), abandoned: false },
    ];
    const problems = await jobProblems({ config: config(), nowMs: now, sinceMs: now, running, lastSuccess: last({}) });
    expect(problems).toEqual([
      { project: 'p', job: 'round', problem: 'overrunning', slotId: '20261127T1200Z', runningSeconds: 660, boundSeconds: 600, abandoned: false },
    ]);
  });
});

describe('JobHistory', () => {
  let dir: string;
  let store: ObjectStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rl-live-'));
    store = new LocalStore(dir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const mark = (slot: string, body: Record<string, unknown>) =>
    store.write(`state/done/round/${slot}`, `${JSON.stringify(body)}\n`, { ifGenerationMatch: '0' });

  it('finds the newest successful slot among the done markers of every replica, and then reads only newer ones', async () => {
    let clock = at('2026-11-27T12:00:00Z');
    const h = new JobHistory(store, 'round', { now: () => clock });
    expect(await h.lastSuccess()).toBeNull();
    await mark('20261127T0900Z', { status: 'ok', holder: 'a', finishedAt: '2026-11-27T09:02:00.000Z' });
    await mark('20261127T1000Z', { status: 'ok', holder: 'b', finishedAt: '2026-11-27T10:03:00.000Z' });
    await mark('20261127T1100Z', { status: 'failed', code: 'JOB_TIMEOUT', finishedAt: '2026-11-27T12:00:00.000Z' });
    // Within the refresh interval the cached answer stands.
    expect(await h.lastSuccess()).toBeNull();
    clock += 1000;
    expect(await h.lastSuccess()).toEqual({ slotId: '20261127T1000Z', atMs: at('2026-11-27T10:03:00Z') });
    await mark('20261127T1200Z', { status: 'ok', finishedAt: '2026-11-27T12:01:00.000Z' });
    clock += 1000;
    expect(await h.lastSuccess()).toEqual({ slotId: '20261127T1200Z', atMs: at('2026-11-27T12:01:00Z') });
    // A success noted here counts before any listing.
    h.note({ slotId: '20261127T1300Z', atMs: at('2026-11-27T13:00:30Z') });
    expect((await h.lastSuccess())?.slotId).toBe('20261127T1300Z');
  });

  it('lists only the last lookBackMs on its first call: an older success reads as none', async () => {
    await mark('20261101T0000Z', { status: 'ok', finishedAt: '2026-11-01T00:01:00.000Z' });
    const clock = at('2026-11-27T12:00:00Z');
    expect(await new JobHistory(store, 'round', { now: () => clock }).lastSuccess()).toBeNull();
    expect((await new JobHistory(store, 'round', { now: () => clock, lookBackMs: 30 * 86_400_000 }).lastSuccess())?.slotId).toBe('20261101T0000Z');
  });

  it('reads a long run of failed markers a bounded number at a time, and still finds the success before them', async () => {
    let clock = 0;
    const h = new JobHistory(store, 'round', { now: () => clock, maxReads: 4 });
    await mark('20261126T0000Z', { status: 'ok', finishedAt: '2026-11-26T00:01:00.000Z' });
    for (let hour = 1; hour <= 9; hour++) await mark(`20261126T0${hour}00Z`, { status: 'failed', code: 'JOB_TIMEOUT' });
    const seen: Array<string | undefined> = [];
    for (let i = 0; i < 3; i++, clock += 1000) seen.push((await h.lastSuccess())?.slotId);
    // 9 failures, 4 reads per refresh: the success (10th newest) is found on the third refresh.
    expect(seen).toEqual([undefined, undefined, '20261126T0000Z']);
  });
});

describe('metrics', () => {
  it('exports the last success per project and job as a Unix timestamp (0: none on record) and the running age', async () => {
    const now = at('2026-11-27T12:30:00Z');
    const m = createMetrics({
      poolUtilization: () => null,
      mergeBacklog: async () => new Map(),
      now: () => now,
      lastSuccess: async () => [
        { project: 'p', job: 'round', atMs: at('2026-11-27T12:01:00Z') },
        { project: 'p', job: 'merge', atMs: null },
      ],
      running: () => [{ project: 'p', job: 'round', startedAtMs: now - 90_000 }],
    });
    m.failures.inc({ project: 'p', job: 'round', code: 'JOB_TIMEOUT' });
    const text = await m.registry.metrics();
    expect(text).toContain(`reviewloop_last_success_timestamp_seconds{project="p",job="round"} ${at('2026-11-27T12:01:00Z') / 1000}`);
    expect(text).toContain('reviewloop_last_success_timestamp_seconds{project="p",job="merge"} 0');
    expect(text).toContain('reviewloop_job_running_seconds{project="p",job="round"} 90');
    expect(text).not.toContain('reviewloop_job_running_seconds{project="p",job="merge"}');
    expect(text).toContain('reviewloop_job_failures_total{project="p",job="round",code="JOB_TIMEOUT"} 1');
  });
});

describe('/readyz', () => {
  it('answers 503 naming the project, job and age while a job is stale; /healthz stays 200', async () => {
    let problems: unknown[] = [{ project: 'p', job: 'round', problem: 'stale', ageSeconds: 12_300 }];
    const server = await startOpsServer({
      port: 0,
      host: '127.0.0.1',
      logger: silentLogger,
      accepting: () => true,
      readyCacheMs: 0,
      registry: createMetrics({ poolUtilization: () => null, mergeBacklog: async () => new Map() }).registry,
      checks: [
        {
          name: 'jobs',
          run: async () => {
            if (problems.length > 0) throw new ReadinessFailure('round of p is stale', problems);
          },
        },
      ],
    });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const r = await fetch(`${base}/readyz`);
      expect(r.status).toBe(503);
      expect(await r.json()).toEqual({ ready: false, checks: { config: 'ok', jobs: 'error: round of p is stale' }, details: { jobs: problems } });
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      problems = [];
      const ok = await fetch(`${base}/readyz`);
      expect([ok.status, await ok.json()]).toEqual([200, { ready: true, checks: { config: 'ok', jobs: 'ok' } }]);
    } finally {
      await server.close();
    }
  });
});
