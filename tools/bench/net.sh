#!/bin/sh
# tools/bench/net.sh BUILD — the cost of the write-behind net (docs/design.md §5 "The net").
#
# Prints, medians over BENCH_REPS (default 5) runs, plain and write-behind
# interleaved run by run:
#   netcost         ns per raw getppid(2): plain; under the shim with
#                   IOWQ_WRITE_BEHIND=1 and nothing pending (dispatch on,
#                   ALLOW); trapped by a bare dispatch of the bench's own (the
#                   kernel's SIGSYS round trip, no shim); trapped under the
#                   shim while 64 MiB drain (the report's net_traps with it)
#   write_64B, write_4KiB (iowq-bench-writer), dd_bs64, tar_x200 (200 files),
#   git_checkout (the same 200 files), sqlite_inserts, python_lines:
#                   whole-process wall and CPU time, plain vs write-behind
#                   (LD_PRELOAD), and their ratio (plain / write-behind: > 1
#                   is faster); see measure.py pair
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
wb() { env IOWQ_WRITE_BEHIND=1 LD_PRELOAD="$LIB" "$@"; }

# netcost: the variants interleaved run by run; wall and thread-CPU ns per call
for v in idle_plain idle_wb bare armed traps; do : > "$TMP/$v"; done
for r in $(seq "$REPS"); do
  "$NETCOST" idle 200000 >> "$TMP/idle_plain"
  wb "$NETCOST" idle 200000 >> "$TMP/idle_wb"
  "$NETCOST" bare 20000 >> "$TMP/bare"
  BENCH_TMPDIR=$TMP IOWQ_BOUND_MAX=1 IOWQ_STATS=$TMP/nc.json IOWQ_STATS_FORMAT=json \
    wb "$NETCOST" armed 5000 >> "$TMP/armed"
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['write_behind']['net_traps'])" \
    "$TMP/nc.json" >> "$TMP/traps"
done
col() { awk -v c="$2" '{print $c}' "$TMP/$1" | median; }  # col FILE COLUMN: its median
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-16s raw getppid, ns per call (wall / thread CPU):\n' netcost
printf '  plain %s / %s; net on, idle %s / %s\n' "$(col idle_plain 2)" "$(col idle_plain 3)" \
  "$(col idle_wb 2)" "$(col idle_wb 3)"
printf '  trapped: bare dispatch (no shim) %s / %s; under the shim, 64 MiB draining %s / %s (traps %s of 5000)\n' \
  "$(col bare 2)" "$(col bare 3)" "$(col armed 2)" "$(col armed 3)" "$(median < "$TMP/traps")"
# The calls made after the data landed did not trap: CPU per trapped call,
# counting those at the idle cost.
printf '  CPU per trapped call under the shim: %s ns\n' "$(awk -v a="$(col armed 3)" -v i="$(col idle_wb 3)" \
  -v t="$(median < "$TMP/traps")" 'BEGIN { if (t > 0) printf "%.0f", (a * 5000 - i * (5000 - t)) / t; else print "nan" }')"

# whole processes, plain and write-behind interleaved (measure.py pair: wall
# and CPU medians, ratio > 1 = write-behind is faster); $TMP/w is emptied
# before every run and is the working directory.
mkdir -p "$TMP/w"
pair() {  # name cmd...
  name=$1
  shift
  (cd "$TMP/w" && python3 "$HERE/measure.py" pair --name "$name" --reps "$REPS" --warmup --clean "$TMP/w" \
    --env IOWQ_WRITE_BEHIND=1 --env LD_PRELOAD="$LIB" -- "$@")
}

WRITER=$BUILD/bin/iowq-bench-writer
if [ -x "$WRITER" ]; then
  pair write_64B "$WRITER" -n 200000 -s 64 "$TMP/w/f"
  pair write_4KiB "$WRITER" -n 20000 -s 4096 "$TMP/w/f"
fi
pair dd_bs64 dd if=/dev/zero of="$TMP/w/f" bs=64 count=100000 status=none

mkdir -p "$TMP/src" && i=0
while [ $i -lt 200 ]; do
  head -c $(( 4096 + (i * 331) % 61440 )) /dev/urandom > "$TMP/src/f$i"
  i=$((i + 1))
done
tar cf "$TMP/a.tar" -C "$TMP" src
pair tar_x200 tar xf "$TMP/a.tar"
if command -v git > /dev/null; then
  # A checkout of the 200 files (and their history-free index) into an empty tree.
  git init -q "$TMP/repo" && cp -r "$TMP/src" "$TMP/repo/" &&
    git -C "$TMP/repo" add src && git -C "$TMP/repo" -c user.name=b -c user.email=b@b commit -qm src &&
    pair git_checkout git --git-dir="$TMP/repo/.git" --work-tree=. checkout -q -f HEAD -- .
else
  echo "git_checkout     skipped (no git)"
fi
if command -v sqlite3 > /dev/null; then
  awk 'BEGIN {print "create table t(a integer, b text);"; for (i = 0; i < 2000; i++) printf "insert into t values(%d, \"row %d of the sqlite3 insert workload\");\n", i, i}' > "$TMP/ins.sql"
  pair sqlite_inserts sh -c "sqlite3 db < '$TMP/ins.sql'"
else
  echo "sqlite_inserts   skipped (no sqlite3)"
fi
pair python_lines python3 "$HERE/linewriter.py" lines 200000
