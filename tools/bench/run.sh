#!/bin/sh
# tools/bench/run.sh BUILD — the docs/design.md §10 benchmarks, side by side in one run.
#
# Runs every workload against every system on this machine, then writes
#   $BENCH_OUT/results.csv  workload,system,median_ns,p99_ns,cpu_ns_per_op,ratio_to_direct,runs
#                           (tput_* workloads: median_ns holds median ops/s; see table.py)
#   $BENCH_OUT/chart.png    ratio_to_direct per workload/system, log scale (needs gnuplot)
#   $BENCH_OUT/machine.txt  CPUs, CPU model, kernel, filesystem of the temp dir
# and prints the machine and an aligned table. Rows that cannot be measured say
# why ("skipped (no shim)" when BUILD has no lib/libiowq.so or bin/iowq-run).
#
# Workloads
#   roundtrip_4k            iowq-bench-core (in-process): direct, iowq_pool, iowq_pool_nospin,
#                           mutex_condvar, glibc_aio, io_uring_async, libuv
#   roundtrip_4k_1cpu       the same, direct / iowq_pool / iowq_pool_nospin, the process pinned
#                           to one CPU (taskset): is spinning ever worse than not spinning?
#   write_{64B,512B,4KiB}   one thread, one file, N write(2)s          } whole processes:
#   tput_{1,2,4}thr_1file   N threads x 1 file, 4 KiB writes           } direct, iowq_auto,
#   tput_{2,4}thr_{2,4}files N threads x N files, 4 KiB writes         } iowq_pool,
#   tput_4thr_append256_shared 4 threads, 256 B records, one O_APPEND fd } iowq_write_behind
#   dd_bs64, dd_bs4k        dd if=/dev/zero of=FILE                    }
#   python_lines            python3 line-buffered text file, 64 B lines }
#   stall_cancel_50ms       recv() on a silent 127.0.0.1 socket: direct = SO_RCVTIMEO 50 ms,
#                           iowq_* = iowq-run --stall=50ms (time from call to error, p50/p99 of runs)
#   percall_*               iowq-bench-percall, in-process ns per write(2) call, plain (direct)
#                           vs LD_PRELOAD=lib/libiowq.so, the variants interleaved:
#     percall_passthrough_64B   64 B to /dev/null (chr: not routed): direct, iowq_auto
#     percall_auto_file_64B     64 B to a regular file, default (auto) mode: direct, iowq_auto
#     percall_report_on         as above: direct, iowq_auto, iowq_auto_report
#                               (IOWQ_STATS=/dev/null IOWQ_CALLSITES=8)
#     percall_callsites_pool_4k 4 KiB to a file, IOWQ_MODE=pool: direct, iowq_pool,
#                               iowq_pool_callsites (IOWQ_CALLSITES=8)
#     percall_exec_true         iowq-bench-spawn: posix_spawn of /bin/true + waitpid: direct,
#                               iowq_auto (the children preloaded), iowq_run (via iowq-run)
#     percall_fork_exit         iowq-bench-spawn: fork + _exit + waitpid: direct, iowq_auto
#                           table.py prints each variant's ns difference to its baseline
#                           (deltas.csv).
# Whole processes run under iowq-run --mode=auto / --mode=pool / --write-behind. Each is
# timed with hyperfine when installed, else measure.py's own loop (1 warm-up
# run, then BENCH_REPS runs; medians).
#
# Environment: BENCH_OUT (default ./bench-results), BENCH_REPS (5),
# BENCH_RUNS=N (run everything N times into BENCH_OUT/run<i>, then BENCH_OUT holds
# the per-row medians across runs: see table.py merge),
# BENCH_QUICK=1 (1 repetition, tiny sizes: a harness check, not a benchmark),
# BENCH_TMPDIR (where files are written; default $TMPDIR or /tmp),
# BENCH_HYPERFINE=0 (never use hyperfine).
set -u

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: tools/bench/run.sh BUILD_DIR" >&2
  exit 2
fi
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$BUILD/bin
OUT=${BENCH_OUT:-bench-results}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 1
QUICK=${BENCH_QUICK:-0}

