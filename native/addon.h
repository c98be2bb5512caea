/* The N-API glue shared by the addon's functions (addon.c registers them). */
#ifndef REVIEWLOOP_ADDON_H
#define REVIEWLOOP_ADDON_H
#include <node_api.h>

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "native: bad arguments"); return NULL; } } while (0)

/* The data of a typed array of type `want`; 0 when `v` is not one. */
static inline int typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length) {
  napi_typedarray_type type = napi_int8_array;
  size_t offset = 0;
  napi_value ab;
  *data = NULL;
  *length = 0;
  return napi_get_typedarray_info(env, v, &type, length, data, &ab, &offset) == napi_ok && type == want;
}

napi_value scan_js(napi_env env, napi_callback_info info);
napi_value keys_js(napi_env env, napi_callback_info info);

#endif
