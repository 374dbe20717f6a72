#!/usr/bin/env python3
"""run_contract.py — runs one shim contract program (tests/contract/) and,
under the shim, checks from its JSON report that the shim really handled the
calls (equal behaviour alone proves nothing: a shim that passes everything
through would pass every contract program).

  run_contract.py --plain [--preload LIBS] [--require-imports SYMS] -- prog args
  run_contract.py --lib libiowq.so [--preload 'libctor.so @iowq'] [--env K=V]...
                  [--expect-routed SYM,...] [--expect-routed-any SYM,...]
                  [--expect-seen SYM,...] [--expect PATH>=N|PATH==N]...
                  [--require-imports SYMS] -- prog args

--plain: no shim, IOWQ_* removed from the environment. Otherwise
LD_PRELOAD=--lib (or --preload with '@iowq' standing for --lib) and
IOWQ_MODE=pool IOWQ_ROUTE=all IOWQ_STATS=<dir>/r.%p.json IOWQ_STATS_FORMAT=json,
overridable with --env. The program gets CONTRACT_TMPDIR=<dir>/tmp.

Checks (on the report whose "pid" is the program's, or summed over every
report written — forked and exec'ed children write their own — for *-any):
  --expect-routed SYM       calls.SYM.routed > 0 in the program's report
  --expect-routed-any SYM   calls.SYM.routed > 0 summed over all reports
  --expect-seen SYM         routed+inline+passthrough of SYM > 0 (program's report)
  --expect cancel.stall_timeouts>=1   any numeric path, summed over all reports
  --expect cancel.running+cancel.pending>=1   several paths, summed
--require-imports: the binary must import these dynamic symbols (nm -D).
Exit: the program's status if it failed (77 = skip passes through), 1 if a
check failed, else 0.
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys

PROG_TIMEOUT = 55  # CTest kills at 60: fail first, with a message


def fail(msg):
    print(f"run_contract: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def csv(values):
    out = []
    for v in values or []:
        out.extend(s for s in v.split(",") if s)
    return out


def check_imports(prog, syms):
    if not syms:
        return
    try:
        out = subprocess.run(["nm", "-D", "--undefined-only", prog], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        fail(f"nm -D {prog}: {e}")
    imported = {line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()}
    missing = [s for s in syms if s not in imported]
    if missing:
        fail(f"{prog} does not import {', '.join(missing)} (fortify not in effect?); "
             f"imports: {' '.join(sorted(imported))}")


def get_path(obj, path):
    for key in path.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return 0
        obj = obj[key]
    return obj if isinstance(obj, (int, float)) and not isinstance(obj, bool) else 0


def load_reports(stats_dir):
    reports = []
    for path in sorted(glob.glob(os.path.join(stats_dir, "r.*.json"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        try:
            rep = json.loads(text)
        except ValueError as e:
            fail(f"report {path} is not valid JSON ({e}): {text[:400]!r}")
        if not isinstance(rep, dict) or rep.get("iowq_stats") != 1:
            fail(f"report {path} lacks \"iowq_stats\": 1: {text[:400]!r}")
        reports.append(rep)
    return reports


def calls_summary(rep):
    return json.dumps(rep.get("calls", {}), sort_keys=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plain", action="store_true")
    ap.add_argument("--lib")
    ap.add_argument("--preload", help="space-separated LD_PRELOAD list; @iowq = --lib")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--expect-routed", action="append")
    ap.add_argument("--expect-routed-any", action="append")
    ap.add_argument("--expect-seen", action="append")
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--require-imports", action="append")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        fail("no program given")
    if not a.plain and not a.lib:
        fail("need --plain or --lib")

    check_imports(cmd[0], csv(a.require_imports))

    shutil.rmtree(a.workdir, ignore_errors=True)
    stats_dir = os.path.join(a.workdir, "stats")
    tmp_dir = os.path.join(a.workdir, "tmp")
    os.makedirs(stats_dir)
    os.makedirs(tmp_dir)

    env = {k: v for k, v in os.environ.items()
           if not k.startswith("IOWQ_") and k != "LD_PRELOAD"}
    env["CONTRACT_TMPDIR"] = tmp_dir
    preload = a.preload.replace("@iowq", a.lib or "") if a.preload else (a.lib or "")
    preload = " ".join(preload.split())
    if preload:
        env["LD_PRELOAD"] = preload
    if not a.plain:
        env.update({"IOWQ_MODE": "pool", "IOWQ_ROUTE": "all",
                    "IOWQ_STATS": os.path.join(stats_dir, "r.%p.json"),
                    "IOWQ_STATS_FORMAT": "json"})
    for kv in a.env:
        k, sep, v = kv.partition("=")
        if not sep:
            fail(f"--env {kv}: want K=V")
        env[k] = v

    shown = " ".join(f"{k}={env[k]}" for k in sorted(env)
                     if k.startswith("IOWQ_") or k == "LD_PRELOAD")
    print(f"run_contract: {shown} {' '.join(cmd)}", file=sys.stderr)
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        rc = proc.wait(timeout=PROG_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        fail(f"program still running after {PROG_TIMEOUT} s (hang; killed)")
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:  # real-time signals have no name in the enum
            name = f"SIGRTMIN+{-rc - signal.SIGRTMIN}"
        fail(f"program killed by signal {-rc} ({name})")
    if rc == 77:
        print("run_contract: program skipped (77)", file=sys.stderr)
        sys.exit(77)
    if rc != 0:
        fail(f"program exited {rc}")
    if a.plain:
        return 0

    reports = load_reports(stats_dir)
    if not reports:
        fail(f"no report in {stats_dir} (IOWQ_STATS not honoured, or the shim "
             f"was not loaded / did not reach exit)")
    mine = [r for r in reports if r.get("pid") == proc.pid]
    if not mine:
        fail(f"no report with pid {proc.pid}; pids seen: {[r.get('pid') for r in reports]}")
    rep = mine[0]

    errors = []
    for sym in csv(a.expect_routed):
        if get_path(rep, f"calls.{sym}.routed") <= 0:
            errors.append(f"calls.{sym}.routed == 0 in the program's report")
    for sym in csv(a.expect_routed_any):
        if sum(get_path(r, f"calls.{sym}.routed") for r in reports) <= 0:
            errors.append(f"calls.{sym}.routed == 0 in every report")
    for sym in csv(a.expect_seen):
        if sum(get_path(rep, f"calls.{sym}.{k}") for k in ("routed", "inline", "passthrough")) <= 0:
            errors.append(f"calls.{sym} never counted in the program's report")
    for expr in a.expect:
        m = re.fullmatch(r"([\w.+]+)\s*(>=|==|<=)\s*(\d+)", expr)
        if not m:
            fail(f"--expect {expr!r}: want PATH[+PATH...] >=, == or <= N")
        path, op, n = m.group(1), m.group(2), int(m.group(3))
        total = sum(get_path(r, p) for r in reports for p in path.split("+"))
        ok = {">=": total >= n, "==": total == n, "<=": total <= n}[op]
        if not ok:
            errors.append(f"{path} = {total} over {len(reports)} report(s), want {op} {n}")
    if errors:
        fail("; ".join(errors) + f"\n  program's calls: {calls_summary(rep)}"
             f"\n  cancel: {json.dumps(rep.get('cancel'))}")
    print(f"run_contract: ok; calls: {calls_summary(rep)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
