#!/usr/bin/env python3
"""tests/options/iowq_run_test.py — checks of the iowq-run launcher and its docs.

Usage: iowq_run_test.py MODE --run BIN/iowq-run --lib LIB/libiowq.so --src SRCDIR [--version V]
MODE is one of:
  cli      options, exit statuses, LD_PRELOAD and IOWQ_* set for the command
  static   the "statically linked" warning (builds a tiny `cc -static` program; 77 if it cannot)
  setuid   the "setuid" warning (needs root and a suid-capable tmp; 77 otherwise)
  readme   README.md's options table equals `iowq-run --options-markdown`
  man      man/iowq-run.1 and man/iowq.7 render cleanly and document every option
  log      IOWQ_LOG=info: the shim prints its version and every effective option once
           at start; every diagnostic (option warnings too) obeys IOWQ_LOG and IOWQ_LOG_FILE
Exit 0 = pass, 1 = fail, 77 = skipped (the environment cannot run the check).

The expected flag of every IOWQ_* variable is written out below on purpose,
independently of the options table, so a renamed flag is caught.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77

# variable -> (flag, a valid value); the contract of docs/design.md §6 and the brief.
FLAGS = {
    "IOWQ_DISABLE": ("disable", "1"),
    "IOWQ_ROUTE": ("route", "file,pipe"),
    "IOWQ_MODE": ("mode", "pool"),
    "IOWQ_BOUND_MAX": ("bound-max", "8"),
    "IOWQ_UNBOUND_MAX": ("unbound-max", "3"),
    "IOWQ_IDLE_MS": ("idle", "250"),
    "IOWQ_NUMA": ("numa", "2"),
    "IOWQ_CPUS": ("cpus", "0-1"),
    "IOWQ_WRITE_BEHIND": ("write-behind", "on"),
    "IOWQ_WB_MAX_BYTES": ("wb-max", "16M"),
    "IOWQ_STALL_MS": ("stall", "2s"),
    "IOWQ_SIGNAL": ("signal", "SIGRTMIN+4"),
    "IOWQ_STATS": ("stats", "stderr"),
    "IOWQ_STATS_FORMAT": ("stats-format", "json"),
    "IOWQ_CALLSITES": ("callsites", "5"),
    "IOWQ_LOG": ("log", "error"),
    "IOWQ_LOG_FILE": ("log-file", "/dev/null"),
    "IOWQ_ONLY_CMDS": ("only", "env,dd"),
    "IOWQ_SKIP_CMDS": ("skip", "sh"),
}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)
    return cond


def run(argv, env=None, cwd=None):
    e = dict(os.environ)
    e.pop("LD_PRELOAD", None)
    for k in list(e):
        if k.startswith("IOWQ_"):
            del e[k]
    if env:
        e.update(env)
    return subprocess.run(argv, env=e, cwd=cwd, capture_output=True, text=True, timeout=30)


def env_of(out):
    d = {}
    for line in out.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            d[k] = v
    return d


def mode_cli(a, tmp):
    if not check(os.path.exists(a.lib), f"library {a.lib} exists (build the iowq target)"):
        return
    lib = os.path.realpath(a.lib)

    r = run([a.run, "--help"])
    check(r.returncode == 0, "--help exits 0")
    for var, (flag, _) in FLAGS.items():
        check(var in r.stdout, f"--help mentions {var}")
        check(re.search(r"--" + re.escape(flag) + r"[=\[ \n]", r.stdout) is not None,
              f"--help lists --{flag}")
    for word in ("Usage:", "--json", "--version", "125", "126", "127"):
        check(word in r.stdout, f"--help mentions {word}")
    check(run([a.run, "-h"]).stdout == r.stdout, "-h equals --help")

    r = run([a.run, "--version"])
    check(r.returncode == 0 and a.version in r.stdout, f"--version prints {a.version}")

    # Strict validation: 125, message, and the command did not run.
    marker = os.path.join(tmp, "ran")
    bad = [["--bogus"], ["--mode=fast"], ["--signal=SIGKILL"], ["--write-behind=maybe"],
           ["--wb-max=12Q"], ["--stall=1h"], ["--json=1"], ["-x"], ["--route", "disk"],
           ["--cpus=1024"], ["--numa=0"], ["--callsites=65"]]
    for opts in bad:
        r = run([a.run] + opts + ["touch", marker])
        check(r.returncode == 125, f"{opts} exits 125 (got {r.returncode})")
        check(r.stderr.startswith("iowq-run: "), f"{opts} explains on stderr: {r.stderr!r}")
        check(not os.path.exists(marker), f"{opts} did not run the command")
    r = run([a.run, "--mode=fast", "true"])
    check("iowq-run: --mode='fast' is not one of auto, pool" in r.stderr,
          f"bad value message names flag, value and reason: {r.stderr!r}")
    r = run([a.run, "--mode"])
    check(r.returncode == 125 and "requires an argument" in r.stderr, "--mode without value: 125")
    r = run([a.run])
    check(r.returncode == 125 and "missing command" in r.stderr, "no command: 125")
    r = run([a.run, "--mode=pool"])
    check(r.returncode == 125, "options but no command: 125")

    # Exit statuses.
    r = run([a.run, "iowq-no-such-command-xyz"])
    check(r.returncode == 127, f"missing command exits 127 (got {r.returncode})")
    check("iowq-run: " in r.stderr, "missing command explained")
    noexec = os.path.join(tmp, "noexec")
    with open(noexec, "w") as f:
        f.write("#!/bin/sh\ntouch " + marker + "\n")
    os.chmod(noexec, 0o644)
    r = run([a.run, noexec])
    check(r.returncode == 126, f"non-executable file exits 126 (got {r.returncode})")
    check(not os.path.exists(marker), "non-executable file did not run")
    r = run([a.run, "sh", "-c", "exit 7"])
    check(r.returncode == 7, f"exit status propagated (got {r.returncode})")
    r = run([a.run, "--", "sh", "-c", "exit 3"])
    check(r.returncode == 3, "-- separates options from the command")

    # Environment given to the command.
    r = run([a.run, "env"], env={"LD_PRELOAD": "/nonexistent/keep-me.so"})
    e = env_of(r.stdout)
    pre = e.get("LD_PRELOAD", "")
    check(r.returncode == 0, "env under iowq-run exits 0")
    check(os.path.isabs(lib) and pre.startswith(lib + ":"),
          f"LD_PRELOAD starts with {lib}: {pre!r}")
    check("/nonexistent/keep-me.so" in pre.split(":"), f"existing LD_PRELOAD entry kept: {pre!r}")
    check(not any(k.startswith("IOWQ_") for k in e), "no option -> no IOWQ_* variable set")

    r = run([a.run, "env"], env={"LD_PRELOAD": "/x/a.so /x/b.so"})
    check(env_of(r.stdout).get("LD_PRELOAD") == lib + ":/x/a.so:/x/b.so",
          "space-separated LD_PRELOAD entries kept in order")
    r = run([a.run, "env"], env={"LD_PRELOAD": lib})
    check(env_of(r.stdout).get("LD_PRELOAD") == lib, "library not added twice")

    argv = [a.run]
    for var, (flag, value) in FLAGS.items():
        argv.append(f"--{flag}={value}")
    r = run(argv + ["env"])
    e = env_of(r.stdout)
    for var, (flag, value) in FLAGS.items():
        check(e.get(var) == value, f"--{flag}={value} sets {var} (got {e.get(var)!r})")
    check(env_of(run([a.run, "env"]).stdout).get("LD_PRELOAD") == lib, "no LD_PRELOAD before")

    r = run([a.run, "--stats", "--write-behind", "--disable", "--json", "--mode", "pool",
             "env"], env={"IOWQ_LOG": "info"})
    e = env_of(r.stdout)
    check(e.get("IOWQ_STATS") == "stderr", "--stats alone means stderr")
    check(e.get("IOWQ_WRITE_BEHIND") == "1", "--write-behind alone means 1")
    check(e.get("IOWQ_DISABLE") == "1", "--disable alone means 1")
    check(e.get("IOWQ_STATS_FORMAT") == "json", "--json sets IOWQ_STATS_FORMAT=json")
    check(e.get("IOWQ_MODE") == "pool", "--mode VALUE (separate argument) works")
    check(e.get("IOWQ_LOG") == "info", "IOWQ_* from the environment kept")
    r = run([a.run, "--mode=pool", "env"], env={"IOWQ_MODE": "auto"})
    check(env_of(r.stdout).get("IOWQ_MODE") == "pool", "a flag overrides the environment")
    r = run([a.run, "--mode=auto", "--mode=pool", "env"])
    check(env_of(r.stdout).get("IOWQ_MODE") == "pool", "the last flag wins")

    r = run([a.run, "echo", "--mode=fast", "--", "x"])
    check(r.returncode == 0 and r.stdout == "--mode=fast -- x\n",
          f"arguments after COMMAND are the command's: {r.stdout!r}")
    r = run([a.run, "true"])
    check("warning" not in r.stderr, f"no warning for a dynamic program: {r.stderr!r}")

    # Without a library next to it, iowq-run refuses to run anything.
    lonely = os.path.join(tmp, "prefix", "bin")
    os.makedirs(lonely)
    shutil.copy2(a.run, lonely)
    r = run([os.path.join(lonely, "iowq-run"), "touch", marker])
    check(r.returncode == 125 and "cannot find" in r.stderr,
          f"missing library: 125 with a message ({r.returncode}, {r.stderr!r})")
    check(not os.path.exists(marker), "missing library: command not run")
    # The same copy works in an installed-prefix layout P/bin + P/lib.
    os.makedirs(os.path.join(tmp, "prefix", "lib"))
    shutil.copy2(a.lib, os.path.join(tmp, "prefix", "lib", "libiowq.so"))
    r = run([os.path.join(lonely, "iowq-run"), "env"])
    want = os.path.realpath(os.path.join(tmp, "prefix", "lib", "libiowq.so"))
    check(env_of(r.stdout).get("LD_PRELOAD") == want, f"prefix layout finds {want}")


def mode_static(a, tmp):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        print("skip: no C compiler", file=sys.stderr)
        return SKIP
    src = os.path.join(tmp, "s.c")
    exe = os.path.join(tmp, "static-prog")
    with open(src, "w") as f:
        f.write("int main(void) { return 3; }\n")
    b = subprocess.run([cc, "-static", "-o", exe, src], capture_output=True, text=True, timeout=60)
    if b.returncode != 0:
        print("skip: cc -static does not work here: " + b.stderr, file=sys.stderr)
        return SKIP
    r = run([a.run, exe])
    check(r.returncode == 3, f"static program still runs (exit {r.returncode})")
    check(f"iowq-run: warning: {exe} is statically linked; LD_PRELOAD is ignored, "
          "iowq will not act" in r.stderr, f"static warning: {r.stderr!r}")
    shutil.copy2(exe, os.path.join(tmp, "static-in-path"))
    r = run([a.run, "static-in-path"], env={"PATH": tmp + ":/usr/bin:/bin"})
    check(r.returncode == 3 and "static-in-path is statically linked" in r.stderr,
          "static program found through PATH is detected")
    dyn = os.path.join(tmp, "dynamic-prog")
    b = subprocess.run([cc, "-o", dyn, src], capture_output=True, text=True, timeout=60)
    if check(b.returncode == 0, "dynamic build"):
        r = run([a.run, dyn])
        check(r.returncode == 3 and "warning" not in r.stderr, "no warning for dynamic program")


def mode_setuid(a, tmp):
    if os.geteuid() != 0:
        print("skip: needs root to make a setuid file owned by another user", file=sys.stderr)
        return SKIP
    if os.statvfs(tmp).f_flag & os.ST_NOSUID:
        print("skip: the temporary directory is mounted nosuid", file=sys.stderr)
        return SKIP
    prog = os.path.join(tmp, "suid-true")
    shutil.copy2(shutil.which("true"), prog)
    os.chown(prog, 65534, 65534)
    os.chmod(prog, 0o4755)
    r = run([a.run, prog])
    check(r.returncode == 0, f"setuid program still runs (exit {r.returncode})")
    check(f"iowq-run: warning: {prog} is setuid; LD_PRELOAD is ignored" in r.stderr,
          f"setuid warning: {r.stderr!r}")
    os.chmod(prog, 0o2755)
    r = run([a.run, prog])
    check(f"{prog} is setgid; LD_PRELOAD is ignored" in r.stderr, f"setgid warning: {r.stderr!r}")


def mode_readme(a, tmp):
    path = os.path.join(a.src, "README.md")
    if not check(os.path.exists(path), f"{path} exists"):
        return
    text = open(path, encoding="utf-8").read()
    m = re.search(r"<!-- options:begin -->\n(.*?)<!-- options:end -->", text, re.S)
    if not check(m is not None, "README.md has <!-- options:begin --> ... <!-- options:end -->"):
        return
    r = run([a.run, "--options-markdown"])
    check(r.returncode == 0, "--options-markdown exits 0")
    got, want = m.group(1).strip(), r.stdout.strip()
    if not check(got == want, "README options table equals `iowq-run --options-markdown`"):
        print("--- expected (paste between the markers) ---\n" + want, file=sys.stderr)


def mode_man(a, tmp):
    if not shutil.which("man"):
        print("skip: man is not installed", file=sys.stderr)
        return SKIP
    pages = {p: os.path.join(a.src, "man", p) for p in ("iowq-run.1", "iowq.7")}
    for name, path in pages.items():
        if not check(os.path.exists(path), f"{path} exists"):
            continue
        r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True,
                           timeout=30, env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0",
                                                PAGER="cat", MANPAGER="cat"))
        check(r.returncode == 0, f"man -l {name} exits 0")
        check(r.stderr.strip() == "", f"man -l {name}: no warnings: {r.stderr!r}")
        text = re.sub(r".\x08", "", r.stdout)
        text = re.sub(r"\s*\u2010\s*\n\s*|-\n\s*", "-", text)  # undo hyphenation at line ends
        text = text.replace("\u2010", "-").replace("\u2212", "-")
        text = re.sub(r"\s+", " ", text)  # a phrase may wrap onto the next line
        for var, (flag, _) in FLAGS.items():
            check(var in text, f"{name} documents {var}")
            if name == "iowq-run.1":
                check("--" + flag in text, f"{name} documents --{flag}")
        if name == "iowq-run.1":
            for sec in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS",
                        "ENVIRONMENT", "EXAMPLES", "SEE ALSO", "--json", "--help", "--version"):
                check(sec in text, f"{name} has {sec}")
        else:
            for sec in ("LIMITS", "THE REPORT", "statically linked", "setuid", "syscall(2)",
                        "stdio", "SIGKILL", "iowq_stats", "stall_timeouts", "worker_tids"):
                check(sec.lower() in text.lower(), f"{name} mentions {sec}")


def mode_log(a, tmp):
    if not check(os.path.exists(a.lib), f"library {a.lib} exists (build the iowq target)"):
        return
    true = shutil.which("true") or "/bin/true"

    def under_shim(env):
        return run([true], env=dict(env, LD_PRELOAD=a.lib))

    r = under_shim({"IOWQ_LOG": "info", "IOWQ_MODE": "pool", "IOWQ_WB_MAX_BYTES": "16M"})
    lines = r.stderr.splitlines()
    check(r.returncode == 0, "true under the shim with IOWQ_LOG=info exits 0")
    check(all(l.startswith("iowq: ") for l in lines), f"every line starts 'iowq: ': {lines!r}")
    check(len(lines) <= 8, f"a few lines, not one per option: {len(lines)}")
    version = [l for l in lines if l.startswith("iowq: iowq ")]
    check(len(version) == 1 and (not a.version or (" " + a.version + " ") in version[0]),
          f"one line with the version {a.version}: {version!r}")
    words = " ".join(lines).split()
    for var in FLAGS:
        n = sum(1 for w in words if w.startswith(var + "="))
        check(n == 1, f"{var} printed once ({n})")
    check("IOWQ_MODE=pool" in words, "the effective value from the environment (IOWQ_MODE=pool)")
    check("IOWQ_WB_MAX_BYTES=16M" in words, "sizes as they are written (IOWQ_WB_MAX_BYTES=16M)")
    check("IOWQ_IDLE_MS=5000" in words, "defaults from the table (IOWQ_IDLE_MS=5000)")

    r = under_shim({})
    check(r.stderr == "", f"nothing at the default level (warn): {r.stderr!r}")
    r = under_shim({"IOWQ_LOG": "off", "IOWQ_MODE": "fast"})
    check(r.stderr == "", f"IOWQ_LOG=off silences option warnings too: {r.stderr!r}")
    r = under_shim({"IOWQ_MODE": "fast", "IOWQ_LOG": "error"})
    check(r.stderr == "", f"IOWQ_LOG=error: no warnings, whatever the order of the variables: {r.stderr!r}")
    log = os.path.join(tmp, "log")
    r = under_shim({"IOWQ_MODE": "fast", "IOWQ_LOG_FILE": log})
    text = open(log).read() if os.path.exists(log) else ""
    check(r.stderr == "" and "IOWQ_MODE='fast'" in text,
          f"option warnings go to IOWQ_LOG_FILE: stderr {r.stderr!r}, file {text!r}")

    # The call-site warnings too: a libunwind.so.8 without unw_backtrace found
    # first on LD_LIBRARY_PATH makes IOWQ_CALLSITES warn.
    cc = shutil.which("cc") or shutil.which("gcc")
    if not check(cc is not None, "a C compiler to build a fake libunwind.so.8"):
        return
    src = os.path.join(tmp, "fake.c")
    with open(src, "w") as f:
        f.write("int iowq_fake_unwind;\n")
    fake = os.path.join(tmp, "libunwind.so.8")
    r = subprocess.run([cc, "-shared", "-fPIC", "-o", fake, src], capture_output=True, text=True, timeout=60)
    if not check(r.returncode == 0, f"cc builds the fake library: {r.stderr}"):
        return
    base = {"IOWQ_CALLSITES": "4", "LD_LIBRARY_PATH": tmp}
    r = under_shim(base)
    check(r.stderr.count("iowq: IOWQ_CALLSITES:") == 1, f"one call-site warning by default: {r.stderr!r}")
    r = under_shim(dict(base, IOWQ_LOG="off"))
    check(r.stderr == "", f"IOWQ_LOG=off silences the call-site warning: {r.stderr!r}")
    log2 = os.path.join(tmp, "log2")
    r = under_shim(dict(base, IOWQ_LOG_FILE=log2))
    text = open(log2).read() if os.path.exists(log2) else ""
    check(r.stderr == "" and "IOWQ_CALLSITES:" in text,
          f"the call-site warning goes to IOWQ_LOG_FILE: stderr {r.stderr!r}, file {text!r}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["cli", "static", "setuid", "readme", "man", "log"])
    p.add_argument("--run", required=True)
    p.add_argument("--lib", default="")
    p.add_argument("--src", default="")
    p.add_argument("--version", default="")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="iowq-run-test.") as tmp:
        rc = globals()["mode_" + a.mode](a, tmp)
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    return rc or 0


if __name__ == "__main__":
    sys.exit(main())
