#!/usr/bin/env python3
"""tools/bench/table.py — turns raw measurements into results.csv, a table and a chart.

Subcommands:
  core   --raw F --json J [--workload W]
                            Google Benchmark JSON of iowq-bench-core -> raw rows
                            (median over repetitions of p50_ns, p99_ns and
                            proc_cpu_ns_per_op; an errored benchmark -> skipped row).
  finish --raw F --out DIR  raw.csv -> DIR/results.csv and DIR/deltas.csv (+ the
                            aligned tables on stdout, + DIR/chart.png when gnuplot
                            is installed).
  merge --out DIR RUN...    several run.sh result dirs -> DIR/results.csv and
                            DIR/deltas.csv holding per-row medians across the runs
                            (ratios: median of the per-run ratios, each against
                            direct of its own run; runs: summed), tables, chart.

results.csv columns: workload,system,median_ns,p99_ns,cpu_ns_per_op,ratio_to_direct,runs
  * latency workloads: median_ns / p99_ns are ns per operation; ratio_to_direct
    = median / direct's median (below 1 = faster than direct).
  * throughput workloads (names starting "tput_"): median_ns holds the median
    ops/s instead (median_ops_per_s), p99_ns the ops/s of the slowest runs;
    ratio_to_direct = ops/s / direct's ops/s (above 1 = faster than direct).
  * cpu_ns_per_op: CPU (user+sys, all threads of the process) per operation.
  * a row that could not be measured carries its reason ("skipped (no shim)",
    "failed (exit 1)") in median_ns and NA elsewhere, runs = 0.

deltas.csv columns: workload,system,baseline,delta_ns,ratio_to_baseline — for the
percall_* rows (ns per call): each system against its baseline, which is the
longest "_"-prefix of its name that is a system of the same workload
(iowq_auto_report -> iowq_auto), else direct.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

HEADER = "workload,system,median_ns,p99_ns,cpu_ns_per_op,ratio_to_direct,runs"
DELTA_HEADER = "workload,system,baseline,delta_ns,ratio_to_baseline"


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def cmd_core(a):
    doc = json.load(open(a.json))
    runs = {}  # name -> list of iteration rows, in order of appearance
    for b in doc.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue
        runs.setdefault(b.get("run_name", b["name"]), []).append(b)
    with open(a.raw, "a") as out:
        for name, rows in runs.items():
            parts = name.split("/")
            workload, system = a.workload or parts[0], parts[1] if len(parts) > 1 else parts[0]
            bad = [r for r in rows if r.get("error_occurred")]
            if bad:
                why = bad[0].get("error_message", "error").replace(",", ";")
                out.write("%s,%s,latency,NA,NA,NA,0,skipped (%s)\n" % (workload, system, why))
                continue
            p50 = median([r["p50_ns"] for r in rows])
            p99 = median([r["p99_ns"] for r in rows])
            cpu = median([r["proc_cpu_ns_per_op"] for r in rows])
            out.write("%s,%s,latency,%.1f,%.1f,%.1f,%d,ok\n" % (workload, system, p50, p99, cpu, len(rows)))
    return 0


def read_raw(path):
    rows = []
    for line in open(path):
        f = line.rstrip("\n").split(",")
        if len(f) != 8:
            raise SystemExit("table.py: malformed raw row: " + line.strip())
        rows.append(dict(zip(["workload", "system", "kind", "median", "p99", "cpu", "runs", "status"], f)))
    return rows


def fmt(x):
    return "%.0f" % x if x >= 100 else "%.2f" % x


def baseline_of(system, systems):
    parts = system.split("_")
    for n in range(len(parts) - 1, 0, -1):
        cand = "_".join(parts[:n])
        if cand in systems and cand != system:
            return cand
    return "direct"


def deltas(rows):
    """(workload, system, baseline, delta_ns, ratio) for the measured percall_ rows."""
    ok = {(r["workload"], r["system"]): float(r["median"]) for r in rows if r["status"] == "ok"}
    out = []
    for r in rows:
        wl, sys_ = r["workload"], r["system"]
        if not wl.startswith("percall_") or sys_ == "direct" or (wl, sys_) not in ok:
            continue
        base = baseline_of(sys_, {s for (w, s) in ok if w == wl})
        if (wl, base) in ok:
            out.append((wl, sys_, base, ok[(wl, sys_)] - ok[(wl, base)], ok[(wl, sys_)] / ok[(wl, base)]))
    return out


def write_results(out, rows, ratio_of):
    """results.csv + deltas.csv + tables + chart from rows (dicts of read_raw's keys)."""
    os.makedirs(out, exist_ok=True)
    table = [("workload", "system", "median", "p99", "cpu/op ns", "ratio", "runs", "unit")]
    with open(os.path.join(out, "results.csv"), "w") as csv:
        csv.write(HEADER + "\n")
        for r in rows:
            if r["status"] != "ok":
                csv.write("%s,%s,%s,NA,NA,NA,0\n" % (r["workload"], r["system"], r["status"]))
                table.append((r["workload"], r["system"], r["status"], "", "", "", "0", ""))
                continue
            ratio = ratio_of(r)
            r["ratio"] = "%.3f" % ratio if ratio is not None else "NA"
            csv.write(",".join([r["workload"], r["system"], r["median"], r["p99"], r["cpu"], r["ratio"], r["runs"]]) + "\n")
            unit = "ops/s" if r["kind"] == "tput" else "ns/op"
            table.append((r["workload"], r["system"], fmt(float(r["median"])), fmt(float(r["p99"])),
                          fmt(float(r["cpu"])), r["ratio"], r["runs"], unit))
    print_table(table)
    print("ratio: latency rows = median / direct (lower is faster); tput_ rows = ops/s / direct (higher is faster)")
    d = deltas(rows)
    with open(os.path.join(out, "deltas.csv"), "w") as f:
        f.write(DELTA_HEADER + "\n")
        for wl, s, base, delta, ratio in d:
            f.write("%s,%s,%s,%.1f,%.3f\n" % (wl, s, base, delta, ratio))
    if d:
        print()
        print_table([("per call", "system", "vs", "delta ns", "ratio")] +
                    [(wl, s, base, "%+.1f" % delta, "%.3f" % ratio) for wl, s, base, delta, ratio in d])
    chart(out, [r for r in rows if r.get("ratio", "NA") != "NA"])


def print_table(table):
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(c.ljust(w) if i < 3 or i == 7 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))


