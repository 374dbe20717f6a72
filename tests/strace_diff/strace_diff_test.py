#!/usr/bin/env python3
# Tests of iowq-strace-diff (docs/design.md §8), run by CTest, one case per test:
#   strace_diff_test.py --tool build/bin/iowq-strace-diff CASE
# CASE: equivalent_dd, equivalent_cp, equivalent_lines (same bytes -> exit 0,
# the output file listed, and with --mode=pool the shim's workers did syscalls),
# different_content, different_status (exit 1, first difference reported),
# usage (exit 2 with an `iowq-strace-diff:` message), help.
# Each case runs in its own mktemp directory, removed afterwards.
# Exit 0 pass, 1 fail, 77 skip (only when ptrace/strace cannot run here).
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

TIMEOUT = 100  # seconds per tool invocation; CTest's TIMEOUT is 120


class Fail(Exception):
    pass


def check(cond, what, detail=""):
    if not cond:
        raise Fail("%s%s" % (what, ("\n" + detail) if detail else ""))


def run_tool(tool, args, cwd):
    p = subprocess.run([tool] + args, cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def run_json(tool, args, cwd):
    rc, out, err = run_tool(tool, ["--json"] + args, cwd)
    detail = "rc=%d\nstdout:\n%s\nstderr:\n%s" % (rc, out[-4000:], err[-2000:])
    check(rc in (0, 1), "tool did not produce a verdict", detail)
    try:
        rep = json.loads(out)
    except ValueError:
        raise Fail("stdout is not one JSON object\n" + detail)
    for key in ("equivalent", "files", "syscalls", "worker_syscalls", "wall_s", "exit_status"):
        check(key in rep, "JSON lacks key %r" % key, detail)
    return rc, rep, detail


def file_entry(rep, path, detail):
    for f in rep["files"]:
        if f["path"] == path:
            return f
    raise Fail("output %s not listed in files\n%s" % (path, detail))


def make_input(d, size=20000):
    # Deterministic, non-repeating-at-64 content so misplaced blocks show.
    data = bytes((i * 7 + i // 251) & 0xFF for i in range(size))
    with open(os.path.join(d, "in"), "wb") as f:
        f.write(data)
    return data


def expect_equivalent(tool, d, args, out_name, size, pool):
    extra = ["--mode=pool"] if pool else []
    rc, rep, detail = run_json(tool, extra + ["--setup=rm -f " + out_name, "--"] + args, d)
    check(rc == 0 and rep["equivalent"] is True, "expected equivalent, exit 0", detail)
    f = file_entry(rep, os.path.join(d, out_name), detail)
    check(f["equal"] and f["plain_bytes"] == size and f["iowq_bytes"] == size,
          "output not equal or wrong size (want %d)" % size, detail)
    check(rep["exit_status"]["plain"] == 0 and rep["exit_status"]["iowq"] == 0,
          "both runs should exit 0", detail)
    check(rep["syscalls"].get("execve", {}).get("plain", 0) >= 1, "syscall counts missing", detail)
    if pool:
        check(rep["worker_syscalls"] > 0,
              "--mode=pool: no syscall ran on an iowq worker thread", detail)
    with open(os.path.join(d, out_name), "rb") as fh:
        check(len(fh.read()) == size, "output file on disk has the wrong size")


def case_equivalent_dd(tool, d):
    data = make_input(d)
    expect_equivalent(tool, d, ["dd", "if=in", "of=out", "bs=64"], "out", len(data), True)


def case_equivalent_cp(tool, d):
    data = make_input(d)
    expect_equivalent(tool, d, ["cp", "in", "out"], "out", len(data), False)


def case_equivalent_lines(tool, d):
    code = ("import os\n"
            "fd = os.open('lines', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)\n"
            "for i in range(2000):\n"
            "    os.write(fd, b'line %06d of the line writer\\n' % i)\n"
            "os.close(fd)\n")
    size = 2000 * len(b"line 000000 of the line writer\n")
    expect_equivalent(tool, d, [sys.executable, "-c", code], "lines", size, True)


def case_different_content(tool, d):
    code = 'import os; open("out", "w").write(os.environ.get("LD_PRELOAD", ""))'
    rc, rep, detail = run_json(tool, ["--setup=rm -f out", "--", sys.executable, "-c", code], d)
    check(rc == 1 and rep["equivalent"] is False, "expected not equivalent, exit 1", detail)
    f = file_entry(rep, os.path.join(d, "out"), detail)
    check(not f["equal"], "output should differ", detail)
    check(f["first_difference"] is not None and f["first_difference"]["offset"] == 0,
          "first difference should be at offset 0", detail)
    check(f["plain_bytes"] == 0 and f["iowq_bytes"] > 0, "byte counts wrong", detail)
    # The text report says the same, for people.
    rc, out, err = run_tool(tool, ["--setup=rm -f out", "--", sys.executable, "-c", code], d)
    check(rc == 1 and "DIFFERENT at offset 0" in out, "text report lacks the difference",
          out + err)


def case_different_status(tool, d):
    code = 'import os, sys; sys.exit(3 if os.environ.get("LD_PRELOAD") else 0)'
    rc, rep, detail = run_json(tool, ["--", sys.executable, "-c", code], d)
    check(rc == 1 and rep["equivalent"] is False, "exit statuses differ: expected exit 1", detail)
    check(rep["exit_status"]["plain"] == 0 and rep["exit_status"]["iowq"] == 3,
          "exit statuses not reported", detail)


def case_usage(tool, d):
    cases = [
        ([], "no command"),
        (["--json"], "no command"),
        (["--json=yes", "true"], "takes no value"),
        (["--setup"], "needs a value"),
        (["--strace=/nonexistent/strace", "true"], "strace not found"),
        (["--", "iowq-no-such-command-xyz"], "command not found"),
        (["--cwd=/nonexistent/dir", "true"], "not a directory"),
        (["--stats=/tmp/x", "true"], "report is set by this tool"),
        (["--iowq-no-such-option", "true"], "iowq-run rejected"),
        (["--mode=bogus", "true"], "iowq-run rejected"),
    ]
    for args, msg in cases:
        rc, out, err = run_tool(tool, args, d)
        check(rc == 2, "%r: want exit 2, got %d" % (args, rc), err)
        check(err.startswith("iowq-strace-diff: ") and msg in err,
              "%r: want message containing %r" % (args, msg), err)
    env_path = dict(os.environ, PATH="/nonexistent")  # strace missing from PATH
    p = subprocess.run([sys.executable, tool, "/bin/true"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env_path, timeout=TIMEOUT)
    check(p.returncode == 2 and b"strace not found" in p.stderr,
          "strace missing from PATH: want exit 2", p.stderr.decode(errors="replace"))


def case_help(tool, d):
    rc, out, err = run_tool(tool, ["--help"], d)
    check(rc == 0, "--help should exit 0", err)
    for word in ("--json", "--keep", "--setup=", "--cwd=", "--strace=", "--version",
                 "iowq-run", "worker", "Exit status"):
        check(word in out, "--help does not mention %s" % word, out)
    rc, out, err = run_tool(tool, ["--version"], d)
    check(rc == 0 and out.startswith("iowq-strace-diff ") and "@" not in out,
          "--version output", out + err)


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def strace_works():
    strace = shutil.which("strace")
    if not strace:
        return False
    p = subprocess.run([strace, "-f", "-o", os.devnull, "true"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
    return p.returncode == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("case", choices=sorted(CASES))
    a = ap.parse_args()
    tool = os.path.abspath(a.tool)
    if not os.access(tool, os.X_OK):
        print("FAIL: tool not found: %s" % tool)
        return 1
    if a.case not in ("usage", "help") and not strace_works():
        print("SKIP: strace cannot trace here (no strace or ptrace not permitted)")
        return 77
    d = os.path.realpath(tempfile.mkdtemp(prefix="iowq-sdtest."))
    try:
        CASES[a.case](tool, d)
    except Fail as e:
        print("FAIL %s: %s" % (a.case, e))
        return 1
    except subprocess.TimeoutExpired as e:
        print("FAIL %s: timed out: %s" % (a.case, e))
        return 1
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print("PASS %s" % a.case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
