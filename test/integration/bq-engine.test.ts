/**
 * `engine: bigquery` on the goccy bigquery-emulator: on the same predictions,
 * the SQL engine and the local engine select the same ids in the same order
 * for every strategy that compiles to SQL, in both table shapes; invalid rows
 * are counted, not scored; the audit draw is uniform-by-hash and seeded.
 *
 * What the emulator (v0.8.1) cannot show: BigQuery's real cost and slot use,
 * external tables over GCS, and whether its LN matches production bit for
 * bit (the kernels' order of operations is tested in test/unit/sql.test.ts).
 * It refuses query parameters a query does not use, which the query
 * builder therefore never sends.
 */
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { resolve } from 'node:path';
import { BigQuery } from '@google-cloud/bigquery';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SQL_STRATEGIES } from '../../scoring/sql.js';
import type { StrategyName, TaskType } from '../../scoring/types.js';
import { scoreInBigQuery } from '../../worker/round/bq-engine.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { scoreSources } from '../../worker/pool/score-run.js';
import { dummyAuthClient } from '../../worker/core/lazy-deps.js';
import { emulatorEnv } from '../helpers/emulators.js';

process.env.METADATA_SERVER_DETECTION = 'none';
const env = emulatorEnv();
const LABELS = ['billing', 'shipping', 'returns', 'other'];
const dataset = `rl_bqengine_${process.pid}_${Date.now().toString(36)}`;
const client = new BigQuery({ projectId: env.bqProjectId, apiEndpoint: env.bqEndpoint, authClient: dummyAuthClient() });
let pool: ScoringPool;

