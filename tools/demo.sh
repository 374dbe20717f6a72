#!/bin/sh
# tools/demo.sh — `make demo`: unmodified programs, plain and under iowq-run.
#
#   sh tools/demo.sh [BUILD_DIR]        (default: build)
#
# Runs programs nobody here wrote (dd, python3) in a temp dir, plain and under
# BUILD_DIR/bin/iowq-run (auto mode, --mode=pool, --write-behind), reads each
# run's JSON report (--stats=FILE --json) and prints one side-by-side table:
# wall time, routed / inline / passthrough calls, cancelled stalls, and whether
# the output is byte-identical to the plain run. Then a blocking client
# against a silent local server: plain it hangs (bounded by `timeout 2`),
# under --stall=200ms it fails fast with ETIMEDOUT. Ends with one text report.
#
# Contract: every step runs under `timeout`, so the demo never hangs; the
# exit status is non-zero when an output differs from the plain run, a run
# fails, or the stalled client does not fail with ETIMEDOUT. Takes ~10-30 s.
set -u

BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
RUN=$BUILD/bin/iowq-run
if [ ! -x "$RUN" ] || [ ! -e "$BUILD/lib/libiowq.so" ]; then
  echo "demo: $RUN or $BUILD/lib/libiowq.so missing; build first (make build)" >&2
  exit 2
fi
for tool in python3 dd timeout cmp; do
  command -v $tool >/dev/null 2>&1 || { echo "demo: needs $tool" >&2; exit 2; }
done
# The interpreter itself, not a wrapper (pyenv shims run bash first, and every
# process of the chain would write its own report).
PY=$(timeout 10 python3 -c 'import sys; print(sys.executable)') && [ -x "$PY" ] || PY=python3

T=$(mktemp -d "${TMPDIR:-/tmp}/iowq-demo.XXXXXX") || exit 2
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$T" || exit 2

ROWS=$T/rows.tsv      # program \t run \t wall_s \t status \t report \t cmp \t note
: >"$ROWS"
FAILED=0
STEP_TIMEOUT=30       # per command; the whole demo stays well under a minute
REPS=3                # wall time = best of REPS runs (one sample is too noisy)

now_ns() { date +%s%N; }

# run_one PROGRAM RUN OUT -- IOWQ_FLAGS... -- COMMAND...
#   RUN is the label ("plain", "auto", ...). OUT is the file the command writes
#   (compared with PROGRAM's plain output). IOWQ_FLAGS empty = plain run.
run_one() {
  prog=$1 label=$2 out=$3
  shift 4
  flags=
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do flags="$flags $1"; shift; done
  shift
  key=$(printf '%s' "$prog.$label" | tr -c 'A-Za-z0-9.' '_')
  report=$T/$key.json
  best=
  status=0
  rep=0
  while [ $rep -lt $REPS ] && [ $status -eq 0 ]; do
    rep=$((rep + 1))
    rm -f "$out" "$report"
    t0=$(now_ns)
    if [ "$label" = plain ]; then
      timeout $STEP_TIMEOUT "$@" >"$T/$key.stdout" 2>"$T/$key.stderr"
    else
      # shellcheck disable=SC2086  # flags are single words by construction
      timeout $STEP_TIMEOUT "$RUN" --stats="$report" --json $flags -- "$@" \
        >"$T/$key.stdout" 2>"$T/$key.stderr"
    fi
    status=$?
    wall=$(( ($(now_ns) - t0) / 1000000 ))
    if [ -z "$best" ] || [ $wall -lt $best ]; then best=$wall; fi
  done
  wall=$best
  same=-
  if [ "$label" = plain ]; then
    cp "$out" "$T/$key.ref" 2>/dev/null
    same=ref
  elif cmp -s "$out" "$T/$(printf '%s' "$prog.plain" | tr -c 'A-Za-z0-9.' '_').ref"; then
    same=yes
  else
    same=DIFFERS
    FAILED=1
  fi
  note=
  if [ $status -ne 0 ]; then
    note="exit $status"
    FAILED=1
  fi
  [ "$label" = plain ] && report=-
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$prog" "$label" "$wall" "$status" \
    "$report" "$same" "$note" >>"$ROWS"
}

# ---- 1. dd: many small writes, then page-size writes ------------------------
echo "iowq demo: $RUN"
echo "running in $T ..."
for bs in 64 4k; do
  prog="dd bs=$bs"
  run_one "$prog" plain out -- -- dd if=/dev/zero of=out bs=$bs count=20000 status=none
  run_one "$prog" auto out -- -- dd if=/dev/zero of=out bs=$bs count=20000 status=none
  run_one "$prog" pool out -- --mode=pool -- dd if=/dev/zero of=out bs=$bs count=20000 status=none
  run_one "$prog" write-behind out -- --write-behind -- dd if=/dev/zero of=out bs=$bs count=20000 status=none
done

# ---- 2. python3 line writer: os.write of 20k short lines ---------------------
cat >"$T/lines.py" <<'EOF'
import os
fd = os.open("lines.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for i in range(20000):
    os.write(fd, b"line %d of the python line writer\n" % i)
os.close(fd)
EOF
for mode in plain auto pool write-behind; do
  case $mode in
    plain|auto) f= ;; pool) f=--mode=pool ;; write-behind) f=--write-behind ;;
  esac
  # shellcheck disable=SC2086
  run_one "python3 lines" $mode lines.txt -- $f -- "$PY" "$T/lines.py"
