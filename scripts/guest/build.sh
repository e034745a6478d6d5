#!/bin/sh
# Build the end-to-end test guest: a Debian 6.1 kernel and a busybox initramfs.
#
#   sh scripts/guest/build.sh            build if not up to date, print the output directory
#   sh scripts/guest/build.sh --force    rebuild
#
# Output (outside the repository, so a checkout stays small):
#   ${TSLIRP_GUEST_DIR:-${TSLIRP_CACHE:-$HOME/.cache/tslirp}/guest}/
#     vmlinuz             the kernel of the newest linux-image-6.1.0-N-amd64 apt knows
#     initramfs.cpio.gz   busybox-static, e1000.ko, qemu_fw_cfg.ko, /init (scripts/guest/init),
#                         /lib/tslirp/ra-info (scripts/guest/ra-info.c, static: prints a router
#                         advertisement's prefix, MTU, RDNSS and DNSSL; IPv6 is built into the kernel)
#     stamp               what the two files were built from; equal stamp = up to date
#
# The guest's /init brings up eth0 and runs the shell script QEMU hands it with
# `-fw_cfg name=opt/tslirp/script,file=FILE` (see scripts/guest/init for the console protocol).
# Needs: apt-get (with lists: run `apt-get update` once), dpkg-deb, cpio, gzip, xz (only if the
# modules are compressed), busybox-static, a C compiler with a static libc (Debian: gcc libc6-dev). Runs as root or not (apt-get download needs no root).
# The last line printed on stdout is the output directory. Exit status 0 when both files exist.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${TSLIRP_GUEST_DIR:-${TSLIRP_CACHE:-${HOME:-/tmp}/.cache/tslirp}/guest}
busybox=/bin/busybox
force=no
[ "${1:-}" = "--force" ] && force=yes

say() { echo "guest/build.sh: $*" >&2; }
die() { say "$*"; exit 1; }

for tool in apt-cache apt-get dpkg-deb cpio gzip sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "missing tool: $tool (Debian: apt-get install -y apt dpkg cpio gzip coreutils)"
done
cc=${CC:-cc}
command -v "$cc" >/dev/null 2>&1 || die "missing C compiler $cc (Debian: apt-get install -y gcc libc6-dev)"
[ -x "$busybox" ] && "$busybox" --list | grep -qx udhcpc ||
  die "missing $busybox with udhcpc (Debian: apt-get install -y busybox-static)"

mkdir -p "$out"
# Test files run in parallel and each may call this script: build under a lock.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$out/.lock"
  flock 9
fi

# The newest 6.1 kernel apt knows (6.1.0-N-amd64, not -cloud/-rt, whose drivers differ).
pkg=$(apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
  grep -E '^linux-image-6\.1\.0-[0-9]+-amd64$' | sort -V | tail -n 1) || pkg=
if [ -z "$pkg" ]; then
  if [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.cpio.gz" ] && [ -f "$out/stamp" ]; then
    say "apt knows no linux-image-6.1.0-*-amd64 (no apt lists?); keeping the guest in $out"
    echo "$out"
    exit 0
  fi
  die "apt knows no linux-image-6.1.0-*-amd64 package: run 'apt-get update' first"
fi
version=$(apt-cache show --no-all-versions "$pkg" | sed -n 's/^Version: //p' | head -n 1)
bb_version=$("$busybox" 2>/dev/null | head -n 1)
inputs_hash=$(cat "$here/build.sh" "$here/init" "$here/udhcpc.script" "$here/lib.sh" "$here/ra-info.c" | sha256sum | cut -d' ' -f1)
stamp="$pkg $version | $bb_version | $inputs_hash"

if [ "$force" = no ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.cpio.gz" ] &&
  [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
  say "up to date ($pkg $version)"
  echo "$out"
  exit 0
fi

say "building from $pkg $version"
work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# apt's download sandbox user (_apt) cannot write into a root-only temp dir; as root, skip it.
sandbox=
[ "$(id -u)" = 0 ] && sandbox="-o APT::Sandbox::User=root"
# shellcheck disable=SC2086
(cd "$work" && apt-get download -q $sandbox "$pkg" >&2) || die "apt-get download $pkg failed"
dpkg-deb -x "$work"/"$pkg"_*.deb "$work/deb"

kver=${pkg#linux-image-}
cp "$work/deb/boot/vmlinuz-$kver" "$work/vmlinuz"

# Modules: e1000 for the NIC, qemu_fw_cfg to read the test script. Neither has dependencies
# in Debian's 6.1 build; the check below fails loudly if a later kernel changes that.
root="$work/root"
mkdir -p "$root/bin" "$root/lib/modules" "$root/lib/tslirp" "$root/proc" "$root/sys" \
  "$root/dev" "$root/tmp" "$root/run" "$root/etc" "$root/root"
moddir="$work/deb/lib/modules/$kver/kernel"
for rel in drivers/net/ethernet/intel/e1000/e1000 drivers/firmware/qemu_fw_cfg; do
  name=$(basename "$rel")
  if [ -f "$moddir/$rel.ko" ]; then
    cp "$moddir/$rel.ko" "$root/lib/modules/$name.ko"
  elif [ -f "$moddir/$rel.ko.xz" ]; then
    if command -v xz >/dev/null 2>&1; then
      xz -dc "$moddir/$rel.ko.xz" >"$root/lib/modules/$name.ko"
    else
      "$busybox" xzcat "$moddir/$rel.ko.xz" >"$root/lib/modules/$name.ko"
    fi
  else
    die "module $rel.ko(.xz) not in $pkg"
  fi
  deps=$(tr '\0' '\n' <"$root/lib/modules/$name.ko" | sed -n 's/^depends=//p' | head -n 1)
  [ -z "$deps" ] || die "module $name now depends on '$deps'; teach build.sh to include them"
done

cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
ln -s bin "$root/sbin"
mkdir -p "$root/usr"
ln -s ../bin "$root/usr/bin"
ln -s ../bin "$root/usr/sbin"
install -m 0755 "$here/init" "$root/init"
install -m 0755 "$here/udhcpc.script" "$root/lib/tslirp/udhcpc.script"
install -m 0644 "$here/lib.sh" "$root/lib/tslirp/lib.sh"
"$cc" -static -Os -Wall -o "$root/lib/tslirp/ra-info" "$here/ra-info.c" ||
  die "cannot build ra-info statically (Debian: apt-get install -y gcc libc6-dev)"
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
echo "127.0.0.1 localhost" >"$root/etc/hosts"
: >"$root/etc/resolv.conf"

# newc cpio, every file owned by root (the kernel's built-in initramfs already has /dev/console).
(cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc --owner=0:0) | gzip -9 >"$work/initramfs.cpio.gz"

mv -f "$work/vmlinuz" "$out/vmlinuz"
mv -f "$work/initramfs.cpio.gz" "$out/initramfs.cpio.gz"
echo "$stamp" >"$out/stamp"
say "built $out ($(du -k "$out/vmlinuz" | cut -f1) KiB kernel, $(du -k "$out/initramfs.cpio.gz" | cut -f1) KiB initramfs)"
echo "$out"
