#!/usr/bin/env python3
"""iowq_case.py - run one real program plain and under libiowq.so, and compare.

Usage:
  iowq_case.py --lib PATH --case NAME [--variant V]...   run a case (default variant: auto)
  iowq_case.py --self-check [--case NAME]...             harness check, no shim involved
  iowq_case.py --list                                    list cases and variants

For a case, the harness creates a fresh temp dir with the case's inputs
(generated deterministically here), runs the case's steps PLAIN, then for each
variant runs them again on a fresh copy of the inputs with LD_PRELOAD=<lib>,
IOWQ_STATS=<tmp>/reports/rep.%p.json, IOWQ_STATS_FORMAT=json and the
variant's IOWQ_* variables. It requires, against the plain run:
  - every step: same exit status, same stdout, same stderr (after the step's
    normaliser; steps whose stderr is not deterministic are marked), and no
    'iowq:' line on stderr unless the variant sets bad values on purpose;
  - the resulting tree: same names, types, modes and bytes (recursively), with
    per-case views where raw bytes are not meaningful (sqlite: `.dump`; git:
    log/fsck/ls-files with fixed dates and identities, .git itself excluded).
Then it loads every report the processes wrote (one per process) and requires:
  - at least one report, each valid JSON with "iowq_stats": 1;
  - per-symbol "calls" summing to "totals";
  - sum(totals.routed + totals.inline) > 0, and routed+inline > 0 for each of
    the case's expected symbols (the libc entry points the program was seen
    to call with strace/nm: the assertion must be about calls that happen);
  - mode=pool variants: totals.routed > 0 and workers.created > 0;
  - write-behind variants: write_behind.writes > 0;
  - "mode" in each report equals the variant's mode (bad values keep "auto").
Exit status: 0 pass, 1 fail (a clear first difference is printed), 2 usage.
Every subprocess runs with a timeout, in its own process group.
Stdlib only.
"""

import argparse
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile

from iowq_cases import CASES, fix_mtimes

STEP_TIMEOUT_S = 60
PATH = "/usr/bin:/bin"  # Debian's programs, not pyenv or /usr/local shims
GIT_DATE = "2020-09-13T12:26:40+00:00"

# ---------------------------------------------------------------------------
# Variants
# ---------------------------------------------------------------------------

VARIANTS = {
    "auto": {"IOWQ_MODE": "auto"},
    "pool": {"IOWQ_MODE": "pool"},
    "all": {"IOWQ_MODE": "pool", "IOWQ_ROUTE": "all"},
    "auto-all": {"IOWQ_ROUTE": "all"},
    "wb": {"IOWQ_WRITE_BEHIND": "1"},
    "wb-pool": {"IOWQ_WRITE_BEHIND": "1", "IOWQ_MODE": "pool"},
}

# Every docs/design.md §6 variable that can have an invalid value, set to
# nonsense, plus one unknown IOWQ_ name.
# Left out on purpose: IOWQ_STATS / IOWQ_STATS_FORMAT (the harness needs the
# JSON report), IOWQ_LOG_FILE and IOWQ_ONLY_CMDS / IOWQ_SKIP_CMDS (any string
# is a valid path or list).
BAD_ENV = {
    "IOWQ_DISABLE": "maybe",
    "IOWQ_ROUTE": "disks,carrier-pigeon",
    "IOWQ_MODE": "fast",
    "IOWQ_BOUND_MAX": "-3",
    "IOWQ_UNBOUND_MAX": "lots",
    "IOWQ_IDLE_MS": "soon",
    "IOWQ_NUMA": "sideways",
    "IOWQ_CPUS": "banana",
    "IOWQ_WRITE_BEHIND": "perhaps",
    "IOWQ_WB_MAX_BYTES": "12Q",
    "IOWQ_STALL_MS": "forever",
    "IOWQ_SIGNAL": "SIGBOGUS",
    "IOWQ_CALLSITES": "many",
    "IOWQ_LOG": "loud",
    "IOWQ_TURBO": "1",  # not an iowq variable at all: warned about, ignored
}
VARIANTS["bad"] = dict(BAD_ENV)


