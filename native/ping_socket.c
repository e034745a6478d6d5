/*
 * ping_socket.c: Linux unprivileged ICMP echo ("ping") sockets for Node, as an N-API addon.
 * This file also holds the module init, which adds the UDP half (udp_socket.c: udpOpen,
 * udpSend, udpLocalPort, udpClose) to the same exports.
 *
 * Contract:
 * - open(family, callback, local?) -> handle object, or a positive errno number when socket(),
 *   a setsockopt() or bind() fails (EACCES when net.ipv4.ping_group_range excludes our groups;
 *   EADDRNOTAVAIL when `local` is not an address of this host; EINVAL when it is not an
 *   address of `family`). With `local` (`--outbound-addr`) the socket is bound to it before
 *   any echo leaves, so echoes carry it as their source; undefined, null or "" leave the
 *   source to the kernel.
 * - localAddress(handle) -> the bound address (getsockname; "0.0.0.0" / "::" when unbound),
 *   or a positive errno. For tests.
 * - send(handle, address, sequence, payload, ttl) -> 0, or a positive errno. Never throws for
 *   bad input: an unparsable address gives EINVAL, an oversized payload EMSGSIZE.
 * - close(handle): idempotent. A handle that is garbage collected is closed as well.
 * - The callback is called from the event loop, never from inside send():
 *     callback(0, from, sequence, ttl, payload)                  an echo reply (ttl -1: unknown)
 *     callback(1, to, sequence, -1, null, origin, type, code, errno, info, offender)
 *                                                                an error from MSG_ERRQUEUE
 *   `sequence` is -1 when the kernel did not hand back enough of the original echo header.
 *
 * The kernel fills in the echo identifier (the socket's "port") and the checksum, and only
 * delivers echo replies matching that identifier, so this file builds and parses the 8-byte
 * echo header and nothing else. Only node_api.h and libuv's stable v1 ABI are used, so one
 * build loads in every Node with N-API 8 (checked with Node 20 headers, loaded by Node 24).
 */
#define _GNU_SOURCE
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>
#include <uv.h>

#include "addon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ICMP_ECHO_REQUEST 8
#define ICMP_ECHO_REPLY 0
#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY 129
#define ECHO_HEADER_LEN 8
/* The largest datagram IP can carry; the kernel refuses more anyway. */
#define MAX_DATAGRAM 65535
/* Messages read per wake-up from each queue: bounded so one busy socket cannot starve the
 * loop; the poll is level-triggered, so whatever is left wakes us again. */
#define MAX_READS_PER_WAKE 64

typedef struct {
  napi_env env;
  int fd;            /* -1 once closed */
  int family;        /* AF_INET or AF_INET6 */
  int ttl;           /* the TTL / hop limit last set on the socket; -1 is the kernel default */
  uv_poll_t *poll;   /* owned by libuv from uv_close until on_poll_closed frees it */
  napi_ref callback; /* strong reference, dropped on close */
  napi_async_context async;
  uint8_t buf[MAX_DATAGRAM + 1];
} ping_t;

/* ---- small helpers (the shared ones are in addon.h) ------------------------------- */

/* Sequence number from an echo header at `p`, or -1 when fewer than 8 bytes are present. */
static int echo_sequence(const uint8_t *p, size_t len) {
  if (len < ECHO_HEADER_LEN) return -1;
  return (p[6] << 8) | p[7];
}

/* Call the JS callback; an exception it throws becomes an uncaught exception of the process,
 * exactly as if it had been thrown by a Node core callback. */
