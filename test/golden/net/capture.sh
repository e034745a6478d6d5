#!/usr/bin/env bash
# Captures the golden frames used by test/unit/{ethernet,ipv4,icmp,udp} from real Linux traffic.
#
# Topology (two network namespaces joined by a veth pair; fixed MACs so the frames are stable):
#   tsgold-g  "guest"   eth0 10.0.2.15/24  52:54:00:12:34:56, default route via 10.0.2.2
#   tsgold-r  "router"  gw0  10.0.2.2/24   52:55:0a:00:02:02, ip_forward=1, upstream veth up0 10.0.3.1/24
# Everything is captured with tshark on the guest's eth0, with checksum offload turned off so
# that the captured checksums are the ones on the wire.
#
# Usage: capture.sh [OUTDIR]   (root; default OUTDIR is a fresh temp dir, printed at the end).
# Writing into test/golden/net replaces the committed frames: the tests' expected field values
# were read from decoded.txt of the committed capture, so they must be updated together.
# Needs: ip (iproute2), ethtool, tshark, ping and arping (iputils), jq, and the repo's node.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
node="$repo/node_modules/.bin/node"
out="${1:-$(mktemp -d /tmp/tslirp-golden.XXXXXX)}"
mkdir -p "$out"

for tool in ip ethtool tshark ping arping jq "$node"; do
  command -v "$tool" >/dev/null || { echo "capture.sh: missing tool: $tool" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "capture.sh: must run as root (network namespaces)" >&2; exit 1; }

G=tsgold-g
R=tsgold-r
work="$(mktemp -d /tmp/tslirp-golden-work.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  ip netns del "$G" 2>/dev/null || true
  ip netns del "$R" 2>/dev/null || true
  ip link del tsgold0 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cleanup_ns_only() { ip netns del "$G" 2>/dev/null || true; ip netns del "$R" 2>/dev/null || true; }
cleanup_ns_only

ip netns add "$G"
ip netns add "$R"
# Created in the root namespace under unique names, then moved and renamed.
ip link add tsgold0 type veth peer name tsgold1
ip link set tsgold0 netns "$G"
ip link set tsgold1 netns "$R"
ip -n "$G" link set tsgold0 name eth0 address 52:54:00:12:34:56
ip -n "$R" link set tsgold1 name gw0 address 52:55:0a:00:02:02
ip -n "$G" link set lo up
ip -n "$R" link set lo up
ip -n "$G" link set eth0 mtu 1500 up
ip -n "$R" link set gw0 mtu 1500 up
ip -n "$G" addr add 10.0.2.15/24 dev eth0
ip -n "$R" addr add 10.0.2.2/24 dev gw0
# The "upstream" link is a veth pair inside the router (the dummy driver may be missing).
ip -n "$R" link add up0 type veth peer name up1
ip -n "$R" link set up1 up
ip -n "$R" addr add 10.0.3.1/24 dev up0
ip -n "$R" link set up0 up
ip -n "$G" route add default via 10.0.2.2
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
# No rate limiting of the ICMP errors we ask for; no IPv6 noise on the link.
ip netns exec "$R" sysctl -qw net.ipv4.icmp_ratelimit=0
for ns in "$G" "$R"; do
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
done
ip netns exec "$G" ethtool -K eth0 tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
ip netns exec "$R" ethtool -K gw0 tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
sleep 0.5

# capture NAME COMMAND...: runs COMMAND while tshark records eth0 of the guest into NAME.pcap.
capture() {
  local name="$1"; shift
  local pcap="$work/$name.pcap"
  ip -n "$G" neigh flush all
  ip -n "$R" neigh flush all
  ip netns exec "$G" tshark -q -i eth0 -w "$pcap" >"$work/$name.tshark.log" 2>&1 &
  local tp=$!
  # Wait until tshark really captures (it prints "Capturing on" to stderr).
  for _ in $(seq 1 100); do grep -q "Capturing on" "$work/$name.tshark.log" && break; sleep 0.1; done
  sleep 0.3
  "$@"
  sleep 0.7
  kill -INT "$tp"
  wait "$tp" || true
}

