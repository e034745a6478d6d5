#!/bin/sh
# Build the tslirp addon (ping sockets and UDP sockets with ICMP errors):
# native/build/Release/ping_socket.node, from ping_socket.c, udp_socket.c, guest_stream.c
# (the guest link's stream socket below Node's stream layer) and page_offset.c (aligned views
# and 2 MiB huge-page stages for O_DIRECT capture files) and malloc_tuning.c (glibc's trim and mmap thresholds)
# and stream_copy.c (non-temporal copies into capture stages).
#
#   sh native/build.sh              rebuild
#   sh native/build.sh --if-needed  only when the .node is missing or older than its sources
#   sh native/build.sh --install    as --if-needed, but quiet: the compiler's output goes to
#                                   native/build.log and a failure is one line on stderr and
#                                   exit 0, so installing tslirp never fails for want of a
#                                   compiler (the features the addon enables degrade, and the
#                                   runtime says so once in its log)
#
# Called by the package's `install` script (npm runs it under `npm ci` and `npm install` of a
# checkout, and when the package is installed as a dependency unless scripts are disabled),
# by .ci/run, and lazily by src/runtime/node/addon.ts when the addon is missing.
#
# Uses node-gyp (npm bundles it; npm exports its path as npm_config_node_gyp to scripts) with
# local Node headers, because the headers cannot be downloaded here. The addon uses only
# node_api.h (N-API 8) and libuv's stable v1 ABI, so headers of any Node >= 18 give a module
# that loads in Node 24. If node-gyp is absent or fails (no python3, say), the C files
# are compiled with cc directly, which is all node-gyp does for it on Linux.
# Exit status: 0 when the addon exists afterwards.
set -eu

# --install: the whole build in a child shell, its output kept in native/build.log; whatever
# goes wrong (no compiler, no headers, no coreutils), one line and exit 0. Only shell builtins
# here, so even that line cannot fail.
if [ "${1:-}" = "--install" ]; then
  case "$0" in */*) log="${0%/*}/build.log" ;; *) log=build.log ;; esac
  if sh "$0" --if-needed >"$log" 2>&1; then
    exit 0
  fi
  why=""
  while IFS= read -r line || [ -n "$line" ]; do
    [ -n "$line" ] && why=$line
  done <"$log"
  echo "tslirp: native addon not built (${why:-unknown reason}; full output in $log): pings to hosts outside the virtual network are off and UDP runs without ICMP errors; install a C compiler and Node headers, then run: sh native/build.sh" >&2
  exit 0
fi

here=$(cd "$(dirname "$0")" && pwd)
out="$here/build/Release/ping_socket.node"

# True when the .node exists and is newer than every source.
up_to_date() {
  [ -f "$out" ] || return 1
  for src in "$here/ping_socket.c" "$here/udp_socket.c" "$here/guest_stream.c" "$here/page_offset.c" "$here/malloc_tuning.c" "$here/stream_copy.c" "$here/addon.h" "$here/binding.gyp"; do
    [ "$out" -nt "$src" ] || return 1
  done
}

if [ "${1:-}" = "--if-needed" ] && up_to_date; then
  exit 0
fi

# Node headers: npm's nodedir if set, else next to any node on PATH, else /usr.
find_nodedir() {
  for dir in "${npm_config_nodedir:-}" \
    "$(dirname "$(dirname "$(readlink -f "$(command -v node 2>/dev/null || echo /nonexistent)")")")" \
    /usr /usr/local; do
    if [ -n "$dir" ] && [ -f "$dir/include/node/node_api.h" ] && [ -f "$dir/include/node/uv.h" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

# node-gyp: the one npm hands to scripts, else the one bundled with npm, else PATH.
find_node_gyp() {
  if [ -n "${npm_config_node_gyp:-}" ] && [ -f "$npm_config_node_gyp" ]; then
    echo "$npm_config_node_gyp"
    return 0
  fi
  npm_bin=$(command -v npm 2>/dev/null) || npm_bin=
  if [ -n "$npm_bin" ]; then
    gyp="$(dirname "$(readlink -f "$npm_bin")")/../node_modules/node-gyp/bin/node-gyp.js"
    if [ -f "$gyp" ]; then
      echo "$gyp"
      return 0
    fi
  fi
  command -v node-gyp 2>/dev/null
}

build() {
  nodedir=$(find_nodedir) || {
    echo "native/build.sh: no Node headers (include/node/node_api.h and uv.h) found; set npm_config_nodedir" >&2
    return 1
  }
  if gyp=$(find_node_gyp) && command -v python3 >/dev/null 2>&1; then
    case "$gyp" in
    *.js) set -- node "$gyp" ;;
    *) set -- "$gyp" ;;
    esac
    if "$@" rebuild --directory="$here" --nodedir="$nodedir" --loglevel=error >&2; then
      return 0
    fi
    echo "native/build.sh: node-gyp failed; compiling with cc" >&2
  fi
  mkdir -p "$here/build/Release"
  ${CC:-cc} -std=gnu11 -O2 -Wall -Wextra -fPIC -shared -fvisibility=hidden \
    -DNAPI_VERSION=8 -DNODE_GYP_MODULE_NAME=ping_socket \
    -I"$nodedir/include/node" -o "$out.tmp" "$here/ping_socket.c" "$here/udp_socket.c" "$here/guest_stream.c" "$here/page_offset.c" "$here/malloc_tuning.c" "$here/stream_copy.c" &&
    mv -f "$out.tmp" "$out"
}

# Several test workers may ask for the addon at once: build under a lock.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$here/.build.lock"
  flock 9
  # Someone else may have built it while we waited.
  if [ "${1:-}" = "--if-needed" ] && up_to_date; then
    exit 0
  fi
fi
build
test -f "$out"
