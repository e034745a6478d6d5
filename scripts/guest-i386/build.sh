#!/bin/sh
# Build the i386 guest that examples/v86 and test/e2e/v86.test.ts boot in the v86 emulator:
# Debian's 32-bit 6.1 kernel, an initramfs of i386 busybox-static with the virtio-net modules,
# and SeaBIOS with its VGA BIOS (v86 runs 32-bit x86 only, so the x86_64 guest of
# scripts/guest cannot be reused).
#
#   sh scripts/guest-i386/build.sh            build if not up to date, print the output directory
#   sh scripts/guest-i386/build.sh --force    rebuild
#
# Output (outside the repository, so a checkout stays small):
#   ${TSLIRP_GUEST_I386_DIR:-${TSLIRP_CACHE:-$HOME/.cache/tslirp}/guest-i386}/
#     vmlinuz             the newest linux-image-6.1.0-N-686-unsigned apt knows
#     initramfs.cpio.gz   busybox (i386), the virtio-net modules in load order, /init
#     bios.bin vgabios.bin  SeaBIOS and its VGA BIOS from Debian's seabios package
#     stamp               what the files were built from; equal stamp = up to date
#
# The guest's /init (scripts/guest-i386/init) loads the modules, sets eth0 up and runs
# /etc/tslirp/script.sh, which the host appends to the initramfs as a second cpio archive
# (examples/v86/initrd.ts); its console protocol is the x86_64 guest's (scripts/guest/init),
# and the script helpers (lib.sh, udhcpc.script) are that guest's files.
# Needs: apt-get with the i386 architecture and lists (as root: dpkg --add-architecture i386 &&
# apt-get update), dpkg-deb, cpio, gzip, sha256sum, and the seabios package. apt-get download
# needs no root. The last line printed on stdout is the output directory.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
shared="$here/../guest"
out=${TSLIRP_GUEST_I386_DIR:-${TSLIRP_CACHE:-${HOME:-/tmp}/.cache/tslirp}/guest-i386}
seabios=/usr/share/seabios
force=no
[ "${1:-}" = "--force" ] && force=yes

say() { echo "guest-i386/build.sh: $*" >&2; }
die() { say "$*"; exit 1; }

for tool in apt-cache apt-get dpkg-deb cpio gzip sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "missing tool: $tool (Debian: apt-get install -y apt dpkg cpio gzip coreutils)"
done
[ -f "$seabios/bios.bin" ] && [ -f "$seabios/vgabios-stdvga.bin" ] ||
  die "missing $seabios/bios.bin or vgabios-stdvga.bin (Debian: apt-get install -y seabios)"

mkdir -p "$out"
# Test files may run in parallel and each may call this script: build under a lock.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$out/.lock"
  flock 9
fi

# The newest 32-bit 6.1 kernel: 686 without PAE (v86 has no PAE), -unsigned being the package
# that carries the image on i386.
pkg=$(apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
  grep -E '^linux-image-6\.1\.0-[0-9]+-686-unsigned$' | sort -V | tail -n 1) || pkg=
