#!/usr/bin/env python3
"""python_suite.py — CPython's own test modules for files, I/O, signals,
sockets and subprocesses, plain and under libiowq.so in every fuzz.py mode
(`make conformance-python`, issue 9). No failure may be added by the shim.

  python_suite.py --lib build/lib/libiowq.so [--python PY] [--modules m,...] [--modes a,b]

Each module runs with regrtest (`PY -m test -v MODULE`), AF_VSOCK tests
excluded by name (they can block in accept on a VM without the shim too).
A test that fails under the shim but not plain is re-run alone, plain and
under the shim, to tell a flaky test from a difference. Exit 1 when the
shim adds a failure.
"""
import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fuzz  # noqa: E402

MODULES = ["test_fileio", "test_os", "test_io", "test_signal", "test_socket", "test_subprocess",
           "test_fcntl", "test_mmap", "test_posix", "test_select", "test_pty"]
IGNORE = ["*VSOCK*", "*Vsock*", "*vsock*"]
# The stall timeout declares a peer silent that long stalled (docs/design.md §6): the
# suite's own tests keep sockets silent for seconds on purpose
# (test_socket's testInsideTimeout sleeps 3 s), so the stall mode runs here
# with a timeout above any such pause.
MODE_ENV = dict(fuzz.MODES, stall={"IOWQ_STALL_MS": "10000"})
# unittest's failure summary ("FAIL: test_x (module.Class.test_x)") is one
# line per failure whatever the test printed; "Ran N tests" counts them.
FAILED = re.compile(r"^(FAIL|ERROR): (\w+) \(([\w.]+)\)")
RAN = re.compile(r"^Ran (\d+) tests?")
MODULE_TIMEOUT = 1800


def find_python(explicit):
    cands = [explicit] if explicit else ["/usr/bin/python3.11", "/usr/bin/python3", sys.executable]
    for py in cands:
        if py and subprocess.run([py, "-c", "import test.test_fileio"],
                                 capture_output=True).returncode == 0:
            return py
    return None


def run_module(py, module, env_extra, lib, only=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOWQ_") and k != "LD_PRELOAD"}
    if lib:
        env["LD_PRELOAD"] = lib
        env.update(env_extra)
    cmd = [py, "-m", "test", "-v", "--timeout", "300"]
    for pat in IGNORE:
        cmd += ["-i", pat]
    if only:
        cmd += ["-m", only]
    cmd.append(module)
    t0 = time.time()
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, errors="replace",
                             timeout=MODULE_TIMEOUT, stdin=subprocess.DEVNULL).stdout
        hung = False
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode("utf-8", "replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        hung = True
    failed = set()
    ran = 0
    for line in out.splitlines():
        m = FAILED.match(line)
        if m:
            name = m.group(3)  # "module.Class.method" (3.11) or "module.Class"
            failed.add(name if name.endswith("." + m.group(2)) else f"{name}.{m.group(2)}")
        r = RAN.match(line)
        if r:
            ran += int(r.group(1))
    return failed, hung, time.time() - t0, ran


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--python")
    ap.add_argument("--modules", default=",".join(MODULES))
    ap.add_argument("--modes", default=",".join(fuzz.MODES))
    args = ap.parse_args()
    py = find_python(args.python)
    if not py:
        print("python_suite: no python3 with CPython's test package (Debian: "
              "apt-get install libpython3.11-testsuite): NOT RUN", file=sys.stderr)
        return 2
    lib = os.path.abspath(args.lib)
    print(f"python_suite: {py}, modules {args.modules}, modes {args.modes}")
    added = []
    for module in args.modules.split(","):
        base, hung, dt, ran = run_module(py, module, {}, None)
        print(f"{module} plain: {ran} tests, {len(base)} failing{' (TIMEOUT)' if hung else ''}, {dt:.0f}s")
        for mode in args.modes.split(","):
            got, mhung, mdt, mran = run_module(py, module, MODE_ENV[mode], lib)
            # fewer tests ran than plain: regrtest's own --timeout killed a
            # hung test, or the interpreter died; that is a difference too
            mhung = mhung or mran < ran
            new = sorted(got - base)
            confirmed = []
            for t in new:  # flaky or the shim? re-run alone
                pat = t.rsplit(".", 1)[-1]
                p_fail, _, _, _ = run_module(py, module, {}, None, pat)
                s_fail, _, _, _ = run_module(py, module, MODE_ENV[mode], lib, pat)
                if s_fail and not p_fail:
                    confirmed.append(t)
            status = "TIMEOUT" if mhung and not hung else ("ok" if not confirmed else "ADDED FAILURES")
            print(f"{module} {mode}: {mran} tests, {len(got)} failing, {mdt:.0f}s: {status}"
                  + "".join(f"\n    {t}" for t in confirmed))
            if mhung and not hung:
                confirmed.append(f"(module timed out or died: {mran} of {ran} tests ran)")
            added += [(module, mode, t) for t in confirmed]
    print(f"python_suite: {len(added)} failures added by the shim")
    return 1 if added else 0


if __name__ == "__main__":
    sys.exit(main())
