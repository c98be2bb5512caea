/**
 * Column-wise scoring for Arrow IPC / Parquet inputs: a whole batch of
 * probability vectors in, a Float64Array of scores out, without building one
 * JS object per row.
 *
 * Exactness: every row goes through the very kernels `scoreRecord` uses
 * (`strategies.ts`), fed the same values in the same (label) order, so a row
 * scores bit-for-bit what the equivalent record would. Float32 inputs are
 * widened to float64 exactly before the kernel sees them, as a JSON reader
 * would have produced the same doubles.
 *
 * Invalid rows (a value that is NaN, negative or above 1: what `scoreRecord`
 * rejects) get the score NaN and are counted in `invalid`; the caller turns
 * them into rejects. Arrow null masks
 * are the caller's concern (mark such rows NaN, or filter them first).
 */

import type { StrategyName } from './types.js';
import { probabilityKernel } from './strategies.js';

/** Strategies that depend on the probability vector alone and so have a columnar form. */
export type ColumnarStrategy = 'least-confidence' | 'margin' | 'ratio' | 'entropy' | 'multilabel-entropy' | 'multilabel-min-margin';

/** Every `ColumnarStrategy`. */
export const COLUMNAR_STRATEGIES: readonly ColumnarStrategy[] = Object.freeze([
  'least-confidence',
  'margin',
  'ratio',
  'entropy',
  'multilabel-entropy',
  'multilabel-min-margin',
] as const);

/** True when `name` can be scored column-wise. */
export function isColumnarStrategy(name: StrategyName): name is ColumnarStrategy {
  return (COLUMNAR_STRATEGIES as readonly string[]).includes(name);
}

/** A probability buffer as Arrow/Parquet readers hand it out. */
export type ProbArray = Float64Array | Float32Array;

/** A subset of rows: indices rows[0 … count). */
export interface RowList {
  rows: Int32Array;
  count: number;
}

/** Scores for a batch, or why the batch could not be scored at all. */
export type ColumnarResult = { ok: true; scores: Float64Array; invalid: number } | { ok: false; field: string; reason: string };

let row = new Float64Array(64);

function rowBuffer(k: number): Float64Array {
  if (row.length < k) row = new Float64Array(Math.max(k, row.length * 2));
  return row;
}

function outBuffer(n: number, out: Float64Array | undefined): Float64Array | string {
  if (out === undefined) return new Float64Array(n);
  if (out.length < n) return `out has ${out.length} slots, need ${n}`;
  return out;
}

/**
 * Scores a row-major n × k matrix (`probs[i*k + j]` = probability of label j
 * for row i, labels in configured order). `out`, when given, must have room
 * for n scores and is returned filled (reuse it across batches to avoid
 * allocating). With `only`, just those rows are scored (the ones the native
 * settler left); the others keep whatever `out` held.
 */
export function scoreRowMajor(name: StrategyName, probs: ProbArray, k: number, out?: Float64Array, only?: RowList): ColumnarResult {
  const kernel = probabilityKernel(name);
  if (kernel === null) return { ok: false, field: 'strategy', reason: `${name} has no columnar form` };
  if (!Number.isInteger(k) || k < 1) return { ok: false, field: 'probs', reason: `label count must be a positive integer, got ${k}` };
  if (probs.length % k !== 0) return { ok: false, field: 'probs', reason: `${probs.length} values is not a multiple of ${k} labels` };
  const n = probs.length / k;
  const dst = outBuffer(n, out);
  if (typeof dst === 'string') return { ok: false, field: 'out', reason: dst };
  let invalid = 0;
  if (probs instanceof Float64Array) {
    // Rows are scored in place: no copy at all.
    const rows = only?.count ?? n;
    for (let x = 0; x < rows; x++) {
      const i = only === undefined ? x : only.rows[x];
      const off = i * k;
      let good = true;
      for (let j = off, end = off + k; j < end; j++) {
        const v = probs[j];
        if (!(v >= 0 && v <= 1)) {
          good = false;
          break;
        }
      }
      if (good) dst[i] = kernel(probs, off, k);
      else {
        dst[i] = NaN;
        invalid++;
      }
    }
  } else {
    // Widen each row into a float64 scratch row so the kernel stays monomorphic.
    const r = rowBuffer(k);
    for (let i = 0, off = 0; i < n; i++, off += k) {
      let good = true;
      for (let j = 0; j < k; j++) {
        const v = probs[off + j];
        if (!(v >= 0 && v <= 1)) {
          good = false;
          break;
        }
        r[j] = v;
      }
      if (good) dst[i] = kernel(r, 0, k);
      else {
        dst[i] = NaN;
        invalid++;
      }
    }
  }
  return { ok: true, scores: dst, invalid };
}

/**
 * Scores one typed array per label (`columns[j][i]` = probability of label j
 * for row i, columns in configured label order), all of the same length.
 */
export function scoreColumns(name: StrategyName, columns: readonly ProbArray[], out?: Float64Array): ColumnarResult {
  const kernel = probabilityKernel(name);
  if (kernel === null) return { ok: false, field: 'strategy', reason: `${name} has no columnar form` };
  const k = columns.length;
  if (k === 0) return { ok: false, field: 'probs', reason: 'no label columns' };
  const n = columns[0].length;
  for (let j = 1; j < k; j++) {
    if (columns[j].length !== n) return { ok: false, field: 'probs', reason: `column ${j} has ${columns[j].length} rows, column 0 has ${n}` };
  }
  const dst = outBuffer(n, out);
  if (typeof dst === 'string') return { ok: false, field: 'out', reason: dst };
  const r = rowBuffer(k);
  let invalid = 0;
  for (let i = 0; i < n; i++) {
    let good = true;
    for (let j = 0; j < k; j++) {
      const v = columns[j][i];
      if (!(v >= 0 && v <= 1)) {
        good = false;
        break;
      }
      r[j] = v;
    }
    if (good) dst[i] = kernel(r, 0, k);
    else {
      dst[i] = NaN;
      invalid++;
    }
  }
  return { ok: true, scores: dst, invalid };
}