static void call_back(ping_t *p, size_t argc, napi_value *argv) {
  napi_env env = p->env;
  napi_value fn, global;
  if (p->callback == NULL) return;
  if (napi_get_reference_value(env, p->callback, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(env, &global);
  napi_status st = napi_make_callback(env, p->async, global, fn, argc, argv, NULL);
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

/* ---- closing ------------------------------------------------------------------------- */

static void on_poll_closed(uv_handle_t *h) { free(h); }

/* Stop polling, close the descriptor and drop the callback. Safe to call more than once and
 * from inside a callback (libuv makes no further calls for a handle after uv_close). */
static void ping_close(ping_t *p) {
  if (p->fd < 0) return;
  uv_poll_stop(p->poll);
  uv_close((uv_handle_t *)p->poll, on_poll_closed);
  p->poll = NULL;
  close(p->fd);
  p->fd = -1;
  if (p->callback != NULL) {
    napi_delete_reference(p->env, p->callback);
    p->callback = NULL;
  }
  if (p->async != NULL) {
    napi_async_destroy(p->env, p->async);
    p->async = NULL;
  }
}

static void ping_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  ping_t *p = data;
  ping_close(p);
  free(p);
}

/* ---- receiving ----------------------------------------------------------------------- */

/* Read one message from the error queue. Returns 0 when the queue is empty (or the socket was
 * closed by the callback), 1 when a message was consumed. */
static int read_error(ping_t *p) {
  addon_queued_error q;
  int r = addon_read_error_queue(p->fd, p->buf, MAX_DATAGRAM, &q);
  if (r <= 0) return r == 0; /* empty: 0; interrupted or not understood: consumed, go on */

  napi_env env = p->env;
  napi_value argv[11] = {
      addon_int(env, 1),
      addon_address(env, &q.to, q.to_len),
      addon_int(env, echo_sequence(p->buf, q.quoted)),
      addon_int(env, -1),
      NULL,
      addon_int(env, q.ee.ee_origin),
      addon_int(env, q.ee.ee_type),
      addon_int(env, q.ee.ee_code),
      addon_int(env, (int32_t)q.ee.ee_errno),
      NULL,
      addon_address(env, &q.offender, q.offender_len),
  };
  napi_get_null(env, &argv[4]);
  napi_create_uint32(env, q.ee.ee_info, &argv[9]);
  call_back(p, 11, argv);
  return p->fd >= 0;
}

/* Read one echo reply. Returns 0 when there is nothing more to read (or the socket was closed
 * by the callback), 1 when a message was consumed or dropped. */
static int read_reply(ping_t *p) {
  struct sockaddr_storage from;
  char control[256];
  struct iovec iov = {.iov_base = p->buf, .iov_len = sizeof p->buf};
  struct msghdr msg = {
      .msg_name = &from,
      .msg_namelen = sizeof from,
      .msg_iov = &iov,
      .msg_iovlen = 1,
      .msg_control = control,
      .msg_controllen = sizeof control,
  };
  memset(&from, 0, sizeof from);
  ssize_t n = recvmsg(p->fd, &msg, MSG_DONTWAIT);
  if (n < 0) {
    /* EAGAIN: drained. Any other error is a pending socket error (sk_err) that the error
     * queue already reported; it is consumed by this call, so go on reading. */
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : 1;
  }
  size_t got = (size_t)n;
  /* Too short, truncated, or not an echo reply: hostile or unexpected, drop it. */
  if (got < ECHO_HEADER_LEN || (msg.msg_flags & MSG_TRUNC)) return 1;
  uint8_t want = p->family == AF_INET6 ? ICMP6_ECHO_REPLY : ICMP_ECHO_REPLY;
  if (p->buf[0] != want || p->buf[1] != 0) return 1;

  int ttl = -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    int is_ttl = (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) ||
                 (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT);
    if (is_ttl && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int v;
      memcpy(&v, CMSG_DATA(c), sizeof v);
      if (v >= 0 && v <= 255) ttl = v;
    }
  }

  napi_env env = p->env;
  napi_value payload;
  void *ignored;
  if (napi_create_buffer_copy(env, got - ECHO_HEADER_LEN, p->buf + ECHO_HEADER_LEN, &ignored,
                              &payload) != napi_ok) {
    return 1;
  }
  napi_value argv[5] = {
      addon_int(env, 0),
      addon_address(env, &from, msg.msg_namelen),
      addon_int(env, echo_sequence(p->buf, got)),
      addon_int(env, ttl),
      payload,
  };
  call_back(p, 5, argv);
  return p->fd >= 0;
}

static void on_poll(uv_poll_t *h, int status, int events);

static int start_poll(ping_t *p) {
  return uv_poll_start(p->poll, UV_READABLE | UV_PRIORITIZED, on_poll);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)events;
  ping_t *p = h->data;
  if (p == NULL || p->fd < 0) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(p->env, &scope) != napi_ok) return;
  /* Errors first: reading them also clears the socket error that would otherwise make the
   * next plain recvmsg fail. */
  for (int i = 0; i < MAX_READS_PER_WAKE && p->fd >= 0; i++) {
    if (!read_error(p)) break;
  }
  for (int i = 0; i < MAX_READS_PER_WAKE && p->fd >= 0; i++) {
    if (!read_reply(p)) break;
  }
  if (status < 0 && p->fd >= 0) {
    /* libuv stops a poll handle on POLLERR without POLLPRI. SO_SELECT_ERR_QUEUE should make
     * that impossible; if it happens anyway, clear the error and poll again. */
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    start_poll(p);
  }
  napi_close_handle_scope(p->env, scope);
}

