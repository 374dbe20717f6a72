#!/bin/sh
# cat_enospc.sh DIR — `... | cat > DIR/f` on a full filesystem (DIR from
# with_small_fs.sh) fails the same way with and without the shim: exit 1
# and "No space left on device" on stderr, and the file holds the same
# bytes: under write-behind the write that meets the full disk is short and
# the next fails at the call, as plain (docs/design.md §5 "A full disk").
# The reference run removes LD_PRELOAD; under run_contract.py's .iowq runs
# the second one has it.
set -u
dir=$1
tmp=${CONTRACT_TMPDIR:?}
env -u LD_PRELOAD head -c 300000 /dev/urandom >"$tmp/big" || exit 1

run() { # run LABEL [env -u LD_PRELOAD]: cat, record status and stderr
    label=$1
    shift
    rm -f "$dir/f"
    # input from a pipe: cat copies a regular file with copy_file_range,
    # which write-behind never takes; from a pipe it read()s and write()s
    env -u LD_PRELOAD cat "$tmp/big" | "$@" cat >"$dir/f" 2>"$tmp/$label.err"
    echo $? >"$tmp/$label.rc"
    env -u LD_PRELOAD cp "$dir/f" "$tmp/$label.f" || exit 1
}
run ref env -u LD_PRELOAD
run out env
for l in ref out; do
    rc=$(cat "$tmp/$l.rc")
    if [ "$rc" != 1 ] || ! grep -q "No space left on device" "$tmp/$l.err"; then
        echo "cat_enospc: FAIL: $l run: exit $rc, stderr: $(cat "$tmp/$l.err")" >&2
        exit 1
    fi
done
if ! env -u LD_PRELOAD cmp "$tmp/ref.f" "$tmp/out.f" >&2; then
    echo "cat_enospc: FAIL: the file differs from the plain run's ($(wc -c <"$tmp/ref.f") bytes plain," \
        "$(wc -c <"$tmp/out.f") under test)" >&2
    exit 1
fi
# cat reports its error from close_stdout and leaves by _exit, which writes
# no shim report: one more cat with room to spare shows from its report that
# write-behind takes cat's writes on this filesystem.
rm -f "$dir/f"
env -u LD_PRELOAD head -c 100000 "$tmp/big" | cat >"$dir/g" || exit 1
echo "cat_enospc: ok" >&2
exec /bin/true  # a report under this pid (dash leaves by _exit)
