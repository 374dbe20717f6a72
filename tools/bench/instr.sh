#!/bin/sh
# tools/bench/instr.sh [PROF_BUILD] — user-space instructions per write(2) call,
# counted by valgrind (callgrind), so the figure does not depend on the load.
#
# valgrind makes every system call from its own code, which the write-behind
# net (syscall user dispatch) would trap: the library measured comes from a
# build configured with -DIOWQ_PROFILE_NO_NET=ON (never for use), e.g.
#   cmake -S . -B build-prof -DIOWQ_PROFILE_NO_NET=ON -DIOWQ_BUILD_TESTS=OFF
#   cmake --build build-prof -j2 --target iowq iowq-bench-writer
#   tools/bench/instr.sh build-prof
# Prints, per write of SIZE bytes (INSTR_SIZES, default "64 4096"; INSTR_N
# calls, default 20000): plain libc, the shim in auto mode, and write-behind.
# Only the instructions inside write() are counted (--toggle-collect=write):
# the caller's side, not the pool worker that writes the data later.
set -u
BUILD=$(cd "${1:-build-prof}" && pwd) || exit 2
LIB=$BUILD/lib/libiowq.so
WRITER=$BUILD/bin/iowq-bench-writer
command -v valgrind > /dev/null || { echo "instr.sh: valgrind is needed" >&2; exit 2; }
[ -f "$LIB" ] && [ -x "$WRITER" ] || { echo "instr.sh: no $LIB or $WRITER" >&2; exit 2; }
grep -q '^IOWQ_PROFILE_NO_NET:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null ||
  echo "instr.sh: $BUILD is not an IOWQ_PROFILE_NO_NET build: write-behind will be off under valgrind" >&2
N=${INSTR_N:-20000}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/iowq-instr.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

count() {  # count SIZE ENV...: instructions per call
  size=$1
  shift
  env "$@" valgrind --tool=callgrind --callgrind-out-file="$TMP/cg" --toggle-collect=write \
    "$WRITER" -n "$N" -s "$size" "$TMP/f" > /dev/null 2>&1 || { echo "failed"; return; }
  callgrind_annotate "$TMP/cg" 2>/dev/null |
    awk -v n="$N" '/PROGRAM TOTALS/ { gsub(",", "", $1); printf "%.1f", $1 / n }'
}
for s in ${INSTR_SIZES:-64 4096}; do
  printf 'write %5s B: plain %6s  auto %6s  write-behind %6s  instructions per call\n' "$s" \
    "$(count "$s" IOWQ_X=)" "$(count "$s" LD_PRELOAD="$LIB")" \
    "$(count "$s" LD_PRELOAD="$LIB" IOWQ_WRITE_BEHIND=1)"
done
