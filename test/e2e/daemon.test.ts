/**
 * `reviewloop run` as an operator runs it: the built CLI in child processes
 * on a local root, on a seconds-level schedule. Slot ids have minute
 * precision, so "several rounds" means crossing a minute boundary: the three
 * tests run concurrently to share that wait.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../helpers/ports.js';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { stringify } from 'yaml';
import { intentBatch, INTENT_LABELS } from '../../worker/demo/data.js';
import { reviewChoice } from '../../worker/demo/reviewer.js';

const BIN = resolve('bin/reviewloop.js');
const dirs: string[] = [];
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Daemon {
  proc: ChildProcess;
  lines: Array<Record<string, unknown>>;
  /** 'line' for every log line as it arrives, 'exit' once. */
  events: EventEmitter;
  exit: Promise<{ code: number | null; at: number }>;
}

/** A job's end as the daemon logs it: the typed fields, not the wording. */
interface SlotFinished {
  event: 'slot-finished';
  job: string;
  slot: string;
  outcome: 'success' | 'failed' | 'aborted';
  code?: string;
}

const finished = (d: Daemon, job: string, outcome?: SlotFinished['outcome']): SlotFinished[] =>
  d.lines.filter(
    (l): l is Record<string, unknown> & SlotFinished => l.event === 'slot-finished' && l.job === job && (outcome === undefined || l.outcome === outcome),
  );

/** `holdChunkMs`: every scoring chunk of the daemon's rounds waits this long first (test/helpers/held-chunks-cli.mjs). */
function start(args: string[], holdChunkMs?: number): Daemon {
  const cli = holdChunkMs === undefined ? [BIN] : [resolve('test/helpers/held-chunks-cli.mjs'), String(holdChunkMs)];
  const proc = spawn(process.execPath, [...cli, ...args], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  const lines: Array<Record<string, unknown>> = [];
  const events = new EventEmitter();
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ message: line });
      }
      events.emit('line', lines[lines.length - 1]);
    }
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
  });
  const exit = new Promise<{ code: number | null; at: number }>((ok) =>
    proc.on('exit', (code) => {
      if (code !== 0 && stderr) lines.push({ message: `stderr: ${stderr}` });
      ok({ code, at: Date.now() });
      events.emit('exit');
    }),
  );
  return { proc, lines, events, exit };
}

/**
 * Resolves with `fn()`'s first truthy value, evaluated now and again on every
 * log line of the daemons: what it waits for (a manifest, a snapshot, a done
 * marker) is complete before the daemon logs the job's end. The bound only
 * guards against a hang; a daemon that exits fails the wait at once.
 */
function until<T>(what: string, fn: () => T | undefined | false | null, timeoutMs: number, daemons: Daemon[]): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const stop = () => {
      clearTimeout(timer);
      for (const d of daemons) {
        d.events.off('line', check);
        d.events.off('exit', exited);
      }
    };
    const fail = (why: string) => {
      stop();
      const logs = daemons.flatMap((d) => d.lines.slice(-15).map((l) => String(l.message)));
      reject(new Error(`${why} waiting for ${what}; last log lines:\n${logs.join('\n')}`));
    };
    const check = () => {
      const v = fn();
      if (v) {
        stop();
        resolve(v);
      }
    };
    const exited = () => fail('a daemon exited');
    const timer = setTimeout(() => fail('timed out'), timeoutMs);
    for (const d of daemons) {
      d.events.on('line', check);
      d.events.on('exit', exited);
    }
    check();
  });
}

