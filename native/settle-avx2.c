/*
 * The settler's kernel four rows at a time (AVX2), one row per lane. Each
 * lane runs the scalar kernels' operations in the same order (settle.c), so
 * the results are the same to the bit: the entropy subtracts p * log p label
 * by label, skipping p = 0 by a blend rather than adding zero; floors are
 * vroundpd, exact like the scalar truncation trick. settle.test.ts runs both.
 *
 * Validation, entropy and verdicts run in one pass (rows_avx2): as three
 * kernels each gathered every row's probabilities again, and the gathers
 * were most of their time.
 */
#include <math.h>
#include <stdint.h>

#include "settle.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))

/* Math.round: floor, plus one when the fraction is at least one half. */
AVX2 static inline __m256d js_round4(__m256d x) {
  __m256d f = _mm256_floor_pd(x);
  __m256d up = _mm256_cmp_pd(_mm256_sub_pd(x, f), _mm256_set1_pd(0.5), _CMP_GE_OQ);
  return _mm256_blendv_pd(f, _mm256_add_pd(f, _mm256_set1_pd(1.0)), up);
}

AVX2 static inline __m256d clamp4(__m256d i, int bins) {
  return _mm256_min_pd(_mm256_max_pd(i, _mm256_setzero_pd()), _mm256_set1_pd(bins - 1));
}

/* Label j of rows i … i+3 (row-major, k per row). */
AVX2 static inline __m256d column4(const double *m, size_t i, int k, int j) {
  const double *r = m + i * (size_t)k + j;
  return _mm256_set_pd(r[3 * k], r[2 * k], r[k], r[0]);
}

/* Up to this many labels, a row group's probabilities are gathered once and kept; more are gathered per use. */
#define CACHED_K 16

