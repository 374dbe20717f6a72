#!/bin/sh
# py_enospc.sh DIR — a Python program that fills DIR (a tiny filesystem from
# with_small_fs.sh) through os.open/os.write and never closes its fd. Plain:
# a write raises OSError ENOSPC (traceback, exit 1). Under write-behind the
# error of a deferred write must show too (docs/design.md §5 "Errors"): at a
# later os.write (the same traceback), or — when the program exits before
# asking — as an "iowq: error" line. It must never vanish (exit 0, nothing
# said, file truncated). The reference run removes LD_PRELOAD.
set -u
dir=$1
tmp=${CONTRACT_TMPDIR:?}
command -v python3 >/dev/null 2>&1 || { echo "py_enospc: SKIP: no python3" >&2; exit 77; }
prog='
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
block = b"x" * 65536
for i in range(16):  # 1 MiB: four times the filesystem
    os.write(fd, block)
'
run() { # run LABEL [env -u LD_PRELOAD]
    label=$1
    shift
    rm -f "$dir/f"
    "$@" python3 -c "$prog" "$dir/f" 2>"$tmp/$label.err"
    echo $? >"$tmp/$label.rc"
}
run ref env -u LD_PRELOAD
run out env
rc=$(cat "$tmp/ref.rc")
if [ "$rc" != 1 ] || ! grep -q "No space left on device" "$tmp/ref.err"; then
    echo "py_enospc: FAIL: reference run: exit $rc, stderr: $(cat "$tmp/ref.err")" >&2
    exit 1
fi
rc=$(cat "$tmp/out.rc")
if [ "$rc" = 1 ] && grep -q "OSError: .*No space left on device" "$tmp/out.err"; then
    echo "py_enospc: ok (the error came at a later write)" >&2
elif grep -q "^iowq: error: .*No space left on device" "$tmp/out.err"; then
    echo "py_enospc: ok (the error came as an iowq: line at exit, exit $rc)" >&2
else
    echo "py_enospc: FAIL: exit $rc and no ENOSPC shown; stderr: $(cat "$tmp/out.err")" >&2
    exit 1
fi
exec /bin/true  # a report under this pid
