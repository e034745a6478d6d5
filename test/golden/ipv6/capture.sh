#!/usr/bin/env bash
# Captures the IPv6 golden frames used by test/unit/{ipv6,icmpv6,ndp,dhcpv6} from real Linux
# traffic, the same way test/golden/net/capture.sh does for IPv4.
#
# Topology (two network namespaces joined by a veth pair; fixed MACs so frames are stable):
#   tsg6-g  "guest"   eth0 52:54:00:12:34:56, SLAAC from the router's RA (fec0::/64)
#   tsg6-r  "router"  gw0  fec0::2/64, 52:55:0a:00:02:02, forwarding on, dnsmasq for RA and
#                     DHCPv6; upstream veth up0 fec1::1/64 at MTU 1280 (for Packet Too Big)
# IPv6 is turned on on the guest's interface while tshark records, so RS, RA, DAD and MLD are all seen.
#
# Usage: capture.sh [OUTDIR]   (root; default OUTDIR is a fresh temp dir, printed at the end).
# Needs: ip, ethtool, tshark, ping, dnsmasq, dhclient, python3, jq.
set -euo pipefail
[ -n "${CAPTURE_TRACE:-}" ] && set -x

here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$(mktemp -d /tmp/tslirp-golden6.XXXXXX)}"
mkdir -p "$out"
for tool in ip ethtool tshark ping dnsmasq dhclient python3 jq; do
  command -v "$tool" >/dev/null || { echo "capture.sh: missing tool: $tool" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "capture.sh: must run as root (network namespaces)" >&2; exit 1; }

G=tsg6-g
R=tsg6-r
work="$(mktemp -d /tmp/tslirp-golden6-work.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  ip netns del "$G" 2>/dev/null || true
  ip netns del "$R" 2>/dev/null || true
  ip link del tsg6a 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns del "$G" 2>/dev/null || true
ip netns del "$R" 2>/dev/null || true

ip netns add "$G"
ip netns add "$R"
ip link add tsg6a type veth peer name tsg6b
ip link set tsg6a netns "$G"
ip link set tsg6b netns "$R"
ip -n "$G" link set tsg6a name eth0 address 52:54:00:12:34:56
ip -n "$R" link set tsg6b name gw0 address 52:55:0a:00:02:02
for ns in "$G" "$R"; do
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.disable_ipv6=0 2>/dev/null || true
  ip netns exec "$ns" sysctl -qw net.ipv6.icmp.ratelimit=0
done
ip netns exec "$R" sysctl -qw net.ipv6.conf.all.forwarding=1
ip netns exec "$G" sysctl -qw net.ipv6.conf.eth0.accept_ra=2
# Stable addresses (EUI-64), no privacy addresses: the frames name fec0::5054:ff:fe12:3456.
ip netns exec "$G" sysctl -qw net.ipv6.conf.eth0.use_tempaddr=0
ip netns exec "$G" sysctl -qw net.ipv6.conf.eth0.addr_gen_mode=0
# tshark needs the link up; IPv6 stays off on it until the first capture turns it on.
ip netns exec "$G" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1
ip -n "$G" link set eth0 mtu 1500 up
ip -n "$R" link set gw0 mtu 1500 up
ip -n "$R" addr add fec0::2/64 dev gw0 nodad
ip -n "$R" link add up0 type veth peer name up1
ip -n "$R" link set up1 mtu 1280 up
ip -n "$R" link set up0 mtu 1280 up
ip -n "$R" addr add fec1::1/64 dev up0 nodad
ip netns exec "$G" ethtool -K eth0 tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
ip netns exec "$R" ethtool -K gw0 tx off rx off tso off gso off gro off >/dev/null 2>&1 || true