def variant_mode(env):
    return "pool" if env.get("IOWQ_MODE") == "pool" else "auto"


def variant_wb(env):
    return env.get("IOWQ_WRITE_BEHIND") == "1"


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------


class Failure(Exception):
    pass


def base_env(run_dir):
    home = os.path.join(run_dir, "home")
    tmp = os.path.join(run_dir, "tmp")
    os.makedirs(home, exist_ok=True)
    os.makedirs(tmp, exist_ok=True)
    env = {"PATH": PATH, "HOME": home, "TMPDIR": tmp, "LC_ALL": "C", "TZ": "UTC",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
           "GIT_AUTHOR_NAME": "iowq", "GIT_AUTHOR_EMAIL": "iowq@example.invalid",
           "GIT_COMMITTER_NAME": "iowq", "GIT_COMMITTER_EMAIL": "iowq@example.invalid",
           "GIT_AUTHOR_DATE": GIT_DATE, "GIT_COMMITTER_DATE": GIT_DATE,
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    return env


def run(argv, cwd, env, stdin_path=None):
    """Run in its own process group; the whole group is killed on timeout."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    try:
        p = subprocess.Popen(argv, cwd=cwd, env=env, stdin=stdin, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = p.communicate(timeout=STEP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.communicate()
            raise Failure("timeout after %d s: %s (cwd %s)" % (STEP_TIMEOUT_S, " ".join(argv), cwd))
        return p.returncode, out, err
    finally:
        if stdin_path:
            stdin.close()


def run_plain_capture(argv, cwd, env):
    rc, out, err = run(argv, cwd, env)
    return b"exit %d\n--- stdout\n%s--- stderr\n%s" % (rc, out, err)


def snapshot(work, case, env):
    """{relative name: (type and mode, content)}; views replace raw bytes."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(work):
        dirnames.sort()
        for n in sorted(dirnames + filenames):
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, work)
            if any(rel == x or rel.startswith(x + "/") for x in case.exclude):
                continue
            st = os.lstat(p)
            mode = "%o" % stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                snap[rel] = ("symlink", os.fsencode(os.readlink(p)))
            elif stat.S_ISDIR(st.st_mode):
                snap[rel] = ("dir " + mode, b"")
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    snap[rel] = ("file " + mode, f.read())
            else:
                snap[rel] = ("other %o" % st.st_mode, b"")
    if case.views:
        def capture(argv, cwd):
            return run_plain_capture(argv, cwd, env)
        snap.update((k, ("view", v)) for k, v in case.views(work, capture).items())
    return snap


def run_case(case, run_dir, lib, venv):
    """Runs all steps in a fresh work dir. venv None = plain. Returns results."""
    work = os.path.join(run_dir, "work")
    reports = os.path.join(run_dir, "reports")
    os.makedirs(work)
    os.makedirs(reports)
    case.inputs(work)
    fix_mtimes(work)
    env = base_env(run_dir)
    step_env = dict(env)
    if venv is not None:
        step_env.update(venv)
        step_env["LD_PRELOAD"] = lib
        step_env["IOWQ_STATS"] = os.path.join(reports, "rep.%p.json")
        step_env["IOWQ_STATS_FORMAT"] = "json"
    results = []
    for st in case.steps:
        stdin_path = os.path.join(work, st.stdin) if st.stdin else None
        results.append(run(st.argv, work, step_env, stdin_path))
    return results, snapshot(work, case, env), reports


# ---------------------------------------------------------------------------
# Comparing
# ---------------------------------------------------------------------------

def first_diff(a, b):
    n = min(len(a), len(b))
    for i in range(0, n, 4096):  # compare in blocks, then find the byte
        if a[i:i + 4096] != b[i:i + 4096]:
            for j in range(i, min(i + 4096, n)):
                if a[j] != b[j]:
                    return j
    return n if len(a) != len(b) else -1


