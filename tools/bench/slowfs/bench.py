#!/usr/bin/env python3
"""tools/bench/slowfs/bench.py BUILD — iowq on slow storage (`make bench-slowfs`).

Mounts iowq-slowfs twice per latency (plain, and with the kernel's
writeback_cache), runs every workload of workloads.py in every mode
(plain, auto, pool, wb = IOWQ_WRITE_BEHIND=1: on the plain mount; wbc: plain
on the writeback_cache mount), BENCH_RUNS rounds interleaved (the modes'
order rotates every round), then one profiling pass per workload and mode on
a fresh mount to count the FUSE requests it caused. Needs root and /dev/fuse.

Writes into $BENCH_OUT/slowfs/ (default bench-results/slowfs):
  raw.csv       latency,round,workload,mode,wall_ns,cpu_ns (every timed run)
  results.csv   latency,workload,mode,median_ms,min_ms,max_ms,cpu_ms,ratio_to_plain,speedup,runs
                ratio_to_plain: the median over rounds of (this run / plain's run of the same round)
                speedup = 1 / ratio_to_plain
  requests.csv  latency,workload,mode,total,write,write_bytes,avg_write,read,getattr,create,
                setattr,open,flush,release,fsync,max_inflight (the profiling pass)
  machine.txt   CPUs, kernel, load before and after, the commit measured
  table.md      the README's tables (markdown), per latency
and prints a table. `bench.py --table DIR` redoes table.md and the printout
from DIR's CSVs.

Environment: BENCH_OUT, BENCH_RUNS (3), SLOWFS_LATENCIES ("0.2ms 1ms"),
SLOWFS_WORKLOADS (all), SLOWFS_MODES (plain auto pool wb wbc), SLOWFS_PROFILE
(1; 0 skips the request counting pass), SLOWFS_QUICK=1 (the tests' tiny
sizes: a harness check), BENCH_TMPDIR (where the backing directories live;
default $TMPDIR or /tmp), SLOWFS_SIZE_<key>=N overrides one size of
workloads.BENCH_SIZES (e.g. SLOWFS_SIZE_dd_bs64=1048576).
"""
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mount  # noqa: E402
import workloads as W  # noqa: E402


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def mode_env(mode, lib, extra=None):
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("IOWQ_")}
    add, _ = W.MODES[mode]
    env.update(add)
    if mode in W.PRELOADED:
        env["LD_PRELOAD"] = lib
    env.update(extra or {})
    return env


def run_timed(cmd, env, timeout=600):
    """(wall_ns, cpu_ns, exit code, start_ns, end_ns realtime) of one process."""
    r0 = time.time_ns()
    t0 = time.monotonic_ns()
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    killer = threading.Timer(timeout, p.kill)
    killer.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        killer.cancel()
    wall = time.monotonic_ns() - t0
    r1 = time.time_ns()
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, int((ru.ru_utime + ru.ru_stime) * 1e9), p.returncode, r0, r1


