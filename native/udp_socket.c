/*
 * udp_socket.c: unconnected UDP sockets that report ICMP errors, for Node, as part of the
 * tslirp N-API addon (module init in ping_socket.c).
 *
 * Why: Linux reports ICMP errors (port/host/net unreachable, fragmentation needed, TTL
 * exceeded) for an unconnected UDP socket only through IP_RECVERR and the socket's error
 * queue (recvmsg with MSG_ERRQUEUE), which node:dgram does not expose.
 *
 * Contract:
 * - udpOpen(family, callback, local?) -> handle object, or a positive errno when socket(), a
 *   setsockopt() or bind() fails (EADDRNOTAVAIL: `local` is not an address of this host;
 *   EINVAL: not an address of `family`). The socket is non-blocking, bound to an ephemeral port
 *   of `local` (`--outbound-addr`), or of the wildcard address when `local` is undefined, null
 *   or "" (0.0.0.0, or :: dual-stack as the kernel default has it), with IP_RECVERR /
 *   IPV6_RECVERR.
 * - udpSend(handle, address, port, data, ttl) -> 0, or a positive errno. Never throws: an
 *   unparsable address or port gives EINVAL. `ttl` -1 is the host default; 1..255 goes with
 *   this one datagram as an IP_TTL / IPV6_HOPLIMIT control message (no setsockopt). When the
 *   send buffer is full the datagram is queued (bounded; ENOBUFS beyond that) and sent once the
 *   socket is writable, so 0 means "sent or queued".
 * - udpLocalPort(handle) -> the bound port, or -errno.
 * - udpClose(handle): idempotent, also from inside the callback. A handle that is garbage
 *   collected is closed by its finalizer (the addon holds the callback weakly; the handle
 *   object holds it strongly, so an unreferenced socket really is collectable).
 * - The callback runs from the event loop, never from inside udpSend:
 *     callback(0, from, fromPort, data)                              a datagram (a copy)
 *     callback(1, to, toPort, null, origin, type, code, errno, info, offender)
 *                                                                    an error-queue report
 *     callback(2, to, toPort, null, 0, 0, 0, errno, 0, "")           a queued send failed
 *   All calls of one wake-up share one callback scope, so process.nextTick work queued by
 *   the first datagram runs once, after the last.
 *
 * Per wake-up the error queue is read first (that clears the pending socket error that would
 * fail the next recvmsg/sendmsg), then datagrams with recvmmsg, UDP_BATCH at a time, until
 * EAGAIN or MAX_DATAGRAMS_PER_WAKE; the poll is level-triggered, so what is left wakes us
 * again without starving other handles.
 */
#define _GNU_SOURCE
#include "addon.h"

#include <uv.h>

#include <linux/errqueue.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* recvmmsg slots per call, each with a buffer for the largest UDP payload. */
#define UDP_BATCH 16
#define UDP_SLOT 65536
#define MAX_DATAGRAMS_PER_WAKE 256
#define MAX_ERRORS_PER_WAKE 64
/* What a full send buffer may queue before datagrams are refused (ENOBUFS): UDP is lossy,
 * and a guest that outruns the host's link should see loss rather than unbounded memory. */
#define MAX_QUEUED_BYTES (1u << 20)

typedef struct pending {
  struct pending *next;
  struct sockaddr_storage to;
  socklen_t to_len;
  int ttl;
  size_t len;
  uint8_t data[];
} pending_t;

typedef struct {
  napi_env env;
  int fd;          /* -1 once closed */
  int family;      /* AF_INET or AF_INET6 */
  uv_poll_t *poll; /* owned by libuv from uv_close until on_poll_closed frees it */
  int events;      /* what the poll handle currently watches */
  napi_ref callback; /* weak: the handle object keeps the function alive */
  napi_async_context async;
  bool in_callback; /* inside on_poll: async context destruction waits for its end */
  pending_t *head, *tail;
  size_t queued_bytes;
} udp_t;

/* One receive area per Node environment (main thread or worker), shared by its sockets: they
 * are all served from that environment's one loop thread. */
typedef struct {
  struct mmsghdr msgs[UDP_BATCH];
  struct iovec iov[UDP_BATCH];
  struct sockaddr_storage names[UDP_BATCH];
  uint8_t *bufs; /* UDP_BATCH * UDP_SLOT, allocated on the first open */
} arena_t;

