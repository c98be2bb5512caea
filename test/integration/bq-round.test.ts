/**
 * Rounds with `strategy.engine: bigquery` on the goccy bigquery-emulator:
 * two rounds over a predictions table queue the same ids in the same order
 * as local-engine rounds over the same records written as JSONL, round 2
 * never re-queues round 1 (the history is excluded in the query), a rerun
 * after a lost manifest writes the same bytes, and a new model version of a
 * queued item is eligible again.
 *
 * The emulator (v0.8.1) has no `FOR SYSTEM_TIME AS OF`: `timeTravel` is
 * checked on the generated SQL only.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { BigQuery } from '@google-cloud/bigquery';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import type { ProjectConfig } from '../../config/schema.js';
import { parseTableRef, scoringQuery } from '../../scoring/sql.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { runRound } from '../../worker/round/round.js';
import type { RoundPlan } from '../../worker/round/types.js';
import { dummyAuthClient } from '../../worker/core/lazy-deps.js';
import type { ObjectStore } from '../../worker/store/store.js';
import { writeOnce } from '../../worker/store/write-once.js';
import { emulatorEnv } from '../helpers/emulators.js';
import { tempDir } from '../helpers/loop.js';

process.env.METADATA_SERVER_DETECTION = 'none';
const env = emulatorEnv();
const LABELS = ['billing', 'shipping', 'returns', 'other'];
const ROUNDS = ['20261201T0200Z', '20261208T0200Z'];
const dataset = `rl_bqround_${process.pid}_${Date.now().toString(36)}`;
const client = new BigQuery({ projectId: env.bqProjectId, apiEndpoint: env.bqEndpoint, authClient: dummyAuthClient() });
const tableRef = `${env.bqProjectId}.${dataset}.preds`;

type Task = Record<string, any>;
interface Rec {
  id: string;
  text: string;
  model: string;
  probs: Record<string, number>;
}

function rng(seed: number): () => number {
  let s = seed;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

/** 200 valid records (some duplicated vectors, so ties break by id) and two invalid ones. */
function records(): Rec[] {
  const r = rng(11);
  const out: Rec[] = [];
  for (let i = 0; i < 200; i++) {
    const v = LABELS.map(() => (r() < 0.2 ? 0 : r() ** 2));
    const t = v.reduce((a, b) => a + b, 0) || 1;
    const id = `r${String((i * 7919) % 200).padStart(3, '0')}`;
    out.push({ id, text: `ticket ${id}: where is my parcel?`, model: 'm1', probs: Object.fromEntries(LABELS.map((l, j) => [l, v[j] / t])) });
  }
  for (let i = 0; i < 4; i++) out.push({ ...out[7], id: `dup${i}`, text: `ticket dup${i}` });
  out.push({ id: 'neg', text: 'x', model: 'm1', probs: { billing: -0.5, shipping: 1, returns: 0.5, other: 0 } });
  out.push({ id: 'sum', text: 'x', model: 'm1', probs: { billing: 0.5, shipping: 0.2 } });
  return out;
}

const row = (rec: Rec) => ({ id: rec.id, text: rec.text, model: rec.model, probs: Object.entries(rec.probs).map(([label, p]) => ({ label, p })) });

function config(root: string, engine: 'local' | 'bigquery', over: Record<string, unknown> = {}): ProjectConfig {
  return parseConfig({
    storage: { root },
    stats: { sink: 'none' },
    projects: [
      {
        name: 'tickets',
        task: 'textcat',
        labels: LABELS,
        strategy: { name: 'margin', topK: 15, seed: 7, engine },
        ...(engine === 'bigquery' ? { predictions: { table: tableRef, bigquery: { apiEndpoint: env.bqEndpoint } } } : {}),
        ...over,
      },
    ],
  }).projects[0];
}

const lines = (b: Buffer): Task[] =>
  b
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Task);
const queue = async (store: ObjectStore, round: string) => lines(await store.read(`rounds/${round}/queue.jsonl`));

