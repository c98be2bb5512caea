/**
 * Crash campaign: the loop's steps (`round`, `merge`) run as child processes
 * and are SIGKILLed at seeded points, repeatedly, then rerun to completion.
 * After each completion the project must be byte-identical to an uninterrupted
 * reference run; after every kill, readers must still see a consistent root.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LOCAL_HIDDEN_DIR } from '../../../worker/store/local-store.js';
import type { ObjectStore } from '../../../worker/store/store.js';
import {
  DEFAULT_FIXTURE,
  PROJECT,
  bump,
  check,
  diffDigests,
  digestStore,
  exportsFor,
  newFigures,
  placeFile,
  projectLocalStore,
  rng,
  runCli,
  stagePredictions,
  writeFixtureConfig,
  type Figures,
  type FixtureOptions,
} from './common.js';
import { checkCommitted, checkExportLines, checkQueues } from './invariants.js';

/** Options for {@link runCrashCampaign}. */
export interface CrashOptions {
  /** Kill points in total (SIGKILLs that landed while the step was running). */
  kills: number;
  /** Kills per step before it is allowed to finish. Default 5. */
  killsPerStep?: number;
  seed: number;
  fixture?: Partial<FixtureOptions>;
  /** Progress lines. Default: none. */
  log?: (line: string) => void;
}

const ROUNDS = ['20261101T0200Z', '20261108T0200Z'];

type Step = { kind: 'stage'; batch: number } | { kind: 'round'; round: string } | { kind: 'export'; round: string } | { kind: 'merge' };

const SCENARIO: Step[] = [
  { kind: 'stage', batch: 0 },
  { kind: 'round', round: ROUNDS[0] },
  { kind: 'export', round: ROUNDS[0] },
  { kind: 'merge' },
  { kind: 'stage', batch: 1 },
  { kind: 'round', round: ROUNDS[1] },
  { kind: 'export', round: ROUNDS[1] },
  { kind: 'merge' },
];

const cliArgs = (step: Step, config: string) => (step.kind === 'round' ? ['round', '-c', config, '--round', step.round] : ['merge', '-c', config]);

interface Reference {
  /** Digest of the whole project after each CLI step, by scenario index. */
  after: Map<number, Map<string, string>>;
  /** Wall time of each CLI step, in ms. */
  ms: Map<number, number>;
  /** Store writes each CLI step began (temp files created). */
  writes: Map<number, number>;
  /** Export name → body and the fixed mtime it was placed with. */
  exports: Map<string, { text: string; mtime: number }>;
}

/** Runs the scenario once without kills; exports are derived from the reference queues. */
async function reference(dir: string, config: string, fx: FixtureOptions): Promise<Reference> {
  const store = projectLocalStore(dir);
  const ref: Reference = { after: new Map(), ms: new Map(), writes: new Map(), exports: new Map() };
  const gold = new Map<string, string>();
  for (const [i, step] of SCENARIO.entries()) {
    if (step.kind === 'stage') {
      for (const [k, v] of await stagePredictions(dir, step.batch, fx)) gold.set(k, v);
    } else if (step.kind === 'export') {
      for (const [name, text] of await exportsFor(store, step.round, gold)) {
        const mtime = 1_800_100_000 + ref.exports.size;
        ref.exports.set(name, { text, mtime });
        await placeFile(dir, name, text, mtime);
      }
    } else {
      const watcher = watchWrites(dir);
      const r = await runCli(cliArgs(step, config));
      // inotify events may trail the exit: the barrier's own event comes after all of them.
      await watcher.settled();
      watcher.close();
      if (r.code !== 0) throw new Error(`reference ${step.kind} failed (${r.code}): ${r.stderr}`);
      ref.ms.set(i, r.ms);
      ref.writes.set(i, watcher.count());
      ref.after.set(i, await digestStore(store));
    }
  }
  return ref;
}

