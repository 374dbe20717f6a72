#!/usr/bin/env python3
"""tests/slowfs/run_slowfs_test.py — one slow-storage workload in every mode, checked
against plain (label slowfs; the workloads are tools/bench/slowfs/workloads.py).

    run_slowfs_test.py --build BUILD --workload NAME [--latency 0.2ms]

Mounts iowq-slowfs twice (plain, writeback_cache) on a temp dir, runs NAME
once per mode (plain, auto, pool, wb on the plain mount; wbc on the other),
each into a fresh directory, and fails unless every mode left the same tree
as plain: names, types, sizes, bytes, modes, owners; mtimes identical to the
ns where the workload sets them (tar), else between the start and the end of
the process (a write still pending after the process ended would show as a
later mtime). Checked through the mount and, after unmounting, in the backing
directory. From the shim's JSON report: pool mode routed calls to workers,
write-behind took writes, auto mode handed no write to a worker (its caller
waits for it either way: a hand-off only adds its cost, issue 13). Afterwards
no mount is left.

Cannot run without root or /dev/fuse: then it FAILS with the reason (exit 1),
never passes quietly.
"""
import argparse
import glob
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "bench", "slowfs"))
import bench  # noqa: E402
import mount  # noqa: E402
import workloads as W  # noqa: E402

# The write family: in auto mode (no write-behind) these run in the caller.
WRITE_SYMS = ("write", "pwrite", "pwrite64", "writev", "pwritev", "pwritev2")

# The coarse clock the filesystems stamp with runs up to a tick behind.
CLOCK_SLACK_NS = 50_000_000


def compare(name, mode, plain, got, window, how):
    """Problems (list of str) of tree GOT against PLAIN."""
    bad = []
    if set(plain) != set(got):
        bad.append("%s %s (%s): entries differ: missing %s, extra %s" % (
            name, mode, how, sorted(set(plain) - set(got))[:5], sorted(set(got) - set(plain))[:5]))
    exact_mtime = W.WORKLOADS[name][0] == "exact"
    for rel in sorted(set(plain) & set(got)):
        p, g = plain[rel], got[rel]
        if p[:6] != g[:6]:
            bad.append("%s %s (%s): %s differs: plain %s, got %s" % (name, mode, how, rel, p[:6], g[:6]))
        if exact_mtime and rel != ".":
            if p[6] != g[6]:
                bad.append("%s %s (%s): %s mtime %d, plain %d" % (name, mode, how, rel, g[6], p[6]))
        elif window and not (window[0] - CLOCK_SLACK_NS <= g[6] <= window[1]):
            bad.append("%s %s (%s): %s mtime %d outside the process's run [%d, %d]" % (
                name, mode, how, rel, g[6], window[0], window[1]))
    return bad


