/*
 * page_offset.c: where a typed array's bytes lie within a memory page, so that JavaScript can
 * cut page-aligned views out of an ArrayBuffer for O_DIRECT file writes
 * (src/runtime/record/append-direct.ts): Linux requires the memory of a direct write aligned to
 * the device's block size, and JavaScript cannot see addresses.
 *
 * Contract:
 * - pageOffset(view: TypedArray) -> the address of the view's first byte modulo 4096, or -1
 *   when `view` is not a typed array. An ArrayBuffer's memory never moves once allocated
 *   outside the JavaScript heap (any buffer of more than a few dozen bytes), so the answer
 *   stays true for the life of the buffer.
 */
#include "addon.h"

static napi_value js_page_offset(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool is_ta = false;
  napi_typedarray_type type;
  size_t len = 0;
  void *data = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_is_typedarray(env, argv[0], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[0], &type, &len, &data, NULL, NULL) != napi_ok) {
    return addon_int(env, -1);
  }
  return addon_int(env, (int32_t)((uintptr_t)data & 4095));
}

napi_status page_offset_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"pageOffset", NULL, js_page_offset, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
