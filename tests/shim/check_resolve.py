#!/usr/bin/env python3
"""tests/shim/check_resolve.py CHECK_LIB NEXT_LIB — the shim's one-walk lookup of
the real libc functions (real::resolve, shim/sys/libc.cpp) agrees with
dlsym(RTLD_NEXT) name for name: in a C program, in Python (more libraries
loaded), and with a second preload after it that defines some of the names
(plainly and as an ifunc), where the next definition is not libc's."""
import os
import subprocess
import sys


def run(preload, argv):
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("IOWQ_")}
    env["LD_PRELOAD"] = preload
    r = subprocess.run(argv, env=env, stderr=subprocess.PIPE, text=True, timeout=60)
    line = [l for l in r.stderr.splitlines() if l.startswith("resolve_check:")]
    print("%s %s: %s" % (preload, argv[0], " / ".join(line) or r.stderr.strip()))
    if r.returncode != 0 or not line or " 0 differ" not in line[-1]:
        return None
    return int(line[-1].split(",")[-1].split()[0])  # names found outside libc


def main():
    check, nxt = sys.argv[1], sys.argv[2]
    fail = False
    for argv in (["/bin/true"], [sys.executable, "-c", "import json, ssl"]):
        if run(check, argv) is None:
            fail = True
    elsewhere = run(check + " " + nxt, ["/bin/true"])
    if elsewhere is None:
        fail = True
    elif elsewhere < 2:
        print("FAIL: the second preload's sendmmsg/recvmmsg were not the next definitions")
        fail = True
    print("FAIL" if fail else "ok")
    return 1 if fail else 0


if __name__ == "__main__":
    sys.exit(main())
