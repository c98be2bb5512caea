/**
 * Concurrency campaign: several replicas (child processes) share one root and
 * all run `round --round R` and `merge` at the same instant, iteration after
 * iteration with new predictions and new exports in between. Every correction
 * must land exactly once, snapshot versions form one chain, and each round is
 * committed by exactly one replica (the others find it done).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LATEST, listSnapshots } from '../../../worker/snapshot/snapshot.js';
import type { LatestPointer } from '../../../domain/records.js';
import { readJson } from '../../../worker/store/write-once.js';
import {
  DEFAULT_FIXTURE,
  bump,
  check,
  exportsFor,
  jsonl,
  newFigures,
  placeFile,
  projectLocalStore,
  runCli,
  stagePredictions,
  writeFixtureConfig,
  type CliRun,
  type Figures,
  type FixtureOptions,
} from './common.js';
import { checkCommitted, checkExportLines, checkQueues } from './invariants.js';

/** Options for {@link runConcurrencyCampaign}. */
export interface ConcurrencyOptions {
  /** Replicas on the same root (2…4 is the realistic range). */
  replicas: number;
  /** Rounds (each with a simultaneous merge of the previous round's exports). */
  iterations: number;
  seed: number;
  fixture?: Partial<FixtureOptions>;
}

const roundId = (i: number) => `202612${String(1 + i).padStart(2, '0')}T0200Z`;

export async function runConcurrencyCampaign(opts: ConcurrencyOptions): Promise<Figures> {
  const started = Date.now();
  const fig = newFigures('concurrency', opts.seed);
  const fx: FixtureOptions = { ...DEFAULT_FIXTURE, records: 1500, topK: 100, threads: 1, formats: ['arrow', 'jsonl'], ...opts.fixture };
  const dir = mkdtempSync(path.join(tmpdir(), 'rl-concurrency-'));
  fig.notes.replicas = opts.replicas;
  try {
    const config = await writeFixtureConfig(dir, fx);
    const store = projectLocalStore(dir);
    const gold = new Map<string, string>();
    const exported = new Map<string, string>();
    let mtime = 1_800_200_000;
    const race = async (what: 'round' | 'merge', args: string[]): Promise<CliRun[]> => {
      const runs = await Promise.all(Array.from({ length: opts.replicas }, () => runCli(args)));
      bump(fig.tried, `${what}Processes`, runs.length);
      for (const r of runs) check(fig, `every ${what} replica exits 0`, r.code === 0, () => `${args.join(' ')}: exit ${r.code}: ${r.stderr.slice(-400)}`);
      bump(
        fig.tried,
        'lostMergeRaces',
        runs.reduce((a, r) => a + (r.stderr.match(/another merge committed first/g) ?? []).length, 0),
      );
      return runs;
    };
    for (let i = 0; i <= opts.iterations; i++) {
      if (i < opts.iterations) for (const [k, v] of await stagePredictions(dir, i, fx)) gold.set(k, v);
      if (i > 0) {
        for (const [name, text] of await exportsFor(store, roundId(i - 1), gold)) {
          exported.set(name, text);
          await placeFile(dir, name, text, mtime++);
        }
      }
      // Round i and the merge of round i-1's exports fall due together on every replica.
      const [rounds, merges] = await Promise.all([
        i < opts.iterations ? race('round', ['round', '-c', config, '--round', roundId(i)]) : Promise.resolve([]),
        race('merge', ['merge', '-c', config]),
      ]);
      if (i < opts.iterations) {
        bump(fig.tried, 'roundSlots');
        const writers = rounds.filter((r) => /round \S+ written/.test(r.stdout)).length;
        check(fig, 'each round is committed by exactly one replica', writers === 1, () => `${roundId(i)}: ${writers} replicas say they wrote it`);
        await checkQueues(fig, store, roundId(i));
      }
      const versions = merges.flatMap((r) => [...r.stdout.matchAll(/snapshot v(\d+) written/g)].map((m) => Number(m[1])));
      // Replicas that computed the same v(n+1) from the same inputs find identical bytes committed and say "written" too: one snapshot, not two.
      bump(fig.tried, 'mergesReportingTheSameVersion', versions.length - new Set(versions).size);
      await checkCommitted(fig, store);
      await checkExportLines(fig, store, exported);
    }
    const snaps = await listSnapshots(store);
    const chain = snaps.every((s, k) => s.version === k + 1 && s.parent === (k === 0 ? null : k));
    check(fig, 'snapshot versions form one chain (v1..vN, parent = previous)', chain && snaps.length > 0, () =>
      snaps.map((s) => `v${s.version}←${s.parent}`).join(' '),
    );
    const latest = await readJson<LatestPointer>(store, LATEST);
    check(fig, 'LATEST is the chain head', latest?.version === snaps.length, () => `LATEST v${latest?.version} of ${snaps.length}`);
    const queued: string[] = [];
    for (let i = 0; i < opts.iterations; i++) queued.push(...jsonl(await store.read(`rounds/${roundId(i)}/queue.jsonl`)).map((t) => t.meta.id as string));
    check(fig, 'no item queued in two rounds', new Set(queued).size === queued.length, () => `${queued.length - new Set(queued).size} repeats`);
    fig.tried.snapshots = snaps.length;
    fig.tried.iterations = opts.iterations;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  fig.elapsedMs = Date.now() - started;
  return fig;
}
