#!/bin/sh
# tools_meta.sh CASE — real tools whose result includes metadata, compared
# with the same tools run without the shim (docs/design.md §5: a deferred write
# landing after futimens/fchmod would change the mtime or the mode).
#
# Run by run_contract.py: under .iowq LD_PRELOAD holds the shim and this
# script's tools run under it; the reference run removes LD_PRELOAD. Under
# .plain both runs are plain (the script itself is checked). Data is made
# at run time in $CONTRACT_TMPDIR.
#   tar   GNU tar xf of 200 files with old mtimes and assorted modes:
#         `stat` of every file (size, mode, mtime) and the bytes must match;
#   gzip  gzip -d / xz -d restore the archived mtime: the same check.
set -eu
case=$1
base=${CONTRACT_TMPDIR:?}/meta.$$
rm -rf "$base"
mkdir -p "$base/src"

plain() { env -u LD_PRELOAD "$@"; }

# 200 files, 1..40 KiB, mtimes spread over 2001..2011, modes 600/640/644/755.
make_tree() {
    plain python3 - "$1" <<'PY'
import os, sys
d = sys.argv[1]
modes = [0o600, 0o640, 0o644, 0o755]
for i in range(200):
    p = os.path.join(d, "sub%d" % (i % 7), "f%03d.dat" % i)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    n = 1 + (i * 7919) % 40960
    with open(p, "wb") as f:
        f.write(bytes((i * 131 + k * 17) % 251 for k in range(n)))
    os.chmod(p, modes[i % 4])
    t = 978307200 + i * 1577000
    os.utime(p, (t, t))
PY
}

# stat lines of every file under $1, relative names, sorted.
stats() {
    (cd "$1" && plain find . -type f -exec stat -c '%n %s %a %Y' {} + | plain sort)
}

compare() { # compare REF OUT
    stats "$1" >"$base/ref.stat"
    stats "$2" >"$base/out.stat"
    if ! plain cmp -s "$base/ref.stat" "$base/out.stat"; then
        echo "tools_meta: FAIL [$case]: stat differs (ref < > shim):" >&2
        plain diff "$base/ref.stat" "$base/out.stat" | head -8 >&2
        exit 1
    fi
    if ! plain diff -r "$1" "$2" >/dev/null; then
        echo "tools_meta: FAIL [$case]: contents differ" >&2
        exit 1
    fi
}

case $case in
tar)
    make_tree "$base/src"
    (cd "$base/src" && plain tar cf "$base/a.tar" .)
    mkdir "$base/ref" "$base/out"
    (cd "$base/ref" && plain tar xf "$base/a.tar")
    (cd "$base/out" && tar xf "$base/a.tar")
    compare "$base/ref" "$base/out"
    ;;
gzip)
    make_tree "$base/src"
    mkdir "$base/ref" "$base/out"
    for tool in gzip xz; do
        ext=gz
        [ $tool = xz ] && ext=xz
        for d in ref out; do
            for f in sub0/f000.dat sub1/f001.dat sub2/f009.dat sub3/f031.dat; do
                mkdir -p "$base/$d/$tool/$(dirname $f)"
                plain $tool -c "$base/src/$f" >"$base/$d/$tool/$f.$ext"
                # the compressed copy carries the original's mtime (gzip's
                # header; xz keeps the compressed file's, so set it)
                plain touch -r "$base/src/$f" "$base/$d/$tool/$f.$ext"
            done
        done
        (cd "$base/ref/$tool" && plain find . -name "*.$ext" -exec $tool -d {} +)
        (cd "$base/out/$tool" && find . -name "*.$ext" -exec $tool -d {} +)
    done
    compare "$base/ref" "$base/out"
    ;;
*)
    echo "usage: tools_meta.sh tar|gzip" >&2
    exit 2
    ;;
esac
rm -rf "$base"
echo "tools_meta: $case ok" >&2
# end as a program that writes its report at exit (dash leaves by _exit)
exec /bin/true
