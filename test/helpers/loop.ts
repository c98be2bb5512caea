/**
 * Runs the standard loop (round → simulated db-out export → merge → second
 * round → merge) against any store, and snapshots every file it wrote, so the
 * same scenario proves local and GCS roots produce the same bytes.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseConfig } from '../../config/parse.js';
import type { Config } from '../../config/schema.js';
import { intentBatch, INTENT_LABELS } from '../../worker/demo/data.js';
import { reviewChoice } from '../../worker/demo/reviewer.js';
import { runMerge, type MergeResult } from '../../worker/merge/merge.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { projectStore } from '../../worker/store/open-store.js';
import { runRound } from '../../worker/round/round.js';
import type { RoundResult } from '../../worker/round/types.js';
import { openStatsSink } from '../../worker/stats/sinks/open-sink.js';
import type { StatsSink } from '../../worker/stats/sinks/sink.js';
import type { ObjectStore } from '../../worker/store/store.js';
import { writeOnce } from '../../worker/store/write-once.js';

export function loopConfig(root: string, over: Record<string, unknown> = {}): Config {
  return parseConfig({
    storage: { root },
    stats: { sink: 'none' },
    projects: [
      {
        name: 'intents',
        task: 'textcat',
        labels: [...INTENT_LABELS],
        strategy: { name: 'entropy', topK: 40, auditFraction: 0.1, seed: 3 },
        queue: { annotators: ['ann', 'bob'], overlap: 2 },
        merge: { conflict: 'majority' },
        ...over,
      },
    ],
  });
}

export interface LoopRun {
  rounds: RoundResult[];
  merges: MergeResult[];
  /** name → bytes of everything under the project, excluding plan files' timestamps. */
  files: Map<string, Buffer>;
}

export async function stageBatch(store: ObjectStore, i: number, n = 400): Promise<Map<string, string>> {
  const batch = intentBatch({ seed: 10 + i, n, model: `m${i}`, idPrefix: `t${i}`, labelShift: 0.1 * i, sharpness: 3 - i * 0.5 });
  const lines = batch.map((g) => JSON.stringify(g.record));
  if (i === 0) lines.push('{"id": "bad"', JSON.stringify({ id: 'nan', text: 'x', probs: { billing: 'NaN' } }));
  await writeOnce(store, `predictions/b${i}/part-0.jsonl.gz`, gzipSync(Buffer.from(`${lines.join('\n')}\n`)), 'application/gzip');
  return new Map(batch.map((g) => [g.id, g.gold]));
}

export async function review(store: ObjectStore, roundId: string, gold: Map<string, string>): Promise<void> {
  for (const [k, name] of ['ann', 'bob'].entries()) {
    const queue = (await store.read(`rounds/${roundId}/queue-${name}.jsonl`))
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const text = reviewChoice(queue, gold, {
      dataset: 'intents',
      annotator: { name, errorRate: 0.1 * (k + 1), ignoreRate: 0.05, paceSeconds: 10 },
      startAt: 1_800_000_000 + k,
      labels: INTENT_LABELS,
      seed: k,
    });
    await writeOnce(store, `annotations/${roundId}/${name}.jsonl`, text, 'application/x-ndjson');
  }
}

export async function dump(store: ObjectStore): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for await (const o of store.list('')) files.set(o.name, await store.read(o.name));
  return files;
}

/** The standard two-round scenario. `sink` defaults to none. */
export async function runStandardLoop(root: ObjectStore, config: Config, opts: { pool?: ScoringPool; sink?: StatsSink | null } = {}): Promise<LoopRun> {
  const project = config.projects[0];
  const store = projectStore(root, project.name);
  const pool = opts.pool ?? new ScoringPool({ threads: 2 });
  const rounds: RoundResult[] = [];
  const merges: MergeResult[] = [];
  try {
    for (const [i, roundId] of ['20261101T0200Z', '20261108T0200Z'].entries()) {
      const gold = await stageBatch(store, i);
      rounds.push(await runRound({ project, store, pool, sink: opts.sink ?? null, roundId, chunkBytes: 16 * 1024 }));
      await review(store, roundId, gold);
      merges.push(await runMerge({ project, store, sink: opts.sink ?? null }));
    }
  } finally {
    if (!opts.pool) await pool.close();
  }
  return { rounds, merges, files: await dump(store) };
}

export function tempDir(label: string): string {
  return mkdtempSync(path.join(tmpdir(), `rl-${label}-`));
}

export async function duckdbSink(dir: string): Promise<StatsSink> {
  return openStatsSink({ sink: 'duckdb', path: path.join(dir, 'stats.duckdb') }, { defaultPath: path.join(dir, 'stats.duckdb') });
}