def describe_diff(what, a, b):
    off = first_diff(a, b)
    lo = max(0, off - 16)
    return ("%s differs at byte offset %d (plain %d bytes, shim %d bytes); bytes %d..:\n"
            "  plain: %r\n  shim:  %r" % (what, off, len(a), len(b), lo, a[lo:off + 24], b[lo:off + 24]))


def split_iowq_lines(err):
    lines = err.split(b"\n")
    warn = [ln for ln in lines if ln.startswith(b"iowq:")]
    rest = b"\n".join(ln for ln in lines if not ln.startswith(b"iowq:"))
    return warn, rest


def compare_runs(case, plain, shim, vname):
    errs = []
    p_results, p_snap, _ = plain
    s_results, s_snap, _ = shim
    for i, (st, pr, sr) in enumerate(zip(case.steps, p_results, s_results)):
        tag = "[%s] step %d `%s`" % (vname, i + 1, st.label())
        if pr[0] != sr[0]:
            errs.append("%s: exit status plain %d, shim %d\n  shim stderr: %r"
                        % (tag, pr[0], sr[0], sr[2][-2000:]))
        if pr[1] != sr[1]:
            errs.append(describe_diff(tag + ": stdout", pr[1], sr[1]))
        warn, s_err = split_iowq_lines(sr[2])
        if warn and vname != "bad":
            errs.append("%s: unexpected iowq: lines on stderr: %r" % (tag, warn[:5]))
        if vname == "bad":
            errs += check_bad_warnings(tag, warn)
        if st.compare_stderr:
            p_err = st.stderr_filter(pr[2]) if st.stderr_filter else pr[2]
            s_err = st.stderr_filter(s_err) if st.stderr_filter else s_err
            if p_err != s_err:
                errs.append(describe_diff(tag + ": stderr (iowq: lines removed)", p_err, s_err))
    for name in sorted(set(p_snap) | set(s_snap)):
        if name not in s_snap:
            errs.append("[%s] %s: exists after the plain run, missing under the shim" % (vname, name))
        elif name not in p_snap:
            errs.append("[%s] %s: created under the shim only" % (vname, name))
        elif p_snap[name][0] != s_snap[name][0]:
            errs.append("[%s] %s: plain %s, shim %s" % (vname, name, p_snap[name][0], s_snap[name][0]))
        elif p_snap[name][1] != s_snap[name][1]:
            errs.append(describe_diff("[%s] %s" % (vname, name), p_snap[name][1], s_snap[name][1]))
        if errs:
            break  # the first differing file is what matters
    return errs


def check_bad_warnings(tag, warn):
    """Exactly one 'iowq:' line per bad variable, each naming its variable."""
    errs = []
    if len(warn) != len(BAD_ENV):
        errs.append("%s: %d 'iowq:' lines on stderr, want %d (one per bad variable):\n  %s"
                    % (tag, len(warn), len(BAD_ENV), "\n  ".join(w.decode(errors="replace") for w in warn)))
    for var in BAD_ENV:
        n = sum(1 for w in warn if re.search(rb"\b" + var.encode() + rb"\b", w))
        if n != 1:
            errs.append("%s: %d 'iowq:' lines name %s, want 1" % (tag, n, var))
    return errs


# ---------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------

def num(obj, *keys):
    for k in keys:
        if not isinstance(obj, dict) or k not in obj:
            return 0
        obj = obj[k]
    return obj if isinstance(obj, (int, float)) and not isinstance(obj, bool) else 0


def load_reports(rdir):
    reps, errs = [], []
    for n in sorted(os.listdir(rdir)):
        p = os.path.join(rdir, n)
        try:
            with open(p, "rb") as f:
                r = json.loads(f.read())
        except (OSError, ValueError) as e:
            errs.append("report %s: not valid JSON: %s" % (n, e))
            continue
        if not isinstance(r, dict) or r.get("iowq_stats") != 1:
            errs.append("report %s: no \"iowq_stats\": 1" % n)
            continue
        r["_file"] = n
        reps.append(r)
    return reps, errs


