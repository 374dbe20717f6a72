#!/usr/bin/env python3
"""One door to the kernel and to libc (issue 14, item 2).

Raw syscalls and symbol look-ups live in one file per layer: shim/sys/libc.cpp
(the shim's sys:: and real::) and core/src/sys.cpp (the core's sys::). This
fails if syscall(), dlsym() or dlvsym() is called anywhere else under shim/ or
core/. Comments and string literals are ignored, so a comment may still
name them.

Also one error convention (item 3): inside the shim a call's result is a count
or -errno; "the pool could not take it" is route.hpp's kNotTaken, so the raw
INT64_MIN sentinel appears nowhere else under shim/. A result is returned,
never stored through an out-parameter (no ssize_t*/int64_t* parameters), and
turned into -1/errno with to_libc() only in the files that define exported
functions (IOWQ_EXPORT).

usage: check_one_place.py <source root>
"""
import os
import re
import sys

ALLOWED = {"shim/sys/libc.cpp", "core/src/sys.cpp"}
DIRS = ("shim", "core")
EXTS = (".c", ".cc", ".cpp", ".h", ".hpp", ".inc")
SENTINEL = re.compile(r"\bINT64_MIN\b")
SENTINEL_HOME = "shim/route/route.hpp"
OUT_PARAM = re.compile(r"\b(?:ssize_t|int64_t)\s*\*\s*\w+\s*[,)]")
TO_LIBC = re.compile(r"\bto_libc\s*\(")
EXPORT = re.compile(r"\bIOWQ_EXPORT\b")
CALL = re.compile(r"(?<![\w.>:])(?:::\s*)?(syscall|dlsym|dlvsym)\s*\(")
# The interposer of libc's syscall() itself (shim/process/seccomp.cpp) is
# declared and defined there, not called.
DEFINITION = re.compile(r"^\s*IOWQ_EXPORT\s+(?:\w+\s+)+syscall\s*\([^)]*\.\.\.\)\s*[{;]?\s*$")
# One token at a time: comments and literals become blanks (newlines kept, so
# line numbers stay right), everything else is kept.
TOKEN = re.compile(
    r"//[^\n]*"                      # line comment
    r"|/\*.*?\*/"                    # block comment
    r"|\"(?:\\.|[^\"\\\n])*\""       # string literal
    r"|'(?:\\.|[^'\\\n])*'",         # character literal
    re.S)


def blank(m):
    return re.sub(r"[^\n]", " ", m.group(0))


def strip(text):
    return TOKEN.sub(blank, text)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = sys.argv[1]
    bad, scanned = [], 0
    for d in DIRS:
        for dirpath, _, files in os.walk(os.path.join(root, d)):
            for f in sorted(files):
                if not f.endswith(EXTS):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                scanned += 1
                if rel in ALLOWED:
                    continue
                with open(path, encoding="utf-8", errors="replace") as fh:
                    code = strip(fh.read())
                exports = bool(EXPORT.search(code))
                for no, line in enumerate(code.split("\n"), 1):
                    for m in ([] if DEFINITION.search(line) else CALL.finditer(line)):
                        bad.append(f"{rel}:{no}: {m.group(1)}() outside {' / '.join(sorted(ALLOWED))}")
                    if rel.startswith("shim/") and rel != SENTINEL_HOME and SENTINEL.search(line):
                        bad.append(f"{rel}:{no}: INT64_MIN sentinel; use kNotTaken ({SENTINEL_HOME})")
                    if rel.startswith("shim/") and OUT_PARAM.search(line):
                        bad.append(f"{rel}:{no}: result through an out-parameter; return a count or -errno")
                    if (rel.startswith("shim/") and rel != SENTINEL_HOME and not exports
                            and TO_LIBC.search(line)):
                        bad.append(f"{rel}:{no}: to_libc() outside the exported functions; return -errno")
    # The scan must have seen the sources it guards (a wrong root passes nothing).
    if scanned < 10 or not all(os.path.exists(os.path.join(root, a)) for a in ALLOWED):
        print(f"check_one_place: only {scanned} files under {root}: wrong source root?", file=sys.stderr)
        return 1
    for b in bad:
        print(b)
    if bad:
        print(f"FAIL: {len(bad)} finding(s); use sys:: / real:: (shim/sys/libc.hpp, core/sys/iowq/sys.hpp), kNotTaken, count or -errno (shim/route/route.hpp)")
        return 1
    print(f"OK: {scanned} files, syscall()/dlsym() only in {', '.join(sorted(ALLOWED))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