async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  timeoutMs: number,
  daemons: Daemon[] = [],
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) {
      const logs = daemons.flatMap((d) => d.lines.slice(-15).map((l) => String(l.message)));
      throw new Error(`timed out waiting for ${what}; last log lines:\n${logs.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function metrics(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(reviewloop_[a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

function setup(name: string, worker: Record<string, unknown>, schedule: Record<string, string>, stats: Record<string, unknown> = { sink: 'none' }) {
  const dir = mkdtempSync(join(tmpdir(), `rl-daemon-${name}-`));
  dirs.push(dir);
  const project = join(dir, 'data', 'intents');
  mkdirSync(join(project, 'predictions'), { recursive: true });
  const writeConfig = (file: string, extra: Record<string, unknown> = {}) => {
    writeFileSync(
      join(dir, file),
      stringify({
        storage: { root: './data' },
        stats,
        worker: { threads: 1, chunkBytes: 65536, ...worker, ...extra },
        projects: [
          {
            name: 'intents',
            task: 'textcat',
            labels: [...INTENT_LABELS],
            strategy: { name: 'entropy', topK: 40, auditFraction: 0.1, seed: 3 },
            queue: { view: 'choice' },
            schedule,
          },
        ],
      }),
    );
    return join(dir, file);
  };
  const gold = new Map<string, string>();
  const stage = (file: string, seed: number, n: number) => {
    const batch = intentBatch({ seed, n, model: 'intent-v1', idPrefix: file, labelShift: 0.1, sharpness: 3 });
    for (const g of batch) gold.set(g.id, g.gold);
    writeFileSync(join(project, 'predictions', `${file}.jsonl`), batch.map((g) => JSON.stringify(g.record)).join('\n') + '\n');
  };
  const rounds = () => (existsSync(join(project, 'rounds')) ? readdirSync(join(project, 'rounds')).sort() : []);
  const complete = () => rounds().filter((r) => existsSync(join(project, 'rounds', r, 'manifest.json')));
  const snapshots = () =>
    existsSync(join(project, 'snapshots'))
      ? readdirSync(join(project, 'snapshots'))
          .filter((v) => existsSync(join(project, 'snapshots', v, 'manifest.json')))
          .sort()
      : [];
  const review = (round: string, file: string, seed: number) => {
    const tasks = readFileSync(join(project, 'rounds', round, 'queue.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const text = reviewChoice(tasks, gold, {
      dataset: 'intents',
      annotator: { name: 'alice', errorRate: 0.05, ignoreRate: 0.02, paceSeconds: 10 },
      startAt: 1_795_000_000,
      labels: INTENT_LABELS,
      seed,
    });
    mkdirSync(join(project, 'annotations', round), { recursive: true });
    writeFileSync(join(project, 'annotations', round, `${file}.jsonl`), text);
  };
  return { dir, project, writeConfig, stage, rounds, complete, snapshots, review };
}

describe.concurrent('reviewloop run', () => {
  it('runs rounds and merges on schedule, serves /healthz /readyz /metrics, and exits 0 on SIGTERM between steps', async ({ expect }) => {
    const port = await freePort();
    const s = setup('loop', { httpPort: port, shutdownGraceMs: 5000 }, { round: '*/2 * * * * *', merge: '*/2 * * * * *' }, { sink: 'duckdb' });
    s.stage('batch-a', 11, 1500);
    const d = start(['run', '-c', s.writeConfig('rl.yaml')]);
    const first = await until('the first round', () => s.complete()[0], 30_000, [d]);
    expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).text()).toBe('ok\n');
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, checks: { config: 'ok', store: 'ok', stats: 'ok', jobs: 'ok' } });
    // Between rounds: reviewers answer round 1 and the model pipeline writes new predictions.
    s.review(first, 'alice', 1);
    s.stage('batch-b', 12, 1500);
    await until('a second round and a snapshot', () => s.complete().length >= 2 && s.snapshots().length >= 1, 90_000, [d]);
    const [r1, r2] = s.complete();
    const m2 = JSON.parse(readFileSync(join(s.project, 'rounds', r2, 'manifest.json'), 'utf8'));
    expect(m2.consumed.map((c: { name: string }) => c.name)).toEqual(['predictions/batch-b.jsonl']);
    expect(r1 < r2).toBe(true);
    const snap = JSON.parse(readFileSync(join(s.project, 'snapshots', s.snapshots()[0], 'manifest.json'), 'utf8'));
    expect(snap.consumed.map((c: { name: string }) => c.name)).toEqual([`annotations/${r1}/alice.jsonl`]);
    // After a merge with stats the daemon publishes the report beside the data.
    const report = await waitFor('the published report', () => existsSync(join(s.project, 'reports', 'report-v000001.html')), 20_000, [d]);
    expect(report).toBe(true);
    expect(readFileSync(join(s.project, 'reports', 'report-v000001.html'), 'utf8')).toMatch(/<svg[\s\S]*Drift over rounds/);

    // A manifest is visible a moment before its run is counted (stats, done marker): wait for the count.
    const m = await waitFor(
      '/metrics to count both rounds',
      async () => {
        const now = await metrics(port);
        return now.get('reviewloop_runs_total{project="intents",job="round",outcome="success"}') === s.complete().length && now;
      },
      20_000,
      [d],
    );
    expect(m.get('reviewloop_runs_total{project="intents",job="merge",outcome="success"}')).toBeGreaterThanOrEqual(2);
    expect(m.get('reviewloop_items_scored_total{project="intents"}')).toBe(3000);
    expect(m.get('reviewloop_queue_items{project="intents"}')).toBe(m2.counts.queued);
    expect(m.get('reviewloop_skipped_total{project="intents",job="round",reason="done"}')).toBeGreaterThan(0);
    expect(m.get('reviewloop_merge_pending_exports{project="intents"}')).toBe(0);
    expect(m.get('reviewloop_merge_lag_seconds{project="intents"}')).toBe(0);
    expect(m.get('reviewloop_last_success_timestamp_seconds{project="intents",job="merge"}')).toBeGreaterThan(1.7e9);
    expect(m.has('reviewloop_pool_utilization')).toBe(true);
    expect(m.get('reviewloop_store_retries_total')).toBe(0);

    // An export nobody merged yet shows up as backlog (the merge of this minute already ran).
    s.review(r2, 'bob', 2);
    const backlog = await waitFor(
      'the pending export in /metrics',
      async () => {
        const now = await metrics(port);
        return now.get('reviewloop_merge_pending_exports{project="intents"}') === 1 && now;
      },
      20_000,
      [d],
    );
    expect(backlog.get('reviewloop_merge_lag_seconds{project="intents"}')).toBeGreaterThan(0);

    // SIGHUP with an invalid file: reported, counted, and the running config stays.
    const cfgPath = join(s.dir, 'rl.yaml');
    const good = readFileSync(cfgPath, 'utf8');
    writeFileSync(cfgPath, good.replace('topK: 40', 'topK: -1'));
    d.proc.kill('SIGHUP');
    // Each reload's result is counted before its log line: the counters are the typed record to wait on.
    await waitFor('the rejected reload', async () => (await metrics(port)).get('reviewloop_config_reloads_total{result="invalid"}') === 1, 10_000, [d]);
    // The rejection names the path of the bad field.
    expect(
      d.lines
        .filter((l) => l.severity === 'ERROR')
        .map((l) => String(l.message))
        .join('\n'),
    ).toMatch(/projects\[0\]\.strategy\.topK/);
    writeFileSync(cfgPath, good);
    d.proc.kill('SIGHUP');
    const after = await waitFor(
      'the accepted reload',
      async () => {
        const m = await metrics(port);
        return m.get('reviewloop_config_reloads_total{result="ok"}') === 1 && m;
      },
      10_000,
      [d],
    );
    expect(after.get('reviewloop_config_reloads_total{result="invalid"}')).toBe(1);

    const round1Log = d.lines.find((l) => l.round === r1 && l.event === 'slot-finished');
    expect(round1Log).toMatchObject({ severity: 'INFO', project: 'intents', job: 'round', round: r1, slot: r1, outcome: 'success' });
    expect(typeof round1Log!.time).toBe('string');
    d.proc.kill('SIGTERM');
    expect((await d.exit).code).toBe(0);
    // Once it stopped, its log accounts for every round on disk, each finished once.
    expect(finished(d, 'round').map((l) => `${l.slot} ${l.outcome}`)).toEqual(s.complete().map((r) => `${r} success`));
  }, 150_000);

  it('on SIGTERM mid-round: exits INTERRUPTED within the grace period, leaves no manifest, and the next start completes the same bytes', async ({ expect }) => {
    const s = setup('term', { httpPort: 0, shutdownGraceMs: 500 }, { round: '*/2 * * * * *' });
    s.stage('big', 21, 3000);
    const cfg = s.writeConfig('rl.yaml');
    // Each chunk waits 1.5 s: the round is provably still scoring when the signal arrives.
    const d = start(['run', '-c', cfg], 1500);
    const round = await waitFor('a round in progress', () => s.rounds().find((r) => existsSync(join(s.project, 'rounds', r, 'plan.json'))), 30_000, [d]);
    const sent = Date.now();
    d.proc.kill('SIGTERM');
    const exit = await d.exit;
    expect(exit.code).toBe(130);
    // Grace (0.5 s) + one delayed chunk (1.5 s) + unwinding; the bound only guards against a hang.
    expect(exit.at - sent).toBeLessThan(15_000);
    expect(existsSync(join(s.project, 'rounds', round, 'manifest.json'))).toBe(false);
    expect(existsSync(join(s.project, 'state', 'done', 'round', round))).toBe(false);
    expect(finished(d, 'round').map((l) => [l.slot, l.outcome, l.code])).toEqual([[round, 'aborted', 'ABORTED']]);

    const again = start(['run', '-c', cfg, '--once']);
    expect((await again.exit).code).toBe(0);
    const dirOf = join(s.project, 'rounds', round);
    expect(existsSync(join(dirOf, 'manifest.json'))).toBe(true);
    const files = readdirSync(dirOf).sort();
    const resumed = new Map(files.map((f) => [f, readFileSync(join(dirOf, f))]));

    // The uninterrupted reference: the same round id from scratch on the same inputs. Later slots the
    // restarted daemon may have run (every 2 s) go aside too: a plan pins the rounds complete when it was made.
    const aside = join(s.dir, 'aside');
    mkdirSync(aside);
    for (const r of s.rounds().filter((x) => x >= round)) renameSync(join(s.project, 'rounds', r), join(aside, r));
    const ref = start(['round', '-c', cfg, '--round', round]);
    expect((await ref.exit).code).toBe(0);
    expect(readdirSync(dirOf).sort()).toEqual(files);
    for (const f of files) expect(readFileSync(join(dirOf, f)).equals(resumed.get(f)!), f).toBe(true);
  }, 150_000);

  it('exits 78 on an invalid config and names the path', async ({ expect }) => {
    const s = setup('badcfg', { httpPort: 0 }, { round: '0 2 * * 7 *' });
    const d = start(['run', '-c', s.writeConfig('rl.yaml', { shutdownGraceMs: -5 })]);
    expect((await d.exit).code).toBe(78);
    expect(d.lines.map((l) => String(l.message)).join('\n')).toMatch(/CONFIG_INVALID: invalid config .*\n\s+worker\.shutdownGraceMs: /);
  });

  it('three replicas on one root run each slot exactly once', async ({ expect }) => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const s = setup('replicas', { shutdownGraceMs: 5000 }, { round: '*/2 * * * * *', merge: '*/3 * * * * *' });
    s.stage('batch-a', 31, 800);
    const replicas = ports.map((p, i) => start(['run', '-c', s.writeConfig(`rl-${i}.yaml`, { httpPort: p })]));
    const first = await until('the first round', () => s.complete()[0], 30_000, replicas);
    s.stage('batch-b', 32, 800);
    s.review(first, 'alice', 5);
    await until('a second round and a snapshot', () => s.complete().length >= 2 && s.snapshots().length >= 1, 90_000, replicas);
    const doneIds = (job: string) => readdirSync(join(s.project, 'state', 'done', job)).sort();
    const sum = (ms: Array<Map<string, number>>, key: string) => ms.reduce((acc, m) => acc + (m.get(key) ?? 0), 0);
    // Each slot ran on exactly one replica: successful runs summed over replicas = slots done.
    const scraped = await waitFor(
      'metrics that account for every finished slot',
      async () => {
        const ms = await Promise.all(ports.map((p) => metrics(p)));
        return (
          sum(ms, 'reviewloop_runs_total{project="intents",job="round",outcome="success"}') === doneIds('round').length &&
          sum(ms, 'reviewloop_runs_total{project="intents",job="merge",outcome="success"}') === doneIds('merge').length &&
          ms
        );
      },
      20_000,
      replicas,
    );
    await Promise.all(
      replicas.map(async (r) => {
        r.proc.kill('SIGTERM');
        expect((await r.exit).code).toBe(0);
      }),
    );

    const roundSlots = doneIds('round');
    expect(roundSlots.length).toBeGreaterThanOrEqual(2);
    expect(s.complete()).toEqual(roundSlots);
    expect(s.rounds()).toEqual(roundSlots);
    expect(sum(scraped, 'reviewloop_takeovers_total{project="intents",job="round"}')).toBe(0);
    const starts = replicas.flatMap((r) => r.lines.filter((l) => l.job === 'round' && l.event === 'slot-started').map((l) => l.slot));
    expect([...starts].sort()).toEqual(roundSlots);
    // Every slot finished once, on one replica, with success: no slot ran twice and none failed.
    for (const job of ['round', 'merge']) {
      expect(
        replicas
          .flatMap((r) => finished(r, job))
          .map((l) => `${l.slot} ${l.outcome}`)
          .sort(),
        job,
      ).toEqual(doneIds(job).map((id) => `${id} success`));
    }
    // The others saw the lease or the finished slot and skipped.
    const skippedBy = scraped.map((m) =>
      [...m].filter(([k]) => k.startsWith('reviewloop_skipped_total') && /reason="(lease|done)"/.test(k)).reduce((a, [, v]) => a + v, 0),
    );
    expect(skippedBy.every((n) => n > 0)).toBe(true);
    expect(replicas.every((r) => r.lines.some((l) => /replica \S+-\d+-[0-9a-f]{6}/.test(String(l.message))))).toBe(true);
  }, 150_000);
});
