/* The row settler (settle.c, settle-avx2.c), called from JS for JSONL lines after line-scan.c and for Arrow rows. */
#ifndef REVIEWLOOP_SETTLE_H
#define REVIEWLOOP_SETTLE_H
#include <stddef.h>
#include <stdint.h>

/* A row's kind once settled (1 = eligible, anything else is left alone). */
#define SETTLED 4

/*
 * Bound on |C entropy - JS entropy| for a row of k labels whose C entropy is e:
 * each log is off by at most 4 ulp (libmvec) + 1 ulp (V8), each of the 2k
 * products and sums adds at most one rounding, and every term is at most e.
 * 64 + 2k ulp of (e + 1e-3) is far above that; the 1e-3 covers e near 0.
 */
#define SETTLE_DELTA_SCALE(k) ((64.0 + 2.0 * (k)) * 2.220446049250313e-16)
#define SETTLE_DELTA(e, k) (SETTLE_DELTA_SCALE(k) * (fabs(e) + 1e-3))

typedef struct {
  const double *probs;    /* row-major n x k */
  const uint8_t *present; /* n x k presence flags, or NULL: all present */
  int32_t *kinds;         /* kinds[i * stride]: 1 = eligible; set to SETTLED */
  size_t stride;
  size_t n;
  int k;
  double lo, hi;          /* the strategy's score range (histogram) */
  double threshold;       /* rows surely below it reach no heap (the worst of a full top heap, or a floor) */
  const double *draws;    /* audit draws per row, or NULL when not auditing; -Infinity: the row may be excluded (never settled, never sets the threshold) */
  double drawFloor;       /* rows whose draw is above it reach no audit heap */
  double *acc;            /* scored, confidenceNano, entropyNano, scoreHist[scoreBins], confHist[confBins], labelN[k] */
  int scoreBins, confBins;
  double tolerance;       /* >= 0: validate each row first (stride 1): kinds[i] = 1 valid, 0 not */
  int32_t *visit;         /* receives the indices of the rows left unsettled, in order (n - settled of them) */
} settle_args_t;

/* Rows per block of logs and verdicts (see settle_rows). */
#define SETTLE_BLOCK 2048
/* Scratch doubles settle_rows needs: entropies per row, one block of logs and verdicts. */
#define SETTLE_SCRATCH(n, k) ((n) + SETTLE_BLOCK * ((k) + 5))

/* Score-bin arithmetic shared by both kernels (see decide_scalar). */
#define SETTLE_SCALE(lo, hi, bins) ((hi) > (lo) ? (bins) / ((hi) - (lo)) : 0.0)
#define SETTLE_SLACK(bins) (1e-12 * ((bins) + 1))

/* Per-row results of the decision pass over one block (row from + r at index r): nano is NaN for rows left to JS. */
typedef struct {
  double *nano, *cnano, *sb, *cb, *bestJ;
} verdicts_t;

int64_t settle_rows(const settle_args_t *a, double *scratch);

/* What a pass over a block's rows does: validate (when tolerance >= 0) and compute entropies into h, and/or decide verdicts (from h when not preparing). */
#define ROWS_PREPARE 1
#define ROWS_DECIDE 2

/*
 * The two kernels over rows [from, to) of the block starting at row base (lg holds the block's
 * logs, verdicts are indexed from base): scalar (any CPU), and AVX2 four rows at a time
 * (settle-avx2.c, base = from), same results to the bit.
 */
void rows_scalar(const settle_args_t *a, const double *lg, double *h, const verdicts_t *v, double threshold, size_t base, size_t from, size_t to, int mode);
void rows_avx2(const settle_args_t *a, const double *lg, double *h, const verdicts_t *v, double threshold, size_t from, size_t to, int mode);

/* Whether the AVX2 kernels run (x86-64 with AVX2, unless a test forced scalar). */
int has_avx2(void);
/* Test hook: 1 forces the scalar kernels. */
extern int settle_force_scalar;

#endif