def check_reports(case, rdir, vname, venv, verbose=True):
    reps, errs = load_reports(rdir)
    if not reps:
        return errs + ["[%s] no report written to %s (IOWQ_STATS=rep.%%p.json)" % (vname, rdir)]
    kinds = ("routed", "inline", "passthrough")
    tot = {k: sum(num(r, "totals", k) for r in reps) for k in kinds}
    calls = {}
    for r in reps:
        per = {k: 0 for k in kinds}
        for sym, c in (r.get("calls") or {}).items():
            acc = calls.setdefault(sym, {k: 0 for k in kinds})
            for k in kinds:
                acc[k] += num(c, k)
                per[k] += num(c, k)
        for k in kinds:
            if per[k] != num(r, "totals", k):
                errs.append("[%s] report %s (%s): sum of calls.*.%s = %d but totals.%s = %d"
                            % (vname, r["_file"], r.get("program"), k, per[k], k, num(r, "totals", k)))
        want_mode = variant_mode(venv)
        if "mode" in r and r["mode"] != want_mode:
            errs.append("[%s] report %s (%s): mode %r, want %r"
                        % (vname, r["_file"], r.get("program"), r["mode"], want_mode))
        wb = r.get("write_behind")
        if isinstance(wb, dict) and "enabled" in wb and wb["enabled"] != variant_wb(venv):
            errs.append("[%s] report %s: write_behind.enabled %r, want %r"
                        % (vname, r["_file"], wb["enabled"], variant_wb(venv)))
    created = sum(num(r, "workers", "created") for r in reps)
    wb_writes = sum(num(r, "write_behind", "writes") for r in reps)
    if verbose:
        print("  [%s] %d reports (%s): routed=%d inline=%d passthrough=%d workers.created=%d wb.writes=%d"
              % (vname, len(reps), ",".join(sorted({str(r.get("program")) for r in reps})),
                 tot["routed"], tot["inline"], tot["passthrough"], created, wb_writes))
        print("  [%s] calls (routed/inline/passthrough): %s"
              % (vname, " ".join("%s=%d/%d/%d" % (s, c["routed"], c["inline"], c["passthrough"])
                                 for s, c in sorted(calls.items()))))
    if tot["routed"] + tot["inline"] <= 0:
        errs.append("[%s] the shim handled no I/O: totals.routed + totals.inline = 0 over %d reports"
                    % (vname, len(reps)))
    for sym in case.expect_calls:
        c = calls.get(sym, {})
        if c.get("routed", 0) + c.get("inline", 0) <= 0:
            errs.append("[%s] %s: calls.%s routed+inline = 0 (the program calls %s; see strace/nm)"
                        % (vname, case.name, sym, sym))
    if variant_mode(venv) == "pool":
        if tot["routed"] <= 0:
            errs.append("[%s] IOWQ_MODE=pool but totals.routed = 0" % vname)
        if created <= 0:
            errs.append("[%s] IOWQ_MODE=pool but workers.created = 0" % vname)
    if variant_wb(venv) and wb_writes <= 0:
        errs.append("[%s] IOWQ_WRITE_BEHIND=1 but write_behind.writes = 0" % vname)
    return errs


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def plain_failures(case, plain):
    """A case whose plain run fails tests nothing."""
    return ["plain step %d `%s` failed with %d: %r" % (i + 1, st.label(), r[0], r[2][-2000:])
            for i, (st, r) in enumerate(zip(case.steps, plain[0])) if r[0] != 0]


def do_case(case, lib, variants, keep):
    top = tempfile.mkdtemp(prefix="iowq-int-%s-" % case.name)
    errs = []
    try:
        print("case %s: %s" % (case.name, case.doc))
        plain = run_case(case, os.path.join(top, "plain"), lib, None)
        errs += plain_failures(case, plain)
        for v in ([] if errs else variants):
            venv = VARIANTS[v]
            print("  variant %s: %s" % (v, " ".join("%s=%s" % kv for kv in sorted(venv.items()))))
            shim = run_case(case, os.path.join(top, v), lib, venv)
            verrs = compare_runs(case, plain, shim, v)
            verrs += check_reports(case, shim[2], v, venv)
            errs += verrs
    except Failure as e:
        errs.append(str(e))
    finally:
        if keep:
            print("  work dirs kept in %s" % top)
        else:
            shutil.rmtree(top, ignore_errors=True)
            if errs:
                print("  (rerun with --keep to keep the work dirs)")
    return errs