# extract NAME PCAP FILTER [INDEX]: writes the INDEX-th (0-based) frame matching FILTER as NAME.hex
extract() {
  local name="$1" pcap="$work/$2.pcap" filter="$3" index="${4:-0}"
  local hex
  hex="$(tshark -r "$pcap" -Y "$filter" -T json -x 2>/dev/null | jq -r ".[$index]._source.layers.frame_raw[0] // empty")"
  [ -n "$hex" ] || { echo "capture.sh: no frame $index for '$filter' in $2.pcap" >&2; exit 1; }
  printf '%s\n' "$hex" >"$out/$name.hex"
  {
    echo "=============== $name.hex ($2.pcap, filter: $filter, match #$index)"
    tshark -r "$pcap" -Y "$filter" -V -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE 2>/dev/null \
      | awk -v want="$index" '/^Frame [0-9]+:/{n++} n==want+1' | sed '/^Frame [0-9]*:/,/^Ethernet II/{/^Ethernet II/!d}' \
      | grep -v -E '^[0-9a-f]{4}  ' || true
  } >>"$out/decoded.txt"
}

gping() { ip netns exec "$G" ping -n -q "$@" >/dev/null 2>&1 || true; }
udp_send() { # PORT: one datagram "hello tslirp\n" from 10.0.2.15:40000
  ip netns exec "$G" "$node" -e '
    const s = require("node:dgram").createSocket("udp4")
    s.bind(40000, "10.0.2.15", () => s.send("hello tslirp\n", Number(process.argv[1]), "10.0.2.2", () => setTimeout(() => s.close(), 300)))
  ' "$1"
}

: >"$out/decoded.txt"

# 1. ARP request + reply, then ICMP echo request/reply with the default 56-byte payload.
capture basic gping -c 1 -W 2 10.0.2.2
extract arp-request basic 'arp.opcode == 1 && arp.src.proto_ipv4 == 10.0.2.15 && arp.dst.proto_ipv4 == 10.0.2.2'
extract arp-reply basic 'arp.opcode == 2 && arp.src.proto_ipv4 == 10.0.2.2'
extract icmp-echo-request basic 'icmp.type == 8'
extract icmp-echo-reply basic 'icmp.type == 0'

# 2. Gratuitous ARP (RFC 5227 announcement: request with sender = target = own address).
capture garp ip netns exec "$G" arping -q -U -c 1 -I eth0 10.0.2.15
extract arp-gratuitous garp 'arp.isgratuitous'

# 3. A UDP datagram to an open port, and the echoed reply.
ip netns exec "$R" "$node" -e '
  const s = require("node:dgram").createSocket("udp4")
  s.on("message", (m, r) => s.send(m, r.port, r.address))
  s.bind(7777, "10.0.2.2")
' &
pids+=($!)
sleep 0.5
capture udp udp_send 7777
extract udp-request udp 'udp.dstport == 7777'
extract udp-reply udp 'udp.srcport == 7777'

# 4. UDP to a closed port: ICMP destination unreachable, port unreachable.
capture unreach udp_send 9
extract icmp-port-unreachable unreach 'icmp.type == 3 && icmp.code == 3'

# 5. Ping with TTL 1 through the router: ICMP time exceeded (TTL exceeded in transit).
capture ttl gping -c 1 -W 2 -t 1 10.0.3.5
extract icmp-time-exceeded ttl 'icmp.type == 11'

# 6. IPv4 options: ping -R (record route, IHL 15).
capture rr gping -c 1 -W 2 -R 10.0.2.2
extract ipv4-rr-request rr 'icmp.type == 8 && ip.opt.type == 7'
extract ipv4-rr-reply rr 'icmp.type == 0 && ip.opt.type == 7'

# 7. Fragmentation: ping -s 3000 over MTU 1500 gives three fragments each way.
capture frag gping -c 1 -W 2 -s 3000 10.0.2.2
extract frag-request-1 frag 'ip.src == 10.0.2.15 && ip.flags.mf == 1 && ip.frag_offset == 0'
extract frag-request-2 frag 'ip.src == 10.0.2.15 && ip.flags.mf == 1 && ip.frag_offset > 0'
extract frag-request-3 frag 'ip.src == 10.0.2.15 && ip.flags.mf == 0 && ip.frag_offset > 0'
extract frag-reply-1 frag 'ip.src == 10.0.2.2 && ip.flags.mf == 1 && ip.frag_offset == 0'
extract frag-reply-2 frag 'ip.src == 10.0.2.2 && ip.flags.mf == 1 && ip.frag_offset > 0'
extract frag-reply-3 frag 'ip.src == 10.0.2.2 && ip.flags.mf == 0 && ip.frag_offset > 0'

echo "capture.sh: frames written to $out"
ls "$out"
