#!/bin/sh
# with_small_fs.sh PROG ARGS... — runs `PROG DIR ARGS...` where DIR is the
# mount point of a tiny (256 KiB) filesystem in a private mount namespace, so
# that PROG can fill it and meet ENOSPC (enospc.c). /dev/full is no regular
# file, so a small filesystem is the only honest way to get ENOSPC.
#
# Ways tried, first that works: tmpfs in a mount namespace (root), tmpfs in a
# user+mount namespace (unprivileged user namespaces), a loop-mounted ext4
# image in a mount namespace. None -> exit 77 with the reasons.
#
# The last step execs, so PROG keeps this script's pid (run_contract.py finds
# the shim's report by that pid). DIR is under $CONTRACT_TMPDIR.
set -u
if [ "${1:-}" = --inside ]; then
    # In the new namespace: mount, then become PROG.
    way=$2 dir=$3
    shift 3
    prog=$1
    shift
    mount --make-rprivate / || exit 3
    case $way in
        tmpfs*) mount -t tmpfs -o size=256k,mode=0777 wbsmall "$dir" || exit 3 ;;
        ext4)   mount -o loop "$dir.img" "$dir" || exit 3 ;;
    esac
    exec "$prog" "$dir" "$@"
fi

[ $# -ge 1 ] || { echo "usage: with_small_fs.sh PROG ARGS..." >&2; exit 2; }
base=${CONTRACT_TMPDIR:-/tmp}/smallfs.$$
dir=$base/mnt
mkdir -p "$dir" || exit 1
: >"$base/err"
why=""

try() { # try WAY UNSHARE-FLAGS: can this way mount here?
    unshare $2 -- /bin/sh "$0" --inside "$1" "$dir" /bin/true >/dev/null 2>"$base/err"
}
if try tmpfs "-m"; then
    way=tmpfs flags="-m"
else
    why="$why; tmpfs in unshare -m: $(tr '\n' ' ' <"$base/err")"
    if try tmpfs_user "-Urm"; then
        way=tmpfs_user flags="-Urm"
    else
        why="$why; tmpfs in unshare -Urm: $(tr '\n' ' ' <"$base/err")"
        if command -v mkfs.ext4 >/dev/null 2>&1 &&
            truncate -s 1M "$dir.img" &&
            mkfs.ext4 -q -F -m 0 -b 1024 -N 32 -O ^has_journal,^resize_inode "$dir.img" 2>>"$base/err" &&
            try ext4 "-m"; then
            way=ext4 flags="-m"
        else
            why="$why; ext4 loop image: $(tr '\n' ' ' <"$base/err")"
            echo "with_small_fs: SKIP: cannot mount a small filesystem for ENOSPC$why" >&2
            exit 77
        fi
    fi
fi
echo "with_small_fs: small filesystem: $way" >&2
exec unshare $flags -- /bin/sh "$0" --inside "$way" "$dir" "$@"
