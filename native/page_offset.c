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
 * - directStage(bytes: number) -> an ArrayBuffer of `bytes` (a multiple of 2 MiB) of fresh
 *   zeroed memory aligned to 2 MiB and marked for transparent huge pages, or undefined when
 *   that cannot be had (bad size, mmap failed, a runtime that refuses external buffers). Why:
 *   every O_DIRECT write pins the pages of its buffer for the device, one by one; a 4 MiB
 *   buffer of small pages is 1024 pins per write, of huge pages 2 (perf of the capture: the
 *   pinning was the largest kernel cost). Huge pages are a hint the kernel may not honour;
 *   the buffer works either way. Unmapped when the ArrayBuffer is collected.
 */
#include "addon.h"

#include <sys/mman.h>

#define HUGE_BYTES ((size_t)2 << 20)

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

static void unmap_stage(napi_env env, void *data, void *hint) {
  (void)env;
  munmap(data, (size_t)(uintptr_t)hint);
}

static napi_value js_direct_stage(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  double requested = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_double(env, argv[0], &requested) != napi_ok || !(requested > 0) ||
      requested > (double)(1u << 30)) {
    return addon_undefined(env);
  }
  size_t bytes = (size_t)requested;
  if (bytes % HUGE_BYTES != 0) return addon_undefined(env);
  /* Map one huge page more than asked, keep the 2 MiB-aligned part, give back the rest. */
  size_t span = bytes + HUGE_BYTES;
  char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return addon_undefined(env);
  char *aligned = (char *)(((uintptr_t)raw + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1));
  if (aligned > raw) munmap(raw, (size_t)(aligned - raw));
  char *end = aligned + bytes;
  if (raw + span > end) munmap(end, (size_t)(raw + span - end));
#ifdef MADV_HUGEPAGE
  madvise(aligned, bytes, MADV_HUGEPAGE);
#endif
  napi_value out;
  if (napi_create_external_arraybuffer(env, aligned, bytes, unmap_stage, (void *)(uintptr_t)bytes, &out) != napi_ok) {
    munmap(aligned, bytes);
    napi_value pending;
    bool is_pending = false;
    if (napi_is_exception_pending(env, &is_pending) == napi_ok && is_pending) napi_get_and_clear_last_exception(env, &pending);
    return addon_undefined(env);
  }
  return out;
}

napi_status page_offset_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"pageOffset", NULL, js_page_offset, NULL, NULL, NULL, napi_enumerable, NULL},
      {"directStage", NULL, js_direct_stage, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