# BENCH_RUNS > 1: whole suite N times, then the medians across runs.
RUNS=${BENCH_RUNS:-1}
case $RUNS in ''|*[!0-9]*) echo "run.sh: BENCH_RUNS must be a number" >&2; exit 2 ;; esac
if [ "$RUNS" -gt 1 ]; then
  i=1 dirs=""
  while [ "$i" -le "$RUNS" ]; do
    echo "bench: ==== run $i of $RUNS (load $(cut -d' ' -f1-3 /proc/loadavg)) ====" >&2
    BENCH_RUNS=1 BENCH_OUT=$OUT/run$i sh "$0" "$BUILD" >"$OUT/run$i.log" 2>&1 || {
      echo "run.sh: run $i failed (see $OUT/run$i.log)" >&2
      exit 1
    }
    dirs="$dirs $OUT/run$i"
    i=$((i + 1))
  done
  { grep -v '^load:' "$OUT/run1/machine.txt"
    echo "runs:       $RUNS (per-row medians across runs; each run in run<i>/)"
    for d in $dirs; do echo "load $(basename "$d"):  $(sed -n 's/^load: *//p' "$d/machine.txt")"; done
  } >"$OUT/machine.txt"
  cat "$OUT/machine.txt"
  # shellcheck disable=SC2086
  python3 "$HERE/table.py" merge --out "$OUT" $dirs
  exit $?
fi
if [ "$QUICK" = 1 ]; then REPS=1; WARM=""; else REPS=${BENCH_REPS:-5}; WARM="--warmup"; fi

PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || {
  echo "run.sh: python3 is needed" >&2
  exit 1
}
WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/iowq-bench.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
DATA=$WORK/data
mkdir -p "$DATA"
RAW=$OUT/raw.csv
: >"$RAW"

HAVE_SHIM=0
[ -f "$BUILD/lib/libiowq.so" ] && [ -x "$BIN/iowq-run" ] && HAVE_SHIM=1

# size FULL QUICK: the op count for this run.
size() { if [ "$QUICK" = 1 ]; then echo "$2"; else echo "$1"; fi; }
note() { echo "bench: $*" >&2; }
measure() { "$PY" "$HERE/measure.py" "$@"; }

# ---- machine ---------------------------------------------------------------
{
  echo "cpus:       $(nproc)"
  echo "cpu model:  $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  echo "kernel:     $(uname -srm)"
  echo "filesystem: $(df -PT "$WORK" | awk 'NR == 2 { print $2 }') ($WORK)"
  echo "load:       $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "repetitions: $REPS$([ "$QUICK" = 1 ] && echo ' (BENCH_QUICK: sizes are tiny, numbers mean nothing)')"
  echo "timing:     $(command -v hyperfine >/dev/null && [ "${BENCH_HYPERFINE:-1}" != 0 ] && echo hyperfine || echo 'own loop (measure.py)')"
  [ "$HAVE_SHIM" = 1 ] || echo "shim:       not built ($BUILD/lib/libiowq.so, $BIN/iowq-run): shim rows skipped"
} | tee "$OUT/machine.txt"

# ---- roundtrip_4k: in-process, one binary ----------------------------------
CORE_SYSTEMS="direct iowq_pool iowq_pool_nospin mutex_condvar glibc_aio io_uring_async libuv"
if [ -x "$BIN/iowq-bench-core" ]; then
  note "roundtrip_4k (iowq-bench-core, $REPS repetitions)"
  if [ "$QUICK" = 1 ]; then
    set -- --benchmark_min_time=0.01 --benchmark_repetitions=1
  else
    set -- --benchmark_repetitions="$REPS" --benchmark_display_aggregates_only=true
  fi
  if IOWQ_BENCH_DIR=$WORK "$BIN/iowq-bench-core" "$@" \
      --benchmark_out="$OUT/core.json" --benchmark_out_format=json >&2; then
    measure_core_ok=1
  else
    measure_core_ok=0
  fi
  if [ "$measure_core_ok" = 1 ] || [ -s "$OUT/core.json" ]; then
    "$PY" "$HERE/table.py" core --raw "$RAW" --json "$OUT/core.json"
  fi
  [ "$measure_core_ok" = 1 ] || note "iowq-bench-core failed"
else
  for s in $CORE_SYSTEMS; do
    measure skip --raw "$RAW" --workload roundtrip_4k --system "$s" --why "skipped (no iowq-bench-core)"
  done
fi

