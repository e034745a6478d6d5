/*
 * floor/responder.c: the least a backend on QEMU's stream link can do to answer a ping to the
 * gateway, in C: it answers ARP for 10.0.2.2 and ICMP echo requests to it, nothing else. Used
 * by floor.ts to measure what the link itself costs (QEMU, the hub, the socket, one process
 * waking), against which tslirp's ping time is read.
 *
 * Usage: responder PATH   listens on the unix socket PATH, prints "ready", serves one guest
 * with blocking reads, exits when it goes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
static const uint8_t GW_MAC[6] = {0x52,0x55,10,0,2,2};
static const uint8_t GW_IP[4] = {10,0,2,2};
static int readn(int fd, uint8_t *b, size_t n) { size_t o = 0; while (o < n) { ssize_t r = read(fd, b + o, n - o); if (r <= 0) return -1; o += r; } return 0; }
static uint16_t csum(const uint8_t *p, size_t n) { uint32_t s = 0; for (size_t i = 0; i + 1 < n; i += 2) s += (p[i] << 8) | p[i+1]; if (n & 1) s += p[n-1] << 8; while (s >> 16) s = (s & 0xffff) + (s >> 16); return ~s; }
int main(int argc, char **argv) {
  int l = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX}; strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
  unlink(argv[1]);
  if (bind(l, (void*)&a, sizeof a) || listen(l, 1)) { perror("listen"); return 1; }
  printf("ready\n"); fflush(stdout);
  int c = accept(l, 0, 0);
  uint8_t f[70000], out[70004];
  for (;;) {
    uint8_t h[4]; if (readn(c, h, 4)) return 0;
    uint32_t n = (h[0]<<24)|(h[1]<<16)|(h[2]<<8)|h[3]; if (n > sizeof f) return 1;
    if (readn(c, f, n)) return 0;
    uint8_t *o = out + 4; uint32_t m = 0;
    if (n >= 42 && f[12] == 8 && f[13] == 6 && f[21] == 1 && !memcmp(f + 38, GW_IP, 4)) {
      memcpy(o, f + 6, 6); memcpy(o + 6, GW_MAC, 6); o[12] = 8; o[13] = 6;
      memcpy(o + 14, f + 14, 6); o[20] = 0; o[21] = 2;
      memcpy(o + 22, GW_MAC, 6); memcpy(o + 28, GW_IP, 4); memcpy(o + 32, f + 22, 10);
      m = 42;
    } else if (n >= 42 && f[12] == 8 && f[13] == 0 && f[23] == 1 && !memcmp(f + 30, GW_IP, 4) && f[34] == 8) {
      int ihl = (f[14] & 15) * 4; uint32_t tot = (f[16] << 8) | f[17];
      memcpy(o, f, 14 + tot); memcpy(o, f + 6, 6); memcpy(o + 6, GW_MAC, 6);
      memcpy(o + 26, f + 30, 4); memcpy(o + 30, f + 26, 4); o[22] = 64; o[24] = o[25] = 0;
      uint16_t ic = csum(o + 14, ihl); o[24] = ic >> 8; o[25] = ic;
      uint8_t *ic0 = o + 14 + ihl; ic0[0] = 0; ic0[2] = ic0[3] = 0; uint16_t k = csum(ic0, tot - ihl); ic0[2] = k >> 8; ic0[3] = k;
      m = 14 + tot;
    }
    if (m) { out[0] = m >> 24; out[1] = m >> 16; out[2] = m >> 8; out[3] = m; if (write(c, out, m + 4) < 0) return 1; }
  }
}
