import { describe, expect, it } from 'vitest';
import { loadJobId, qualifyTables } from '../../worker/stats/sinks/bigquery-sink.js';
import { atToDollar } from '../../worker/stats/sinks/duckdb-sink.js';

describe('SQL rewrites', () => {
  it('qualifies our bare table names after FROM/JOIN only (emulator mode)', () => {
    expect(qualifyTables("SELECT rounds, 'FROM drift' FROM rounds r JOIN drift ON 1=1 LEFT JOIN other o, `x.y.drift` FROM p.drift", 'p.d')).toBe(
      "SELECT rounds, 'FROM drift' FROM `p.d.rounds` r JOIN `p.d.drift` ON 1=1 LEFT JOIN other o, `x.y.drift` FROM p.drift",
    );
    expect(qualifyTables('select count(*) from _batches where batch_id = @b', 'p.d')).toBe('select count(*) from `p.d._batches` where batch_id = @b');
  });
  it('rewrites @params for DuckDB outside quotes only', () => {
    expect(atToDollar('SELECT \'@x\', "@y", @z FROM t WHERE a = @a_1')).toBe('SELECT \'@x\', "@y", $z FROM t WHERE a = $a_1');
  });
  it('derives stable, valid load job ids', () => {
    const id = loadJobId('ds', 'rounds', 'round:p:20261127T0200Z', 'f'.repeat(64));
    expect(id).toBe(loadJobId('ds', 'rounds', 'round:p:20261127T0200Z', 'f'.repeat(64)));
    expect(id).not.toBe(loadJobId('ds', 'drift', 'round:p:20261127T0200Z', 'f'.repeat(64)));
    expect(id).toMatch(/^[A-Za-z0-9_-]{1,1024}$/);
  });
});
