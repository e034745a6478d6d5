/*
 * guest_stream.c: the guest link's stream socket read and written below Node's stream layer,
 * as part of the tslirp N-API addon (module init in ping_socket.c).
 *
 * Why: a guest link is one stream socket that sleeps between frames. Waking it through
 * net.Socket costs a Readable.push, 'data' emission and a Writable cork/uncork/writev per frame
 * on top of the system calls; the latency bench measures that overhead as most of tslirp's ping
 * time above libslirp's. Here a libuv poll handle on a duplicate of the socket's descriptor
 * reads (see below for into what) and hands JavaScript the bytes; writes are one writev(2).
 *
 * Contract:
 * - streamOpen(fd, callback, maxRead?) -> handle object, or a positive errno. `fd` is duplicated
 *   (the caller's socket object keeps its own descriptor and must not read from it); the
 *   duplicate is non-blocking and watched for reading at once. `maxRead` (1..256 KiB, default
 *   256 KiB) bounds one read(2): host TCP reads 64 KiB like Node's streams, because one read
 *   becomes one burst of segments toward the guest, and a 256 KiB burst overflows the guest
 *   link's socket buffer (the rest then waits in Node's stream) and fills the connection's
 *   send buffer bound at once (a pause and resume per read).
 * - The callback runs from the event loop, never from inside another call:
 *     callback(0, data)    bytes read (a Uint8Array the caller may keep; never written again:
 *                          a small read is a view of a pool chunk of its own handle, a large
 *                          one a fresh Buffer)
 *     callback(1, 0)       end of stream: the peer closed; the handle stops reading
 *     callback(2, errno)   a read error; the handle stops reading
 *   All reads of one wake-up share one callback scope (process.nextTick work runs after).
 * - streamWritev(handle, chunks: Uint8Array[]) -> bytes written (>= 0, possibly fewer than
 *   given when the socket's send buffer is full: the caller sends the rest some other way),
 *   or -errno. Never blocks, never throws.
 * - streamPause(handle, paused: boolean): stop or resume reading (backpressure).
 * - streamClose(handle): idempotent, also from inside the callback; closes the duplicate only.
 *   A collected handle is closed by its finalizer.
 * Used for the guest link and for host TCP sockets (src/runtime/node/tcp.ts). The guest link
 * (reads of 256 KiB) reads into one buffer per thread (reads happen only in on_poll, on the
 * loop's thread, and are copied out before JavaScript runs); a handle opened with a smaller
 * `maxRead` (host TCP, 64 KiB) reads straight into a fresh Buffer of that size that JavaScript
 * keeps (a view of the bytes read), as libuv does for Node's streams: copying every 64 KiB
 * read out of the shared buffer cost host->guest bulk transfers a memcpy per read (perf). Small reads (a ping, an ACK, a request) are copied into a 16 KiB pool chunk of their
 * handle and handed over as views of it: a fresh Node Buffer per read (malloc, a backing store,
 * its prototype) cost more than the rest of the wake-up's native work (perf, ping at 20 ms).
 * A view keeps its whole chunk alive, which bounds what a long-kept small read can pin.
 */
#define _GNU_SOURCE
#include "addon.h"

#include <uv.h>

#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

/* One read's buffer: large enough for a burst of jumbo frames in one system call. */
#define READ_BYTES (256 * 1024)
/* Small reads are cut from a pool chunk of this size; larger ones get a buffer of their own. */
#define POOL_BYTES (16 * 1024)
#define POOL_MAX_READ 2048
/* Reads per wake-up before yielding to other handles (the poll is level-triggered). */
#define MAX_READS_PER_WAKE 16
#define MAX_IOV 1024

typedef struct {
  napi_env env;
  int fd;            /* the duplicate; -1 once closed */
  uv_poll_t *poll;   /* owned by libuv from uv_close until on_poll_closed frees it */
  bool paused;
  size_t max_read;   /* bytes per read(2): READ_BYTES for the guest link, less for host TCP */
  napi_ref callback; /* weak: the handle object keeps the function alive */
  napi_async_context async;
  bool in_callback;
  napi_ref pool;      /* the current pool chunk (an ArrayBuffer), NULL before the first */
  uint8_t *pool_data;
  size_t pool_off;    /* bytes of the chunk handed out */
} stream_t;

/* The read buffer every handle of this thread shares (allocated on first open, never freed). */
static __thread uint8_t *read_buf;

static void on_poll_closed(uv_handle_t *h) { free(h); }

static void release_async(stream_t *s) {
  if (s->async != NULL) {
    napi_async_destroy(s->env, s->async);
    s->async = NULL;
  }
}

static void stream_close(stream_t *s) {
  if (s->fd < 0) return;
  uv_poll_stop(s->poll);
  uv_close((uv_handle_t *)s->poll, on_poll_closed);
  s->poll = NULL;
  close(s->fd);
  s->fd = -1;
  if (s->pool != NULL) {
    napi_delete_reference(s->env, s->pool); /* views handed out keep their chunk alive */
    s->pool = NULL;
  }
  if (s->callback != NULL) {
    napi_delete_reference(s->env, s->callback);
    s->callback = NULL;
  }
  if (!s->in_callback) release_async(s);
}

