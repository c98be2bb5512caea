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
#endif

/* log of every value (garbage in unused slots is harmless: -inf or NaN, never read). */
static void logs(const double *x, double *y, size_t n) {
#if defined(__x86_64__) && defined(HAVE_MVEC)
  if (__builtin_cpu_supports("avx2")) { logs_avx2(x, y, n); return; }
#endif
  for (size_t i = 0; i < n; i++) y[i] = log(x[i]);
}

/* floor() for |x| < 2^63 without a libm call (no SSE4.1 round instruction in the baseline ISA); exact: truncation is. */
static inline double floor_small(double x) {
  double t = (double)(int64_t)x;
  return t > x ? t - 1.0 : t;
}

/* A histogram bin clamped to [0, bins), as scoring/chunk.ts binIndex clamps it. */
static inline int clamp_bin(double i, int bins) {
  return i < 0 ? 0 : i >= bins ? bins - 1 : (int)i;
}

/* Math.round: nearest integer, ties toward +infinity. x - floor(x) is exact for the x seen here. */
static inline double js_round(double x) {
  double f = floor_small(x);
  return x - f >= 0.5 ? f + 1.0 : f;
}

/* The want-th largest of v[0..n) (0-based), by quickselect (Hoare partition); v is reordered. */
static double nth_largest(double *v, int64_t n, int64_t want) {
  int64_t lo = 0, hi = n - 1;
  while (hi > lo) {
    double pivot = v[lo + (hi - lo) / 2];
    int64_t i = lo, j = hi;
    while (i <= j) {
      while (v[i] > pivot) i++;
      while (v[j] < pivot) j--;
      if (i <= j) {
        double t = v[i]; v[i] = v[j]; v[j] = t;
        i++;
        j--;
      }
    }
    /* v[lo..j] >= pivot >= v[i..hi], and everything strictly between j and i equals the pivot. */
    if (want <= j) hi = j;
    else if (want >= i) lo = i;
    else return v[want];
  }
  return v[want];
}

int64_t settle_rows(const settle_args_t *a, double *scratch) {
  const int k = a->k;
  const size_t n = a->n;
  double *lg = scratch;          /* n * k logs */
  double *h = scratch + n * k;   /* n approximate entropies */
  double *tmp = h + n;           /* lower bounds, for the threshold */
  logs(a->probs, lg, n * k);
  double threshold = a->threshold;
  size_t eligible = 0;
  for (size_t i = 0; i < n; i++) {
    if (a->kinds[i * a->stride] != 1) continue;
    const double *p = a->probs + i * k;
    const double *l = lg + i * k;
    double e = 0;
    for (int j = 0; j < k; j++) if (p[j] > 0) e -= p[j] * l[j];
    h[i] = e;
    tmp[eligible++] = e - SETTLE_DELTA(e, k);
  }
  if (a->need > 0 && eligible >= (size_t)a->need) {
    double t = nth_largest(tmp, (int64_t)eligible, (int64_t)a->need - 1);
    if (t > threshold) threshold = t;
  }
  /* Counted in locals and written back once: acc may alias nothing, but the compiler cannot know that. */
  const int k1 = k, sbins = a->scoreBins, cbins = a->confBins;
  const double lo = a->lo, hi = a->hi, drawFloor = a->drawFloor;
  /* binIndex puts everything in bin 0 when the range is empty. */
  const int ranged = hi > lo;
  const double scale = ranged ? sbins / (hi - lo) : 0, slack = 1e-12 * (sbins + 1);
  const double *restrict draws = a->draws;
  const double *restrict probs = a->probs;
  const uint8_t *restrict present = a->present;
  double scored = 0, confNano = 0, entNano = 0;
  uint32_t scoreHist[256] = {0}, confHist[256] = {0}, labelN[4096];
  memset(labelN, 0, sizeof(uint32_t) * (size_t)k1);
  int64_t settled = 0;
  for (size_t i = 0; i < n; i++) {
    int32_t *kind = a->kinds + i * a->stride;
    if (*kind != 1) continue;
    double e = h[i];
    double d = SETTLE_DELTA(e, k1);
    if (!(e + d < threshold)) continue;
    if (draws != NULL && !(draws[i] > drawFloor)) continue;
    /* binIndex computes floor(((v - lo) / (hi - lo)) * bins), within 2 ulp of the real value; y is
     * within 3 ulp of it for e. Widened by slack (far above those ulps for bins <= 256), equal clamped
     * floors at both ends (clamp and floor are monotonic) mean JS's bin for the exact score is that one. No division per row. */
    int sb = 0;
    if (ranged) {
      double y = (e - lo) * scale, t = d * scale * (1 + 1e-9) + slack;
      sb = clamp_bin(floor_small(y - t), sbins);
      if (sb != clamp_bin(floor_small(y + t), sbins)) continue;
    }
    double nano = js_round((e - d) * 1e9);
    if (nano != js_round((e + d) * 1e9)) continue;
    const double *p = probs + i * k1;
    const uint8_t *pr = present == NULL ? NULL : present + i * k1;
    double best = -1;
    int bestJ = 0;
    /* Branch-free: which label wins is data, and a mispredicted branch per label costs more than the selects. */
    for (int j = 0; j < k1; j++) {
      int take = p[j] > best && (pr == NULL || pr[j] != 0);
      best = take ? p[j] : best;
      bestJ = take ? j : bestJ;
    }
    scored += 1;
    confNano += js_round(best * 1e9);
    entNano += nano;
    scoreHist[sb]++;
    /* binIndex(best, 0, 1, bins): (best - 0) / (1 - 0) is best exactly, so this is its floor to the bit. */
    confHist[clamp_bin(floor_small(best * cbins), cbins)]++;
    labelN[bestJ]++;
    *kind = SETTLED;
    settled++;
  }
  double *acc = a->acc;
  acc[0] += scored;
  acc[1] += confNano;
  acc[2] += entNano;
  for (int b = 0; b < sbins; b++) acc[3 + b] += scoreHist[b];
  for (int b = 0; b < cbins; b++) acc[3 + sbins + b] += confHist[b];
  for (int j = 0; j < k1; j++) acc[3 + sbins + cbins + j] += labelN[j];
  return settled;
}

/* Marks rows of a row-major matrix valid (1) or not (0) as scoring/columnar-source.ts decides: every value in [0, 1], sum within tolerance of 1. */
void validate_rows(const double *probs, size_t n, int k, double tolerance, int32_t *kinds) {
  for (size_t i = 0; i < n; i++) {
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