static void arena_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  arena_t *a = data;
  free(a->bufs);
  free(a);
}

static arena_t *arena_of(napi_env env) {
  void *data = NULL;
  if (napi_get_instance_data(env, &data) != napi_ok) return NULL;
  arena_t *a = data;
  if (a != NULL && a->bufs == NULL) a->bufs = malloc((size_t)UDP_BATCH * UDP_SLOT);
  return a != NULL && a->bufs != NULL ? a : NULL;
}

/* ---- closing ------------------------------------------------------------------------- */

static void on_poll_closed(uv_handle_t *h) { free(h); }

static void drop_queue(udp_t *u) {
  while (u->head != NULL) {
    pending_t *next = u->head->next;
    free(u->head);
    u->head = next;
  }
  u->tail = NULL;
  u->queued_bytes = 0;
}

static void release_async(udp_t *u) {
  if (u->async != NULL) {
    napi_async_destroy(u->env, u->async);
    u->async = NULL;
  }
}

static void udp_close(udp_t *u) {
  if (u->fd < 0) return;
  uv_poll_stop(u->poll);
  uv_close((uv_handle_t *)u->poll, on_poll_closed);
  u->poll = NULL;
  close(u->fd);
  u->fd = -1;
  drop_queue(u);
  if (u->callback != NULL) {
    napi_delete_reference(u->env, u->callback);
    u->callback = NULL;
  }
  if (!u->in_callback) release_async(u);
}

static void udp_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  udp_t *u = data;
  udp_close(u);
  release_async(u);
  free(u);
}

/* ---- calling back -------------------------------------------------------------------- */

/* Call the callback inside the wake-up's callback scope; an exception it throws becomes an
 * uncaught exception of the process, as if a Node core callback had thrown it. */
static void call_back(udp_t *u, size_t argc, napi_value *argv) { addon_call_back(u->env, u->callback, argc, argv); }

static void report_send_failure(udp_t *u, const pending_t *q, int err) {
  napi_env env = u->env;
  napi_value argv[10] = {
      addon_int(env, 2),
      addon_address(env, &q->to, q->to_len),
      addon_int(env, addon_port(&q->to, q->to_len)),
      NULL,
      addon_int(env, 0),
      addon_int(env, 0),
      addon_int(env, 0),
      addon_int(env, err),
      addon_int(env, 0),
      NULL,
  };
  napi_get_null(env, &argv[3]);
  napi_create_string_utf8(env, "", 0, &argv[9]);
  call_back(u, 10, argv);
}

/* ---- sending ------------------------------------------------------------------------- */

/* One sendmsg; returns 0 or an errno. An ICMP error for an earlier datagram leaves a pending
 * socket error (sk_err) beside its error-queue entry, and the kernel hands that to the next
 * send, which then fails without sending. The error queue reports that ICMP error anyway, so
 * a failed send is retried once: a stale error is consumed by the first attempt, a real one
 * fails again. */
static int send_one(udp_t *u, const struct sockaddr_storage *to, socklen_t to_len, const void *data,
                    size_t len, int ttl) {
  struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {
      .msg_name = (void *)to,
      .msg_namelen = to_len,
      .msg_iov = &iov,
      .msg_iovlen = 1,
  };
  if (ttl >= 1 && ttl <= 255) {
    memset(&control, 0, sizeof control);
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = u->family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
    c->cmsg_type = u->family == AF_INET ? IP_TTL : IPV6_HOPLIMIT;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &ttl, sizeof ttl);
  }
  for (int attempt = 0; attempt < 2; attempt++) {
    ssize_t n;
    do {
      n = sendmsg(u->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) return 0;
    int err = errno;
    /* EMSGSIZE is retried too: a "fragmentation needed" ICMP error leaves it in sk_err. */
    if (err == EAGAIN || err == EWOULDBLOCK || err == EINVAL || attempt == 1) return err;
  }
  return EIO; /* not reached */
}

static void watch(udp_t *u, int events);

/* Send what the full send buffer made us queue, in order, until it fills again. */
static void flush_queue(udp_t *u) {
  while (u->head != NULL && u->fd >= 0) {
    pending_t *q = u->head;
    int err = send_one(u, &q->to, q->to_len, q->data, q->len, q->ttl);
    if (err == EAGAIN || err == EWOULDBLOCK) return;
    u->head = q->next;
    if (u->head == NULL) u->tail = NULL;
    u->queued_bytes -= q->len;
    if (err != 0) report_send_failure(u, q, err);
    free(q);
  }
  if (u->fd >= 0 && u->head == NULL) watch(u, UV_READABLE | UV_PRIORITIZED);
}