/**
 * Reruns a step until it exits 0. The one failure allowed on the way: a lock
 * file left by a SIGKILLed writer (LocalStore guards replaces such as LATEST
 * with one) blocks writers until it is `staleLockMs` (30 s) old. Writers wait
 * `lockWaitMs` (by default `staleLockMs` + 5 s) and so outlast it; a rerun
 * that still finds the lock busy (a shorter `lockWaitMs`) fails with a
 * retryable TRANSIENT error, is counted, and is run again, as the operator's
 * (or scheduler's) next run would be.
 */
async function rerunToCompletion(fig: Figures, args: string[], what: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const done = await runCli(args);
    bump(fig.tried, 'reruns');
    if (done.code === 0) {
      bump(fig.held, 'rerun after kills exits 0');
      return;
    }
    const lockedOut = /TRANSIENT: .*locked by another writer/.test(done.stderr);
    if (!lockedOut || attempt >= 5) {
      check(fig, 'rerun after kills exits 0', false, () => `${what}: exit ${done.code}: ${done.stderr.slice(0, 300)}`);
      return;
    }
    bump(fig.tried, 'rerunsLockedOutByCrashedWriter');
    await new Promise((r) => setTimeout(r, 5000));
  }
}

/**
 * Watches the store's temp folder (every LocalStore write starts with a new
 * temp file there): `count()` says how many writes began, `after(n)` resolves
 * when the n-th began, so a kill can land inside the write phase, which
 * process startup and scoring would otherwise dwarf.
 */
function watchWrites(dir: string): { count(): number; after(n: number): Promise<void>; settled(): Promise<void>; close(): void } {
  const tmp = path.join(dir, 'root', LOCAL_HIDDEN_DIR, 'tmp');
  mkdirSync(tmp, { recursive: true });
  const seen = new Set<string>();
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const barriers = new Map<string, () => void>();
  const w = watch(tmp, (_event, file) => {
    if (file && barriers.has(file)) {
      barriers.get(file)!();
      barriers.delete(file);
      return;
    }
    if (!file || seen.has(file) || !file.endsWith('.tmp')) return;
    seen.add(file);
    for (const x of waiters.filter((q) => q.n <= seen.size)) x.resolve();
  });
  return {
    count: () => seen.size,
    after: (n) =>
      new Promise((resolve) => {
        if (seen.size >= n) resolve();
        else waiters.push({ n, resolve });
      }),
    // inotify reports one folder's events in order: once a file created now is reported, every
    // creation before it was too. The barrier file is not a .tmp, so it is never counted.
    settled: async () => {
      const name = `barrier-${process.pid}-${barriers.size}-${Date.now()}.barrier`;
      const seenIt = new Promise<void>((resolve) => barriers.set(name, resolve));
      writeFileSync(path.join(tmp, name), '');
      await seenIt;
      rmSync(path.join(tmp, name), { force: true });
    },
    close: () => w.close(),
  };
}

/** {@link checkCommitted}, plus: no stray file on disk outside the store's hidden folder. */
async function checkReaderView(fig: Figures, dir: string, store: ObjectStore): Promise<void> {
  const names = await checkCommitted(fig, store);
  const stray = walk(path.join(dir, 'root')).filter((n) => !n.startsWith(`${LOCAL_HIDDEN_DIR}/`) && !names.has(n.slice(PROJECT.length + 1)));
  check(fig, 'every file on disk outside the hidden folder is a listed object', stray.length === 0, () => stray.join(', '));
}

function walk(root: string, rel = ''): string[] {
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(path.join(root, rel), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const r = rel === '' ? e.name : `${rel}/${e.name}`;
    return e.isDirectory() ? walk(root, r) : [r];
  });
}