def self_check(case):
    """No shim: the plain run must be reproducible, and a one-byte change must
    be found at its offset (so a mismatch under the shim means the shim)."""
    top = tempfile.mkdtemp(prefix="iowq-int-self-%s-" % case.name)
    try:
        a = run_case(case, os.path.join(top, "a"), None, None)
        b = run_case(case, os.path.join(top, "b"), None, None)
        errs = plain_failures(case, a) + compare_runs(case, a, b, "rerun")
        if errs:
            return ["%s is not deterministic without the shim: %s" % (case.name, errs[0])]
        name = sorted(n for n, v in b[1].items() if len(v[1]) > 100)[0]
        data = bytearray(b[1][name][1])
        data[100] ^= 1
        b[1][name] = (b[1][name][0], bytes(data))
        errs = compare_runs(case, a, b, "rerun")
        if not errs or "offset 100 " not in errs[0]:
            return ["%s: a flipped byte in %s was not reported at offset 100: %r" % (case.name, name, errs)]
        return self_check_reports(case, os.path.join(top, "reports"))
    except Failure as e:
        return [str(e)]
    finally:
        shutil.rmtree(top, ignore_errors=True)


def self_check_reports(case, rdir):
    """The report checks must reject: no report, no handled I/O, pool without workers."""
    os.makedirs(rdir)
    errs = []
    if not check_reports(case, rdir, "selfcheck", VARIANTS["auto"], False):
        errs.append("an empty report dir was accepted")
    idle = {"iowq_stats": 1, "pid": 1, "program": "x", "mode": "pool",
            "totals": {"routed": 0, "inline": 0, "passthrough": 5},
            "calls": {"write": {"routed": 0, "inline": 0, "passthrough": 5}},
            "workers": {"created": 0, "max_alive": 0}}
    with open(os.path.join(rdir, "rep.1.json"), "w") as f:
        json.dump(idle, f)
    if not check_reports(case, rdir, "selfcheck", VARIANTS["pool"], False):
        errs.append("a report with only passthrough calls and no workers was accepted")
    return ["%s: %s" % (case.name, e) for e in errs]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--lib", help="path to libiowq.so")
    ap.add_argument("--case", action="append", default=[], help="case name (repeatable for --self-check)")
    ap.add_argument("--variant", action="append", default=[], choices=sorted(VARIANTS))
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs")
    ap.add_argument("--self-check", action="store_true")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        for c in CASES.values():
            print("%-12s %s" % (c.name, c.doc))
        print("variants: " + " ".join(VARIANTS))
        return 0
    unknown = [c for c in a.case if c not in CASES]
    if unknown:
        ap.error("unknown case %s (see --list)" % unknown)
    if a.self_check:
        errs = []
        for name in a.case or list(CASES):
            errs += self_check(CASES[name])
            print("self-check %s: %s" % (name, "FAIL" if errs else "ok"))
        for e in errs:
            print("FAIL: " + e)
        return 1 if errs else 0
    if len(a.case) != 1 or not a.lib:
        ap.error("--lib and exactly one --case are required")
    lib = os.path.abspath(a.lib)
    if not os.path.isfile(lib):
        print("FAIL: %s does not exist" % lib)
        return 1
    case = CASES[a.case[0]]
    missing = [n for n in case.needs if not shutil.which(n, path=PATH)]
    if missing:
        print("SKIP: %s not installed (on %s)" % (" ".join(missing), PATH))
        return 77
    variants = a.variant or case.variants or ["auto"]
    errs = do_case(case, lib, variants, a.keep)
    for e in errs:
        print("FAIL: " + e)
    print("%s: %s %s" % ("FAIL" if errs else "PASS", case.name, ",".join(variants)))
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
