#!/bin/sh
# longjmp_main.sh RUNNER LIB WORKDIR — conformance class
# wb-exit-sigsegv-after-sandboxed-longjmp: longjmp_recv's handler must run on
# main (the thread whose recv it leaves by siglongjmp) even when main blocks
# the signal at the moment the helper thread sends it to the process. Before
# the fix the helper took the signal itself, jumped onto main's stack and
# went on as main beside it (a SIGSEGV when main ran again). Plain and under
# write-behind; CONF_LONGJMP_LATE_UNBLOCK makes main hold the signal blocked
# past the sender's delay (a preemption inside pthread_create, widened).
set -u
runner=$1 lib=$2 work=$3
rm -rf "$work" && mkdir -p "$work" || exit 1
printf 'longjmp_recv\nlongjmp_recv\n' >"$work/s.conf"
fail=0
for mode in plain wb; do
  d="$work/$mode"
  mkdir -p "$d"
  if [ "$mode" = wb ]; then pre="LD_PRELOAD=$lib IOWQ_WRITE_BEHIND=1"; else pre=""; fi
  (cd "$d" && env $pre CONF_LONGJMP_LATE_UNBLOCK=1 timeout 20 "$runner" "$work/s.conf" 3>log >out 2>err)
  st=$?
  n=$(grep -c 'longjmp_recv 4 7777 .*NEXT jumped=1 main=1$' "$d/log")
  if [ "$st" -ne 0 ] || [ "$n" -ne 2 ]; then
    echo "longjmp_main: FAIL ($mode): status $st, log:" >&2
    cat "$d/log" >&2
    fail=1
  fi
done
[ "$fail" -eq 0 ] && echo "longjmp_main: ok (plain, wb)"
exit "$fail"