done

# ---- 3. blocking recv against a silent local server -------------------------
cat >"$T/server.py" <<'EOF'
# Accepts connections on 127.0.0.1 and never answers; bounded by `timeout`.
import socket, sys
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(8)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
held = []
while True:
    c, _ = srv.accept()
    held.append(c)
EOF
cat >"$T/client.py" <<'EOF'
# A plain blocking client: connect, then wait for 10 bytes that never come.
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t0 = time.monotonic()
try:
    data = s.recv(10)
    print("received %r" % data)
except OSError as e:
    print("recv failed after %.3f s: %s: errno %d (%s)"
          % (time.monotonic() - t0, type(e).__name__, e.errno, e.strerror))
    sys.exit(3)
EOF
timeout 40 "$PY" "$T/server.py" "$T/port" >/dev/null 2>&1 &
SERVER_PID=$!
tries=0
while [ ! -s "$T/port" ] && [ $tries -lt 100 ]; do sleep 0.05; tries=$((tries + 1)); done
if [ ! -s "$T/port" ]; then
  echo "demo: local server did not start" >&2
  exit 1
fi
PORT=$(cat "$T/port")

t0=$(now_ns)
timeout 2 "$PY" "$T/client.py" "$PORT" >"$T/stall.plain.out" 2>&1
st_plain=$?
wall_plain=$(( ($(now_ns) - t0) / 1000000 ))
t0=$(now_ns)
timeout 10 "$RUN" --stats="$T/stall.iowq.json" --json --stall=200ms -- \
  "$PY" "$T/client.py" "$PORT" >"$T/stall.iowq.out" 2>&1
st_iowq=$?
wall_iowq=$(( ($(now_ns) - t0) / 1000000 ))
note_plain="hung; killed by timeout 2"
[ $st_plain -ne 124 ] && note_plain="exit $st_plain (expected to hang)"
if grep -q 'errno 110' "$T/stall.iowq.out"; then
  note_iowq="TimeoutError errno 110 (ETIMEDOUT)"
else
  note_iowq="expected ETIMEDOUT, got: $(head -c 120 "$T/stall.iowq.out" | tr '\n\t' '  ')"
  FAILED=1
fi
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "python3 recv" plain "$wall_plain" "$st_plain" - - \
  "$note_plain" >>"$ROWS"
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "python3 recv" "stall=200ms" "$wall_iowq" "$st_iowq" \
  "$T/stall.iowq.json" - "$note_iowq" >>"$ROWS"
kill "$SERVER_PID" 2>/dev/null
wait "$SERVER_PID" 2>/dev/null
SERVER_PID=

# ---- The table ----------------------------------------------------------------
timeout 20 "$PY" - "$ROWS" "$REPS" <<'EOF'
import json, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
def report(path):
    if path == "-":
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}
head = ("program", "run", "wall ms", "routed", "inline", "passthru", "cancelled", "same output", "note")
out = [head]
for prog, run, wall, status, rep, same, note in rows:
    r = report(rep)
    if r is None:
        nums = ["-"] * 4
    elif not r:
        nums = ["?"] * 4
        note = (note + "; " if note else "") + "no report"
    else:
        t = r.get("totals", {})
        nums = [str(t.get("routed", "?")), str(t.get("inline", "?")),
                str(t.get("passthrough", "?")),
                str(r.get("cancel", {}).get("stall_timeouts", "?"))]
    out.append((prog, run, wall) + tuple(nums) + (same, note))
w = [max(len(r[i]) for r in out) for i in range(len(head))]
right = {2, 3, 4, 5, 6}
def fmt(r):
    return "  ".join(c.rjust(w[i]) if i in right else c.ljust(w[i])
                     for i, c in enumerate(r)).rstrip()
print()
print(fmt(out[0]))
print("  ".join("-" * x for x in w))
prev = None
for r in out[1:]:
    if prev is not None and r[0] != prev:
        print()
    prev = r[0]
    print(fmt(r))
print()
print("routed = ran on an iowq worker, inline = the auto mode kept it in the caller,")
print("passthru = not routed (fd kind not in IOWQ_ROUTE, O_NONBLOCK, ...),")
print("cancelled = stalled socket/pipe calls cancelled by the stall timeout;")
print("wall ms = best of %s runs (the recv rows: one run)." % sys.argv[2])
EOF

# ---- One text report, as a person sees it ------------------------------------
# Written to a file and shown from there: dd (like every coreutils program)
# closes its stderr at exit, before the shim writes an exit report to it.
echo
echo "\$ iowq-run --stats=report.txt -- dd if=/dev/zero of=out bs=4k count=20000; cat report.txt"
timeout $STEP_TIMEOUT "$RUN" --stats="$T/report.txt" -- \
  dd if=/dev/zero of=out bs=4k count=20000 status=none
st=$?
cat "$T/report.txt" 2>/dev/null || echo "(no report written)"
if [ $st -ne 0 ]; then
  echo "demo: dd under iowq-run exited $st" >&2
  FAILED=1
fi

echo
if [ $FAILED -ne 0 ]; then
  echo "demo: FAILED (an output differed, a run failed, or the stall was not cancelled)"
  exit 1
fi
echo "demo: all outputs identical to the plain runs."