bbpkg=busybox-static:i386
if [ -z "$pkg" ] || ! apt-cache show "$bbpkg" >/dev/null 2>&1; then
  if [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.cpio.gz" ] && [ -f "$out/stamp" ]; then
    say "apt knows no linux-image-6.1.0-*-686-unsigned or $bbpkg; keeping the guest in $out"
    echo "$out"
    exit 0
  fi
  die "apt knows no linux-image-6.1.0-*-686-unsigned or $bbpkg: run 'dpkg --add-architecture i386 && apt-get update' first"
fi
version=$(apt-cache show --no-all-versions "$pkg" | sed -n 's/^Version: //p' | head -n 1)
bb_version=$(apt-cache show --no-all-versions "$bbpkg" | sed -n 's/^Version: //p' | head -n 1)
bios_hash=$(cat "$seabios/bios.bin" "$seabios/vgabios-stdvga.bin" | sha256sum | cut -d' ' -f1)
inputs_hash=$(cat "$here/build.sh" "$here/init" "$shared/udhcpc.script" "$shared/lib.sh" | sha256sum | cut -d' ' -f1)
stamp="$pkg $version | busybox $bb_version | seabios $bios_hash | $inputs_hash"

if [ "$force" = no ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.cpio.gz" ] &&
  [ -f "$out/bios.bin" ] && [ -f "$out/vgabios.bin" ] &&
  [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
  say "up to date ($pkg $version)"
  echo "$out"
  exit 0
fi

say "building from $pkg $version, $bbpkg $bb_version"
work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# apt's download sandbox user (_apt) cannot write into a root-only temp dir; as root, skip it.
sandbox=
[ "$(id -u)" = 0 ] && sandbox="-o APT::Sandbox::User=root"
# shellcheck disable=SC2086
(cd "$work" && apt-get download -q $sandbox "$pkg" "$bbpkg" >&2) || die "apt-get download $pkg $bbpkg failed"
dpkg-deb -x "$work"/"$pkg"_*.deb "$work/deb"
dpkg-deb -x "$work"/busybox-static_*_i386.deb "$work/bb"
busybox="$work/bb/bin/busybox"
[ -f "$busybox" ] || die "$bbpkg has no /bin/busybox"

kver=${pkg#linux-image-}
kver=${kver%-unsigned}
cp "$work/deb/boot/vmlinuz-$kver" "$work/vmlinuz"

root="$work/root"
mkdir -p "$root/bin" "$root/lib/modules" "$root/lib/tslirp" "$root/proc" "$root/sys" \
  "$root/dev" "$root/tmp" "$root/run" "$root/etc/tslirp" "$root/root"

# Modules: virtio_pci finds v86's virtio-net on the PCI bus, virtio_net drives it. The package
# has no modules.dep (depmod runs at install), so read each module's own depends= list and
# load dependencies first. What the kernel has built in (=y) has no .ko and needs nothing.
moddir="$work/deb/lib/modules/$kver/kernel"
order="$root/lib/modules/order"
: >"$order"
ko_of() { # module name -> its file ('-' and '_' are the same in module names)
  find "$moddir" \( -name "$(echo "$1" | sed 's/[-_]/[-_]/g').ko" -o -name "$(echo "$1" | sed 's/[-_]/[-_]/g').ko.xz" \) | head -n 1 | grep .
}
# `local` (dash, bash and busybox sh have it) keeps each level's name across the recursion.
add_module() { # depth-first: dependencies, then the module itself, each once
  local name f dst deps d
  name=$(echo "$1" | tr '-' '_')
  grep -qx "$name" "$order" && return 0
  f=$(ko_of "$name") || die "module $name not in $pkg"
  dst="$root/lib/modules/$name.ko"
  case "$f" in
  *.xz) "$busybox" xzcat "$f" >"$dst" 2>/dev/null || xz -dc "$f" >"$dst" ;;
  *) cp "$f" "$dst" ;;
  esac
  deps=$(tr '\0' '\n' <"$dst" | sed -n 's/^depends=//p' | head -n 1 | tr ',' ' ')
  for d in $deps; do add_module "$d"; done
  echo "$name" >>"$order"
}
for m in virtio_pci virtio_net; do add_module "$m"; done
say "modules in load order: $(tr '\n' ' ' <"$order")"

cp "$busybox" "$root/bin/busybox"
# The i386 busybox is static, so an x86_64 host runs it (Debian's kernels have IA32 emulation).
applets=$("$busybox" --list) || die "cannot run the i386 busybox here to list its applets"
echo "$applets" | grep -qx udhcpc || die "$bbpkg has no udhcpc"
for applet in $applets; do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
ln -s bin "$root/sbin"
mkdir -p "$root/usr"
ln -s ../bin "$root/usr/bin"
ln -s ../bin "$root/usr/sbin"
install -m 0755 "$here/init" "$root/init"
install -m 0755 "$shared/udhcpc.script" "$root/lib/tslirp/udhcpc.script"
install -m 0644 "$shared/lib.sh" "$root/lib/tslirp/lib.sh"
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
echo "127.0.0.1 localhost" >"$root/etc/hosts"
: >"$root/etc/resolv.conf"

# newc cpio, every file owned by root (the kernel's built-in initramfs already has /dev/console).
(cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc --owner=0:0) | gzip -9 >"$work/initramfs.cpio.gz"

cp "$seabios/bios.bin" "$work/bios.bin"
cp "$seabios/vgabios-stdvga.bin" "$work/vgabios.bin"
for f in vmlinuz initramfs.cpio.gz bios.bin vgabios.bin; do mv -f "$work/$f" "$out/$f"; done
echo "$stamp" >"$out/stamp"
say "built $out ($(du -k "$out/vmlinuz" | cut -f1) KiB kernel, $(du -k "$out/initramfs.cpio.gz" | cut -f1) KiB initramfs)"
echo "$out"