# ---- roundtrip_4k_1cpu: caller and workers share one CPU -----------------------
ONE_CPU_SYSTEMS="direct iowq_pool iowq_pool_nospin"
cpu0=$("$PY" -c 'import os; print(min(os.sched_getaffinity(0)))')
if [ -x "$BIN/iowq-bench-core" ] && command -v taskset >/dev/null; then
  note "roundtrip_4k_1cpu (iowq-bench-core pinned to CPU $cpu0)"
  if [ "$QUICK" = 1 ]; then
    set -- --benchmark_min_time=0.01 --benchmark_repetitions=1
  else
    set -- --benchmark_repetitions="$REPS" --benchmark_display_aggregates_only=true
  fi
  IOWQ_BENCH_DIR=$WORK taskset -c "$cpu0" "$BIN/iowq-bench-core" "$@" \
    --benchmark_filter='roundtrip_4k/(direct|iowq_pool|iowq_pool_nospin)/' \
    --benchmark_out="$OUT/core1.json" --benchmark_out_format=json >&2 || note "iowq-bench-core (1 CPU) failed"
  if [ -s "$OUT/core1.json" ]; then
    "$PY" "$HERE/table.py" core --raw "$RAW" --json "$OUT/core1.json" --workload roundtrip_4k_1cpu
  fi
else
  for s in $ONE_CPU_SYSTEMS; do
    measure skip --raw "$RAW" --workload roundtrip_4k_1cpu --system "$s" --why "skipped (no iowq-bench-core or taskset)"
  done
fi

# ---- whole-process workloads -------------------------------------------------
SYSTEMS="direct iowq_auto iowq_pool iowq_write_behind"

# proc WORKLOAD KIND OPS CMD...: CMD once per system, REPS times each.
proc() {
  wl=$1 kind=$2 ops=$3
  shift 3
  for sys in $SYSTEMS; do
    case $sys in
      direct) flag="" ;;
      iowq_auto) flag=--mode=auto ;;
      iowq_pool) flag=--mode=pool ;;
      iowq_write_behind) flag=--write-behind ;;
    esac
    if [ "$sys" = direct ]; then
      note "$wl $sys"
      measure process --raw "$RAW" --workload "$wl" --system "$sys" --kind "$kind" --ops "$ops" \
        --reps "$REPS" $WARM --clean "$DATA" -- "$@"
    elif [ "$HAVE_SHIM" = 0 ]; then
      measure skip --raw "$RAW" --workload "$wl" --system "$sys" --kind "$kind" --why "skipped (no shim)"
    else
      note "$wl $sys"
      measure process --raw "$RAW" --workload "$wl" --system "$sys" --kind "$kind" --ops "$ops" \
        --reps "$REPS" $WARM --clean "$DATA" -- "$BIN/iowq-run" "$flag" -- "$@"
    fi
  done
}