# dnsmasq: RA with prefix fec0::/64 (A flag), MTU, RDNSS fec0::3 and DNSSL; DHCPv6 stateful
# range (M flag) so dhclient -6 gets an address; information requests answered too.
ip netns exec "$R" dnsmasq --keep-in-foreground --no-daemon --port=0 --no-resolv --no-hosts \
  --interface=gw0 --bind-interfaces --pid-file="$work/dnsmasq.pid" --leasefile-ro \
  --enable-ra --ra-param=gw0,mtu:1500,10,600 \
  --dhcp-range=fec0::100,fec0::1ff,slaac,64,1h \
  --dhcp-option=option6:dns-server,[fec0::3] --dhcp-option=option6:domain-search,example.test \
  --domain=example.test >"$work/dnsmasq.log" 2>&1 &
pids+=($!)
sleep 0.5

capture() {
  local name="$1"; shift
  local pcap="$work/$name.pcap"
  ip netns exec "$G" tshark -q -i eth0 -w "$pcap" >"$work/$name.tshark.log" 2>&1 &
  local tp=$!
  for _ in $(seq 1 100); do grep -q "Capturing on" "$work/$name.tshark.log" && break; sleep 0.1; done
  sleep 0.3
  "$@"
  sleep 0.7
  kill -INT "$tp"
  wait "$tp" || true
}

extract() {
  local name="$1" pcap="$work/$2.pcap" filter="$3" index="${4:-0}"
  local hex
  hex="$(tshark -r "$pcap" -Y "$filter" -T json -x 2>/dev/null | jq -r ".[$index]._source.layers.frame_raw[0] // empty")"
  [ -n "$hex" ] || { echo "capture.sh: no frame $index for '$filter' in $2.pcap" >&2; tshark -r "$pcap" >&2 || true; exit 1; }
  printf '%s\n' "$hex" >"$out/$name.hex"
  {
    echo "=============== $name.hex ($2.pcap, filter: $filter, match #$index)"
    tshark -r "$pcap" -Y "$filter" -V -o udp.check_checksum:TRUE 2>/dev/null \
      | awk -v want="$index" '/^Frame [0-9]+:/{n++} n==want+1' | sed '/^Frame [0-9]*:/,/^Ethernet II/{/^Ethernet II/!d}' \
      | grep -v -E '^[0-9a-f]{4}  ' || true
  } >>"$out/decoded.txt"
}

GUEST=fec0::5054:ff:fe12:3456
link_up() { ip netns exec "$G" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0; sleep 4; }
gping() { ip netns exec "$G" ping -6 -n -q "$@" >/dev/null 2>&1 || true; }
udp_send() { # ADDR PORT [DSTOPTS]: one datagram "hello tslirp\n" from port 40000
  ip netns exec "$G" python3 - "$@" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("", 40000))
anc = []
if len(sys.argv) > 3 and sys.argv[3] == "dstopts":
    # Destination options header: next header and length are the kernel's; one PadN option.
    anc.append((socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS, bytes([0, 0, 1, 4, 0, 0, 0, 0])))
s.sendmsg([b"hello tslirp\n"], anc, 0, (sys.argv[1], int(sys.argv[2])))
time.sleep(0.3)
PY
}

: >"$out/decoded.txt"

# 1. Link up: MLD reports (hop-by-hop router alert), DAD NS, RS, RA (prefix, MTU, RDNSS, DNSSL).
capture up link_up
extract ndp-dad-ns up 'icmpv6.type == 135 && ipv6.src == ::'
extract ndp-rs up 'icmpv6.type == 133'
extract ndp-ra up 'icmpv6.type == 134 && icmpv6.opt.type == 25'
extract mld-report up 'icmpv6.type == 143'

# 2. Echo to the router: address resolution NS and NA, echo request and reply.
ip -n "$G" neigh flush all; ip -n "$R" neigh flush all
capture echo gping -c 1 -W 2 fec0::2
extract ndp-ns echo "icmpv6.type == 135 && ipv6.src == $GUEST"
extract ndp-na echo 'icmpv6.type == 136 && ipv6.src == fec0::2'
extract icmpv6-echo-request echo 'icmpv6.type == 128'
extract icmpv6-echo-reply echo 'icmpv6.type == 129'