export async function runCrashCampaign(opts: CrashOptions): Promise<Figures> {
  const started = Date.now();
  const fig = newFigures('crash', opts.seed);
  const fx = { ...DEFAULT_FIXTURE, ...opts.fixture };
  const perStep = opts.killsPerStep ?? 5;
  const log = opts.log ?? (() => undefined);
  const base = mkdtempSync(path.join(tmpdir(), 'rl-crash-'));
  const random = rng(opts.seed);
  try {
    // One path for the reference and every trial: URIs of the root end up in queues and rejects.
    const dir = path.join(base, 'run');
    const ref = await reference(dir, await writeFixtureConfig(dir, fx), fx);
    rmSync(dir, { recursive: true, force: true });
    for (const [i, ms] of ref.ms) fig.notes[`ref.${SCENARIO[i].kind}${i}`] = `${ms} ms, ${ref.writes.get(i)} writes`;
    let trial = 0;
    while ((fig.tried.kills ?? 0) < opts.kills) {
      const config = await writeFixtureConfig(dir, fx);
      const store = projectLocalStore(dir);
      for (const [i, step] of SCENARIO.entries()) {
        if (step.kind === 'stage') {
          await stagePredictions(dir, step.batch, fx);
          continue;
        }
        if (step.kind === 'export') {
          for (const [name, e] of ref.exports) if (name.startsWith(`annotations/${step.round}/`)) await placeFile(dir, name, e.text, e.mtime);
          continue;
        }
        let landed = 0;
        let finished = false;
        for (let attempt = 0; landed < perStep && (fig.tried.kills ?? 0) < opts.kills && attempt < perStep * 4; attempt++) {
          const before = await digestStore(store);
          // Half the kills at a time spread over the step's reference duration (startup and scoring
          // included), half right after the k-th write began (k seeded), so they land inside the writes.
          const watcher = watchWrites(dir);
          const byTime = random() < 0.5;
          const delay = Math.floor(random() * ref.ms.get(i)! * 0.95);
          const k = 1 + Math.floor(random() * ref.writes.get(i)!);
          const r = await runCli(cliArgs(step, config), byTime ? { killAfterMs: delay } : { killOn: watcher.after(k) });
          watcher.close();
          bump(fig.tried, byTime ? 'kills.timed' : 'kills.inWrite', r.killed ? 1 : 0);
          if (!r.killed) {
            bump(fig.notes as Record<string, number>, 'finishedBeforeKill');
            finished = r.code === 0;
            break;
          }
          landed++;
          bump(fig.tried, 'kills');
          bump(fig.tried, `kills.${step.kind}`);
          const after = await digestStore(store);
          const changed = diffDigests(before, after, 1000).length;
          const complete = diffDigests(ref.after.get(i)!, after).length === 0;
          if (changed > 0 && !complete) bump(fig.tried, 'killsLeavingPartialOutput');
          await checkReaderView(fig, dir, store);
        }
        if (!finished) await rerunToCompletion(fig, cliArgs(step, config), `${step.kind} (trial ${trial})`);
        const got = await digestStore(store);
        const diff = diffDigests(ref.after.get(i)!, got);
        check(fig, 'outputs byte-identical to the uninterrupted run', diff.length === 0, () => `trial ${trial} ${step.kind}: ${diff.join(', ')}`);
        await checkReaderView(fig, dir, store);
        if (step.kind === 'round') await checkQueues(fig, store, step.round);
        else await checkExportLines(fig, store, new Map([...ref.exports].filter(([n]) => got.has(n)).map(([n, e]) => [n, e.text])));
        const leftovers = walk(path.join(dir, 'root', LOCAL_HIDDEN_DIR, 'tmp')).length;
        fig.notes.maxTempFilesLeftHidden = Math.max(Number(fig.notes.maxTempFilesLeftHidden ?? 0), leftovers);
        log(`trial ${trial} ${step.kind}: ${landed} kill(s), then completed`);
      }
      rmSync(dir, { recursive: true, force: true });
      trial++;
    }
    fig.tried.trials = trial;
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
  fig.elapsedMs = Date.now() - started;
  return fig;
}