WRITER=$BIN/iowq-bench-writer
if [ -x "$WRITER" ]; then
  for s in 64:64B:200000 512:512B:100000 4096:4KiB:20000; do
    bytes=${s%%:*} name=${s#*:} && name=${name%%:*}
    n=$(size "${s##*:}" 100)
    proc "write_$name" latency "$n" "$WRITER" -n "$n" -s "$bytes" "$DATA/f"
  done
  n=$(size 20000 100)
  for t in 1 2 4; do
    proc "tput_${t}thr_1file" tput "$n" "$WRITER" -n "$n" -s 4096 -t "$t" -f 1 "$DATA/f"
  done
  for t in 2 4; do
    proc "tput_${t}thr_${t}files" tput "$n" "$WRITER" -n "$n" -s 4096 -t "$t" -f "$t" "$DATA/f"
  done
  n=$(size 100000 100)
  proc tput_4thr_append256_shared tput "$n" "$WRITER" -n "$n" -s 256 -t 4 --shared-fd --append "$DATA/f"
else
  note "no $WRITER: writer workloads skipped"
  for wl in write_64B write_512B write_4KiB tput_1thr_1file tput_2thr_1file tput_4thr_1file \
            tput_2thr_2files tput_4thr_4files tput_4thr_append256_shared; do
    for sys in $SYSTEMS; do
      measure skip --raw "$RAW" --workload "$wl" --system "$sys" --why "skipped (no iowq-bench-writer)"
    done
  done
fi

n=$(size 100000 100)
proc dd_bs64 latency "$n" dd if=/dev/zero of="$DATA/f" bs=64 count="$n" status=none
n=$(size 20000 100)
proc dd_bs4k latency "$n" dd if=/dev/zero of="$DATA/f" bs=4k count="$n" status=none
n=$(size 100000 100)
proc python_lines latency "$n" "$PY" "$HERE/linewriter.py" "$DATA/f" "$n"

# ---- stall cancel ------------------------------------------------------------
STALL=$BIN/iowq-bench-stall
runs=$(size 50 3)
for sys in direct iowq_auto iowq_pool; do
  if [ ! -x "$STALL" ]; then
    measure skip --raw "$RAW" --workload stall_cancel_50ms --system "$sys" --why "skipped (no iowq-bench-stall)"
  elif [ "$sys" = direct ]; then
    note "stall_cancel_50ms $sys"
    measure stall --raw "$RAW" --workload stall_cancel_50ms --system direct --timeout 60 -- \
      "$STALL" --runs "$runs" --rcvtimeo-ms 50 --guard-ms 1000
  elif [ "$HAVE_SHIM" = 0 ]; then
    measure skip --raw "$RAW" --workload stall_cancel_50ms --system "$sys" --why "skipped (no shim)"
  else
    note "stall_cancel_50ms $sys"
    mode=${sys#iowq_}
    measure stall --raw "$RAW" --workload stall_cancel_50ms --system "$sys" --timeout 60 \
      -- "$BIN/iowq-run" --stall=50ms --mode="$mode" -- "$STALL" --runs "$runs" --guard-ms 1000
  fi
done

# ---- per-call cost -------------------------------------------------------------
PERCALL=$BIN/iowq-bench-percall
preps=$(size $((2 * REPS + 1)) 1)
# percall WORKLOAD SIZE CALLS PATH VARIANT...: VARIANT is "SYSTEM [IOWQ_X=V...]" (one
# word list); every system but direct runs with LD_PRELOAD=lib/libiowq.so.
percall() {
  wl=$1 bytes=$2 calls=$3 path=$4
  shift 4
  args=""
  for v in "$@"; do
    sys=${v%% *}
    if [ ! -x "$PERCALL" ]; then
      measure skip --raw "$RAW" --workload "$wl" --system "$sys" --why "skipped (no iowq-bench-percall)"
    elif [ "$sys" != direct ] && [ "$HAVE_SHIM" = 0 ]; then
      measure skip --raw "$RAW" --workload "$wl" --system "$sys" --why "skipped (no shim)"
    else
      args="$args --variant $v"
    fi
  done
  [ -n "$args" ] || return 0
  note "$wl ($preps interleaved rounds)"
  # shellcheck disable=SC2086
  measure percall --raw "$RAW" --workload "$wl" --reps "$preps" $WARM --preload "$BUILD/lib/libiowq.so" \
    $args -- "$PERCALL" -s "$bytes" -n "$calls" -b "$(size 15 3)" -w "$(size 2 1)" "$path"
}
percall percall_passthrough_64B 64 "$(size 100000 1000)" /dev/null "direct" "iowq_auto"
percall percall_auto_file_64B 64 "$(size 20000 1000)" "$DATA/p" "direct" "iowq_auto"
percall percall_report_on 64 "$(size 20000 1000)" "$DATA/p" "direct" "iowq_auto" \
  "iowq_auto_report IOWQ_STATS=/dev/null IOWQ_CALLSITES=8"
percall percall_callsites_pool_4k 4096 "$(size 5000 100)" "$DATA/p" "direct" \
  "iowq_pool IOWQ_MODE=pool" "iowq_pool_callsites IOWQ_MODE=pool IOWQ_CALLSITES=8"

# ---- process start-up: exec of /bin/true, fork+_exit+waitpid ------------------
# Same driver as percall (interleaved variants, ns per process). iowq_run execs
# `iowq-run -- /bin/true` (the launcher's own exec on top of the preload).
SPAWN=$BIN/iowq-bench-spawn
spawn() {
  wl=$1 what=$2 calls=$3
  shift 3
  args=""
  for v in "$@"; do
    sys=${v%% *}
    if [ ! -x "$SPAWN" ]; then
      measure skip --raw "$RAW" --workload "$wl" --system "$sys" --why "skipped (no iowq-bench-spawn)"
    elif [ "$sys" != direct ] && [ "$HAVE_SHIM" = 0 ]; then
      measure skip --raw "$RAW" --workload "$wl" --system "$sys" --why "skipped (no shim)"
    else
      args="$args --variant $v"
    fi
  done
  [ -n "$args" ] || return 0
  note "$wl ($preps interleaved rounds)"
  # shellcheck disable=SC2086
  measure percall --raw "$RAW" --workload "$wl" --reps "$preps" $WARM --preload "$BUILD/lib/libiowq.so" \
    $args -- "$SPAWN" -n "$calls" -b "$(size 5 2)" -w 1 "$what"
}
spawn percall_exec_true exec "$(size 200 5)" "direct" "iowq_auto" "iowq_run BENCH_SPAWN_VIA=$BIN/iowq-run"
spawn percall_fork_exit fork "$(size 1000 10)" "direct" "iowq_auto"

# ---- results -----------------------------------------------------------------
echo
"$PY" "$HERE/table.py" finish --raw "$RAW" --out "$OUT"
echo "results: $OUT/results.csv"
