import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import type { Config } from '../../config/schema.js';
import { exitCodeFor, EXIT, isReviewloopError, ReviewloopError } from '../../domain/errors.js';
import { runBounded, type BoundStage } from '../../worker/core/job-bound.js';
import { jobProblems } from '../../worker/daemon/liveness.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { silentLogger } from '../../worker/core/log.js';
import { createMetrics } from '../../worker/daemon/prom-metrics.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { commitManifest } from '../../worker/round/commit.js';
import { runRound } from '../../worker/round/round.js';
import type { RoundOptions } from '../../worker/round/types.js';
import type { RoundManifest } from '../../domain/records.js';
import type { ScoreTaskInput } from '../../worker/pool/score-task.js';
import { JobRunner, type JobEvent, type JobFn } from '../../worker/daemon/slot-runner.js';
import type { ObjectStore } from '../../worker/store/store.js';

const never = () => new Promise<void>(() => undefined);

function bounded(start: (signal: AbortSignal) => Promise<void>, extra: { onStuck?: () => Promise<void>; outer?: AbortSignal } = {}) {
  const stages: BoundStage[] = [];
  const t0 = Date.now();
  const p = runBounded(start, {
    what: 'round r1',
    boundMs: 100,
    settleMs: 50,
    outer: extra.outer ?? new AbortController().signal,
    onStuck: extra.onStuck,
    onStage: (s) => stages.push(s),
  }).then(
    () => ({ err: undefined as unknown, ms: Date.now() - t0 }),
    (err: unknown) => ({ err, ms: Date.now() - t0 }),
  );
  return { p, stages };
}

describe('runBounded', () => {
  it('settles like the job when it ends within the bound', async () => {
    const ok = bounded(async () => undefined);
    expect((await ok.p).err).toBeUndefined();
    const bad = bounded(async () => {
      throw new ReviewloopError('INPUT_INVALID', 'bad');
    });
    expect(isReviewloopError((await bad.p).err, 'INPUT_INVALID')).toBe(true);
    expect([...ok.stages, ...bad.stages]).toEqual([]);
  });

  it('aborts a job at the bound and fails it with JOB_TIMEOUT once it unwinds', async () => {
    let seen: AbortSignal | undefined;
    const b = bounded((signal) => {
      seen = signal;
      return new Promise<void>((_, reject) => signal.addEventListener('abort', () => reject(new ReviewloopError('ABORTED', 'scoring aborted'))));
    });
    const { err, ms } = await b.p;
    expect(isReviewloopError(err, 'JOB_TIMEOUT')).toBe(true);
    expect((err as ReviewloopError).details).toEqual({ boundMs: 100, unwound: 'aborted' });
    expect(exitCodeFor(err)).toBe(EXIT.FAILED);
    expect(seen!.aborted).toBe(true);
    expect(b.stages).toEqual(['timed-out']);
    expect(ms).toBeGreaterThanOrEqual(95);
    expect(ms).toBeLessThan(2000);
  });

  it('counts a job that still completes in the settle window as done: its outputs are whole', async () => {
    const b = bounded((signal) => new Promise<void>((ok) => signal.addEventListener('abort', () => ok())));
    expect((await b.p).err).toBeUndefined();
    expect(b.stages).toEqual(['timed-out']);
  });

  it('calls onStuck for a job deaf to its abort, and fails it as recycled when that frees it', async () => {
    let free!: () => void;
    const b = bounded(
      () =>
        new Promise<void>((_, reject) => {
          free = () => reject(new Error('Terminating worker thread'));
        }),
      { onStuck: async () => free() },
    );
    const { err } = await b.p;
    expect(isReviewloopError(err, 'JOB_TIMEOUT') && err.details.unwound).toBe('recycled');
    expect(b.stages).toEqual(['timed-out', 'stuck']);
  });

  it('abandons a job that never settles whatever happens, within bound + 3 settle periods', async () => {
    const b = bounded(never, { onStuck: never });
    const { err, ms } = await b.p;
    expect(isReviewloopError(err, 'JOB_TIMEOUT') && err.details.unwound).toBe('abandoned');
    expect(b.stages).toEqual(['timed-out', 'stuck', 'abandoned']);
    expect(ms).toBeLessThan(2000);
  });

  it('leaves an outside abort (shutdown) to the job: no timeout error', async () => {
    const stop = new AbortController();
    let started!: () => void;
    const running = new Promise<void>((r) => {
      started = r;
    });
    const b = bounded(
      (signal) =>
        new Promise<void>((_, reject) => {
          signal.addEventListener('abort', () => reject(new ReviewloopError('ABORTED', 'stopped')));
          started();
        }),
      { outer: stop.signal },
    );
    await running;
    stop.abort();
    expect(isReviewloopError((await b.p).err, 'ABORTED')).toBe(true);
    expect(b.stages).toEqual([]);
  });
});

