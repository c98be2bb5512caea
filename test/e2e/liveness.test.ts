/**
 * A round that cannot make progress, as an operator meets it: the built CLI
 * in child processes with every scoring chunk held far longer than the job's
 * bound (test/helpers/held-chunks-cli.mjs, a main-thread wait that no abort
 * and no thread teardown ends: the worst case, a job left behind). The tests wait
 * for the daemon's own log lines, never for a fixed time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../helpers/ports.js';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { stringify } from 'yaml';
import { intentBatch, INTENT_LABELS } from '../../worker/demo/data.js';

/** The built CLI with every scoring chunk held far past any bound. */
const HELD_CLI = [resolve('test/helpers/held-chunks-cli.mjs'), '100000000'];
const dirs: string[] = [];
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

type Line = Record<string, unknown>;

function start(args: string[], cwd: string) {
  const proc = spawn(process.execPath, [...HELD_CLI, ...args], { cwd, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  const lines: Line[] = [];
  const events = new EventEmitter();
  let buf = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        line = { message: text };
      }
      lines.push(line);
      events.emit('line', line);
    }
  });
  proc.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
  });
  const started = Date.now();
  const exit = new Promise<{ code: number | null; ms: number; stderr: string }>((ok) =>
    proc.on('exit', (code) => ok({ code, ms: Date.now() - started, stderr })),
  );
  /** The first log line (already seen or to come) that matches. */
  const line = (what: string, match: (l: Line) => boolean, timeoutMs: number) =>
    new Promise<Line>((ok, fail) => {
      const seen = lines.find(match);
      if (seen) return ok(seen);
      const timer = setTimeout(() => {
        events.off('line', on);
        fail(
          new Error(
            `no log line: ${what}; last lines:\n${lines
              .slice(-10)
              .map((l) => String(l.message))
              .join('\n')}\n${stderr}`,
          ),
        );
      }, timeoutMs);
      const on = (l: Line) => {
        if (match(l)) {
          clearTimeout(timer);
          events.off('line', on);
          ok(l);
        }
      };
      events.on('line', on);
    });
  return { proc, lines, exit, line };
}

function setup(name: string, worker: Record<string, unknown>, schedule: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), `rl-live-${name}-`));
  dirs.push(dir);
  const project = join(dir, 'data', 'intents');
  mkdirSync(join(project, 'predictions'), { recursive: true });
  const batch = intentBatch({ seed: 5, n: 300, model: 'intent-v1', idPrefix: 'a', labelShift: 0.1, sharpness: 3 });
  writeFileSync(join(project, 'predictions', 'a.jsonl'), batch.map((g) => JSON.stringify(g.record)).join('\n') + '\n');
  writeFileSync(
    join(dir, 'rl.yaml'),
    stringify({
      storage: { root: './data' },
      stats: { sink: 'none' },
      worker: { threads: 1, chunkBytes: 65536, ...worker },
      projects: [
        { name: 'intents', task: 'textcat', labels: [...INTENT_LABELS], strategy: { name: 'entropy', topK: 20 }, queue: { view: 'choice' }, schedule },
      ],
    }),
  );
  return { dir, project };
}

async function metrics(port: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const l of (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).split('\n')) {
    const m = /^(reviewloop_[a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(l);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

describe.concurrent('a round that cannot make progress', () => {
  it('daemon: fails the slot with JOB_TIMEOUT within its bound, goes on to the next slot, and /readyz and /metrics say so while /healthz stays 200', async ({
    expect,
  }) => {
    const port = await freePort();
    const s = setup('daemon', { httpPort: port, jobTimeoutMs: 2000, readyStaleSlots: 1, shutdownGraceMs: 500 }, { round: '*/2 * * * * *' });
    const d = start(['run', '-c', 'rl.yaml'], s.dir);
    const started = await d.line('a round starting', (l) => / starting$/.test(String(l.message)), 30_000);
    const failed = await d.line('the round failing with JOB_TIMEOUT', (l) => l.code === 'JOB_TIMEOUT', 40_000);
    expect(failed).toMatchObject({ severity: 'ERROR', project: 'intents', job: 'round', slot: started.slot });
    // Bound 2 s, then at most 5 s to unwind, 5 s to replace the threads and 5 s more: well under 30 s.
    expect(Date.parse(String(failed.time)) - Date.parse(String(started.time))).toBeLessThan(20_000);
    const marker = JSON.parse(readFileSync(join(s.project, 'state', 'done', 'round', String(started.slot)), 'utf8'));
    expect(marker).toMatchObject({ status: 'failed', code: 'JOB_TIMEOUT' });
    // The next slot is not blocked by the one left behind. Slot ids have minute precision: it starts at the next minute.
    await d.line('the next slot starting', (l) => / starting$/.test(String(l.message)) && String(l.slot) > String(started.slot), 75_000);

    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { ready: boolean; checks: Record<string, string>; details: { jobs: Array<Record<string, unknown>> } };
    expect(body.checks).toMatchObject({ config: 'ok', store: 'ok', stats: 'ok' });
    expect(body.checks.jobs).toMatch(/^error: /);
    expect(body.details.jobs).toContainEqual(
      expect.objectContaining({ project: 'intents', job: 'round', problem: 'stale', lastSuccessAt: null, ageSeconds: null, staleSlots: 1 }),
    );
    const m = await metrics(port);
    expect(m.get('reviewloop_job_failures_total{project="intents",job="round",code="JOB_TIMEOUT"}')).toBeGreaterThanOrEqual(1);
    expect(m.get('reviewloop_last_success_timestamp_seconds{project="intents",job="round"}')).toBe(0);
    expect(m.get('reviewloop_runs_total{project="intents",job="round",outcome="success"}')).toBeUndefined();

    d.proc.kill('SIGTERM');
    // A round is running (held) or about to: it is aborted after the grace period, else the stop is clean.
    expect([0, 130]).toContain((await d.exit).code);
  }, 150_000);

  it('run --once: exits 1 with JOB_TIMEOUT within the bound, although the job left behind still holds the event loop', async ({ expect }) => {
    const s = setup('once', { httpPort: 0, jobTimeoutMs: 1000 }, { round: '* * * * *' });
    const d = start(['run', '--once', '-c', 'rl.yaml'], s.dir);
    const exit = await d.exit;
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(/JOB_TIMEOUT/);
    expect(d.lines.some((l) => l.code === 'JOB_TIMEOUT' && l.job === 'round')).toBe(true);
    // 1 s bound + 3 × 5 s of unwinding at most, then the close and the 2 s exit fallback.
    expect(exit.ms).toBeLessThan(30_000);
  }, 60_000);
});
