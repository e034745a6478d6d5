#!/bin/sh
# Captures the golden DHCP and DNS messages in test/golden/dhcp and test/golden/dns from real
# software: dnsmasq (server) in one network namespace, busybox udhcpc, ISC dhclient and busybox
# nslookup (clients) in another, joined by a veth pair; tshark records the server's side.
# Each message's UDP payload is saved as hex, named <client>-<nn>-<type>.hex.
# Needs root, dnsmasq-base, busybox-static, isc-dhcp-client, tshark, iproute2.
# Usage: sh test/golden/dhcp/capture.sh   (rewrites the .hex files; nothing leaves the namespaces)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dns_out="$here/../dns"
ns_s="tsgold$$-s"
ns_c="tsgold$$-c"
tmp=$(mktemp -d)
dnsmasq_pid=""
tshark_pid=""

cleanup() {
  [ -n "$tshark_pid" ] && kill "$tshark_pid" 2>/dev/null || true
  [ -n "$dnsmasq_pid" ] && kill "$dnsmasq_pid" 2>/dev/null || true
  [ -f "$tmp/dhclient.pid" ] && kill "$(cat "$tmp/dhclient.pid")" 2>/dev/null || true
  ip netns del "$ns_s" 2>/dev/null || true
  ip netns del "$ns_c" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

for tool in dnsmasq busybox dhclient tshark ip; do
  command -v "$tool" >/dev/null || { echo "capture.sh: $tool is missing" >&2; exit 1; }
done

ip netns add "$ns_s"
ip netns add "$ns_c"
ip link add veth-s netns "$ns_s" type veth peer name veth-c netns "$ns_c"
# Fixed MAC for the client so the files are reproducible.
ip -n "$ns_c" link set veth-c address 52:54:00:12:34:56
ip -n "$ns_s" link set veth-s address 52:55:0a:4d:00:01
ip -n "$ns_s" addr add 10.77.0.1/24 dev veth-s
ip -n "$ns_s" link set lo up
ip -n "$ns_s" link set veth-s up
ip -n "$ns_c" link set lo up
ip -n "$ns_c" link set veth-c up

ip netns exec "$ns_s" tshark -q -i veth-s -f "udp port 67 or udp port 68 or udp port 53" -w "$tmp/cap.pcap" 2>"$tmp/tshark.err" &
tshark_pid=$!
i=0
until grep -q "Capturing on" "$tmp/tshark.err" 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 100 ] && { cat "$tmp/tshark.err" >&2; exit 1; }; sleep 0.1
done

# Option 119 with two names that share a suffix (the RFC 3397 example), TFTP fields, MTU.
ip netns exec "$ns_s" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts \
  --interface=veth-s --bind-interfaces --port=53 --address=/golden.test/10.77.0.99 \
  --dhcp-range=10.77.0.15,10.77.0.30,24h --dhcp-leasefile="$tmp/leases" \
  --domain=example.test --dhcp-option=option:domain-search,eng.apple.com,marketing.apple.com \
  --dhcp-option=option:mtu,1500 --dhcp-boot=pxelinux.0,bootserver --dhcp-option=66,bootserver \
  --pid-file="$tmp/dnsmasq.pid" 2>"$tmp/dnsmasq.log" &
dnsmasq_pid=$!
sleep 1

# busybox udhcpc: DISCOVER, REQUEST (selecting), then RELEASE on SIGUSR2. The release is sent
# from the leased address, so its script configures that (and nothing else) and flags the
# binding; the address is removed again afterwards.
cat >"$tmp/udhcpc.sh" <<EOS
#!/bin/sh
[ "\$1" = bound ] && ip addr add "\$ip/24" dev "\$interface" && touch "$tmp/udhcpc.bound"
exit 0
EOS
chmod +x "$tmp/udhcpc.sh"
ip netns exec "$ns_c" busybox udhcpc -i veth-c -f -n -t 5 -s "$tmp/udhcpc.sh" -O search -O mtu -x hostname:golden &
udhcpc_pid=$!
i=0
until [ -f "$tmp/udhcpc.bound" ]; do
  i=$((i + 1)); [ $i -gt 150 ] && { echo "capture.sh: udhcpc got no lease" >&2; exit 1; }; sleep 0.1
done
kill -USR2 "$udhcpc_pid"; sleep 0.5; kill "$udhcpc_pid"; wait "$udhcpc_pid" || true
ip -n "$ns_c" addr flush dev veth-c

# ISC dhclient: a full exchange, then a second run from its lease file (INIT-REBOOT), then release.
sleep 0.5
boundary=$(date +%s.%N)
ip netns exec "$ns_c" dhclient -1 -sf /bin/true -lf "$tmp/dhclient.leases" -pf "$tmp/dhclient.pid" veth-c
kill "$(cat "$tmp/dhclient.pid")" 2>/dev/null || true
sleep 0.5
ip netns exec "$ns_c" dhclient -1 -sf /bin/true -lf "$tmp/dhclient.leases" -pf "$tmp/dhclient.pid" veth-c
ip netns exec "$ns_c" dhclient -r -sf /bin/true -lf "$tmp/dhclient.leases" -pf "$tmp/dhclient.pid" veth-c || true

# DNS: busybox nslookup against dnsmasq answering a local name (never the host's resolver).
ip -n "$ns_c" addr add 10.77.0.2/24 dev veth-c
ip netns exec "$ns_c" busybox nslookup golden.test 10.77.0.1 >/dev/null || true
sleep 1
kill "$tshark_pid"; wait "$tshark_pid" 2>/dev/null || true; tshark_pid=""

# One file per message, numbered per client in capture order; messages before `boundary`
# belong to udhcpc, later ones to dhclient.
rm -f "$here"/*.hex "$dns_out"/*.hex
mkdir -p "$dns_out"
tshark -r "$tmp/cap.pcap" -Y dhcp -T fields -E separator=' ' -e frame.time_epoch -e dhcp.option.dhcp -e udp.payload 2>/dev/null |
  awk -v b="$boundary" -v dir="$here" '{
    who = ($1 < b) ? "udhcpc" : "dhclient"
    split("discover offer request decline ack nak release inform", names, " ")
    t = ($2 in names) ? names[$2] : "bootp"
    f = sprintf("%s/%s-%02d-%s.hex", dir, who, ++n[who], t)
    print $3 > f
    close(f)
  }'
n=0
tshark -r "$tmp/cap.pcap" -Y dns -T fields -E separator=' ' -e dns.flags.response -e dns.qry.type -e udp.payload 2>/dev/null | while read -r resp qtype hex; do
  n=$((n + 1))
  [ "$resp" = "True" ] || [ "$resp" = "1" ] && k=response || k=query
  printf '%s\n' "$hex" >"$dns_out/$(printf 'nslookup-%02d-%s-type%s' "$n" "$k" "$qtype").hex"
done
ls "$here"/*.hex "$dns_out"/*.hex