/* ---- exported functions -------------------------------------------------------------- */

static ping_t *unwrap(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_unwrap(env, v, &data) != napi_ok) return NULL;
  return data;
}

/* open(family: 4 | 6, callback: Function, local?: string) -> object | errno */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3] = {NULL, NULL, NULL};
  int32_t family = 0;
  napi_valuetype cb_type = napi_undefined;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || napi_get_value_int32(env, argv[0], &family) != napi_ok ||
      (family != 4 && family != 6) || napi_typeof(env, argv[1], &cb_type) != napi_ok ||
      cb_type != napi_function) {
    return addon_int(env, EINVAL);
  }
  int af = family == 6 ? AF_INET6 : AF_INET;
  struct sockaddr_storage local;
  socklen_t local_len;
  int bad = addon_local_address(env, argc >= 3 ? argv[2] : NULL, af, &local, &local_len);
  if (bad) return addon_int(env, bad);
  /* Any local address given at all: "" and undefined mean the kernel chooses. */
  int want_bind = af == AF_INET ? ((struct sockaddr_in *)&local)->sin_addr.s_addr != INADDR_ANY
                                : !IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&local)->sin6_addr);
  int fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  family == 6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
  if (fd < 0) return addon_int(env, errno);

  int err = 0;
  if (af == AF_INET) {
    if (!err) err = addon_set_int_opt(fd, IPPROTO_IP, IP_RECVERR, 1);
    if (!err) err = addon_set_int_opt(fd, IPPROTO_IP, IP_RECVTTL, 1);
  } else {
    if (!err) err = addon_set_int_opt(fd, IPPROTO_IPV6, IPV6_RECVERR, 1);
    if (!err) err = addon_set_int_opt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
  }
  if (!err) err = addon_set_int_opt(fd, SOL_SOCKET, SO_SELECT_ERR_QUEUE, 1);
  /* Before the first send, which would otherwise bind the wildcard address implicitly. */
  if (!err && want_bind && bind(fd, (struct sockaddr *)&local, local_len) != 0) err = errno;
  if (err) {
    close(fd);
    return addon_int(env, err);
  }

  uv_loop_t *loop = NULL;
  ping_t *p = calloc(1, sizeof *p);
  uv_poll_t *poll = calloc(1, sizeof *poll);
  if (p == NULL || poll == NULL || napi_get_uv_event_loop(env, &loop) != napi_ok ||
      uv_poll_init(loop, poll, fd) != 0) {
    free(p);
    free(poll);
    close(fd);
    return addon_int(env, ENOMEM);
  }
  p->env = env;
  p->fd = fd;
  p->family = af;
  p->ttl = -1;
  p->poll = poll;
  poll->data = p;

  napi_value handle, name;
  napi_create_object(env, &handle);
  napi_create_string_utf8(env, "tslirp.ping", NAPI_AUTO_LENGTH, &name);
  if (napi_create_reference(env, argv[1], 1, &p->callback) != napi_ok ||
      napi_async_init(env, NULL, name, &p->async) != napi_ok ||
      napi_wrap(env, handle, p, ping_finalize, NULL, NULL) != napi_ok) {
    ping_close(p);
    free(p);
    return addon_int(env, ENOMEM);
  }
  int uerr = start_poll(p);
  if (uerr != 0) {
    ping_close(p); /* the finalizer frees p */
    return addon_int(env, -uerr);
  }
  return handle;
}

