/*
 * Settles rows natively: for single-label entropy, the rows that provably
 * reach no heap and whose every statistic is decided get counted here, and
 * only the rest go back to JS, which scores them exactly as before.
 *
 * Why this is exact although C's log is not V8's Math.log: a row's entropy is
 * computed with a vectorised log (libmvec, at most 4 ulp off; glibc's scalar
 * log without AVX2) in the same operation order as scoring/strategies.ts
 * entropy(), and carries an error bound `delta` far above the possible
 * difference. A row is settled only when every decision made from its score
 * is the same anywhere in [h - delta, h + delta]: below the heap threshold,
 * the same score-histogram bin, the same Math.round(h * 1e9). Every other
 * decision (validity, best label, confidence bin and nano-sum) uses exact
 * IEEE operations identical to the JS ones (-ffp-contract=off), so it is the
 * same bit for bit. test/unit/settle.test.ts checks settled runs against JS.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "settle.h"

#if defined(__x86_64__) && defined(HAVE_MVEC)
#include <immintrin.h>
/* libmvec's AVX2 log (the vector ABI name gcc itself calls for log under -ffast-math). */
__m256d _ZGVdN4v_log(__m256d x);

__attribute__((target("avx2"))) static void logs_avx2(const double *x, double *y, size_t n) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) _mm256_storeu_pd(y + i, _ZGVdN4v_log(_mm256_loadu_pd(x + i)));
  for (; i < n; i++) y[i] = log(x[i]);
}

/* Its AVX-512 twin, eight at a time (same 4 ulp bound): the log was a third of the settler. */
__m512d _ZGVeN8v_log(__m512d x);

__attribute__((target("avx512f"))) static void logs_avx512(const double *x, double *y, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm512_storeu_pd(y + i, _ZGVeN8v_log(_mm512_loadu_pd(x + i)));
  for (; i < n; i++) y[i] = log(x[i]);
}
#endif

int settle_force_scalar = 0;

int has_avx2(void) {
#if defined(__x86_64__)
  return !settle_force_scalar && __builtin_cpu_supports("avx2");
#else
  return 0;
#endif
}

/* log of every value (garbage in unused slots is harmless: -inf or NaN, never read). */
static void logs(const double *x, double *y, size_t n) {
#if defined(__x86_64__) && defined(HAVE_MVEC)
  if (has_avx2() && __builtin_cpu_supports("avx512f")) { logs_avx512(x, y, n); return; }
  if (has_avx2()) { logs_avx2(x, y, n); return; }
#endif
  for (size_t i = 0; i < n; i++) y[i] = log(x[i]);
}

/* floor() for |x| < 2^63 without a libm call (no SSE4.1 round instruction in the baseline ISA); exact: truncation is. */
static inline double floor_small(double x) {
  double t = (double)(int64_t)x;
  return t > x ? t - 1.0 : t;
}

/* A histogram bin clamped to [0, bins), as scoring/chunk.ts binIndex clamps it. */
static inline double clamp_bin(double i, int bins) {
  return i < 0 ? 0 : i >= bins ? bins - 1 : i;
}

/* Math.round: nearest integer, ties toward +infinity. x - floor(x) is exact for the x seen here. */
static inline double js_round(double x) {
  double f = floor_small(x);
  return x - f >= 0.5 ? f + 1.0 : f;
}

static void entropies_scalar(const double *probs, const double *lg, size_t from, size_t to, int k, double *h) {
  for (size_t i = from; i < to; i++) {
    const double *p = probs + i * k;
    const double *l = lg + i * k;
    double e = 0;
    for (int j = 0; j < k; j++) if (p[j] > 0) e -= p[j] * l[j];
    h[i] = e;
  }
}

static void decide_scalar(const settle_args_t *a, const double *h, const verdicts_t *v, double threshold, size_t base, size_t from, size_t to) {
  const int k = a->k, sbins = a->scoreBins, cbins = a->confBins;
  const double lo = a->lo, hi = a->hi;
  const int ranged = hi > lo;
  const double scale = SETTLE_SCALE(lo, hi, sbins), slack = SETTLE_SLACK(sbins);
  for (size_t i = from; i < to; i++) {
    const size_t r = i - base;
    v->nano[r] = NAN;
    if (a->kinds[i * a->stride] != 1) continue;
    double e = h[i];
    double d = SETTLE_DELTA(e, k);
    if (!(e + d < threshold)) continue;
    if (a->draws != NULL && !(a->draws[i] > a->drawFloor)) continue;
    /* binIndex computes floor(((v - lo) / (hi - lo)) * bins), within 2 ulp of the real value; y is
     * within 3 ulp of it for e. Widened by slack (far above those ulps for bins <= 256), equal clamped
     * floors at both ends (clamp and floor are monotonic) mean JS's bin for the exact score is that one. No division per row. */
    double sb = 0;
    if (ranged) {
      double y = (e - lo) * scale, t = d * scale * (1 + 1e-9) + slack;
      sb = clamp_bin(floor_small(y - t), sbins);
      if (sb != clamp_bin(floor_small(y + t), sbins)) continue;
    }
    double nano = js_round((e - d) * 1e9);
    if (nano != js_round((e + d) * 1e9)) continue;
    const double *p = a->probs + i * k;
    const uint8_t *pr = a->present == NULL ? NULL : a->present + i * k;
    double best = -1;
    int bestJ = 0;
    /* Branch-free: which label wins is data, and a mispredicted branch per label costs more than the selects. */
    for (int j = 0; j < k; j++) {
      int take = p[j] > best && (pr == NULL || pr[j] != 0);
      best = take ? p[j] : best;
      bestJ = take ? j : bestJ;
    }
    v->nano[r] = nano;
    v->sb[r] = sb;
    v->bestJ[r] = bestJ;
    v->cnano[r] = js_round(best * 1e9);
    /* binIndex(best, 0, 1, bins): (best - 0) / (1 - 0) is best exactly, so this is its floor to the bit. */
    v->cb[r] = clamp_bin(floor_small(best * cbins), cbins);
  }
}