describe('rounds with strategy.engine: bigquery', () => {
  let dir: string;
  let pool: ScoringPool;
  let bqStore: LocalStore;
  let localStore: LocalStore;
  const bqQueues: Task[][] = [];
  const localQueues: Task[][] = [];

  beforeAll(async () => {
    dir = tempDir('bq-round');
    pool = new ScoringPool({ threads: 1 });
    bqStore = new LocalStore(path.join(dir, 'bq'));
    localStore = new LocalStore(path.join(dir, 'local'));
    await client.createDataset(dataset);
    const [table] = await client.dataset(dataset).createTable('preds', {
      schema: {
        fields: [
          { name: 'id', type: 'STRING' },
          { name: 'text', type: 'STRING' },
          { name: 'model', type: 'STRING' },
          {
            name: 'probs',
            type: 'RECORD',
            mode: 'REPEATED',
            fields: [
              { name: 'label', type: 'STRING' },
              { name: 'p', type: 'FLOAT' },
            ],
          },
        ],
      },
    });
    await table.insert(records().map(row));
    // A local round reads only new objects; a BigQuery round reads the whole table every time. So the
    // local side gets the same records again as a new object for round 2: both then rank everything minus history.
    const jsonl = `${records()
      .map((r) => JSON.stringify(r))
      .join('\n')}\n`;
    for (const [i, round] of ROUNDS.entries()) {
      await writeOnce(localStore, `predictions/part-${i}.jsonl`, jsonl, 'application/x-ndjson');
      await runRound({ project: config(dir, 'bigquery'), store: bqStore, pool, sink: null, roundId: round, chunkBytes: 1 << 16 });
      bqQueues.push(await queue(bqStore, round));
      await runRound({ project: config(dir, 'local'), store: localStore, pool, sink: null, roundId: round, chunkBytes: 1 << 16 });
      localQueues.push(await queue(localStore, round));
    }
  }, 60_000);
  afterAll(async () => {
    await pool?.close();
    await client
      .dataset(dataset)
      .delete({ force: true })
      .catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('round 1 queues the top-K: same ids and order as a local-engine round', () => {
    expect(bqQueues[0]).toHaveLength(15);
    expect(bqQueues[0].map((t) => t.meta.id)).toEqual(localQueues[0].map((t) => t.meta.id));
    expect(bqQueues[0].map((t) => t.meta.score)).toEqual(localQueues[0].map((t) => t.meta.score));
  });

  it('round 2 does not re-queue round 1, and selects what the local engine selects', async () => {
    const first = new Set(bqQueues[0].map((t) => t.meta.id));
    expect(bqQueues[1]).toHaveLength(15);
    expect(bqQueues[1].filter((t) => first.has(t.meta.id))).toEqual([]);
    expect(bqQueues[1].map((t) => t.meta.id)).toEqual(localQueues[1].map((t) => t.meta.id));
    const [bq, local] = await Promise.all([bqStore, localStore].map(async (s) => JSON.parse((await s.read(`rounds/${ROUNDS[1]}/manifest.json`)).toString())));
    expect(bq.counts).toEqual({ read: 206, scored: 188, rejected: 3, skipped: 15, queued: 15, audit: 0, duplicates: 0, quarantinedObjects: 0 }); // rejected: neg, sum and one all-zero vector
    expect(bq.counts).toEqual(local.counts);
  });

  it('queue lines are Prodigy choice tasks carrying the table text', () => {
    const byId = new Map(records().map((r) => [r.id, r]));
    for (const t of bqQueues.flat()) {
      expect(t.text).toBe(byId.get(t.meta.id)!.text);
      expect(t.options).toEqual(LABELS.map((l) => ({ id: l, text: l })));
      expect(Number.isInteger(t._input_hash) && Number.isInteger(t._task_hash)).toBe(true);
      expect(t.meta).toMatchObject({ model: 'm1', strategy: 'margin', audit: false, source: `bq://${tableRef}#L0` });
    }
    expect(bqQueues.flat().map((t) => t._task_hash)).toEqual(localQueues.flat().map((t) => t._task_hash));
  });

  it('the plan pins the table, its metadata and the history', async () => {
    const plan = JSON.parse((await bqStore.read(`rounds/${ROUNDS[1]}/plan.json`)).toString()) as RoundPlan;
    expect(plan.objects).toEqual([]);
    expect(plan.previousRounds).toEqual([ROUNDS[0]]);
    expect(plan.bigquery).toMatchObject({ table: tableRef, numRows: '206', textColumn: 'text', modelColumn: 'model', timeTravel: false });
    expect(plan.bigquery!.lastModifiedTime).toMatch(/^\d+$/);
  });

  it('a rerun after a lost manifest writes the same bytes', async () => {
    const name = `rounds/${ROUNDS[0]}/manifest.json`;
    const before = await bqStore.read(name);
    await bqStore.delete(name);
    const again = await runRound({ project: config(dir, 'bigquery'), store: bqStore, pool, sink: null, roundId: ROUNDS[0], chunkBytes: 1 << 16 });
    expect(again.status).toBe('created');
    expect((await bqStore.read(name)).equals(before)).toBe(true);
  });

  it('a new model version of a queued item is eligible again; the old one is not', async () => {
    const queued = bqQueues
      .flat()
      .map((t) => t.meta.id as string)
      .slice(0, 5);
    // Maximally uncertain under m2, so they rank first if eligible.
    const m2 = queued.map((id) => ({ id, text: `ticket ${id} (m2)`, model: 'm2', probs: Object.fromEntries(LABELS.map((l) => [l, 0.25])) }));
    await client.dataset(dataset).table('preds').insert(m2.map(row));
    await runRound({ project: config(dir, 'bigquery'), store: bqStore, pool, sink: null, roundId: '20261215T0200Z', chunkBytes: 1 << 16 });
    const q = await queue(bqStore, '20261215T0200Z');
    expect(q.slice(0, 5).map((t) => [t.meta.id, t.meta.model])).toEqual([...queued].sort().map((id) => [id, 'm2']));
    const earlier = new Set(bqQueues.flat().map((t) => `${t.meta.id}/${t.meta.model}`));
    expect(q.filter((t) => earlier.has(`${t.meta.id}/${t.meta.model}`))).toEqual([]);
  });
});

describe('strategy.engine: bigquery config', () => {
  it('names the path when the table is missing or the strategy has no SQL form', () => {
    const base = { storage: { root: '/tmp/x' }, stats: { sink: 'none' } };
    const project = (strategy: Record<string, unknown>, predictions: Record<string, unknown> = {}) => ({
      name: 'p',
      task: 'textcat',
      labels: LABELS,
      strategy: { topK: 5, engine: 'bigquery', ...strategy },
      predictions,
    });
    expect(() => parseConfig({ ...base, projects: [project({ name: 'margin' })] })).toThrow(/projects\[0\]\.predictions\.table: strategy\.engine: bigquery/);
    expect(() => parseConfig({ ...base, projects: [project({ name: 'bald' }, { table: tableRef })] })).toThrow(
      /projects\[0\]\.strategy\.name: bald has no SQL form/,
    );
    expect(() => parseConfig({ ...base, projects: [{ ...project({ name: 'margin' }, { table: tableRef }), strategy: { name: 'margin', topK: 5 } }] })).toThrow(
      /projects\[0\]\.predictions\.table: only read with strategy\.engine: bigquery/,
    );
  });

  it('timeTravel reads the table as of the plan instant (real BigQuery only)', () => {
    const q = scoringQuery({
      table: parseTableRef(tableRef),
      shape: { kind: 'array', column: 'probs' },
      labels: LABELS,
      task: 'textcat',
      strategy: 'margin',
      seed: 's',
      topK: 5,
      auditK: 0,
      probTolerance: 1e-3,
      asOf: '2026-12-01T02:00:00.000Z',
    });
    expect(q.query).toContain(`\`${tableRef}\` FOR SYSTEM_TIME AS OF TIMESTAMP(@as_of) AS t`);
    expect(q.params.as_of).toBe('2026-12-01T02:00:00.000Z');
  });
});
