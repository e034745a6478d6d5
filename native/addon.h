/*
 * addon.h: what the two halves of the tslirp addon (ping_socket.c, udp_socket.c) share.
 *
 * Contract: small static helpers that never throw into JavaScript; each returns a value or a
 * plain errno. One module (`ping_socket.node`) carries both halves: ping_socket.c owns the
 * module init and calls `udp_register` so a single build and a single `require` give both.
 */
#ifndef TSLIRP_ADDON_H
#define TSLIRP_ADDON_H

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
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

static inline int addon_set_int_opt(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value) == 0 ? 0 : errno;
}

/* Registers udpOpen/udpSend/udpClose/udpLocalPort on `exports` (udp_socket.c). */
napi_status udp_register(napi_env env, napi_value exports);

#endif
