/*
 * ra-info: what the router's advertisement says, for the end-to-end guest (busybox has no
 * rdisc6 and the kernel hands RDNSS/DNSSL to user space only as netlink notifications).
 *
 *   ra-info IFACE [SECONDS]
 *
 * Sends one router solicitation (RFC 4861 §6.3.7) from IFACE to ff02::2 and prints what the
 * first router advertisement received on IFACE within SECONDS (default 10) carries, one line
 * per item, then exits 0; exits 1 when none came:
 *
 *   router fe80::2 lifetime=1800 hoplimit=64 flags=0x..
 *   prefix fec0::/64 flags=0xc0 valid=86400 preferred=14400     (option 3, RFC 4861 §4.6.2)
 *   mtu 1500                                                     (option 5)
 *   rdnss fec0::3 lifetime=...                                   (option 25, RFC 8106 §5.1)
 *   dnssl example.test lifetime=...                              (option 31, RFC 8106 §5.2)
 *
 * Statically linked by build.sh into the initramfs (/lib/tslirp/ra-info). Every option is
 * length-checked; a malformed one ends the walk.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint32_t get32(const uint8_t *p) { return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }

static void print_addr(const char *what, const uint8_t *a, const char *tail) {
  char text[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, a, text, sizeof text);
  printf("%s %s%s\n", what, text, tail);
}

/* Prints the DNSSL option's names (RFC 1035 §3.1 labels, zero-padded at the end). */
static void print_dnssl(const uint8_t *p, size_t n, uint32_t lifetime) {
  size_t i = 0;
  while (i < n && p[i] != 0) {
    char name[256];
    size_t o = 0;
    while (i < n && p[i] != 0) {
      size_t len = p[i++];
      if (len > 63 || i + len > n || o + len + 1 >= sizeof name) return;
      if (o > 0) name[o++] = '.';
      memcpy(name + o, p + i, len);
      o += len;
      i += len;
    }
    name[o] = 0;
    i++; /* the root label */
    printf("dnssl %s lifetime=%u\n", name, lifetime);
  }
}

static void print_ra(const uint8_t *m, size_t n, const struct sockaddr_in6 *from) {
  char src[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &from->sin6_addr, src, sizeof src);
  printf("router %s lifetime=%u hoplimit=%u flags=0x%02x\n", src, (m[6] << 8) | m[7], m[4], m[5]);
  size_t i = 16;
  while (i + 2 <= n) {
    size_t len = (size_t)m[i + 1] * 8;
    if (len == 0 || i + len > n) {
      printf("malformed option at %zu\n", i);
      return;
    }
    const uint8_t *o = m + i;
    switch (o[0]) {
      case 3:
        if (len == 32) {
          char tail[96];
          snprintf(tail, sizeof tail, "/%u flags=0x%02x valid=%u preferred=%u", o[2], o[3], get32(o + 4), get32(o + 8));
          print_addr("prefix", o + 16, tail);
        }
        break;
      case 5:
        if (len == 8) printf("mtu %u\n", get32(o + 4));
        break;
      case 25:
        for (size_t a = 8; a + 16 <= len; a += 16) {
          char tail[32];
          snprintf(tail, sizeof tail, " lifetime=%u", get32(o + 4));
          print_addr("rdnss", o + a, tail);
        }
        break;
      case 31:
        if (len > 8) print_dnssl(o + 8, len - 8, get32(o + 4));
        break;
      default:
        break;
    }
    i += len;
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: ra-info IFACE [SECONDS]\n");
    return 2;
  }
  int seconds = argc > 2 ? atoi(argv[2]) : 10;
  unsigned ifindex = if_nametoindex(argv[1]);
  if (ifindex == 0) {
    perror("ra-info: if_nametoindex");
    return 2;
  }
  int fd = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
  if (fd < 0) {
    perror("ra-info: socket");
    return 2;
  }
  struct icmp6_filter filter;
  ICMP6_FILTER_SETBLOCKALL(&filter);
  ICMP6_FILTER_SETPASS(ND_ROUTER_ADVERT, &filter);
  setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter);
  int hops = 255; /* RFC 4861 §6.1.1: NDP messages travel with hop limit 255 */
  setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops);
  setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex);
  setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, argv[1], (socklen_t)strlen(argv[1]));

  /* RS: type 133, code 0, checksum (the kernel fills it on raw ICMPv6 sockets), reserved. */
  uint8_t rs[8] = {133, 0, 0, 0, 0, 0, 0, 0};
  struct sockaddr_in6 routers = {.sin6_family = AF_INET6, .sin6_scope_id = ifindex};
  inet_pton(AF_INET6, "ff02::2", &routers.sin6_addr);
  if (sendto(fd, rs, sizeof rs, 0, (struct sockaddr *)&routers, sizeof routers) < 0) perror("ra-info: sendto (waiting anyway)");

  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long left = seconds * 1000L - ((now.tv_sec - start.tv_sec) * 1000L + (now.tv_nsec - start.tv_nsec) / 1000000L);
    if (left <= 0) break;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, (int)left) <= 0) continue;
    uint8_t buf[2048];
    struct sockaddr_in6 from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fromlen);
    if (n < 16 || buf[0] != ND_ROUTER_ADVERT || buf[1] != 0) continue;
    print_ra(buf, (size_t)n, &from);
    return 0;
  }
  printf("no router advertisement on %s within %d s\n", argv[1], seconds);
  return 1;
}
