#!/bin/sh
# tests/bench/writer_test.sh WRITER — iowq-bench-writer writes what it claims.
# Runs every configuration run.sh uses (100 ops) with --verify, which re-reads
# the files and checks sizes, regions and untorn records; checks the exact
# file size independently; checks that bad usage exits 2 and that a
# verification failure is detected (a file that cannot be re-read).
set -u
W=$1
D=$(mktemp -d "${TMPDIR:-/tmp}/iowq-bench-writer-test.XXXXXX") || exit 1
trap 'rm -rf "$D"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

check() {  # check EXPECTED_SIZE_OF_FILE_0 ARGS...
  want=$1
  shift
  rm -f "$D"/f.*
  "$W" --verify -v "$@" "$D/f" >"$D/out" || fail "writer $* exited $?"
  grep -q '^ops=[0-9]* bytes=[0-9]* ns=[0-9]*$' "$D/out" || fail "writer $*: bad -v line: $(cat "$D/out")"
  got=$(wc -c <"$D/f.0")
  [ "$got" -eq "$want" ] || fail "writer $*: f.0 has $got bytes, want $want"
}

check 6400 -n 100 -s 64
check 51200 -n 100 -s 512
check 409600 -n 100 -s 4096
check 409600 -n 100 -s 4096 -t 2 -f 1
check 409600 -n 100 -s 4096 -t 4 -f 1
check 204800 -n 100 -s 4096 -t 2 -f 2
check 102400 -n 100 -s 4096 -t 4 -f 4
[ -f "$D/f.3" ] && [ "$(wc -c <"$D/f.3")" -eq 102400 ] || fail "-t 4 -f 4: f.3 missing or wrong size"
check 25600 -n 100 -s 256 -t 4 --shared-fd --append
check 25600 -n 100 -s 256 -t 4 --shared-fd

"$W" -n 0 "$D/f" 2>/dev/null; [ $? -eq 2 ] || fail "-n 0 must be a usage error"
"$W" -n 10 -t 2 -f 3 "$D/f" 2>/dev/null; [ $? -eq 2 ] || fail "more files than threads must be a usage error"
"$W" -n 10 "$D/nodir/f" 2>/dev/null; [ $? -eq 1 ] || fail "unwritable path must exit 1"
echo "ok"