describe('ScoringPool.recycle', () => {
  it('terminates a thread stuck in a loop (its task fails as SCORING_FAILED) and the next task runs on fresh threads', async () => {
    const pool = new ScoringPool({ threads: 1, taskModule: resolve('test/fixtures/spin-task.cjs') });
    try {
      const task = (object: string) => ({ kind: 'score-chunk', object, firstLine: 1, chunk: new Uint8Array(0) }) as unknown as ScoreTaskInput;
      const stuck = pool.score(task('spin'));
      // Only the thread's termination ends this task: no abort reaches a thread busy in a loop.
      await pool.recycle();
      expect(await stuck).toMatchObject({ ok: false, code: 'SCORING_FAILED' });
      expect(await pool.score(task('next'))).toEqual({ ok: true, object: 'next' });
    } finally {
      await pool.close();
    }
  });
});

describe('JobRunner under worker.jobTimeoutMs', () => {
  let dir: string;
  let store: ObjectStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rl-bound-'));
    store = new LocalStore(dir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function setup(round: JobFn, onStuck?: () => Promise<void>) {
    const cfg: Config = parseConfig({
      storage: { root: '/unused' },
      stats: { sink: 'none' },
      projects: [{ name: 'p', task: 'textcat', labels: ['a', 'b'], strategy: { name: 'entropy', topK: 5 }, schedule: { round: '*/15 * * * *' } }],
    });
    // Below the schema's minimum of 1 s, so that the test takes a fraction of a second.
    cfg.worker.jobTimeoutMs = 150;
    const events: JobEvent[] = [];
    const metrics = createMetrics({ poolUtilization: () => null, mergeBacklog: async () => new Map() });
    const runner = new JobRunner({
      app: { projectStore: () => store },
      config: () => cfg,
      holder: 'a',
      logger: silentLogger,
      metrics,
      jobs: { round, merge: async () => undefined },
      shutdown: new AbortController().signal,
      stopping: () => false,
      abortSettleMs: 50,
      onStuck,
      onEvent: (e) => events.push(e),
    });
    return { cfg, runner, events, metrics };
  }

  it('fails a round that never returns and ignores its abort with JOB_TIMEOUT, marks the slot failed, and runs the next slot', async () => {
    let recycled = 0;
    const s = setup(never, async () => {
      recycled++;
    });
    const out = await s.runner.tick('p', 'round', new Date('2026-11-27T02:00:00Z'));
    expect(out.status === 'ran' && isReviewloopError(out.ran[0].error, 'JOB_TIMEOUT')).toBe(true);
    expect(recycled).toBe(1);
    expect(s.events.map((e) => e.type)).toEqual(['started', 'timed-out', 'stuck', 'abandoned', 'finished']);
    expect(s.events.at(-1)).toMatchObject({ type: 'finished', outcome: 'failed', code: 'JOB_TIMEOUT', slotId: '20261127T0200Z' });
    const marker = JSON.parse((await store.read('state/done/round/20261127T0200Z')).toString('utf8'));
    expect(marker).toMatchObject({ status: 'failed', code: 'JOB_TIMEOUT' });
    const text = await s.metrics.registry.metrics();
    expect(text).toContain('reviewloop_job_failures_total{project="p",job="round",code="JOB_TIMEOUT"} 1');
    expect(text).toContain('reviewloop_runs_total{project="p",job="round",outcome="failed"} 1');
    // The abandoned job stays listed as running, and /readyz's rule reports it once past its bound.
    const [left] = s.runner.running();
    expect(left).toMatchObject({ project: 'p', job: 'round', slotId: '20261127T0200Z', abandoned: true });
    const problems = await jobProblems({
      config: s.cfg,
      nowMs: left.startedAtMs + 151,
      sinceMs: left.startedAtMs,
      lastSuccess: async () => null,
      running: s.runner.running(),
    });
    expect(problems).toEqual([
      { project: 'p', job: 'round', problem: 'overrunning', slotId: '20261127T0200Z', runningSeconds: 0, boundSeconds: 0.15, abandoned: true },
    ]);
    // Nothing is left holding the job: the next slot runs.
    const next = await s.runner.tick('p', 'round', new Date('2026-11-27T02:15:00Z'));
    expect(next).toMatchObject({ status: 'ran', ran: [{ slotId: '20261127T0215Z' }] });
  });

  it('fails a job that honours its abort with JOB_TIMEOUT at the bound, and marks the slot failed', async () => {
    const s = setup(({ signal }) => new Promise<void>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))));
    const out = await s.runner.tick('p', 'round', new Date('2026-11-27T02:00:00Z'));
    expect(out.status === 'ran' && isReviewloopError(out.ran[0].error, 'JOB_TIMEOUT') && out.ran[0].error.details.unwound).toBe('aborted');
    expect(s.events.map((e) => e.type)).toEqual(['started', 'timed-out', 'finished']);
    expect(JSON.parse((await store.read('state/done/round/20261127T0200Z')).toString('utf8'))).toMatchObject({ status: 'failed', code: 'JOB_TIMEOUT' });
    expect(s.runner.running()).toEqual([]);
  });

  it('fails a real round whose scoring thread never answers, leaving no manifest', async () => {
    const pool = new ScoringPool({ threads: 1, taskModule: resolve('test/fixtures/spin-task.cjs') });
    const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: `x${i}`, text: `item ${i}`, probs: { a: 0.3, b: 0.7 } }));
    await store.write('predictions/spin.jsonl', `${lines.join('\n')}\n`, { ifGenerationMatch: '0' });
    const s = setup(
      ({ project, store: st, slotId, signal }) =>
        runRound({ project, store: st, pool, sink: null, roundId: slotId, chunkBytes: 65536, signal }).then(() => undefined),
      () => pool.recycle(),
    );
    s.cfg.worker.jobTimeoutMs = 500;
    try {
      const out = await s.runner.tick('p', 'round', new Date('2026-11-27T02:00:00Z'));
      expect(out.status === 'ran' && isReviewloopError(out.ran[0].error, 'JOB_TIMEOUT') && out.ran[0].error.details.unwound).toBe('recycled');
      expect(await store.stat('rounds/20261127T0200Z/manifest.json')).toBeNull();
      expect(s.events.map((e) => e.type)).toEqual(['started', 'timed-out', 'stuck', 'finished']);
    } finally {
      await pool.close();
    }
  });

  it('never commits the manifest of a round whose signal was aborted, however late it gets there', async () => {
    const timeout = new AbortController();
    timeout.abort(new ReviewloopError('JOB_TIMEOUT', 'round 20261127T0200Z did not finish within worker.jobTimeoutMs'));
    const opts = { store, sink: null, signal: timeout.signal } as unknown as RoundOptions;
    const manifest = { round: '20261127T0200Z' } as RoundManifest;
    const err = await commitManifest(opts, manifest, [], silentLogger, '').catch((e: unknown) => e);
    expect(isReviewloopError(err, 'JOB_TIMEOUT')).toBe(true);
    expect(await store.stat('rounds/20261127T0200Z/manifest.json')).toBeNull();
  });

  it('fails a round whose scoring thread spins, by replacing the pool, and the next round scores on fresh threads', async () => {
    const pool = new ScoringPool({ threads: 1, taskModule: resolve('test/fixtures/spin-task.cjs') });
    const task = (object: string) => ({ kind: 'score-chunk', object, firstLine: 1, chunk: new Uint8Array(0) }) as unknown as ScoreTaskInput;
    const results: unknown[] = [];
    const s = setup(
      async ({ slotId }) => {
        const r = await pool.score(task(slotId === '20261127T0200Z' ? 'spin' : slotId));
        results.push(r);
        if (!r.ok) throw new ReviewloopError('SCORING_FAILED', r.message);
      },
      () => pool.recycle(),
    );
    try {
      const out = await s.runner.tick('p', 'round', new Date('2026-11-27T02:00:00Z'));
      expect(out.status === 'ran' && isReviewloopError(out.ran[0].error, 'JOB_TIMEOUT') && out.ran[0].error.details.unwound).toBe('recycled');
      expect(s.runner.running()).toEqual([]);
      const next = await s.runner.tick('p', 'round', new Date('2026-11-27T02:15:00Z'));
      expect(next).toMatchObject({ status: 'ran', ran: [{ slotId: '20261127T0215Z', error: undefined }] });
      expect(results.at(-1)).toEqual({ ok: true, object: '20261127T0215Z' });
    } finally {
      await pool.close();
    }
  });
});
