#!/bin/sh
# tests/bench/run_quick_test.sh BUILD BENCH_SRC — run.sh end to end, tiny sizes.
# Runs tools/bench/run.sh with BENCH_QUICK=1 into a temp results dir and lets
# check_results.py verify results.csv (a row with numbers for every
# workload/system, or the allowed skip reason), machine.txt and chart.png.
set -u
BUILD=$1 SRC=$2
OUT=$(mktemp -d "${TMPDIR:-/tmp}/iowq-bench-quick.XXXXXX") || exit 1
trap 'rm -rf "$OUT"' EXIT
BENCH_QUICK=1 BENCH_OUT=$OUT sh "$SRC/run.sh" "$BUILD" || { echo "FAIL: run.sh exited $?"; exit 1; }
python3 "$(dirname "$0")/check_results.py" "$OUT" "$BUILD"
