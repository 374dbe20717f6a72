#!/bin/sh
# tools/bench/net.sh BUILD — the cost of the write-behind net (docs/design.md §5 "The net").
#
# Prints, medians over BENCH_REPS (default 5) runs, plain and write-behind
# interleaved run by run:
#   netcost_idle    ns per raw getppid(2): plain, and under the shim with
#                   IOWQ_WRITE_BEHIND=1 and nothing pending (dispatch on, ALLOW)
#   netcost_armed   ns per raw getppid(2) while 64 MiB drain (each a trap; the
#                   report's write_behind.net_traps is printed with it)
#   tar_x200, sqlite_inserts, python_lines: whole-process wall time, plain vs
#                   write-behind, and their ratio (plain / write-behind: > 1 is faster)
# BENCH_TMPDIR: where files go (default $TMPDIR or /tmp).
set -u
if [ $# -ne 1 ] || [ ! -f "$1/lib/libiowq.so" ]; then
  echo "usage: tools/bench/net.sh BUILD_DIR (with lib/libiowq.so)" >&2
  exit 2
fi
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
LIB=$BUILD/lib/libiowq.so
REPS=${BENCH_REPS:-5}
TMP=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/iowq-net.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
NETCOST=$BUILD/bin/iowq-bench-netcost
[ -x "$NETCOST" ] || { cc -O2 -o "$TMP/netcost" "$HERE/netcost.c" && NETCOST=$TMP/netcost; }

median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "nan"}'; }
now_ns() { date +%s%N; }
wb() { env IOWQ_WRITE_BEHIND=1 LD_PRELOAD="$LIB" "$@"; }

# netcost
: > "$TMP/idle_plain"; : > "$TMP/idle_wb"; : > "$TMP/armed"; : > "$TMP/traps"
for r in $(seq "$REPS"); do
  "$NETCOST" idle 1000000 | awk '{print $2}' >> "$TMP/idle_plain"
  wb "$NETCOST" idle 1000000 | awk '{print $2}' >> "$TMP/idle_wb"
  BENCH_TMPDIR=$TMP IOWQ_BOUND_MAX=1 IOWQ_STATS=$TMP/nc.json IOWQ_STATS_FORMAT=json \
    wb "$NETCOST" armed 5000 | awk '{print $2}' >> "$TMP/armed"
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['write_behind']['net_traps'])" \
    "$TMP/nc.json" >> "$TMP/traps"
done
printf '%-16s plain %8s ns  write-behind idle %8s ns  armed (trapped) %8s ns  (traps %s of 5000)\n' \
  netcost "$(median < "$TMP/idle_plain")" "$(median < "$TMP/idle_wb")" "$(median < "$TMP/armed")" \
  "$(median < "$TMP/traps")"

# whole processes: setup, then run() times one run of "$@" in $TMP/w (emptied first)
run() {
  rm -rf "$TMP/w" && mkdir "$TMP/w" && cd "$TMP/w" || exit 1
  t0=$(now_ns)
  "$@" > /dev/null 2>&1 || echo "failed: $*" >&2
  t1=$(now_ns)
  cd "$TMP" || exit 1
  echo $(( (t1 - t0) / 1000 ))
}
compare() {  # name cmd...
  name=$1
  shift
  : > "$TMP/p"; : > "$TMP/q"
  for r in $(seq "$REPS"); do
    run "$@" >> "$TMP/p"
    run env IOWQ_WRITE_BEHIND=1 LD_PRELOAD="$LIB" "$@" >> "$TMP/q"
  done
  p=$(median < "$TMP/p"); q=$(median < "$TMP/q")
  printf '%-16s plain %8s us  write-behind %8s us  ratio %s\n' "$name" "$p" "$q" \
    "$(awk -v p="$p" -v q="$q" 'BEGIN {printf "%.2f", p / q}')"
}

mkdir -p "$TMP/src" && i=0
while [ $i -lt 200 ]; do
  head -c $(( 4096 + (i * 331) % 61440 )) /dev/urandom > "$TMP/src/f$i"
  i=$((i + 1))
done
tar cf "$TMP/a.tar" -C "$TMP" src
compare tar_x200 tar xf "$TMP/a.tar"
if command -v sqlite3 > /dev/null; then
  awk 'BEGIN {print "create table t(a integer, b text);"; for (i = 0; i < 2000; i++) printf "insert into t values(%d, \"row %d of the sqlite3 insert workload\");\n", i, i}' > "$TMP/ins.sql"
  compare sqlite_inserts sh -c "sqlite3 db < '$TMP/ins.sql'"
else
  echo "sqlite_inserts   skipped (no sqlite3)"
fi
compare python_lines python3 "$HERE/linewriter.py" lines 200000