def cmd_finish(a):
    rows = read_raw(a.raw)
    direct = {r["workload"]: float(r["median"]) for r in rows if r["system"] == "direct" and r["status"] == "ok"}

    def ratio_of(r):
        base = direct.get(r["workload"])
        return float(r["median"]) / base if base else None
    write_results(a.out, rows, ratio_of)
    return 0


def read_results(path):
    """results.csv -> rows in read_raw's shape (kind from the tput_ name prefix)."""
    rows = []
    lines = open(path).read().splitlines()
    if not lines or lines[0] != HEADER:
        raise SystemExit("table.py: %s: not a results.csv" % path)
    for line in lines[1:]:
        f = line.split(",")
        kind = "tput" if f[0].startswith("tput_") else "latency"
        ok = f[6] != "0"
        rows.append({"workload": f[0], "system": f[1], "kind": kind, "median": f[2], "p99": f[3], "cpu": f[4],
                     "ratio": f[5], "runs": f[6], "status": "ok" if ok else f[2]})
    return rows


def cmd_merge(a):
    runs = [read_results(os.path.join(d, "results.csv")) for d in a.dirs]
    merged = []
    for r in runs[0]:
        key = (r["workload"], r["system"])
        same = [x for run in runs for x in run if (x["workload"], x["system"]) == key and x["status"] == "ok"]
        if not same:
            merged.append(r)
            continue
        m = dict(r, status="ok")
        for k in ("median", "p99", "cpu"):
            m[k] = "%.1f" % median([float(x[k]) for x in same])
        ratios = [float(x["ratio"]) for x in same if x["ratio"] != "NA"]
        m["merged_ratio"] = median(ratios) if ratios else None
        m["runs"] = str(sum(int(x["runs"]) for x in same))
        merged.append(m)
    write_results(a.out, merged, lambda r: r.get("merged_ratio"))
    print("merged %d runs: %s" % (len(runs), " ".join(a.dirs)))
    return 0


def chart(out, rows):
    gp = shutil.which("gnuplot")
    if not gp:
        print("chart: gnuplot not installed (apt-get install gnuplot-nox); no chart.png")
        return
    if not rows:
        print("chart: nothing measured; no chart.png")
        return
    dat = os.path.join(out, "chart.dat")
    with open(dat, "w") as f:
        for i, r in enumerate(rows):
            f.write('%d "%s:%s" %s %d\n' % (i, r["workload"], r["system"], r["ratio"], 1 if r["kind"] == "tput" else 0))
    script = """
set terminal pngcairo size %d,780 font ",9" noenhanced
set output "%s"
set title "iowq bench: ratio to direct (log scale). Blue: time per op, lower is faster. Green: tput_ ops/s, higher is faster"
set logscale y
set grid ytics
set style fill solid 0.8 border -1
set boxwidth 0.8
set xtics rotate by -60 left
set bmargin 21
set rmargin 24
unset key
plot "%s" using 1:($4==0?$3:1/0):xtic(2) with boxes lc rgb "#3060c0", \\
     "" using 1:($4==1?$3:1/0) with boxes lc rgb "#30a050", \\
     1 with lines lc rgb "black" dt 2
""" % (max(900, 22 * len(rows) + 200), os.path.join(out, "chart.png"), dat)
    r = subprocess.run([gp], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        print("chart: gnuplot failed: " + r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "chart: gnuplot failed")
    else:
        print("chart: " + os.path.join(out, "chart.png"))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="sub", required=True)
    p = sub.add_parser("core")
    p.add_argument("--raw", required=True)
    p.add_argument("--json", required=True)
    p.add_argument("--workload", help="workload name for every row (default: the benchmark's)")
    p = sub.add_parser("finish")
    p.add_argument("--raw", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("merge")
    p.add_argument("--out", required=True)
    p.add_argument("dirs", nargs="+")
    a = ap.parse_args()
    return {"core": cmd_core, "finish": cmd_finish, "merge": cmd_merge}[a.sub](a)


if __name__ == "__main__":
    sys.exit(main())