function rng(seed: number): () => number {
  let s = seed;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

/** 240 records: random vectors (a few exact duplicates, so ties must break by id), plus invalid ones. */
function records(multi: boolean): Array<{ id: string; probs: Record<string, number> }> {
  const r = rng(multi ? 5 : 3);
  const out: Array<{ id: string; probs: Record<string, number> }> = [];
  for (let i = 0; i < 240; i++) {
    const v = LABELS.map(() => (r() < 0.2 ? 0 : r() ** 2));
    const t = v.reduce((a, b) => a + b, 0) || 1;
    const p = multi ? v.map((x) => Math.min(1, x)) : v.map((x) => x / t);
    out.push({ id: `r${String((i * 7919) % 240).padStart(3, '0')}`, probs: Object.fromEntries(LABELS.map((l, j) => [l, p[j]])) });
  }
  for (let i = 0; i < 6; i++) out.push({ id: `dup${i}`, probs: { ...out[10].probs } });
  out.push({ id: 'neg', probs: { billing: -0.5, shipping: 1, returns: 0.5, other: 0 } });
  out.push({ id: 'unknown', probs: { billing: 0.5, refunds: 0.5 } });
  if (!multi) out.push({ id: 'sum', probs: { billing: 0.5, shipping: 0.2 } });
  return out;
}

async function makeTable(name: string, multi: boolean, shape: 'array' | 'columns'): Promise<string> {
  const recs = records(multi);
  const schema =
    shape === 'array'
      ? [
          { name: 'id', type: 'STRING' },
          {
            name: 'probs',
            type: 'RECORD',
            mode: 'REPEATED',
            fields: [
              { name: 'label', type: 'STRING' },
              { name: 'p', type: 'FLOAT' },
            ],
          },
        ]
      : [{ name: 'id', type: 'STRING' }, ...LABELS.map((l) => ({ name: `p_${l}`, type: 'FLOAT' }))];
  const [table] = await client.dataset(dataset).createTable(name, { schema: { fields: schema } });
  const rows = recs.map((rec) =>
    shape === 'array'
      ? { id: rec.id, probs: Object.entries(rec.probs).map(([label, p]) => ({ label, p })) }
      : { id: rec.id, ...Object.fromEntries(LABELS.map((l) => [`p_${l}`, rec.probs[l] ?? null])) },
  );
  if (shape === 'columns')
    rows.splice(
      rows.findIndex((x) => x.id === 'unknown'),
      1,
    ); // no column for an unknown label
  await table.insert(rows);
  return `${env.bqProjectId}.${dataset}.${name}`;
}

async function local(multi: boolean, strategy: StrategyName, topK: number, dropUnknown = false) {
  const recs = records(multi).filter((r) => !(dropUnknown && r.id === 'unknown'));
  const text = Buffer.from(recs.map((r) => JSON.stringify({ ...r, text: 't' })).join('\n'));
  return scoreSources(
    [{ uri: 'mem://x.jsonl', name: 'x.jsonl', size: text.length, open: () => Readable.from([text]) }],
    {
      task: multi ? 'textcat-multilabel' : 'textcat',
      labels: LABELS,
      strategy: { name: strategy, seed: 's' },
      topK,
      auditK: 0,
      keepEmbedding: false,
      maxLineBytes: 1 << 20,
      probTolerance: 1e-3,
      chunkBytes: 1 << 16,
      format: 'native',
    },
    pool,
  );
}

const tables: Record<string, string> = {};
beforeAll(async () => {
  pool = new ScoringPool({ threads: 1 });
  await client.createDataset(dataset);
  tables.single = await makeTable('single', false, 'array');
  tables.multi = await makeTable('multi', true, 'array');
  tables.columns = await makeTable('columns', false, 'columns');
});
afterAll(async () => {
  await pool?.close();
  await client
    .dataset(dataset)
    .delete({ force: true })
    .catch(() => undefined);
});

describe('BigQuery engine vs local engine', () => {
  for (const strategy of SQL_STRATEGIES) {
    it(`${strategy}: same ids in the same order`, async () => {
      const multi = strategy.startsWith('multilabel');
      const task: TaskType = multi ? 'textcat-multilabel' : 'textcat';
      const want = await local(multi, strategy, 50);
      const got = await scoreInBigQuery({
        table: multi ? tables.multi : tables.single,
        labels: LABELS,
        task,
        strategy,
        seed: 's',
        topK: 50,
        auditK: 0,
        apiEndpoint: env.bqEndpoint,
      });
      expect({ read: got.read, scored: got.scored }).toEqual({ read: want.stats.read, scored: want.stats.scored });
      expect(got.top.map((e) => e.id)).toEqual(want.top.map((e) => e.id));
      got.top.forEach((e, i) => expect(Math.abs(e.score - want.top[i].score)).toBeLessThanOrEqual(1e-12));
      expect(got.top[0].record.probs).toEqual(Object.fromEntries(LABELS.map((l) => [l, want.top[0].record.probs![l] ?? 0])));
    });
  }

  it('one column per label: the same selection as the local engine', async () => {
    const want = await local(false, 'margin', 30, true);
    const got = await scoreInBigQuery({
      table: tables.columns,
      shape: { kind: 'columns', columns: LABELS.map((l) => `p_${l}`) },
      labels: LABELS,
      task: 'textcat',
      strategy: 'margin',
      seed: 's',
      topK: 30,
      auditK: 0,
      apiEndpoint: env.bqEndpoint,
    });
    expect({ read: got.read, scored: got.scored }).toEqual({ read: want.stats.read, scored: want.stats.scored });
    expect(got.top.map((e) => e.id)).toEqual(want.top.map((e) => e.id));
  });

  it('draws a seeded audit slice: same seed, same ids; another seed, other ids', async () => {
    const opts = {
      table: tables.single,
      labels: LABELS,
      task: 'textcat' as const,
      strategy: 'entropy' as const,
      topK: 0,
      auditK: 12,
      apiEndpoint: env.bqEndpoint,
    };
    const a = await scoreInBigQuery({ ...opts, seed: '0:r1' });
    const b = await scoreInBigQuery({ ...opts, seed: '0:r1' });
    const c = await scoreInBigQuery({ ...opts, seed: '0:r2' });
    expect(a.audit).toHaveLength(12);
    expect(b.audit.map((e) => e.id)).toEqual(a.audit.map((e) => e.id));
    expect(c.audit.map((e) => e.id)).not.toEqual(a.audit.map((e) => e.id));
    for (const e of a.audit) expect(e.u >= 0 && e.u < 1).toBe(true);
    expect(a.audit.map((e) => e.u)).toEqual([...a.audit.map((e) => e.u)].sort((x, y) => x - y));
    expect(a.audit.some((e) => ['neg', 'unknown', 'sum'].includes(e.id))).toBe(false);
  });

  it('`reviewloop score --engine bigquery --table` prints what the local engine prints', () => {
    const bin = resolve(__dirname, '..', '..', 'bin', 'reviewloop.js');
    const args = ['score', '--task', 'textcat', '--strategy', 'ratio', '--labels', LABELS.join(','), '--top', '20', '--seed', 's'];
    const run = (extra: string[], input?: string) =>
      spawnSync(process.execPath, [bin, ...args, ...extra], { input, encoding: 'utf8', env: { ...process.env, METADATA_SERVER_DETECTION: 'none' } });
    const bq = run(['--engine', 'bigquery', '--table', tables.single, '--bq-endpoint', env.bqEndpoint]);
    expect(bq.status, bq.stderr).toBe(0);
    expect(bq.stderr).toContain(`scored 246 of 249 rows in ${tables.single} (BigQuery)`);
    const loc = run(
      ['-'],
      records(false)
        .map((r) => JSON.stringify({ ...r, text: 't' }))
        .join('\n'),
    );
    expect(loc.status, loc.stderr).toBe(0);
    const ids = (out: string) =>
      out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).id);
    expect(ids(bq.stdout)).toEqual(ids(loc.stdout));
    const bad = run(['--engine', 'bigquery', '--table', 'not a table', '--bq-endpoint', env.bqEndpoint]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/PROJECT\.DATASET\.TABLE/);
  });
});
