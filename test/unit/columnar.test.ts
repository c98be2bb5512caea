import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COLUMNAR_STRATEGIES, scoreColumns, scoreRowMajor } from '../../scoring/columnar.js';
import { scoreRecord } from '../../scoring/strategies.js';

const LABELS = ['a', 'b', 'c', 'd', 'e', 'f'];
const prob = fc.oneof(fc.constant(0), fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true }));

function normalise(w: number[]): number[] {
  const s = w.reduce((a, b) => a + b, 0);
  return s > 0 ? w.map((x) => x / s) : w.map(() => 1 / w.length);
}

/** k and n rows of k values (normalised half the time, raw multi-label-style otherwise). */
const matrix = fc.integer({ min: 1, max: 6 }).chain((k) =>
  fc.tuple(
    fc.constant(k),
    fc.array(
      fc.tuple(fc.array(prob, { minLength: k, maxLength: k }), fc.boolean()).map(([r, n]) => (n ? normalise(r) : r)),
      { maxLength: 30 },
    ),
  ),
);

function perRecord(name: (typeof COLUMNAR_STRATEGIES)[number], rows: ArrayLike<number>[], k: number): number[] {
  return rows.map((row, i) => {
    const probs: Record<string, number> = {};
    for (let j = 0; j < k; j++) probs[LABELS[j]] = row[j];
    const r = scoreRecord({ id: String(i), probs }, LABELS.slice(0, k), { name, seed: 's' });
    return r.ok ? r.score : Number.NaN;
  });
}

describe('columnar scores equal per-record scores exactly', () => {
  it('row-major and per-column, float64 and float32', () => {
    fc.assert(
      fc.property(matrix, ([k, rows]) => {
        const f64 = new Float64Array(rows.flat());
        const f32 = new Float32Array(rows.flat());
        const rows32 = rows.map((_, i) => Array.from(f32.subarray(i * k, (i + 1) * k)));
        for (const name of COLUMNAR_STRATEGIES) {
          const want = perRecord(name, rows, k);
          const want32 = perRecord(name, rows32, k);
          const a = scoreRowMajor(name, f64, k);
          const b = scoreColumns(
            name,
            LABELS.slice(0, k).map((_, j) => Float64Array.from(rows, (r) => r[j])),
          );
          const c = scoreRowMajor(name, f32, k);
          const d = scoreColumns(
            name,
            LABELS.slice(0, k).map((_, j) => Float32Array.from(rows, (r) => r[j])),
          );
          if (!a.ok || !b.ok || !c.ok || !d.ok) throw new Error('unexpected batch error');
          // toEqual on arrays uses Object.is per element: bit-exact, -0 ≠ 0.
          expect(Array.from(a.scores)).toEqual(want);
          expect(Array.from(b.scores)).toEqual(want);
          expect(Array.from(c.scores)).toEqual(want32);
          expect(Array.from(d.scores)).toEqual(want32);
        }
      }),
    );
  });

  it('invalid rows become NaN and are counted; the rest are scored', () => {
    const r = scoreRowMajor('entropy', new Float64Array([0.5, 0.5, Number.NaN, 1, -0.1, 1.1, 1, 0]), 2);
    expect(r.ok && Array.from(r.scores)).toEqual([Math.LN2, Number.NaN, Number.NaN, 0]);
    expect(r.ok && r.invalid).toBe(2);
  });

  it('batch-level problems are tagged values', () => {
    expect(scoreRowMajor('bald', new Float64Array(4), 2)).toMatchObject({ ok: false, field: 'strategy' });
    expect(scoreRowMajor('entropy', new Float64Array(5), 2)).toMatchObject({ ok: false, field: 'probs' });
    expect(scoreColumns('entropy', [new Float64Array(2), new Float64Array(3)])).toMatchObject({ ok: false, field: 'probs' });
    expect(scoreRowMajor('entropy', new Float64Array(4), 2, new Float64Array(1))).toMatchObject({ ok: false, field: 'out' });
  });

  it('reuses a caller-provided output buffer', () => {
    const out = new Float64Array(4);
    const r = scoreRowMajor('margin', new Float64Array([0.7, 0.3, 0.5, 0.5]), 2, out);
    expect(r.ok && r.scores).toBe(out);
  });
});
