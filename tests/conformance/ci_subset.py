#!/usr/bin/env python3
"""ci_subset.py — the bounded conformance run CTest does (conformance.ci).

1. A self-check: compare() must flag synthetic differences (a fuzzer that
   cannot fail proves nothing).
2. Every regression script in regress/ whose status is "fixed", in every mode.
3. Fresh seeds, then FIXED_SEEDS (fresh ones printed, so a failure can be replayed with
   fuzz.py --seed N --mode M) until the time budget is spent, per mode. The
   fresh seeds are drawn from the commit id: new for each commit, the same
   for every run of one commit.
   Seeds are generated without the ops of the OPEN classes known to differ in
   that mode (known.py): the shim is being fixed in parallel, and CI must be
   green on the current code. When a fix lands, its OPEN entry moves to
   FIXED in known.py, and its ops return to every seed.

Exit 0 when nothing differs, 1 otherwise (the difference and a minimized
script are printed).
"""
import argparse
import os
import random
import sys
import subprocess


def fresh_key():
    if os.environ.get("CONFORMANCE_FRESH"):
        return "env:" + os.environ["CONFORMANCE_FRESH"]
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        head = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        if head:
            return "commit:" + head
    except (OSError, subprocess.SubprocessError):
        pass
    return "time:%d" % time.time()
import tempfile
import time
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fuzz  # noqa: E402
import known  # noqa: E402

FIXED_SEEDS = list(range(1, 21))


def self_check():
    R = fuzz.Result
    a = R(["0 write 10 7777", "1 end exit mt:"], 0, b"", b"", "f0 size=10 hash=1 mode=644", False)
    cases = [
        R(["0 write 10 4", "1 end exit mt:"], 0, b"", b"", "f0 size=10 hash=1 mode=644", False),
        R(["0 write 10 7777"], None, b"", b"", "", True),
        R(["0 write 10 7777", "1 end exit mt:"], 0, b"", b"", "f0 size=0 hash=1 mode=644", False),
        R(["0 write 10 7777", "1 end exit mt:"], 1, b"", b"", "f0 size=10 hash=1 mode=644", False),
    ]
    for i, b in enumerate(cases):
        if fuzz.compare(a, b, "auto", []) is None:
            print(f"ci_subset: FAIL: self-check case {i}: compare() missed a difference")
            return False
    if fuzz.compare(a, a, "auto", []) is not None:
        print("ci_subset: FAIL: self-check: compare() found a difference in equal runs")
        return False
    # the stall deadline before the program's own timeout: accepted in stall
    # mode only, and only as EAGAIN -> ETIMEDOUT with the rest of the line equal
    sp = R(["0 stall_peer -1 11", "1 end exit mt:"], 0, b"", b"", "", False)
    ss = R(["0 stall_peer -1 110", "1 end exit mt:"], 0, b"", b"", "", False)
    sx = R(["0 net_check -1 110 st=1", "1 end exit mt:"], 0, b"", b"", "", False)
    px = R(["0 net_check -1 11 st=0", "1 end exit mt:"], 0, b"", b"", "", False)
    if (fuzz.compare(sp, ss, "stall", []) is not None or fuzz.compare(sp, ss, "pool", []) is None
            or fuzz.compare(px, sx, "stall", []) is None):
        print("ci_subset: FAIL: self-check: the stall allow-list entry is wrong")
        return False
    # a shim line in IOWQ_LOG_FILE is checked as one on stderr is
    lg = R(["0 write 10 7777", "1 end exit mt:"], 0, b"", b"", "f0 size=10 hash=1 mode=644", False)
    lg.iowq_log = ["iowq: something the allow-list does not know"]
    if fuzz.compare(a, lg, "auto", []) is None:
        print("ci_subset: FAIL: self-check: compare() missed a line in the shim's log file")
        return False
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--budget-s", type=float, default=float(os.environ.get("CONFORMANCE_CI_BUDGET", "75")),
                    help="seconds for fixed + fresh seeds (regression scripts always run)")
    ap.add_argument("--fresh", type=int, default=3, help="fresh seeds per mode (at most)")
    args = ap.parse_args()
    fargs = argparse.Namespace(runner=os.path.abspath(args.runner), lib=os.path.abspath(args.lib),
                               keep=False, verbose=False, budget=40)
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
    base = tempfile.mkdtemp(prefix="conf-ci-", dir=args.workdir)
    t0 = time.time()
    failed = False
    runs = 0
    try:
        if not self_check():
            return 1
        # 2. fixed regression scripts
        for path, meta, ops in known.regress_scripts(status="fixed"):
            found, status = fuzz.check_script(fargs, ops, list(fuzz.MODES), base, path)
            runs += len(fuzz.MODES) + 1
            for mode, d, m in found:
                fuzz.report(path, mode, d, ops, m)
                failed = True
            if status == "hang":
                # a fixed class whose script no longer runs plain proves nothing
                print(f"ci_subset: {path}: the plain run hangs", file=sys.stderr)
                failed = True
        # 3. seeds
        # Fresh seeds are new for every commit but the same for every run of
        # one commit (drawn from its id), so a commit's CI result can be
        # reproduced; CONFORMANCE_FRESH=<n> picks another draw, and outside a
        # git checkout the clock does.
        rng = random.Random(fresh_key())
        per_mode = {m: [] for m in fuzz.MODES}
        for mode in fuzz.MODES:
            # Fresh first: on a loaded machine the budget ends the list early.
            per_mode[mode] = [10**7 + rng.randrange(10**7) for _ in range(args.fresh)] + list(FIXED_SEEDS)
        print(f"ci_subset: fixed seeds {FIXED_SEEDS}; fresh seeds: " +
              "; ".join(f"{m}: {s[:args.fresh]}" for m, s in per_mode.items()))
        deadline = t0 + args.budget_s
        done = {m: 0 for m in fuzz.MODES}
        for i in range(len(FIXED_SEEDS) + args.fresh):
            for mode in fuzz.MODES:
                if time.time() > deadline and i >= 1:
                    break
                seed = per_mode[mode][i]
                ops = fuzz.gen_script(seed, known.excluded_ops(mode))
                found, status = fuzz.check_script(fargs, ops, [mode], base, f"seed {seed}")
                runs += 2
                done[mode] += 1
                for m, d, mini in found:
                    print(f"ci_subset: replay: fuzz.py --seed {seed} --mode {m} "
                          f"--exclude {','.join(sorted(known.excluded_ops(m)))}")
                    fuzz.report(f"seed {seed}", m, d, ops, mini)
                    failed = True
        dt = time.time() - t0
        print(f"ci_subset: seeds per mode {done}; {runs} runs in {dt:.1f}s; "
              f"open classes not run: {', '.join(c['name'] for c in known.OPEN)}")
        return 1 if failed else 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
