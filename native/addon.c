/*
 * The native module (dist/native/line-scan.node): `scan` and `keys`
 * (line-scan.c) and `settle` (settle.c, settle-avx2.c), bound here.
 */

#include "addon.h"
#include "settle.h"

/*
 * settle(probs, present, kinds, stride, n, k, tolerance, lo, hi, threshold, need,
 *        draws, drawFloor, acc, scoreBins, confBins, scratch) → rows settled
 * With tolerance >= 0 the rows are validated first (kinds[i] = 1 valid, 0 not;
 * stride must be 1). An empty `present` means all present, an empty `draws`
 * no audit. `scratch` holds SETTLE_SCRATCH(n, k) doubles (the caller's, reused:
 * fresh megabytes per batch cost more in page faults than the work). See
 * settle.h for the rest.
 */
static napi_value settle_js(napi_env env, napi_callback_info info) {
  size_t argc = 17;
  napi_value argv[17];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 17) { napi_throw_error(env, NULL, "settle: 17 arguments expected"); return NULL; }
  void *pprobs, *ppresent, *pkinds, *pdraws, *pacc, *pscratch;
  size_t nprobs, npresent, nkinds, ndraws, nacc, nscratch;
  int ok = typed(env, argv[0], napi_float64_array, &pprobs, &nprobs)
    && typed(env, argv[1], napi_uint8_array, &ppresent, &npresent)
    && typed(env, argv[2], napi_int32_array, &pkinds, &nkinds)
    && typed(env, argv[11], napi_float64_array, &pdraws, &ndraws)
    && typed(env, argv[13], napi_float64_array, &pacc, &nacc)
    && typed(env, argv[16], napi_float64_array, &pscratch, &nscratch);
  int64_t stride, n, k, need, scoreBins, confBins;
  double tolerance, lo, hi, threshold, drawFloor;
  CHECK(napi_get_value_int64(env, argv[3], &stride));
  CHECK(napi_get_value_int64(env, argv[4], &n));
  CHECK(napi_get_value_int64(env, argv[5], &k));
  CHECK(napi_get_value_double(env, argv[6], &tolerance));
  CHECK(napi_get_value_double(env, argv[7], &lo));
  CHECK(napi_get_value_double(env, argv[8], &hi));
  CHECK(napi_get_value_double(env, argv[9], &threshold));
  CHECK(napi_get_value_int64(env, argv[10], &need));
  CHECK(napi_get_value_double(env, argv[12], &drawFloor));
  CHECK(napi_get_value_int64(env, argv[14], &scoreBins));
  CHECK(napi_get_value_int64(env, argv[15], &confBins));
  if (!ok || n < 0 || k < 1 || k > 4096 || stride < 1 || need < 0 || scoreBins < 1 || scoreBins > 256 || confBins < 1 || confBins > 256
      || nprobs < (size_t)(n * k) || (npresent != 0 && npresent < (size_t)(n * k))
      || (n > 0 && nkinds < (size_t)((n - 1) * stride + 1)) || (ndraws != 0 && ndraws < (size_t)n)
      || nacc < (size_t)(3 + scoreBins + confBins + k) || (tolerance >= 0 && stride != 1) || nscratch < (size_t)SETTLE_SCRATCH(n, k)) {
    napi_throw_error(env, NULL, "settle: bad arguments");
    return NULL;
  }
  settle_args_t a = {
    .probs = pprobs, .present = npresent == 0 ? NULL : ppresent, .kinds = pkinds, .stride = (size_t)stride,
    .n = (size_t)n, .k = (int)k, .lo = lo, .hi = hi, .threshold = threshold, .need = (int)need,
    .draws = ndraws == 0 ? NULL : pdraws, .drawFloor = drawFloor, .acc = pacc,
    .scoreBins = (int)scoreBins, .confBins = (int)confBins, .tolerance = tolerance,
  };
  int64_t settled = settle_rows(&a, pscratch);
  napi_value out;
  CHECK(napi_create_int64(env, settled, &out));
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

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "scan", NAPI_AUTO_LENGTH, scan_js, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "scan", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "settle", NAPI_AUTO_LENGTH, settle_js, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "settle", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "keys", NAPI_AUTO_LENGTH, keys_js, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "keys", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "forceScalar", NAPI_AUTO_LENGTH, force_scalar_js, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "forceScalar", fn) != napi_ok) return NULL;
  return exports;
}