def load():
    return open("/proc/loadavg").read().split()[:3]


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--table":
        return retable(sys.argv[2])
    if len(sys.argv) != 2:
        print("usage: bench.py BUILD_DIR", file=sys.stderr)
        return 2
    build = os.path.abspath(sys.argv[1])
    bins = {"slowfs": build + "/bin/iowq-slowfs", "writer": build + "/bin/iowq-bench-writer",
            "logger": build + "/bin/iowq-bench-logger"}
    lib = build + "/lib/libiowq.so"
    missing = [p for p in list(bins.values()) + [lib] if not os.path.exists(p)]
    if missing:
        print("bench-slowfs: not built: " + " ".join(missing), file=sys.stderr)
        return 1
    why = mount.fuse_problem()
    if why:
        print("bench-slowfs: cannot mount FUSE filesystems: " + why, file=sys.stderr)
        return 1
    mount.raise_on_signals()

    quick = os.environ.get("SLOWFS_QUICK") == "1"
    sizes = dict(W.TEST_SIZES if quick else W.BENCH_SIZES)
    for k in sizes:
        v = os.environ.get("SLOWFS_SIZE_" + k)
        if v:
            sizes[k] = int(v)
    runs = int(os.environ.get("BENCH_RUNS", "1" if quick else "3"))
    lats = os.environ.get("SLOWFS_LATENCIES", "0.2ms 1ms").split()
    wls = os.environ.get("SLOWFS_WORKLOADS", " ".join(W.WORKLOADS)).split()
    modes = os.environ.get("SLOWFS_MODES", " ".join(W.MODES)).split()
    if "plain" not in modes:
        modes.insert(0, "plain")
    profile = os.environ.get("SLOWFS_PROFILE", "1") != "0"
    out = os.path.abspath(os.path.join(os.environ.get("BENCH_OUT", "bench-results"), "slowfs"))
    os.makedirs(out, exist_ok=True)

    commit = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "describe", "--always",
                             "--dirty"], capture_output=True, text=True).stdout.strip() or "unknown"
    machine = [
        "cpus:       %d" % os.cpu_count(),
        "cpu model:  " + next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
        "kernel:     " + " ".join(os.uname()[2:5:2]),
        "commit:     " + commit,
        "latencies:  " + " ".join(lats),
        "rounds:     %d (modes interleaved, order rotated each round)" % runs,
        "sizes:      " + " ".join("%s=%d" % kv for kv in sizes.items()),
        "load before: " + " ".join(load()),
    ]
    print("\n".join(machine), flush=True)

    base = tempfile.mkdtemp(prefix="iowq-slowfs-bench.", dir=os.environ.get("BENCH_TMPDIR") or os.environ.get("TMPDIR") or "/tmp")
    raw_rows, req_rows = [], []
    try:
        src = os.path.join(base, "src")
        W.prepare(src, sizes)
        for lat in lats:
            lat_dir = os.path.join(base, "lat" + lat)
            backing = {False: lat_dir + "/backing", True: lat_dir + "/backing-wbc"}
            mnts = {False: lat_dir + "/mnt", True: lat_dir + "/mnt-wbc"}
            for wbc in (False, True):
                os.makedirs(backing[wbc])
                W.place_inputs(src, backing[wbc])
            with mount.SlowMount(bins["slowfs"], backing[False], mnts[False], latency=lat) as m0, \
                    mount.SlowMount(bins["slowfs"], backing[True], mnts[True], latency=lat, writeback=True) as m1:
                mounts = {False: m0, True: m1}
                for rnd in range(runs):
                    print("bench-slowfs: latency %s, round %d of %d (load %s)" % (lat, rnd + 1, runs, " ".join(load())),
                          file=sys.stderr, flush=True)
                    for wl in wls:
                        order = modes[rnd % len(modes):] + modes[:rnd % len(modes)]
                        for mode in order:
                            wbc = W.MODES[mode][1]
                            name = "r%d_%s_%s" % (rnd, wl, mode)
                            o = os.path.join(mounts[wbc].path, name)
                            os.mkdir(o)
                            cmd = W.command(wl, sizes, bins, src, o, mounts[wbc].path, "/dev/null")
                            wall, cpu, rc, _, _ = run_timed(cmd, mode_env(mode, lib))
                            if rc != 0:
                                print("bench-slowfs: %s %s failed (exit %d): %s" % (wl, mode, rc, " ".join(cmd)),
                                      file=sys.stderr)
                                return 1
                            raw_rows.append([lat, rnd, wl, mode, wall, cpu])
                            # Removed behind the mount's back: the name is never used again.
                            shutil.rmtree(os.path.join(backing[wbc], name))
            if profile:
                for wl in wls:
                    for mode in modes:
                        wbc = W.MODES[mode][1]
                        pdir = os.path.join(lat_dir, "prof")
                        pb = os.path.join(pdir, "backing-%s-%s" % (wl, mode))
                        os.makedirs(pb)
                        W.place_inputs(src, pb)
                        with mount.SlowMount(bins["slowfs"], pb, os.path.join(pdir, "mnt"), latency=lat,
                                             writeback=wbc) as m:
                            o = os.path.join(m.path, "out")
                            os.mkdir(o)
                            cmd = W.command(wl, sizes, bins, src, o, m.path, "/dev/null")
                            rc = run_timed(cmd, mode_env(mode, lib))[2]
                        shutil.rmtree(pb)
                        s = m.stats or {}
                        r = s.get("requests", {})
                        nw = r.get("write", 0)
                        req_rows.append([lat, wl, mode, r.get("total", 0), nw, s.get("write_bytes", 0),
                                         "%.0f" % (s.get("write_bytes", 0) / nw if nw else 0), r.get("read", 0),
                                         r.get("getattr", 0), r.get("create", 0), r.get("setattr", 0),
                                         r.get("open", 0), r.get("flush", 0), r.get("release", 0),
                                         r.get("fsync", 0), s.get("max_inflight", 0)])
                        if rc != 0:
                            print("bench-slowfs: profiling %s %s failed (exit %d)" % (wl, mode, rc), file=sys.stderr)
                            return 1
    finally:
        for dirpath, dirnames, _ in os.walk(base):
            for d in dirnames:
                p = os.path.join(dirpath, d)
                if mount.mounted(p):
                    mount.unmount(p)
        shutil.rmtree(base, ignore_errors=True)

    machine.append("load after: " + " ".join(load()))
    with open(os.path.join(out, "machine.txt"), "w") as f:
        f.write("\n".join(machine) + "\n")
    with open(os.path.join(out, "raw.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["latency", "round", "workload", "mode", "wall_ns", "cpu_ns"])
        w.writerows(raw_rows)
    if req_rows:
        with open(os.path.join(out, "requests.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["latency", "workload", "mode", "total", "write", "write_bytes", "avg_write", "read", "getattr",
                        "create", "setattr", "open", "flush", "release", "fsync", "max_inflight"])
            w.writerows(req_rows)
    results = summarize(raw_rows, lats, wls, modes)
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["latency", "workload", "mode", "median_ms", "min_ms", "max_ms", "cpu_ms", "ratio_to_plain",
                    "speedup", "runs"])
        w.writerows(results)
    print_table(results, req_rows)
    markdown(out, results, req_rows)
    print("results: " + out)
    return 0


def retable(d):
    with open(os.path.join(d, "results.csv")) as f:
        results = list(csv.reader(f))[1:]
    req_rows = []
    if os.path.exists(os.path.join(d, "requests.csv")):
        with open(os.path.join(d, "requests.csv")) as f:
            req_rows = list(csv.reader(f))[1:]
    print_table(results, req_rows)
    markdown(d, results, req_rows)
    return 0


def markdown(out, results, req_rows):
    """table.md: per latency, one row per workload: median time per mode, speedup, FUSE writes."""
    reqs = {(r[0], r[1], r[2]): r for r in req_rows}
    res = {(r[0], r[1], r[2]): r for r in results}
    lines = []
    for lat in dict.fromkeys(r[0] for r in results):
        wls = list(dict.fromkeys(r[1] for r in results if r[0] == lat))
        modes = list(dict.fromkeys(r[2] for r in results if r[0] == lat))
        lines.append("Latency %s per request (medians; speedup = plain / mode, median of per-round ratios):" % lat)
        lines.append("")
        lines.append("| workload | " + " | ".join(modes) + " | FUSE requests (writes, avg write) " +
                     " → ".join(m for m in ("plain", "wb", "wbc") if m in modes) + " |")
        lines.append("|---|" + "---:|" * len(modes) + "---|")
        for wl in wls:
            cells = []
            for m in modes:
                r = res.get((lat, wl, m))
                if not r:
                    cells.append("")
                    continue
                ms = float(r[3])
                t = "%.0f ms" % ms if ms >= 100 else "%.1f ms" % ms
                cells.append(t if m == "plain" else "%s (%s×)" % (t, fmt_speedup(float(r[8]))))
            q = []
            for m in ("plain", "wb", "wbc"):
                x = reqs.get((lat, wl, m))
                if x:
                    q.append("%s (%s, %s B)" % (x[3], x[4], x[6]))
            lines.append("| `%s` | " % wl + " | ".join(cells) + " | " + " → ".join(q) + " |")
        lines.append("")
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write("\n".join(lines))


def fmt_speedup(x):
    return "%.0f" % x if x >= 100 else "%.1f" % x if x >= 10 else "%.2f" % x


def summarize(raw, lats, wls, modes):
    rows = []
    for lat in lats:
        for wl in wls:
            plain = {r[1]: r[4] for r in raw if r[0] == lat and r[2] == wl and r[3] == "plain"}
            for mode in modes:
                mine = [r for r in raw if r[0] == lat and r[2] == wl and r[3] == mode]
                if not mine:
                    continue
                walls = [r[4] for r in mine]
                ratio = median([r[4] / plain[r[1]] for r in mine if r[1] in plain])
                rows.append([lat, wl, mode, "%.2f" % (median(walls) / 1e6), "%.2f" % (min(walls) / 1e6),
                             "%.2f" % (max(walls) / 1e6), "%.2f" % (median([r[5] for r in mine]) / 1e6),
                             "%.3f" % ratio, "%.2f" % (1 / ratio), len(mine)])
    return rows


def print_table(results, req_rows):
    reqs = {(r[0], r[1], r[2]): r for r in req_rows}
    head = ["latency", "workload", "mode", "median ms", "ratio", "speedup", "cpu ms", "FUSE req", "writes",
            "avg write B", "max inflight"]
    table = [head]
    for r in results:
        q = reqs.get((r[0], r[1], r[2]))
        table.append([r[0], r[1], r[2], r[3], r[7], r[8] + "x", r[6]] +
                     ([str(q[3]), str(q[4]), str(q[6]), str(q[15])] if q else ["", "", "", ""]))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        print("  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    print("ratio = median over rounds of (time / plain's time in the same round); speedup = 1/ratio")


if __name__ == "__main__":
    sys.exit(main())
