import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { mergeBatchId, mergeRows, roundBatchId, roundRows } from '../../domain/quality/compute.js';
import { atToDollar, openDuckdbSink } from '../../worker/stats/sinks/duckdb-sink.js';
import { openStatsSink } from '../../worker/stats/sinks/open-sink.js';
import { MERGES, ROUNDS } from '../fixtures/stats-sample.js';

const dir = mkdtempSync(join(tmpdir(), 'rl-duckdb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('DuckDB stats sink', () => {
  it('writes a batch once, survives reopening, and answers the views', async () => {
    const path = join(dir, 'a', 'stats.duckdb');
    const sink = await openStatsSink({ sink: 'duckdb' }, { defaultPath: path });
    const r1 = roundRows(ROUNDS[0], null, null);
    expect(await sink.write(roundBatchId('support-intents', ROUNDS[0].round), r1)).toEqual({ written: true });
    expect(await sink.write(roundBatchId('support-intents', ROUNDS[0].round), r1)).toEqual({ written: false });
    await sink.close();
    await sink.close(); // idempotent

    const again = await openDuckdbSink(path);
    try {
      expect(await again.write(roundBatchId('support-intents', ROUNDS[0].round), r1)).toEqual({ written: false });
      await again.write(roundBatchId('support-intents', ROUNDS[1].round), roundRows(ROUNDS[1], ROUNDS[0], ROUNDS[0]));
      await again.write(roundBatchId('support-intents', ROUNDS[2].round), roundRows(ROUNDS[2], ROUNDS[1], ROUNDS[0]));
      for (const m of MERGES) await again.write(mergeBatchId(m.project, m.version), mergeRows(m));

      const rounds = await again.query('SELECT round_id, items_scored, event_time FROM rounds ORDER BY event_time');
      expect(rounds).toEqual([
        { round_id: '20261125T0200Z', items_scored: 100, event_time: '2026-11-25T02:00:00.000Z' },
        { round_id: '20261126T0200Z', items_scored: 100, event_time: '2026-11-26T02:00:00.000Z' },
        { round_id: '20261127T0200Z', items_scored: 100, event_time: '2026-11-27T02:00:00.000Z' },
      ]);
      const drift = await again.query('SELECT round_id, baseline, psi_band FROM v_drift_trend WHERE project = @p ORDER BY event_time, baseline', {
        p: 'support-intents',
      });
      expect(drift.map((d) => [d.round_id, d.baseline, d.psi_band])).toEqual([
        ['20261126T0200Z', 'previous', 'within-noise'],
        ['20261126T0200Z', 'reference', 'within-noise'],
        ['20261127T0200Z', 'previous', 'significant'],
        ['20261127T0200Z', 'reference', 'significant'],
      ]);
      const f1 = await again.query(
        "SELECT snapshot_version, f1_score FROM v_label_f1_trend WHERE slice = 'all' AND label = 'billing' ORDER BY snapshot_version",
      );
      expect(f1.map((r) => r.snapshot_version)).toEqual([1, 2]);
      expect(f1[0].f1_score).toBeCloseTo(0.8, 12); // P 2/3, R 1 → F1 0.8
      const agree = await again.query(
        "SELECT annotator_a, annotator_b, kappa, answers_a, answers_b FROM v_annotator_agreement WHERE metric = 'cohen' AND snapshot_version = 1",
      );
      expect(agree).toHaveLength(1);
      expect(agree[0]).toMatchObject({ annotator_a: 'ann', annotator_b: 'bob', answers_a: 4, answers_b: 4 });
      // v2's audit: a1 (round 1) and a2 (round 2) of model v1, both right → per round 1 of 1, Wilson [0.2065, 1].
      const est = await again.query(
        "SELECT round_id, estimate, ci_low, ci_high, n_sample, method, flag FROM quality_estimates WHERE snapshot_version = 2 AND model = 'v1' AND label = '*' AND measure = 'accuracy' ORDER BY round_id NULLS LAST",
      );
      expect(est.map((r) => [r.round_id, r.estimate, r.n_sample, r.flag])).toEqual([
        ['20261125T0200Z', 1, 1, 'low_n'],
        ['20261126T0200Z', 1, 1, 'low_n'],
        [null, 1, 2, 'low_n'],
      ]);
      expect(est[0].ci_low).toBeCloseTo(0.2065, 4);
      const batches = await again.query('SELECT COUNT(*) AS n FROM _batches');
      expect(batches[0].n).toBe(5);
    } finally {
      await again.close();
    }
  });

  it('adds columns that a newer table definition has', async () => {
    const path = join(dir, 'old.duckdb');
    // An "old" file whose rounds table lacks most columns.
    const inst = await DuckDBInstance.create(path);
    const conn = await inst.connect();
    await conn.run('CREATE TABLE rounds (event_time TIMESTAMP NOT NULL, project VARCHAR NOT NULL, batch_id VARCHAR NOT NULL, round_id VARCHAR)');
    await conn.run("INSERT INTO rounds VALUES ('2026-01-01 00:00:00', 'p', 'old', 'r0')");
    conn.closeSync();
    inst.closeSync();

    const sink = await openDuckdbSink(path);
    try {
      await sink.write('b1', roundRows(ROUNDS[0], null, null));
      const rows = await sink.query('SELECT round_id, score_p50 FROM rounds ORDER BY event_time');
      expect(rows.map((r) => r.round_id)).toEqual(['r0', '20261125T0200Z']);
      expect(rows[0].score_p50).toBeNull();
    } finally {
      await sink.close();
    }
  });

  it('rolls back a failed batch so it can be written later', async () => {
    const sink = await openDuckdbSink(join(dir, 'rb.duckdb'));
    try {
      const bad = { rounds: [{ event_time: null, project: 'p', batch_id: 'x' }] };
      await expect(sink.write('bad', bad)).rejects.toMatchObject({ code: 'STATS_FAILED' });
      expect(await sink.query('SELECT COUNT(*) AS n FROM _batches')).toEqual([{ n: 0 }]);
      expect(await sink.write('bad', roundRows(ROUNDS[0], null, null))).toEqual({ written: true });
    } finally {
      await sink.close();
    }
  });

  it('rewrites @params outside quotes only', () => {
    expect(atToDollar('SELECT \'@x\', "@y", @z FROM t WHERE a = @a_1')).toBe('SELECT \'@x\', "@y", $z FROM t WHERE a = $a_1');
  });
});
