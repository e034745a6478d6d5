/*
 * addon.h: what the parts of the tslirp addon (ping_socket.c, udp_socket.c, guest_stream.c,
 * page_offset.c, malloc_tuning.c, stream_copy.c) share.
 *
 * Contract: small static helpers that never throw into JavaScript; each returns a value or a
 * plain errno. One module (`ping_socket.node`) carries them all: ping_socket.c owns the module
 * init and calls `udp_register`, `guest_stream_register`, `page_offset_register`,
 * `malloc_tuning_register` and `stream_copy_register`, so one
 * build and one `require` give everything.
 */
#ifndef TSLIRP_ADDON_H
#define TSLIRP_ADDON_H

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* Lets poll() report a non-empty error queue as POLLPRI (libuv's UV_PRIORITIZED), so libuv
 * does not stop the handle on a bare POLLERR. Linux >= 3.10; older headers lack the name. */
#ifndef SO_SELECT_ERR_QUEUE
#define SO_SELECT_ERR_QUEUE 45
#endif

static inline napi_value addon_int(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

static inline napi_value addon_undefined(napi_env env) {
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

/* Calls the JS function held by `callback` (NULL: nothing to call) with the global as `this`,
 * inside a callback scope the caller opened; an exception it throws becomes an uncaught
 * exception of the process, as if a Node core callback had thrown it. */
static inline void addon_call_back(napi_env env, napi_ref callback, size_t argc, napi_value *argv) {
  napi_value fn, global;
  if (callback == NULL) return;
  if (napi_get_reference_value(env, callback, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(env, &global);
  if (napi_call_function(env, global, fn, argc, argv, NULL) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

/* Format a sockaddr as a numeric address string; "" when the family is unexpected. */
static inline napi_value addon_address(napi_env env, const struct sockaddr_storage *ss, socklen_t len) {
  char text[INET6_ADDRSTRLEN] = "";
  if (ss->ss_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
    inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, text, sizeof text);
  } else if (ss->ss_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, text, sizeof text);
  }
  napi_value out;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &out);
  return out;
}

/* The port of a sockaddr in host order; 0 when the family is unexpected. */
static inline int addon_port(const struct sockaddr_storage *ss, socklen_t len) {
  if (ss->ss_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
  }
  if (ss->ss_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
  }
  return 0;
}

/* The local address for bind(2) of a socket of family `af`: `value` is a numeric address
 * string of that family, or undefined / null / "" for the wildcard; the port is 0 (the
 * kernel's choice: an ephemeral port, or a ping socket's echo identifier). Returns 0, or
 * EINVAL for anything else (another family, a scope suffix, a non-string). */
static inline int addon_local_address(napi_env env, napi_value value, int af, struct sockaddr_storage *ss,
                                      socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  ss->ss_family = (sa_family_t)af;
  *len = af == AF_INET ? (socklen_t)sizeof(struct sockaddr_in) : (socklen_t)sizeof(struct sockaddr_in6);
  napi_valuetype type = napi_undefined;
  if (value == NULL || napi_typeof(env, value, &type) != napi_ok) return value == NULL ? 0 : EINVAL;
  if (type == napi_undefined || type == napi_null) return 0;
  if (type != napi_string) return EINVAL;
  char text[INET6_ADDRSTRLEN + 1];
  size_t text_len = 0;
  if (napi_get_value_string_utf8(env, value, text, sizeof text, &text_len) != napi_ok ||
      text_len >= sizeof text - 1) {
    return EINVAL;
  }
  if (text_len == 0) return 0;
  void *dst = af == AF_INET ? (void *)&((struct sockaddr_in *)ss)->sin_addr
                            : (void *)&((struct sockaddr_in6 *)ss)->sin6_addr;
  return inet_pton(af, text, dst) == 1 ? 0 : EINVAL;
}

static inline int addon_set_int_opt(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value) == 0 ? 0 : errno;
}

/* One report read from a socket's error queue (IP_RECVERR / IPV6_RECVERR). */
typedef struct {
  /* The original destination of the datagram the error is about (msg_name). */
  struct sockaddr_storage to;
  socklen_t to_len;
  struct sock_extended_err ee;
  /* The node that sent the ICMP error (SO_EE_OFFENDER), copied only as far as the control
   * message really reaches. */
  struct sockaddr_storage offender;
  socklen_t offender_len;
  /* Bytes of the quoted datagram read into the caller's buffer. */
  size_t quoted;
} addon_queued_error;

/* Reads one message from the error queue of `fd` into `out`, the quoted datagram into
 * buf[0, len). Returns -1 when the queue is empty, 0 when a message was consumed that carries
 * no extended error we understand (or the read was interrupted: try again), 1 when `out` is
 * filled. */
static inline int addon_read_error_queue(int fd, void *buf, size_t len, addon_queued_error *out) {
  char control[512];
  struct iovec iov = {.iov_base = buf, .iov_len = len};
  struct msghdr msg = {
      .msg_name = &out->to,
      .msg_namelen = sizeof out->to,
      .msg_iov = &iov,
      .msg_iovlen = 1,
      .msg_control = control,
      .msg_controllen = sizeof control,
  };
  memset(&out->to, 0, sizeof out->to);
  ssize_t n = recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
  if (n < 0) return errno == EINTR ? 0 : -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    int is_v4 = c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR;
    int is_v6 = c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR;
    if ((is_v4 || is_v6) && c->cmsg_len >= CMSG_LEN(sizeof(struct sock_extended_err))) {
      const struct sock_extended_err *ee = (const struct sock_extended_err *)CMSG_DATA(c);
      size_t after_ee = c->cmsg_len - CMSG_LEN(sizeof(struct sock_extended_err));
      size_t offender_len = after_ee < sizeof out->offender ? after_ee : sizeof out->offender;
      memcpy(&out->ee, ee, sizeof out->ee);
      memset(&out->offender, 0, sizeof out->offender);
      memcpy(&out->offender, SO_EE_OFFENDER(ee), offender_len);
      out->offender_len = (socklen_t)offender_len;
      out->to_len = msg.msg_namelen;
      out->quoted = (size_t)n;
      return 1;
    }
  }
  return 0;
}

/* Registers udpOpen/udpSend/udpClose/udpLocalPort on `exports` (udp_socket.c). */
napi_status udp_register(napi_env env, napi_value exports);

/* Registers streamOpen/streamWritev/streamPause/streamClose on `exports` (guest_stream.c). */
napi_status guest_stream_register(napi_env env, napi_value exports);

/* Registers pageOffset and directStage on `exports` (page_offset.c). */
napi_status page_offset_register(napi_env env, napi_value exports);

/* Registers mallocTune on `exports` (malloc_tuning.c). */
napi_status malloc_tuning_register(napi_env env, napi_value exports);

/* Registers streamCopy on `exports` (stream_copy.c). */
napi_status stream_copy_register(napi_env env, napi_value exports);

#endif