/* ---- receiving ----------------------------------------------------------------------- */

/* Read one error-queue message. Returns 0 when the queue is empty (or the socket was closed
 * by the callback), 1 when a message was consumed. */
static int read_error(udp_t *u, uint8_t scratch[64]) {
  addon_queued_error q;
  /* The quoted payload is not needed: msg_name holds the original destination and port. */
  int r = addon_read_error_queue(u->fd, scratch, 64, &q);
  if (r <= 0) return r == 0; /* empty: 0; interrupted or not understood: consumed, go on */
  /* Local reports (EMSGSIZE, ...) repeat what the failed sendmsg already returned to the
   * caller, with the right port, which the queued copy lacks (it carries the socket's
   * unconnected destination port, 0). */
  if (q.ee.ee_origin == SO_EE_ORIGIN_LOCAL) return 1;

  napi_env env = u->env;
  napi_value argv[10] = {
      addon_int(env, 1),
      addon_address(env, &q.to, q.to_len),
      addon_int(env, addon_port(&q.to, q.to_len)),
      NULL,
      addon_int(env, q.ee.ee_origin),
      addon_int(env, q.ee.ee_type),
      addon_int(env, q.ee.ee_code),
      addon_int(env, (int32_t)q.ee.ee_errno),
      NULL,
      addon_address(env, &q.offender, q.offender_len),
  };
  napi_get_null(env, &argv[3]);
  napi_create_uint32(env, q.ee.ee_info, &argv[8]);
  call_back(u, 10, argv);
  return u->fd >= 0;
}

/* Read up to UDP_BATCH datagrams with one recvmmsg and hand each to the callback. Returns how
 * many were read (0: drained, or the socket was closed by the callback). */
static int read_batch(udp_t *u, arena_t *a) {
  for (int i = 0; i < UDP_BATCH; i++) {
    a->iov[i].iov_base = a->bufs + (size_t)i * UDP_SLOT;
    a->iov[i].iov_len = UDP_SLOT;
    memset(&a->msgs[i].msg_hdr, 0, sizeof a->msgs[i].msg_hdr);
    a->msgs[i].msg_hdr.msg_name = &a->names[i];
    a->msgs[i].msg_hdr.msg_namelen = sizeof a->names[i];
    a->msgs[i].msg_hdr.msg_iov = &a->iov[i];
    a->msgs[i].msg_hdr.msg_iovlen = 1;
  }
  int n;
  do {
    n = recvmmsg(u->fd, a->msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    /* EAGAIN: drained. Any other error is a pending socket error (sk_err) that the error
     * queue reports on its own; this call consumed it, so the caller reads again. */
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : 1;
  }
  napi_env env = u->env;
  for (int i = 0; i < n && u->fd >= 0; i++) {
    struct msghdr *h = &a->msgs[i].msg_hdr;
    /* Cannot happen with 64 KiB slots; a truncated datagram would be corrupt, so drop it. */
    if (h->msg_flags & MSG_TRUNC) continue;
    napi_value data;
    void *ignored;
    if (napi_create_buffer_copy(env, a->msgs[i].msg_len, a->iov[i].iov_base, &ignored, &data) != napi_ok) continue;
    napi_value argv[4] = {
        addon_int(env, 0),
        addon_address(env, &a->names[i], h->msg_namelen),
        addon_int(env, addon_port(&a->names[i], h->msg_namelen)),
        data,
    };
    call_back(u, 4, argv);
  }
  return u->fd >= 0 ? n : 0;
}

static void on_poll(uv_poll_t *h, int status, int events) {
  udp_t *u = h->data;
  if (u == NULL || u->fd < 0) return;
  napi_env env = u->env;
  arena_t *a = arena_of(env);
  uint8_t scratch[64];
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value resource;
  napi_callback_scope cb_scope = NULL;
  napi_get_global(env, &resource);
  if (u->async != NULL && napi_open_callback_scope(env, resource, u->async, &cb_scope) != napi_ok) cb_scope = NULL;
  u->in_callback = true;

  if (status == 0 && (events & UV_WRITABLE)) flush_queue(u);
  for (int i = 0; i < MAX_ERRORS_PER_WAKE && u->fd >= 0; i++) {
    if (!read_error(u, scratch)) break;
  }
  if (a != NULL) {
    for (int got = 0; got < MAX_DATAGRAMS_PER_WAKE && u->fd >= 0;) {
      int n = read_batch(u, a);
      if (n == 0) break;
      got += n;
    }
  }
  if (status < 0 && u->fd >= 0) {
    /* libuv stops a poll handle on POLLERR without POLLPRI. SO_SELECT_ERR_QUEUE should make
     * that impossible; if it happens anyway, clear the error and poll again. */
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    watch(u, u->events);
  }

  u->in_callback = false;
  if (cb_scope != NULL) napi_close_callback_scope(env, cb_scope);
  if (u->fd < 0) release_async(u); /* closed by the callback */
  napi_close_handle_scope(env, scope);
}

static void watch(udp_t *u, int events) {
  u->events = events;
  uv_poll_start(u->poll, events, on_poll);
}

/* ---- exported functions -------------------------------------------------------------- */

static udp_t *unwrap(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_unwrap(env, v, &data) != napi_ok) return NULL;
  return data;
}