# 3. UDP to an open port and to a closed one (port unreachable), and one with destination options.
ip netns exec "$R" python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("fec0::2", 7777))
while True:
    m, a = s.recvfrom(2048); s.sendto(m, a)
' &
pids+=($!)
sleep 0.5
capture udp udp_send fec0::2 7777
extract udp6-request udp 'udp.dstport == 7777'
extract udp6-reply udp 'udp.srcport == 7777'
capture unreach udp_send fec0::2 9
extract icmpv6-port-unreachable unreach 'icmpv6.type == 1 && icmpv6.code == 4'
capture dstopts udp_send fec0::2 7777 dstopts
extract ipv6-dstopts dstopts 'ipv6.dstopts && udp.dstport == 7777'

# 4. Hop limit 1 through the router: time exceeded. 1400 bytes to the MTU-1280 link: packet too big.
capture ttl gping -c 1 -W 2 -t 1 fec1::5
extract icmpv6-time-exceeded ttl 'icmpv6.type == 3'
capture ptb gping -c 1 -W 2 -s 1400 -M do fec1::5
extract icmpv6-packet-too-big ptb 'icmpv6.type == 2'

# 5. Fragments: ping -s 3000 to the router, three fragments each way.
capture frag gping -c 1 -W 2 -s 3000 fec0::2
extract frag6-request-1 frag "ipv6.src == $GUEST && ipv6.fraghdr.more == 1 && ipv6.fraghdr.offset == 0"
extract frag6-request-3 frag "ipv6.src == $GUEST && ipv6.fraghdr.more == 0 && ipv6.fraghdr.offset > 0"
extract frag6-reply-1 frag 'ipv6.src == fec0::2 && ipv6.fraghdr.more == 1 && ipv6.fraghdr.offset == 0'

# 6. DHCPv6 stateful (solicit, advertise, request, reply) and information-only.
dhc() { ip netns exec "$G" timeout 8 dhclient -6 -1 -v -sf /bin/true -lf "$work/lease$1" -pf "$work/dhc.pid" "${@:2}" eth0 >"$work/dhclient$1.log" 2>&1 || true; ip netns exec "$G" dhclient -6 -x -pf "$work/dhc.pid" >/dev/null 2>&1 || true; }
capture dhcp dhc 1
extract dhcpv6-solicit dhcp 'dhcpv6.msgtype == 1'
extract dhcpv6-advertise dhcp 'dhcpv6.msgtype == 2'
extract dhcpv6-request dhcp 'dhcpv6.msgtype == 3'
extract dhcpv6-reply dhcp 'dhcpv6.msgtype == 7'
capture info dhc 2 -S
extract dhcpv6-information-request info 'dhcpv6.msgtype == 11'
extract dhcpv6-info-reply info 'dhcpv6.msgtype == 7'

# 7. TCP to the router: the guest's SYN (MSS 1440 = MTU - 60, SACK, timestamps, window scale)
# and the router's SYN-ACK, then "hello tslirp\n" (the TCP codec over the IPv6 pseudo header).
ip netns exec "$R" python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("fec0::2", 8080)); s.listen(4)
while True:
    c, a = s.accept(); c.recv(100); c.close()
' &
pids+=($!)
sleep 0.5
tcp_send() {
  ip netns exec "$G" python3 -c '
import socket, time
s = socket.create_connection(("fec0::2", 8080), timeout=3); s.sendall(b"hello tslirp\n"); time.sleep(0.3); s.close()
'
}
capture tcp tcp_send
extract tcp6-syn tcp 'tcp.dstport == 8080 && tcp.flags.syn == 1 && tcp.flags.ack == 0'
extract tcp6-synack tcp 'tcp.srcport == 8080 && tcp.flags.syn == 1 && tcp.flags.ack == 1'
extract tcp6-data tcp 'tcp.dstport == 8080 && tcp.len > 0'

echo "capture.sh: frames written to $out"
ls "$out"