/* Counts a block's settled rows (verdicts not NaN) and marks them SETTLED; lists the others in a->visit from *m. */
typedef struct {
  double scored, confNano, entNano;
  uint32_t scoreHist[256], confHist[256], labelN[4096];
} tally_t;

static void tally_block(const settle_args_t *a, const verdicts_t *v, size_t from, size_t to, tally_t *t, size_t *m) {
  for (size_t i = from; i < to; i++) {
    const size_t r = i - from;
    if (isnan(v->nano[r])) { a->visit[(*m)++] = (int32_t)i; continue; }
    t->scored += 1;
    t->entNano += v->nano[r];
    t->confNano += v->cnano[r];
    t->scoreHist[(int)v->sb[r]]++;
    t->confHist[(int)v->cb[r]]++;
    t->labelN[(int)v->bestJ[r]]++;
    a->kinds[i * a->stride] = SETTLED;
  }
}

/* Marks rows of a row-major matrix valid (1) or not (0) as scoring/columnar-source.ts decides: every value in [0, 1], sum within tolerance of 1. */
static void validate_scalar(const double *probs, size_t from, size_t n, int k, double tolerance, int32_t *kinds) {
  for (size_t i = from; i < n; i++) {
    const double *p = probs + i * k;
    int good = 1;
    double sum = 0;
    for (int j = 0; j < k; j++) {
      if (!(p[j] >= 0 && p[j] <= 1)) { good = 0; break; }
      sum += p[j];
    }
    kinds[i] = good && !(fabs(sum - 1) > tolerance);
  }
}

void rows_scalar(const settle_args_t *a, const double *lg, double *h, const verdicts_t *v, double threshold, size_t base, size_t from, size_t to, int mode) {
  const int k = a->k;
  if (mode & ROWS_PREPARE) {
    if (a->tolerance >= 0) validate_scalar(a->probs, from, to, k, a->tolerance, a->kinds);
    entropies_scalar(a->probs + base * k, lg, from - base, to - base, k, h + base);
  }
  if (mode & ROWS_DECIDE) decide_scalar(a, h, v, threshold, base, from, to);
}

/* One pass over rows [from, to): their logs first when preparing, then the kernel. */
static void block_rows(const settle_args_t *a, double *lg, double *h, const verdicts_t *v, double threshold, size_t from, size_t to, int mode, int vector) {
  if (mode & ROWS_PREPARE) logs(a->probs + from * a->k, lg, (to - from) * a->k);
  if (vector) rows_avx2(a, lg, h, v, threshold, from, to, mode);
  else rows_scalar(a, lg, h, v, threshold, from, from, to, mode);
}

int64_t settle_rows(const settle_args_t *a, double *scratch) {
  const int k = a->k;
  const size_t n = a->n;
  /* Work goes block by block so a block's probabilities, logs and verdicts stay in cache: a whole
   * 64k-row batch's worth (7 MB) streamed through memory and made the settler four times slower. */
  double *h = scratch;                  /* n approximate entropies */
  double *lg = h + n;                   /* SETTLE_BLOCK * k logs */
  double *vb = lg + SETTLE_BLOCK * (size_t)k;
  verdicts_t v = { vb, vb + SETTLE_BLOCK, vb + 2 * SETTLE_BLOCK, vb + 3 * SETTLE_BLOCK, vb + 4 * SETTLE_BLOCK };
  const int vector = has_avx2();
  static __thread tally_t t;
  memset(&t, 0, sizeof t);
  /* The threshold is the caller's alone: the worst score of a full top heap, or a floor, each the
   * K-th best of K distinct ids. Rows of this batch never raise it: without their ids, K of them may
   * be copies of fewer than K items, which prove nothing about the run's K-th best distinct id. */
  const double threshold = a->threshold;
  size_t unsettled = 0;
  for (size_t from = 0; from < n; from += SETTLE_BLOCK) {
    size_t to = n - from < SETTLE_BLOCK ? n : from + SETTLE_BLOCK;
    block_rows(a, lg, h, &v, threshold, from, to, ROWS_PREPARE | ROWS_DECIDE, vector);
    tally_block(a, &v, from, to, &t, &unsettled);
  }
  const int sbins = a->scoreBins, cbins = a->confBins;
  double scored = t.scored, confNano = t.confNano, entNano = t.entNano;
  uint32_t *scoreHist = t.scoreHist, *confHist = t.confHist, *labelN = t.labelN;
  double *acc = a->acc;
  acc[0] += scored;
  acc[1] += confNano;
  acc[2] += entNano;
  for (int b = 0; b < sbins; b++) acc[3 + b] += scoreHist[b];
  for (int b = 0; b < cbins; b++) acc[3 + sbins + b] += confHist[b];
  for (int j = 0; j < k; j++) acc[3 + sbins + cbins + j] += labelN[j];
  return (int64_t)scored;
}
