#!/bin/sh
# Repository hygiene: what is committed stays source. A session's work was
# once lost because generated data had been committed; this fails first.
# Limits: no tracked file over 256 KiB, nothing under build*/ or
# bench-results/, no archives or filesystem images.
set -u
top=$1
if ! git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
  echo "check_tracked: $top is not a git checkout; nothing to check" >&2
  exit 77
fi
bad=0
out=$(git -C "$top" ls-tree -r -l HEAD | awk '$4 > 262144 {print $4, $5}')
if [ -n "$out" ]; then
  echo "check_tracked: files over 256 KiB are committed:" >&2
  echo "$out" >&2
  bad=1
fi
out=$(git -C "$top" ls-files | grep -E '^(build[^/]*|bench-results)/|\.(tar|tgz|gz|xz|zst|img|iso|qcow2|o|so|a)$' || true)
if [ -n "$out" ]; then
  echo "check_tracked: generated or binary files are committed:" >&2
  echo "$out" >&2
  bad=1
fi
exit $bad
