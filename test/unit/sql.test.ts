/**
 * The SQL kernels (scoring/sql.ts) against the JS kernels (scoring/strategies.ts)
 * on the same vectors, evaluated in an in-memory DuckDB (the expressions use
 * only functions GoogleSQL and DuckDB share); plus identifier validation and
 * the shape of the generated query.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SQL_STRATEGIES, kernelSql, parseTableRef, scoringQuery } from '../../scoring/sql.js';
import { scoreRecord } from '../../scoring/strategies.js';
import type { StrategyName } from '../../scoring/types.js';

let instance: DuckDBInstance;
let conn: DuckDBConnection;
beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
  conn = await instance.connect();
});
afterAll(() => {
  conn.closeSync();
  instance.closeSync();
});

function rng(seed: number): () => number {
  let s = seed;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

/** Random vectors plus the edge cases the kernels special-case: ties, zeros, one-hot, a single label. */
function vectors(k: number, n: number, normalise: boolean): number[][] {
  const r = rng(k * 31 + (normalise ? 1 : 0));
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const v = Array.from({ length: k }, () => (r() < 0.15 ? 0 : r()));
    const t = v.reduce((a, b) => a + b, 0);
    out.push(normalise && t > 0 ? v.map((x) => x / t) : v);
  }
  out.push(
    new Array(k).fill(1 / k),
    Array.from({ length: k }, (_, i) => (i === k - 1 ? 1 : 0)),
  );
  if (k >= 2) out.push([0.5, 0.5, ...new Array(k - 2).fill(0)]);
  if (!normalise) out.push(new Array(k).fill(0.5), new Array(k).fill(0));
  return out;
}

async function sqlScores(name: StrategyName, rows: number[][]): Promise<number[]> {
  const k = rows[0].length;
  const kernel = kernelSql(name, k);
  const values = rows.map((v, i) => `(${i}, ${v.map((x) => `CAST('${x}' AS DOUBLE)`).join(', ')})`).join(',\n');
  const cols = Array.from({ length: k }, (_, i) => `p${i}`).join(', ');
  let from = 'src';
  const levels = kernel.steps.map((step, i) => {
    const l = `s${i} AS (SELECT *, ${step.map(([n, e]) => `${e} AS ${n}`).join(', ')} FROM ${from})`;
    from = `s${i}`;
    return l;
  });
  const sql = `WITH src AS (SELECT * FROM (VALUES ${values}) AS t(rid, ${cols}))${levels.map((l) => `, ${l}`).join('')} SELECT ${kernel.score} AS score FROM ${from} ORDER BY rid`;
  const reader = await conn.runAndReadAll(sql);
  return reader.getRowObjectsJS().map((r) => Number(r.score));
}

describe('SQL kernels', () => {
  for (const name of SQL_STRATEGIES) {
    const multi = name.startsWith('multilabel');
    for (const k of [1, 2, 3, 7]) {
      it(`${name}, ${k} label(s): same scores as the JS kernel`, async () => {
        const rows = vectors(k, 60, !multi);
        const labels = Array.from({ length: k }, (_, i) => `l${i}`);
        const js = rows.map((v) => {
          const r = scoreRecord({ id: 'x', probs: Object.fromEntries(v.map((x, i) => [labels[i], x])) }, labels, { name, seed: 's' });
          if (!r.ok) throw new Error(r.reason);
          return r.score;
        });
        const sql = await sqlScores(name, rows);
        expect(sql).toHaveLength(js.length);
        // Max-type kernels are exact; sums differ at most by the engines' LN (≤ a few ulp).
        sql.forEach((s, i) => expect(Math.abs(s - js[i]), `row ${i}: ${rows[i].join(',')}`).toBeLessThanOrEqual(1e-15));
        if (['least-confidence', 'margin', 'ratio', 'multilabel-min-margin'].includes(name)) expect(sql).toEqual(js);
      });
    }
  }

  it('refuses strategies without a SQL form and empty label sets', () => {
    expect(() => kernelSql('bald', 3)).toThrow(/no SQL form/);
    expect(() => kernelSql('entropy', 0)).toThrow(/at least one label/);
  });
});

describe('scoringQuery', () => {
  const base = { labels: ['a', 'b'], task: 'textcat' as const, strategy: 'margin' as const, seed: '0:r1', topK: 10, auditK: 2, probTolerance: 1e-3 };

  it('validates identifiers and passes values as parameters', () => {
    expect(parseTableRef('my-proj.ds_1.preds')).toEqual({ project: 'my-proj', dataset: 'ds_1', table: 'preds' });
    for (const bad of ['ds.preds', 'my-proj.ds.preds;DROP', 'my-proj.d`s.t', 'My_Proj.ds.t', 'my-proj.ds.t.u'])
      expect(() => parseTableRef(bad)).toThrow(/PROJECT.DATASET.TABLE/);
    const table = parseTableRef('my-proj.ds.preds');
    expect(() => scoringQuery({ ...base, table, shape: { kind: 'array', column: 'probs` --' } })).toThrow(/probabilities column/);
    expect(() => scoringQuery({ ...base, table, idColumn: 'id)', shape: { kind: 'array', column: 'probs' } })).toThrow(/id column/);
    const labels = ["o'brien", 'b'];
    const q = scoringQuery({ ...base, labels, table, shape: { kind: 'array', column: 'probs' } });
    expect(q.query).not.toContain("o'brien");
    expect(q.params).toMatchObject({ label_0: "o'brien", label_1: 'b', labels, seed: '0:r1', top_k: 10, audit_k: 2, tolerance: 1e-3 });
    expect(q.query).toContain('`my-proj.ds.preds`');
  });

  it('skips the sum check for multi-label tasks and needs one column per label', () => {
    const table = parseTableRef('my-proj.ds.preds');
    const q = scoringQuery({ ...base, task: 'textcat-multilabel', strategy: 'multilabel-entropy', table, shape: { kind: 'columns', columns: ['pa', 'pb'] } });
    expect(q.query).not.toContain('@tolerance');
    expect(q.params.tolerance).toBeUndefined();
    expect(() => scoringQuery({ ...base, table, shape: { kind: 'columns', columns: ['pa'] } })).toThrow(/1 probability columns for 2 labels/);
  });
});
