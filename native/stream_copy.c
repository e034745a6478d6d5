/*
 * stream_copy.c: a copy into memory the CPU will not read again, with non-temporal stores.
 *
 * Why: `--pcap` copies every frame, a GB per GB of traffic, into staging buffers that go to
 * the disk by O_DIRECT (src/runtime/record/append-direct.ts) and are never read by the CPU.
 * An ordinary copy pulls each destination line into the cache first and leaves it there,
 * evicting the event loop's own working set; in the bench (MTU 1500, host to guest) tslirp's
 * main thread then spent 0.3-0.4 CPU s/GB more with a capture than without, most of it spread
 * over the stack's own code. Non-temporal stores write around the cache. The capture gathers
 * records in a small buffer that stays cached (pcap-writer.ts) and moves it with this call.
 *
 * Contract:
 * - streamCopy(dst: Uint8Array, dstOffset: number, src: Uint8Array, length: number) -> 0, or -1
 *   (nothing copied) when an argument is not what it should be or a range falls outside its
 *   array. Copies src[0, length) to dst[dstOffset, dstOffset + length). The arrays must not
 *   overlap. On x86-64 the aligned middle goes with SSE2 streaming stores followed by a store
 *   fence (so the bytes are visible to the thread that writes the buffer to the file); other
 *   machines use memcpy.
 */
#include "addon.h"

#include <stdbool.h>
#if defined(__x86_64__)
#include <emmintrin.h>
#endif

/* A Uint8Array's bytes and length, or false. */
static bool bytes_of(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is_ta = false;
  napi_typedarray_type type;
  void *p = NULL;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &type, len, &p, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    return false;
  }
  *data = p;
  return true;
}

static void stream_copy(uint8_t *dst, const uint8_t *src, size_t n) {
#if defined(__x86_64__)
  size_t head = (16 - ((uintptr_t)dst & 15)) & 15;
  if (head > n) head = n;
  memcpy(dst, src, head);
  dst += head;
  src += head;
  n -= head;
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
    __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
    __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
    __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
    _mm_stream_si128((__m128i *)(dst + i), a);
    _mm_stream_si128((__m128i *)(dst + i + 16), b);
    _mm_stream_si128((__m128i *)(dst + i + 32), c);
    _mm_stream_si128((__m128i *)(dst + i + 48), d);
  }
  _mm_sfence();
  memcpy(dst + i, src + i, n - i);
#else
  memcpy(dst, src, n);
#endif
}

static napi_value js_stream_copy(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  uint8_t *dst = NULL, *src = NULL;
  size_t dst_len = 0, src_len = 0;
  int64_t at = -1, n = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4 || !bytes_of(env, argv[0], &dst, &dst_len) || !bytes_of(env, argv[2], &src, &src_len) ||
      napi_get_value_int64(env, argv[1], &at) != napi_ok || napi_get_value_int64(env, argv[3], &n) != napi_ok ||
      at < 0 || n < 0 || (uint64_t)n > src_len || (uint64_t)at > dst_len || (uint64_t)n > dst_len - (uint64_t)at) {
    return addon_int(env, -1);
  }
  stream_copy(dst + at, src, (size_t)n);
  return addon_int(env, 0);
}

napi_status stream_copy_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"streamCopy", NULL, js_stream_copy, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