static void stream_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  stream_t *s = data;
  stream_close(s);
  release_async(s);
  free(s);
}

static void call_back(stream_t *s, size_t argc, napi_value *argv) { addon_call_back(s->env, s->callback, argc, argv); }

/* `n` bytes at `src` as a value JavaScript may keep: a view of the pool chunk when small, else a
 * fresh Buffer with a copy. */
static napi_status copy_out(stream_t *s, const uint8_t *src, size_t n, napi_value *out) {
  napi_env env = s->env;
  if (n > POOL_MAX_READ) {
    void *ignored;
    return napi_create_buffer_copy(env, n, src, &ignored, out);
  }
  napi_value chunk;
  if (s->pool == NULL || POOL_BYTES - s->pool_off < n) {
    void *data;
    napi_status st = napi_create_arraybuffer(env, POOL_BYTES, &data, &chunk);
    if (st != napi_ok) return st;
    if (s->pool != NULL) napi_delete_reference(env, s->pool);
    s->pool = NULL;
    if ((st = napi_create_reference(env, chunk, 1, &s->pool)) != napi_ok) return st;
    s->pool_data = data;
    s->pool_off = 0;
  } else {
    napi_status st = napi_get_reference_value(env, s->pool, &chunk);
    if (st != napi_ok) return st;
  }
  memcpy(s->pool_data + s->pool_off, src, n);
  napi_status st = napi_create_typedarray(env, napi_uint8_array, n, chunk, s->pool_off, out);
  s->pool_off += (n + 7) & ~(size_t)7; /* keep views 8-byte aligned */
  return st;
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)events;
  stream_t *s = h->data;
  if (s == NULL || s->fd < 0) return;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value resource;
  napi_callback_scope cb_scope = NULL;
  napi_get_global(env, &resource);
  if (s->async != NULL && napi_open_callback_scope(env, resource, s->async, &cb_scope) != napi_ok) cb_scope = NULL;
  s->in_callback = true;

  for (int i = 0; i < MAX_READS_PER_WAKE && s->fd >= 0 && !s->paused; i++) {
    ssize_t n;
    /* A handle with reads of its own size (host TCP) reads straight into a fresh Buffer that
     * JavaScript then keeps (no copy of a large read); the guest link reads into the shared
     * buffer (its reads are up to 256 KiB and often hold a single small frame). */
    uint8_t *dst = read_buf;
    napi_value fresh = NULL;
    if (s->max_read < READ_BYTES) {
      void *data = NULL;
      if (napi_create_buffer(env, s->max_read, &data, &fresh) != napi_ok) break;
      dst = data;
    }
    do {
      n = read(s->fd, dst, s->max_read);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) {
      int err = n == 0 ? 0 : errno;
      uv_poll_stop(s->poll);
      napi_value argv[2] = {addon_int(env, n == 0 ? 1 : 2), addon_int(env, err)};
      call_back(s, 2, argv);
      break;
    }
    napi_value data;
    if (fresh != NULL && (size_t)n > POOL_MAX_READ) {
      if ((size_t)n == s->max_read) {
        data = fresh;
      } else {
        /* A view of the bytes read; the rest of the Buffer's memory is never shown to anyone. */
        napi_value ab;
        size_t offset = 0;
        if (napi_get_typedarray_info(env, fresh, NULL, NULL, NULL, &ab, &offset) != napi_ok ||
            napi_create_typedarray(env, napi_uint8_array, (size_t)n, ab, offset, &data) != napi_ok) {
          break;
        }
      }
    } else if (copy_out(s, dst, (size_t)n, &data) != napi_ok) {
      break;
    }
    napi_value argv[2] = {addon_int(env, 0), data};
    call_back(s, 2, argv);
    if ((size_t)n < s->max_read) break; /* drained: save the read that would say EAGAIN */
  }
  (void)status; /* an error shows as a failing read above */

  s->in_callback = false;
  if (cb_scope != NULL) napi_close_callback_scope(env, cb_scope);
  if (s->fd < 0) release_async(s);
  napi_close_handle_scope(env, scope);
}

static stream_t *unwrap(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_unwrap(env, v, &data) != napi_ok) return NULL;
  return data;
}

