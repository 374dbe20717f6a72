#!/bin/sh
# tests/bench/percall_test.sh PERCALL [LIBIOWQ] — iowq-bench-percall does what run.sh relies on.
# Checks the one-line output (numbers, best <= median <= p99), that a regular
# file is overwritten from position 0 every batch (size = SIZE x CALLS, not
# x batches), usage errors exit 2, an unwritable path exits 1; with LIBIOWQ,
# the same under LD_PRELOAD in auto and pool mode, where the report must count
# the /dev/null writes as passthrough and the pool-mode writes as routed.
# Harness correctness only: no timing is judged.
set -u
P=$1 LIB=${2:-}
D=$(mktemp -d "${TMPDIR:-/tmp}/iowq-bench-percall-test.XXXXXX") || exit 1
trap 'rm -rf "$D"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

line_ok() {  # line_ok OUTPUT: the documented line, ordered percentiles
  echo "$1" | grep -Eq '^calls=[0-9]+ batches=[0-9]+ best_ns=[0-9.]+ median_ns=[0-9.]+ p99_ns=[0-9.]+ cpu_ns=[0-9.]+$' ||
    return 1
  echo "$1" | awk '{ for (i = 1; i <= NF; ++i) { split($i, kv, "="); v[kv[1]] = kv[2] }
                     exit !(v["best_ns"] > 0 && v["best_ns"] <= v["median_ns"] && v["median_ns"] <= v["p99_ns"]) }'
}

run() {  # run WHAT [K=V...] PERCALL ARGS...: runs percall, checks its line
  what=$1
  shift
  out=$(env "$@") || fail "$what: exited $?"
  line_ok "$out" || fail "$what: bad output: $out"
}

run "/dev/null" "$P" -n 500 -b 3 -w 1 /dev/null
run "file 64B" "$P" -n 200 -b 4 -w 1 "$D/f"
[ "$(wc -c <"$D/f")" -eq 12800 ] || fail "file 64B: size $(wc -c <"$D/f"), want 12800 (rewound every batch)"
rm -f "$D/f"
run "file 4KiB" "$P" -n 50 -b 3 -w 0 -s 4096 "$D/f"
[ "$(wc -c <"$D/f")" -eq 204800 ] || fail "file 4KiB: size $(wc -c <"$D/f"), want 204800"

"$P" -n 0 /dev/null >/dev/null 2>&1; [ $? -eq 2 ] || fail "-n 0 must be a usage error"
"$P" /dev/null extra >/dev/null 2>&1; [ $? -eq 2 ] || fail "two paths must be a usage error"
"$P" -n 10 "$D/nodir/f" >/dev/null 2>&1; [ $? -eq 1 ] || fail "unwritable path must exit 1"
"$P" -n 10 /dev/full >/dev/null 2>&1; [ $? -eq 1 ] || fail "a failing write (ENOSPC) must exit 1"

if [ -n "$LIB" ]; then
  run "preload /dev/null" LD_PRELOAD="$LIB" IOWQ_STATS="$D/r1" IOWQ_STATS_FORMAT=json "$P" -n 500 -b 3 -w 1 /dev/null
  grep -Eq '"passthrough": *[1-9]' "$D/r1" || fail "preload /dev/null: no passthrough calls in the report"
  run "preload pool 4KiB" LD_PRELOAD="$LIB" IOWQ_MODE=pool IOWQ_CALLSITES=8 IOWQ_STATS="$D/r2" \
    IOWQ_STATS_FORMAT=json "$P" -n 50 -b 3 -w 0 -s 4096 "$D/g"
  grep -Eq '"routed": *[1-9]' "$D/r2" || fail "preload pool: no routed calls in the report"
  grep -q '"callsites"' "$D/r2" || fail "preload pool: IOWQ_CALLSITES=8 but no callsites in the report"
  [ "$(wc -c <"$D/g")" -eq 204800 ] || fail "preload pool: size $(wc -c <"$D/g"), want 204800"
fi
echo "ok"