AVX2 void rows_avx2(const settle_args_t *a, const double *lg, double *h, const verdicts_t *v, double threshold, size_t from, size_t to, int mode) {
  const int k = a->k, sbins = a->scoreBins, cbins = a->confBins;
  const int ranged = a->hi > a->lo, cached = k <= CACHED_K;
  const int prepare = (mode & ROWS_PREPARE) != 0, decide = (mode & ROWS_DECIDE) != 0, validate = prepare && a->tolerance >= 0;
  const __m256d lo = _mm256_set1_pd(a->lo), scale = _mm256_set1_pd(SETTLE_SCALE(a->lo, a->hi, sbins));
  const __m256d slack = _mm256_set1_pd(SETTLE_SLACK(sbins)), widen = _mm256_set1_pd(1 + 1e-9);
  const __m256d c = _mm256_set1_pd(SETTLE_DELTA_SCALE(k)), milli = _mm256_set1_pd(1e-3);
  const __m256d giga = _mm256_set1_pd(1e9), one = _mm256_set1_pd(1.0), zero = _mm256_setzero_pd();
  const __m256d nan = _mm256_set1_pd(NAN), abs = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffLL));
  const __m256d t4 = _mm256_set1_pd(threshold), drawFloor = _mm256_set1_pd(a->drawFloor), cb4 = _mm256_set1_pd(cbins);
  const __m256d tol = _mm256_set1_pd(a->tolerance);
  __m256d pc[CACHED_K];
  size_t i = from;
  for (; i + 4 <= to; i += 4) {
    const size_t r = i - from;
    if (cached) for (int j = 0; j < k; j++) pc[j] = column4(a->probs, i, k, j);
#define COL(j) (cached ? pc[j] : column4(a->probs, i, k, j))
    __m256d e;
    if (prepare) {
      if (validate) {
        __m256d good = _mm256_castsi256_pd(_mm256_set1_epi64x(-1));
        __m256d sum = zero;
        for (int j = 0; j < k; j++) {
          __m256d p = COL(j);
          good = _mm256_and_pd(good, _mm256_and_pd(_mm256_cmp_pd(p, zero, _CMP_GE_OQ), _mm256_cmp_pd(p, one, _CMP_LE_OQ)));
          sum = _mm256_add_pd(sum, p);
        }
        /* !(|sum - 1| > tolerance): a NaN sum only comes with a value that already failed. */
        __m256d off = _mm256_cmp_pd(_mm256_and_pd(_mm256_sub_pd(sum, one), abs), tol, _CMP_GT_OQ);
        int bits = _mm256_movemask_pd(_mm256_andnot_pd(off, good));
        for (int q = 0; q < 4; q++) a->kinds[i + q] = (bits >> q) & 1;
      }
      e = zero;
      for (int j = 0; j < k; j++) {
        __m256d p = COL(j);
        __m256d t = _mm256_sub_pd(e, _mm256_mul_pd(p, column4(lg, r, k, j)));
        e = _mm256_blendv_pd(e, t, _mm256_cmp_pd(p, zero, _CMP_GT_OQ));
      }
      _mm256_storeu_pd(h + i, e);
    } else {
      e = _mm256_loadu_pd(h + i);
    }
    if (!decide) continue;
    const int32_t *kd = a->kinds + i * a->stride;
    __m256d ok = _mm256_cmp_pd(_mm256_set_pd(kd[3 * a->stride], kd[2 * a->stride], kd[a->stride], kd[0]), one, _CMP_EQ_OQ);
    /* SETTLE_DELTA, same operations. */
    __m256d d = _mm256_mul_pd(c, _mm256_add_pd(_mm256_and_pd(e, abs), milli));
    ok = _mm256_and_pd(ok, _mm256_cmp_pd(_mm256_add_pd(e, d), t4, _CMP_LT_OQ));
    if (a->draws != NULL) ok = _mm256_and_pd(ok, _mm256_cmp_pd(_mm256_loadu_pd(a->draws + i), drawFloor, _CMP_GT_OQ));
    if (_mm256_movemask_pd(ok) == 0) {
      _mm256_storeu_pd(v->nano + r, nan);
      continue;
    }
    __m256d sb = zero;
    if (ranged) {
      __m256d y = _mm256_mul_pd(_mm256_sub_pd(e, lo), scale);
      __m256d t = _mm256_add_pd(_mm256_mul_pd(_mm256_mul_pd(d, scale), widen), slack);
      sb = clamp4(_mm256_floor_pd(_mm256_sub_pd(y, t)), sbins);
      ok = _mm256_and_pd(ok, _mm256_cmp_pd(sb, clamp4(_mm256_floor_pd(_mm256_add_pd(y, t)), sbins), _CMP_EQ_OQ));
    }
    __m256d nano = js_round4(_mm256_mul_pd(_mm256_sub_pd(e, d), giga));
    ok = _mm256_and_pd(ok, _mm256_cmp_pd(nano, js_round4(_mm256_mul_pd(_mm256_add_pd(e, d), giga)), _CMP_EQ_OQ));
    __m256d best = _mm256_set1_pd(-1), bestJ = zero;
    for (int j = 0; j < k; j++) {
      __m256d p = COL(j);
      __m256d take = _mm256_cmp_pd(p, best, _CMP_GT_OQ);
      if (a->present != NULL) {
        const uint8_t *pr = a->present + i * (size_t)k + j;
        take = _mm256_and_pd(take, _mm256_cmp_pd(_mm256_set_pd(pr[3 * k], pr[2 * k], pr[k], pr[0]), zero, _CMP_NEQ_OQ));
      }
      best = _mm256_blendv_pd(best, p, take);
      bestJ = _mm256_blendv_pd(bestJ, _mm256_set1_pd(j), take);
    }
#undef COL
    _mm256_storeu_pd(v->nano + r, _mm256_blendv_pd(nan, nano, ok));
    _mm256_storeu_pd(v->sb + r, sb);
    _mm256_storeu_pd(v->bestJ + r, bestJ);
    _mm256_storeu_pd(v->cnano + r, js_round4(_mm256_mul_pd(best, giga)));
    _mm256_storeu_pd(v->cb + r, clamp4(_mm256_floor_pd(_mm256_mul_pd(best, cb4)), cbins));
  }
  rows_scalar(a, lg, h, v, threshold, from, i, to, mode);
}

#else
/* Not x86-64: has_avx2() is 0 and this is never called; it exists for the linker. */
void rows_avx2(const settle_args_t *a, const double *lg, double *h, const verdicts_t *v, double threshold, size_t from, size_t to, int mode) {
  rows_scalar(a, lg, h, v, threshold, from, from, to, mode);
}
#endif