/* streamOpen(fd: number, callback: Function, maxRead?: number) -> object | errno */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd = -1;
  int32_t max_read = READ_BYTES;
  napi_valuetype cb_type = napi_undefined;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      napi_typeof(env, argv[1], &cb_type) != napi_ok || cb_type != napi_function) {
    return addon_int(env, EINVAL);
  }
  napi_valuetype max_type = napi_undefined;
  if (argc >= 3 && napi_typeof(env, argv[2], &max_type) == napi_ok && max_type != napi_undefined &&
      (napi_get_value_int32(env, argv[2], &max_read) != napi_ok || max_read < 1 || max_read > READ_BYTES)) {
    return addon_int(env, EINVAL);
  }
  int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return addon_int(env, errno);
  /* O_NONBLOCK lives on the open file description, which Node's handle shares: it is set
   * there already; setting it again changes nothing for Node. */
  int flags = fcntl(dup_fd, F_GETFL);
  if (flags < 0 || fcntl(dup_fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    int err = errno;
    close(dup_fd);
    return addon_int(env, err);
  }
  uv_loop_t *loop = NULL;
  stream_t *s = calloc(1, sizeof *s);
  uv_poll_t *poll = calloc(1, sizeof *poll);
  if (read_buf == NULL) read_buf = malloc(READ_BYTES);
  if (s == NULL || poll == NULL || read_buf == NULL || napi_get_uv_event_loop(env, &loop) != napi_ok ||
      uv_poll_init(loop, poll, dup_fd) != 0) {
    free(s);
    free(poll);
    close(dup_fd);
    return addon_int(env, ENOMEM);
  }
  s->env = env;
  s->fd = dup_fd;
  s->max_read = (size_t)max_read;
  s->poll = poll;
  poll->data = s;

  napi_value handle, name;
  napi_create_object(env, &handle);
  napi_create_string_utf8(env, "tslirp.guestStream", NAPI_AUTO_LENGTH, &name);
  napi_property_descriptor keep = {"callback", NULL, NULL, NULL, NULL, argv[1], napi_default, NULL};
  if (napi_define_properties(env, handle, 1, &keep) != napi_ok ||
      napi_create_reference(env, argv[1], 0, &s->callback) != napi_ok ||
      napi_async_init(env, NULL, name, &s->async) != napi_ok ||
      napi_wrap(env, handle, s, stream_finalize, NULL, NULL) != napi_ok) {
    stream_close(s);
    release_async(s);
    free(s);
    return addon_int(env, ENOMEM);
  }
  int uerr = uv_poll_start(s->poll, UV_READABLE, on_poll);
  if (uerr != 0) {
    stream_close(s); /* the finalizer frees s */
    return addon_int(env, -uerr);
  }
  return handle;
}

/* streamWritev(handle, chunks: Uint8Array[]) -> bytes written | -errno */
static napi_value js_writev(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  stream_t *s = argc >= 2 ? unwrap(env, argv[0]) : NULL;
  if (s == NULL) return addon_int(env, -EINVAL);
  if (s->fd < 0) return addon_int(env, -EBADF);
  uint32_t count = 0;
  bool is_array = false;
  if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[1], &count) != napi_ok) {
    return addon_int(env, -EINVAL);
  }
  struct iovec iov[MAX_IOV];
  double total = 0;
  uint32_t i = 0;
  while (i < count) {
    int k = 0;
    size_t want = 0;
    for (; i < count && k < MAX_IOV; i++) {
      napi_value item;
      napi_typedarray_type type;
      size_t len = 0;
      void *data = NULL;
      bool is_ta = false;
      if (napi_get_element(env, argv[1], i, &item) != napi_ok || napi_is_typedarray(env, item, &is_ta) != napi_ok ||
          !is_ta || napi_get_typedarray_info(env, item, &type, &len, &data, NULL, NULL) != napi_ok ||
          type != napi_uint8_array) {
        return addon_int(env, -EINVAL);
      }
      if (len == 0) continue;
      iov[k].iov_base = data;
      iov[k].iov_len = len;
      want += len;
      k++;
    }
    if (k == 0) break;
    ssize_t n;
    do {
      n = writev(s->fd, iov, k);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (total > 0) break; /* report what went; the error shows again on the next write */
      return addon_int(env, -errno);
    }
    total += (double)n;
    if ((size_t)n < want) break;
  }
  napi_value out;
  napi_create_double(env, total, &out);
  return out;
}

/* streamPause(handle, paused: boolean) -> undefined */
static napi_value js_pause(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  stream_t *s = argc >= 2 ? unwrap(env, argv[0]) : NULL;
  bool paused = false;
  if (s == NULL || s->fd < 0 || napi_get_value_bool(env, argv[1], &paused) != napi_ok) return addon_undefined(env);
  if (paused != s->paused) {
    s->paused = paused;
    if (paused) uv_poll_stop(s->poll);
    else uv_poll_start(s->poll, UV_READABLE, on_poll);
  }
  return addon_undefined(env);
}

/* streamClose(handle) -> undefined */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 1) {
    stream_t *s = unwrap(env, argv[0]);
    if (s != NULL) stream_close(s);
  }
  return addon_undefined(env);
}

napi_status guest_stream_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"streamOpen", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"streamWritev", NULL, js_writev, NULL, NULL, NULL, napi_enumerable, NULL},
      {"streamPause", NULL, js_pause, NULL, NULL, NULL, napi_enumerable, NULL},
      {"streamClose", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
