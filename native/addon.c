/*
 * The native module (dist/native/scan-settle.node): `scan` and `keys`
 * (line-scan.c), `settle` (settle.c, settle-avx2.c) and `spans`, bound here.
 */

#include "addon.h"
#include "settle.h"

/*
 * settle(probs, present, kinds, stride, n, k, tolerance, lo, hi, threshold,
 *        draws, drawFloor, acc, scoreBins, confBins, scratch, visit) → rows settled
 * With tolerance >= 0 the rows are validated first (kinds[i] = 1 valid, 0 not;
 * stride must be 1). An empty `present` means all present, an empty `draws`
 * no audit. `scratch` holds SETTLE_SCRATCH(n, k) doubles (the caller's, reused:
 * fresh megabytes per batch cost more in page faults than the work). See
 * settle.h for the rest. `visit` (n ints) receives the indices of the rows
 * left unsettled, in order: n - settled of them.
 */
static napi_value settle_js(napi_env env, napi_callback_info info) {
  size_t argc = 17;
  napi_value argv[17];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 17) { napi_throw_error(env, NULL, "settle: 17 arguments expected"); return NULL; }
  void *pprobs, *ppresent, *pkinds, *pdraws, *pacc, *pscratch, *pvisit;
  size_t nprobs, npresent, nkinds, ndraws, nacc, nscratch, nvisit;
  int ok = typed(env, argv[0], napi_float64_array, &pprobs, &nprobs)
    && typed(env, argv[1], napi_uint8_array, &ppresent, &npresent)
    && typed(env, argv[2], napi_int32_array, &pkinds, &nkinds)
    && typed(env, argv[10], napi_float64_array, &pdraws, &ndraws)
    && typed(env, argv[12], napi_float64_array, &pacc, &nacc)
    && typed(env, argv[15], napi_float64_array, &pscratch, &nscratch)
    && typed(env, argv[16], napi_int32_array, &pvisit, &nvisit);
  int64_t stride, n, k, scoreBins, confBins;
  double tolerance, lo, hi, threshold, drawFloor;
  CHECK(napi_get_value_int64(env, argv[3], &stride));
  CHECK(napi_get_value_int64(env, argv[4], &n));
  CHECK(napi_get_value_int64(env, argv[5], &k));
  CHECK(napi_get_value_double(env, argv[6], &tolerance));
  CHECK(napi_get_value_double(env, argv[7], &lo));
  CHECK(napi_get_value_double(env, argv[8], &hi));
  CHECK(napi_get_value_double(env, argv[9], &threshold));
  CHECK(napi_get_value_double(env, argv[11], &drawFloor));
  CHECK(napi_get_value_int64(env, argv[13], &scoreBins));
  CHECK(napi_get_value_int64(env, argv[14], &confBins));
  if (!ok || n < 0 || k < 1 || k > 4096 || stride < 1 || scoreBins < 1 || scoreBins > 256 || confBins < 1 || confBins > 256
      || nprobs < (size_t)(n * k) || (npresent != 0 && npresent < (size_t)(n * k))
      || (n > 0 && nkinds < (size_t)((n - 1) * stride + 1)) || (ndraws != 0 && ndraws < (size_t)n)
      || nacc < (size_t)(3 + scoreBins + confBins + k) || (tolerance >= 0 && stride != 1) || nscratch < (size_t)SETTLE_SCRATCH(n, k) || nvisit < (size_t)n) {
    napi_throw_error(env, NULL, "settle: bad arguments");
    return NULL;
  }
  settle_args_t a = {
    .probs = pprobs, .present = npresent == 0 ? NULL : ppresent, .kinds = pkinds, .stride = (size_t)stride,
    .n = (size_t)n, .k = (int)k, .lo = lo, .hi = hi, .threshold = threshold,
    .draws = ndraws == 0 ? NULL : pdraws, .drawFloor = drawFloor, .acc = pacc,
    .scoreBins = (int)scoreBins, .confBins = (int)confBins, .tolerance = tolerance, .visit = pvisit,
  };
  int64_t settled = settle_rows(&a, pscratch);
  napi_value out;
  CHECK(napi_create_int64(env, settled, &out));
  return out;
}

/*
 * spans(offsets, from, n, min, max) → whether every row i < n spans
 * offsets[from + i + 1] - offsets[from + i] in [min, max]: the per-batch
 * checks of Arrow list and string offsets. In JS these loops ran at ~20 ns a
 * row (a fifth of a scoring thread) until V8 got round to optimising them.
 */
static napi_value spans_js(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *poffsets;
  size_t noffsets;
  int64_t from, n, min, max;
  int ok = argc == 5 && typed(env, argv[0], napi_int32_array, &poffsets, &noffsets);
  CHECK(napi_get_value_int64(env, argv[1], &from));
  CHECK(napi_get_value_int64(env, argv[2], &n));
  CHECK(napi_get_value_int64(env, argv[3], &min));
  CHECK(napi_get_value_int64(env, argv[4], &max));
  if (!ok || from < 0 || n < 0 || (size_t)(from + n) >= noffsets) { napi_throw_error(env, NULL, "spans: bad arguments"); return NULL; }
  const int32_t *o = (const int32_t *)poffsets + from;
  int all = 1;
  /* No early exit: branch-free, the compiler vectorises it, and a bad batch is rare. */
  for (int64_t i = 0; i < n; i++) {
    int64_t d = (int64_t)o[i + 1] - o[i];
    all &= (d >= min) & (d <= max);
  }
  napi_value out;
  CHECK(napi_get_boolean(env, all, &out));
  return out;
}

/* forceScalar(on): test hook, runs the settler's scalar kernels even where AVX2 is available. */
static napi_value force_scalar_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool on = false;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 1 || napi_get_value_bool(env, argv[0], &on) != napi_ok) { napi_throw_error(env, NULL, "forceScalar: one boolean expected"); return NULL; }
  settle_force_scalar = on;
  return NULL;
}

/* kernels(): "avx2" or "scalar", the settler kernels this CPU runs (start-up log and /metrics). */
static napi_value kernels_js(napi_env env, napi_callback_info info) {
  (void)info;
  const char *k = has_avx2() ? "avx2" : "scalar";
  napi_value out;
  CHECK(napi_create_string_utf8(env, k, NAPI_AUTO_LENGTH, &out));
  return out;
}

/* Plain writable, enumerable properties, as assigning them would make. */
#define EXPORT(name, fn) { name, NULL, fn, NULL, NULL, NULL, napi_writable | napi_enumerable | napi_configurable, NULL }

NAPI_MODULE_INIT() {
  const napi_property_descriptor fns[] = {
    EXPORT("scan", scan_js),
    EXPORT("settle", settle_js),
    EXPORT("keys", keys_js),
    EXPORT("spans", spans_js),
    EXPORT("forceScalar", force_scalar_js),
    EXPORT("kernels", kernels_js),
  };
  return napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) == napi_ok ? exports : NULL;
}
