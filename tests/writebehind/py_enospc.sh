#!/bin/sh
# py_enospc.sh DIR — a Python program that fills DIR (a tiny filesystem from
# with_small_fs.sh) through os.open/os.write and never closes its fd. Plain:
# a write is short, the next raises OSError ENOSPC (traceback, exit 1).
# Under write-behind the same write must raise it, after the same counts
# (docs/design.md §5 "A full disk": the error comes at the call), with no
# "iowq: error" line. The reference run removes LD_PRELOAD.
set -u
dir=$1
tmp=${CONTRACT_TMPDIR:?}
command -v python3 >/dev/null 2>&1 || { echo "py_enospc: SKIP: no python3" >&2; exit 77; }
prog='
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
block = b"x" * 65536
for i in range(16):  # 1 MiB: four times the filesystem
    n = os.write(fd, block)
    print("write", i, n, flush=True)
'
run() { # run LABEL [env -u LD_PRELOAD]
    label=$1
    shift
    rm -f "$dir/f"
    "$@" python3 -c "$prog" "$dir/f" >"$tmp/$label.out" 2>"$tmp/$label.err"
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
if [ "$rc" != 1 ] || ! grep -q "OSError: .*No space left on device" "$tmp/out.err" ||
    grep -q "^iowq: error" "$tmp/out.err" || ! cmp -s "$tmp/ref.out" "$tmp/out.out"; then
    echo "py_enospc: FAIL: exit $rc; counts plain: $(tr '\n' ' ' <"$tmp/ref.out"), under test:" \
        "$(tr '\n' ' ' <"$tmp/out.out"); stderr: $(cat "$tmp/out.err")" >&2
    exit 1
fi
echo "py_enospc: ok (ENOSPC at the same write, after the same counts)" >&2
exec /bin/true  # a report under this pid