def reports(d):
    out = []
    for p in glob.glob(os.path.join(d, "report.*.json")):
        with open(p) as f:
            out.append(json.load(f))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--workload", required=True, choices=list(W.WORKLOADS))
    ap.add_argument("--latency", default="0.2ms")
    a = ap.parse_args()

    why = mount.fuse_problem()
    if why:
        print("FAIL (not run): FUSE is not usable here: %s. The slowfs tests need root and /dev/fuse "
              "(Debian: apt-get install fuse3 libfuse3-dev)." % why)
        return 1
    build = os.path.abspath(a.build)
    bins = {"slowfs": build + "/bin/iowq-slowfs", "writer": build + "/bin/iowq-bench-writer",
            "logger": build + "/bin/iowq-bench-logger"}
    lib = build + "/lib/libiowq.so"
    missing = [p for p in list(bins.values()) + [lib] if not os.path.exists(p)]
    if missing:
        print("FAIL (not run): not built: %s (libfuse3-dev missing at configure time?)" % " ".join(missing))
        return 1
    mount.raise_on_signals()

    name, writes = a.workload, W.WORKLOADS[a.workload][1]
    sizes = W.TEST_SIZES
    base = tempfile.mkdtemp(prefix="iowq-slowfs-test.")
    mnts = {False: os.path.join(base, "mnt"), True: os.path.join(base, "mnt-wbc")}
    backing = {False: os.path.join(base, "backing"), True: os.path.join(base, "backing-wbc")}
    problems = []
    try:
        src = os.path.join(base, "src")
        W.prepare(src, sizes)
        for wbc in (False, True):
            os.makedirs(backing[wbc])
            W.place_inputs(src, backing[wbc])
        views, windows = {}, {}
        with mount.SlowMount(bins["slowfs"], backing[False], mnts[False], latency=a.latency) as m0, \
                mount.SlowMount(bins["slowfs"], backing[True], mnts[True], latency=a.latency, writeback=True) as m1:
            ms = {False: m0, True: m1}
            for mode in W.MODES:
                wbc = W.MODES[mode][1]
                out = os.path.join(ms[wbc].path, mode)
                os.mkdir(out)
                # Reads land in a local file: their bytes are what is compared.
                sink_dir = os.path.join(base, "sink-" + mode)
                os.mkdir(sink_dir)
                rdir = os.path.join(base, "reports-" + mode)
                os.mkdir(rdir)
                env = bench.mode_env(mode, lib, {"IOWQ_STATS": os.path.join(rdir, "report.%p.json"),
                                                 "IOWQ_STATS_FORMAT": "json"} if mode in W.PRELOADED else None)
                cmd = W.command(name, sizes, bins, src, out, ms[wbc].path, os.path.join(sink_dir, "read.bin"))
                _, _, rc, r0, r1 = bench.run_timed(cmd, env, timeout=120)
                if rc != 0:
                    problems.append("%s %s: exit %d: %s" % (name, mode, rc, " ".join(cmd)))
                    continue
                windows[mode] = (r0, r1)
                views[mode] = W.manifest(out if writes else sink_dir)
                reps = reports(rdir)
                if mode in W.PRELOADED and not reps:
                    problems.append("%s %s: no iowq report (was the shim loaded?)" % (name, mode))
                if mode == "pool" and sum(r["totals"]["routed"] for r in reps) < 1:
                    problems.append("%s pool: report shows no call routed to a worker" % name)
                if mode == "auto":
                    handed = sum(r["calls"].get(s, {}).get("routed", 0) for r in reps for s in WRITE_SYMS)
                    if handed:
                        problems.append("%s auto: %d writes handed to a worker while their caller waited" % (
                            name, handed))
                if mode == "wb" and writes and sum(r["write_behind"]["writes"] for r in reps) < 1:
                    problems.append("%s wb: report shows no write taken by write-behind" % name)
                print("%s %-5s ok (%.1f ms)%s" % (name, mode, (r1 - r0) / 1e6, "".join(
                    " routed=%d inline=%d wb_writes=%d" % (r["totals"]["routed"], r["totals"]["inline"],
                                                           r["write_behind"]["writes"]) for r in reps)))
        stats = {False: m0.stats, True: m1.stats}
        for wbc in (False, True):
            if mount.mounted(mnts[wbc]):
                problems.append("%s is still mounted" % mnts[wbc])
            if not stats[wbc] or stats[wbc]["requests"]["total"] < 1:
                problems.append("no request counts from the %s mount" % ("writeback_cache" if wbc else "plain"))
        if "plain" not in views:
            problems.append("plain run failed: nothing to compare with")
        else:
            for mode, view in views.items():
                if mode == "plain":
                    continue
                problems += compare(name, mode, views["plain"], view, windows[mode] if writes else None, "mount")
            if writes:
                # What reached the backing directory (the "server"), after the unmount.
                disk = {m: W.manifest(os.path.join(backing[W.MODES[m][1]], m)) for m in views}
                for mode, view in disk.items():
                    if mode != "plain":
                        problems += compare(name, mode, disk["plain"], view, windows[mode], "backing")
    finally:
        for wbc in (False, True):
            if os.path.isdir(mnts[wbc]) and mount.mounted(mnts[wbc]):
                mount.unmount(mnts[wbc])
        left = [p for p in mnts.values() if mount.mounted(p)]
        if not left:
            shutil.rmtree(base, ignore_errors=True)
    if left:
        problems.append("mount(s) left behind: %s" % left)
    for p in problems:
        print("FAIL: " + p)
    if not problems:
        print("PASS: %s identical to plain in modes %s" % (name, " ".join(m for m in W.MODES if m != "plain")))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
