/**
 * Diversity selection: k-center greedy over embeddings among the top
 * candidates, so a queue is not K near-duplicates of the same hard case.
 *
 * Algorithm (Sener & Savarese 2018, greedy 2-approximation of k-center):
 * 1. candidates are put in rank order (score desc, id asc) and cut to the top M;
 * 2. the best-ranked candidate is picked first;
 * 3. repeatedly, the candidate whose nearest picked one is farthest away is
 *    picked; ties go to the better-ranked candidate (higher score, then
 *    smaller id), which also decides among exact duplicates.
 * Output is in pick order (most informative-and-novel first).
 *
 * Pure and deterministic: the input order does not matter, distances are
 * accumulated in float64 in dimension order, and duplicate ids keep only
 * their best-ranked entry. O(M·k·d) time, O(M·d) memory.
 */

import { compareRanked } from './topk.js';

/** One candidate for diversity selection. */
export interface DiversityCandidate {
  id: string;
  score: number;
  embedding: ArrayLike<number>;
}

/**
 * `euclidean` (default): squared L2, the order of which equals L2's.
 * `cosine`: `1 − cos(a, b)`; a zero vector is at distance 1 from everything.
 */
export type DiversityMetric = 'euclidean' | 'cosine';

/** Options for `kCenterGreedy`. */
export interface KCenterOptions {
  metric?: DiversityMetric;
  /** Only the best M candidates by rank are considered (the config's `diversity.candidates`). Default: all. */
  candidates?: number;
}

/** Picked ids in pick order, or the first candidate that made selection impossible. */
export type DiversityResult = { ok: true; ids: string[] } | { ok: false; id: string; field: 'embedding' | 'score'; reason: string };

/** The best `limit` distinct ids in rank order, each with its best entry. */
function rankedPool(candidates: readonly DiversityCandidate[], limit: number): DiversityCandidate[] {
  const ranked = candidates.slice().sort(compareRanked);
  const pool: DiversityCandidate[] = [];
  for (let i = 0; i < ranked.length && pool.length < limit; i++) {
    // Sorted by (score, id): a repeated id directly follows its best entry.
    if (pool.length > 0 && pool[pool.length - 1].id === ranked[i].id) continue;
    pool.push(ranked[i]);
  }
  return pool;
}

/**
 * The pool's embeddings as one row-major m x d array, or the first candidate whose embedding cannot be
 * used. Contiguous copy: cache-friendly inner loops, and cosine rows are normalised once.
 */
function packEmbeddings(pool: readonly DiversityCandidate[], d: number, metric: DiversityMetric): Float64Array | Extract<DiversityResult, { ok: false }> {
  const m = pool.length;
  const x = new Float64Array(m * d);
  for (let i = 0; i < m; i++) {
    const e = pool[i].embedding;
    if (e.length !== d) return { ok: false, id: pool[i].id, field: 'embedding', reason: `embedding has ${e.length} dimensions, expected ${d}` };
    let norm = 0;
    for (let j = 0; j < d; j++) {
      const v = e[j];
      if (!Number.isFinite(v)) return { ok: false, id: pool[i].id, field: 'embedding', reason: `embedding[${j}] is not a finite number` };
      x[i * d + j] = v;
      norm += v * v;
    }
    if (metric === 'cosine' && norm > 0) {
      const inv = 1 / Math.sqrt(norm);
      for (let j = 0; j < d; j++) x[i * d + j] *= inv;
    }
  }
  return x;
}

/**
 * Picks up to `k` ids by k-center greedy. Returns fewer when fewer distinct
 * candidates exist; `k ≤ 0` picks none. All embeddings must share one
 * non-zero dimension and hold finite numbers; scores must not be NaN.
 */
export function kCenterGreedy(candidates: readonly DiversityCandidate[], k: number, opts: KCenterOptions = {}): DiversityResult {
  const metric = opts.metric ?? 'euclidean';
  for (const c of candidates) {
    if (Number.isNaN(c.score)) return { ok: false, id: c.id, field: 'score', reason: 'score is NaN' };
  }
  const limit = opts.candidates === undefined ? Infinity : Math.max(0, Math.floor(opts.candidates));
  const pool = rankedPool(candidates, limit);
  const want = Number.isNaN(k) ? 0 : Math.min(Math.max(0, Math.floor(k)), pool.length);
  if (want === 0) return { ok: true, ids: [] };

  const m = pool.length;
  const d = pool[0].embedding.length;
  if (d === 0) return { ok: false, id: pool[0].id, field: 'embedding', reason: 'embedding is empty' };
  const x = packEmbeddings(pool, d, metric);
  if (!(x instanceof Float64Array)) return x;

  const dist = (a: number, b: number): number => {
    const oa = a * d;
    const ob = b * d;
    let s = 0;
    if (metric === 'cosine') {
      for (let j = 0; j < d; j++) s += x[oa + j] * x[ob + j];
      return 1 - s;
    }
    for (let j = 0; j < d; j++) {
      const t = x[oa + j] - x[ob + j];
      s += t * t;
    }
    return s;
  };

  const picked = new Uint8Array(m);
  const nearest = new Float64Array(m); // distance to the nearest picked candidate
  const ids: string[] = [pool[0].id];
  picked[0] = 1;
  for (let i = 1; i < m; i++) nearest[i] = dist(i, 0);
  while (ids.length < want) {
    let best = -1;
    let bestD = -Infinity;
    // Strict `>` in rank order: on equal distance the better-ranked candidate stays.
    for (let i = 0; i < m; i++) {
      if (picked[i] === 0 && nearest[i] > bestD) {
        bestD = nearest[i];
        best = i;
      }
    }
    picked[best] = 1;
    ids.push(pool[best].id);
    for (let i = 0; i < m; i++) {
      if (picked[i] === 0) {
        const t = dist(i, best);
        if (t < nearest[i]) nearest[i] = t;
      }
    }
  }
  return { ok: true, ids };
}
