/*
 * malloc_tuning.c: glibc malloc's trim and mmap thresholds, for a process that moves packets.
 *
 * Why: every frame tslirp builds lives in a 1 MiB slab (src/protocol/ethernet/frame-buffer.ts)
 * and every host read in a fresh buffer; at gigabits per second that is hundreds of MB of
 * ArrayBuffer memory a second, allocated with calloc and freed when V8 collects the buffers.
 * glibc's defaults give that memory back to the kernel as soon as a few MB lie free at the top
 * of the heap (the dynamic trim threshold) and serve blocks above the dynamic mmap threshold
 * with mmap, so each new slab touched fresh pages: a page fault and a kernel page clear per
 * 4 KiB, about 5% of the process's CPU under host->guest load (measured with perf).
 * Keeping freed memory (a trim threshold of 256 MiB, growing the heap 64 MiB at a time, blocks
 * of up to 32 MiB from the heap) removes the faults: about 10% fewer CPU seconds per GB at
 * MTU 1500 in an interleaved A/B run. The cost: up to 256 MiB of freed memory stays mapped
 * after a burst, instead of returning to the system.
 *
 * Contract:
 * - mallocTune(trimThreshold, topPad, mmapThreshold: number) -> how many of the three mallopt
 *   calls glibc accepted (3 when all took effect; 0 on a C library without mallopt, where the
 *   call does nothing). Process-wide; call it once, from a process that serves guests.
 */
#include "addon.h"

#if defined(__GLIBC__)
#include <malloc.h>

/* 1 when glibc accepted `value` (a non-negative int) for `option`, else 0. */
static int tune(int option, napi_env env, napi_value value) {
  int64_t n = 0;
  if (napi_get_value_int64(env, value, &n) != napi_ok || n < 0 || n > INT32_MAX) return 0;
  return mallopt(option, (int)n) == 1 ? 1 : 0;
}
#endif

static napi_value js_malloc_tune(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) return addon_int(env, 0);
#if defined(__GLIBC__)
  return addon_int(env, tune(M_TRIM_THRESHOLD, env, argv[0]) + tune(M_TOP_PAD, env, argv[1]) +
                            tune(M_MMAP_THRESHOLD, env, argv[2]));
#else
  return addon_int(env, 0);
#endif
}

napi_status malloc_tuning_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"mallocTune", NULL, js_malloc_tune, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