/* udpOpen(family: 4 | 6, callback: Function, local?: string) -> object | errno */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3] = {NULL, NULL, NULL};
  int32_t family = 0;
  napi_valuetype cb_type = napi_undefined;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || napi_get_value_int32(env, argv[0], &family) != napi_ok || (family != 4 && family != 6) ||
      napi_typeof(env, argv[1], &cb_type) != napi_ok || cb_type != napi_function) {
    return addon_int(env, EINVAL);
  }
  if (arena_of(env) == NULL) return addon_int(env, ENOMEM);
  int af = family == 6 ? AF_INET6 : AF_INET;
  struct sockaddr_storage local;
  socklen_t local_len;
  int bad = addon_local_address(env, argc >= 3 ? argv[2] : NULL, af, &local, &local_len);
  if (bad) return addon_int(env, bad);
  int fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return addon_int(env, errno);

  int err = 0;
  if (af == AF_INET) {
    err = addon_set_int_opt(fd, IPPROTO_IP, IP_RECVERR, 1);
  } else {
    err = addon_set_int_opt(fd, IPPROTO_IPV6, IPV6_RECVERR, 1);
    /* Dual-stack sockets carry IPv4 too (v4-mapped); best effort, the IPv4 half reports its
     * errors through the IPv4 option. */
    if (!err) (void)addon_set_int_opt(fd, IPPROTO_IP, IP_RECVERR, 1);
  }
  if (!err) err = addon_set_int_opt(fd, SOL_SOCKET, SO_SELECT_ERR_QUEUE, 1);
  if (!err && bind(fd, (struct sockaddr *)&local, local_len) != 0) err = errno;
  if (err) {
    close(fd);
    return addon_int(env, err);
  }

  uv_loop_t *loop = NULL;
  udp_t *u = calloc(1, sizeof *u);
  uv_poll_t *poll = calloc(1, sizeof *poll);
  if (u == NULL || poll == NULL || napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, poll, fd) != 0) {
    free(u);
    free(poll);
    close(fd);
    return addon_int(env, ENOMEM);
  }
  u->env = env;
  u->fd = fd;
  u->family = af;
  u->poll = poll;
  poll->data = u;

  napi_value handle, name;
  napi_create_object(env, &handle);
  napi_create_string_utf8(env, "tslirp.udp", NAPI_AUTO_LENGTH, &name);
  napi_property_descriptor keep = {"callback", NULL, NULL, NULL, NULL, argv[1], napi_default, NULL};
  if (napi_define_properties(env, handle, 1, &keep) != napi_ok ||
      napi_create_reference(env, argv[1], 0, &u->callback) != napi_ok ||
      napi_async_init(env, NULL, name, &u->async) != napi_ok ||
      napi_wrap(env, handle, u, udp_finalize, NULL, NULL) != napi_ok) {
    udp_close(u);
    release_async(u);
    free(u);
    return addon_int(env, ENOMEM);
  }
  u->events = UV_READABLE | UV_PRIORITIZED;
  int uerr = uv_poll_start(u->poll, u->events, on_poll);
  if (uerr != 0) {
    udp_close(u); /* the finalizer frees u */
    return addon_int(env, -uerr);
  }
  return handle;
}