/* send(handle, address: string, sequence: number, payload: Uint8Array, ttl: number) -> errno */
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) return addon_int(env, EINVAL);
  ping_t *p = unwrap(env, argv[0]);
  if (p == NULL) return addon_int(env, EINVAL);
  if (p->fd < 0) return addon_int(env, EBADF);

  char text[INET6_ADDRSTRLEN + 1];
  size_t text_len = 0;
  int32_t seq = -1, ttl = -1;
  napi_typedarray_type ta_type;
  size_t payload_len = 0;
  void *payload = NULL;
  bool is_ta = false;
  if (napi_get_value_string_utf8(env, argv[1], text, sizeof text, &text_len) != napi_ok ||
      text_len >= sizeof text - 1 || napi_get_value_int32(env, argv[2], &seq) != napi_ok ||
      seq < 0 || seq > 0xffff || napi_get_value_int32(env, argv[4], &ttl) != napi_ok ||
      ttl < -1 || ttl > 255 || napi_is_typedarray(env, argv[3], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[3], &ta_type, &payload_len, &payload, NULL, NULL) !=
          napi_ok ||
      ta_type != napi_uint8_array) {
    return addon_int(env, EINVAL);
  }
  if (payload_len > MAX_DATAGRAM - ECHO_HEADER_LEN) return addon_int(env, EMSGSIZE);

  struct sockaddr_storage to;
  socklen_t to_len;
  memset(&to, 0, sizeof to);
  if (p->family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)&to;
    sin->sin_family = AF_INET;
    if (inet_pton(AF_INET, text, &sin->sin_addr) != 1) return addon_int(env, EINVAL);
    to_len = sizeof *sin;
  } else {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&to;
    sin6->sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, text, &sin6->sin6_addr) != 1) return addon_int(env, EINVAL);
    to_len = sizeof *sin6;
  }

  if (ttl != p->ttl) {
    int err = p->family == AF_INET ? addon_set_int_opt(p->fd, IPPROTO_IP, IP_TTL, ttl)
                                   : addon_set_int_opt(p->fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl);
    if (err) return addon_int(env, err);
    p->ttl = ttl;
  }

  /* Identifier and checksum stay zero: the kernel writes both for ping sockets. */
  uint8_t header[ECHO_HEADER_LEN] = {
      p->family == AF_INET ? ICMP_ECHO_REQUEST : ICMP6_ECHO_REQUEST, 0, 0, 0, 0, 0,
      (uint8_t)(seq >> 8), (uint8_t)seq,
  };
  struct iovec iov[2] = {
      {.iov_base = header, .iov_len = sizeof header},
      {.iov_base = payload, .iov_len = payload_len},
  };
  struct msghdr msg = {
      .msg_name = &to,
      .msg_namelen = to_len,
      .msg_iov = iov,
      .msg_iovlen = payload_len > 0 ? 2 : 1,
  };
  /* An ICMP error for an earlier echo leaves a pending socket error (sk_err) beside its
   * error-queue entry, and the kernel hands that to the next send, which then fails without
   * sending anything. The error queue reports that ICMP error anyway, so a failed send is
   * retried once: a stale error is consumed by the first attempt, a real one fails again. */
  ssize_t n = -1;
  for (int attempt = 0; attempt < 2; attempt++) {
    do {
      n = sendmsg(p->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n >= 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINVAL) break;
  }
  return addon_int(env, n < 0 ? errno : 0);
}

/* close(handle) -> undefined */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 1) {
    ping_t *p = unwrap(env, argv[0]);
    if (p != NULL) ping_close(p);
  }
  return addon_undefined(env);
}

/* localAddress(handle) -> string | errno */
static napi_value js_local_address(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  ping_t *p = argc >= 1 ? unwrap(env, argv[0]) : NULL;
  if (p == NULL) return addon_int(env, EINVAL);
  if (p->fd < 0) return addon_int(env, EBADF);
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(p->fd, (struct sockaddr *)&ss, &len) != 0) return addon_int(env, errno);
  return addon_address(env, &ss, len);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"localAddress", NULL, js_local_address, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  udp_register(env, exports);
  guest_stream_register(env, exports);
  page_offset_register(env, exports);
  malloc_tuning_register(env, exports);
  stream_copy_register(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
