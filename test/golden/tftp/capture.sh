#!/bin/sh
# Captures the golden TFTP packets in test/golden/tftp from real software: dnsmasq's TFTP server
# (--enable-tftp) and two clients, busybox `tftp -g` (plain RFC 1350, then with `-b 1024`, which
# asks for blksize) and curl (tftp://, which asks for blksize and tsize), over loopback in a
# private network namespace; tshark records every UDP payload. Each packet is saved as hex,
# named <nn>-<client>-<what>.hex in capture order.
# Needs root (unshare -n), dnsmasq-base, busybox, curl, tshark.
# Usage: sh test/golden/tftp/capture.sh   (rewrites the .hex files; nothing leaves the namespace)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ "${TFTP_CAPTURE_INNER:-}" != 1 ]; then
  exec env TFTP_CAPTURE_INNER=1 unshare -n sh "$0" "$@"
fi
tmp=$(mktemp -d)
cleanup() {
  [ -n "${tshark_pid:-}" ] && kill "$tshark_pid" 2>/dev/null || true
  [ -n "${dnsmasq_pid:-}" ] && kill "$dnsmasq_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
ip link set lo up
chmod 755 "$tmp"
mkdir "$tmp/root" "$tmp/out"
# 26 lines of 47 bytes, 1222 in all: three blocks of 512 (the last short), two of 1024.
i=0; : >"$tmp/root/golden.txt"
while [ $i -lt 26 ]; do printf 'tslirp tftp golden line %02d, fifty bytes long!!\n' $i >>"$tmp/root/golden.txt"; i=$((i + 1)); done
chmod 644 "$tmp/root/golden.txt"
tshark -q -i lo -f udp -w "$tmp/cap.pcap" 2>"$tmp/tshark.err" &
tshark_pid=$!
n=0
until grep -q "Capturing on" "$tmp/tshark.err" 2>/dev/null; do
  n=$((n + 1)); [ $n -gt 100 ] && { cat "$tmp/tshark.err" >&2; exit 1; }; sleep 0.1
done
dnsmasq --keep-in-foreground --port=0 --enable-tftp --tftp-root="$tmp/root" --listen-address=127.0.0.1 --bind-interfaces --pid-file="$tmp/dnsmasq.pid" --log-facility=- 2>"$tmp/dnsmasq.log" &
dnsmasq_pid=$!
sleep 0.5
(cd "$tmp/out" && busybox tftp -g -r golden.txt -l plain.txt 127.0.0.1) || { cat "$tmp/dnsmasq.log" >&2; exit 1; }
(cd "$tmp/out" && busybox tftp -g -b 1024 -r golden.txt -l blk.txt 127.0.0.1) || true
curl -s --tftp-blksize 1024 -o "$tmp/out/curl.txt" tftp://127.0.0.1/golden.txt
(cd "$tmp/out" && busybox tftp -g -r missing.txt 127.0.0.1) 2>/dev/null || true
sleep 0.5
kill "$tshark_pid"; wait "$tshark_pid" 2>/dev/null || true; tshark_pid=""
cmp "$tmp/root/golden.txt" "$tmp/out/plain.txt"
cmp "$tmp/root/golden.txt" "$tmp/out/curl.txt"
rm -f "$here"/*.hex
cp "$tmp/root/golden.txt" "$here/golden.txt"
tshark -r "$tmp/cap.pcap" -T fields -e udp.srcport -e udp.dstport -e udp.payload >"$tmp/packets.txt"
# Transfers in order: each RRQ starts one; its client port names the packets that follow.
awk -v dir="$here" '
  BEGIN { split("busybox busybox-b1024 curl busybox-missing", who, " "); split("rrq wrq data ack error oack", op, " ") }
  {
    code = substr($3, 1, 4) + 0
    if (code == 1) { t++; client[$1] = who[t] }
    c = ($1 in client) ? client[$1] : client[$2]
    n++
    file = sprintf("%s/%02d-%s-%s.hex", dir, n, c, op[code])
    print $3 > file
    close(file)
  }' "$tmp/packets.txt"
ls "$here"