/* Parse `text` and `port` into a destination for a socket of `family`; 0 or EINVAL. An IPv4
 * address given to an IPv6 socket becomes v4-mapped, as node:dgram does. */
static int parse_destination(int family, const char *text, int32_t port, struct sockaddr_storage *to,
                             socklen_t *to_len) {
  if (port < 1 || port > 65535) return EINVAL;
  memset(to, 0, sizeof *to);
  if (family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)to;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, text, &sin->sin_addr) != 1) return EINVAL;
    *to_len = sizeof *sin;
    return 0;
  }
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)to;
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons((uint16_t)port);
  *to_len = sizeof *sin6;
  if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) return 0;
  struct in_addr v4;
  if (inet_pton(AF_INET, text, &v4) != 1) return EINVAL;
  sin6->sin6_addr.s6_addr[10] = 0xff;
  sin6->sin6_addr.s6_addr[11] = 0xff;
  memcpy(&sin6->sin6_addr.s6_addr[12], &v4, 4);
  return 0;
}

/* udpSend(handle, address: string, port: number, data: Uint8Array, ttl: number) -> errno */
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) return addon_int(env, EINVAL);
  udp_t *u = unwrap(env, argv[0]);
  if (u == NULL) return addon_int(env, EINVAL);
  if (u->fd < 0) return addon_int(env, EBADF);

  char text[INET6_ADDRSTRLEN + 1];
  size_t text_len = 0;
  int32_t port = 0, ttl = -1;
  napi_typedarray_type ta_type;
  size_t len = 0;
  void *data = NULL;
  bool is_ta = false;
  if (napi_get_value_string_utf8(env, argv[1], text, sizeof text, &text_len) != napi_ok || text_len >= sizeof text - 1 ||
      napi_get_value_int32(env, argv[2], &port) != napi_ok || napi_get_value_int32(env, argv[4], &ttl) != napi_ok ||
      ttl < -1 || ttl > 255 || napi_is_typedarray(env, argv[3], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[3], &ta_type, &len, &data, NULL, NULL) != napi_ok ||
      ta_type != napi_uint8_array) {
    return addon_int(env, EINVAL);
  }
  struct sockaddr_storage to;
  socklen_t to_len = 0;
  int err = parse_destination(u->family, text, port, &to, &to_len);
  if (err) return addon_int(env, err);

  if (u->head == NULL) {
    err = send_one(u, &to, to_len, data, len, ttl);
    if (err != EAGAIN && err != EWOULDBLOCK) return addon_int(env, err);
  }
  /* The send buffer is full (or earlier datagrams wait): queue behind them, in order. */
  if (u->queued_bytes + len > MAX_QUEUED_BYTES) return addon_int(env, ENOBUFS);
  pending_t *q = malloc(sizeof *q + len);
  if (q == NULL) return addon_int(env, ENOBUFS);
  q->next = NULL;
  q->to = to;
  q->to_len = to_len;
  q->ttl = ttl;
  q->len = len;
  if (len > 0) memcpy(q->data, data, len);
  if (u->tail != NULL) u->tail->next = q;
  else u->head = q;
  u->tail = q;
  u->queued_bytes += len;
  if (!(u->events & UV_WRITABLE)) watch(u, UV_READABLE | UV_PRIORITIZED | UV_WRITABLE);
  return addon_int(env, 0);
}

/* udpLocalPort(handle) -> port | -errno */
static napi_value js_local_port(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  udp_t *u = argc >= 1 ? unwrap(env, argv[0]) : NULL;
  if (u == NULL) return addon_int(env, -EINVAL);
  if (u->fd < 0) return addon_int(env, -EBADF);
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(u->fd, (struct sockaddr *)&ss, &len) != 0) return addon_int(env, -errno);
  return addon_int(env, addon_port(&ss, len));
}

/* udpClose(handle) -> undefined */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 1) {
    udp_t *u = unwrap(env, argv[0]);
    if (u != NULL) udp_close(u);
  }
  return addon_undefined(env);
}

napi_status udp_register(napi_env env, napi_value exports) {
  arena_t *a = calloc(1, sizeof *a);
  if (a == NULL) return napi_generic_failure;
  napi_status st = napi_set_instance_data(env, a, arena_finalize, NULL);
  if (st != napi_ok) {
    free(a);
    return st;
  }
  napi_property_descriptor props[] = {
      {"udpOpen", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpSend", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpLocalPort", NULL, js_local_port, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpClose", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
