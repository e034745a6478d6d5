#!/bin/sh
# build-qtest.sh: build QEMU's qtest accelerator as a loadable module for the
# installed Debian qemu-system-x86_64 (7.2), into a cache outside the repo.
#
# Contract: prints the module directory (use it as QEMU_MODULE_DIR) on stdout
# and exits 0, or explains on stderr and exits non-zero. Idempotent: rebuilds
# only when the source, the binary's build stamp or the compiler changed.
# Needs: gcc, nm or strings (binutils), qemu-system-x86 7.2. Installs nothing.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src="$here/qtest-accel.c"
qemu=${QEMU:-$(command -v qemu-system-x86_64 || true)}
out="${TSLIRP_CACHE:-$HOME/.cache/tslirp}/qtest-module"
so="$out/accel-qtest-x86_64.so"

fail() { echo "build-qtest: $*" >&2; exit 1; }

[ -n "$qemu" ] && [ -x "$qemu" ] || fail "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
command -v gcc >/dev/null || fail "gcc not found (apt-get install gcc)"

version=$("$qemu" --version | head -n1)
case "$version" in
  *"version 7.2."*) ;;
  *) fail "struct layouts in qtest-accel.c are QEMU 7.2's; found: $version" ;;
esac

# The loader refuses a module without the binary's qemu_stamp_<hash> symbol.
stamp=$(strings -a "$qemu" | grep -m1 -E '^qemu_stamp_[0-9a-f]+$' || true)
[ -n "$stamp" ] || fail "no qemu_stamp_ symbol in $qemu (not a modular build?)"
for sym in qtest_allowed qtest_get_virtual_clock dummy_start_vcpu_thread \
           type_register_static register_dso_module_init; do
  nm -D --defined-only "$qemu" | grep -q " $sym\$" || fail "$qemu does not export $sym"
done

key="$stamp $(sha256sum "$src" | cut -d' ' -f1) $(gcc -dumpfullversion)"
if [ -f "$so" ] && [ "$(cat "$out/build-key" 2>/dev/null)" = "$key" ]; then
  echo "$out"
  exit 0
fi

mkdir -p "$out"
tmp="$so.tmp.$$"
gcc -shared -fPIC -O2 -Wall -Werror -std=gnu11 -DQEMU_STAMP_FN="$stamp" \
    -o "$tmp" "$src" || { rm -f "$tmp"; fail "gcc failed"; }
mv "$tmp" "$so"
printf '%s\n' "$key" > "$out/build-key"
echo "$out"
