#!/usr/bin/env python3
"""tests/bench/check_results.py OUT BUILD — is run.sh's output complete and well-formed?

Checks OUT/results.csv against the workload/system list of docs/design.md §10 (kept
here on purpose, independent of run.sh):
  * the header is exactly the documented one;
  * every expected (workload, system) has exactly one row;
  * a measured row has positive numbers, an integer run count >= 1, and
    direct's ratio is 1;
  * rows may be skipped only for a reason the environment explains:
    "skipped (no shim)" when BUILD has no lib/libiowq.so or bin/iowq-run,
    io_uring refused by the kernel; "failed (...)" is never accepted;
  * deltas.csv has each measured percall_ system against its baseline
    (direct; iowq_auto for iowq_auto_report; iowq_pool for iowq_pool_callsites);
  * machine.txt exists; chart.png exists when gnuplot is installed.
Exit 0 ok, 1 with one line per problem.
"""
import os
import shutil
import subprocess
import sys

HEADER = "workload,system,median_ns,p99_ns,cpu_ns_per_op,ratio_to_direct,runs"
PROCESS_SYSTEMS = ["direct", "iowq_auto", "iowq_pool", "iowq_write_behind"]
PROCESS_WORKLOADS = ["write_64B", "write_512B", "write_4KiB",
                     "tput_1thr_1file", "tput_2thr_1file", "tput_4thr_1file",
                     "tput_2thr_2files", "tput_4thr_4files", "tput_4thr_append256_shared",
                     "dd_bs64", "dd_bs4k", "python_lines"]
CORE_REQUIRED = ["direct", "iowq_pool", "iowq_pool_nospin", "mutex_condvar", "glibc_aio"]
PERCALL = {"percall_passthrough_64B": ["direct", "iowq_auto"],
           "percall_auto_file_64B": ["direct", "iowq_auto"],
           "percall_report_on": ["direct", "iowq_auto", "iowq_auto_report"],
           "percall_callsites_pool_4k": ["direct", "iowq_pool", "iowq_pool_callsites"],
           "percall_exec_true": ["direct", "iowq_auto", "iowq_run"],
           "percall_fork_exit": ["direct", "iowq_auto"]}
DELTA_HEADER = "workload,system,baseline,delta_ns,ratio_to_baseline"


def core_systems(build):
    exe = os.path.join(build, "bin", "iowq-bench-core")
    out = subprocess.run([exe, "--benchmark_list_tests"], capture_output=True, text=True, timeout=60).stdout
    return [line.split("/")[1] for line in out.split() if line.startswith("roundtrip_4k/")]


def is_number(s):
    try:
        return float(s) == float(s)
    except ValueError:
        return False


def check_deltas(out, seen_ok):
    """deltas.csv: one row per measured non-direct percall system, against the
    documented baseline, with delta = the difference of the two medians."""
    base_of = {"iowq_auto_report": "iowq_auto", "iowq_pool_callsites": "iowq_pool"}
    want = {(w, s): base_of.get(s, "direct") for w, systems in PERCALL.items() for s in systems
            if s != "direct" and (w, s) in seen_ok and (w, base_of.get(s, "direct")) in seen_ok}
    path = os.path.join(out, "deltas.csv")
    if not os.path.isfile(path):
        return ["no deltas.csv"]
    lines = open(path).read().splitlines()
    if not lines or lines[0] != DELTA_HEADER:
        return ["deltas.csv: bad header"]
    problems, got = [], set()
    for line in lines[1:]:
        f = line.split(",")
        if len(f) != 5 or (f[0], f[1]) not in want or want[(f[0], f[1])] != f[2]:
            problems.append("deltas.csv: unexpected row: " + line)
            continue
        got.add((f[0], f[1]))
        d = seen_ok[(f[0], f[1])] - seen_ok[(f[0], f[2])]
        if not is_number(f[3]) or abs(float(f[3]) - d) > 0.1 + 1e-6:
            problems.append("deltas.csv: delta is not the difference of the medians: " + line)
    problems += ["deltas.csv: missing %s/%s" % k for k in want if k not in got]
    return problems


def main():
    out, build = sys.argv[1], sys.argv[2]
    problems = []
    have_shim = os.path.isfile(os.path.join(build, "lib", "libiowq.so")) and \
        os.access(os.path.join(build, "bin", "iowq-run"), os.X_OK)

    expected = {}  # (workload, system) -> allowed skip prefixes
    core = core_systems(build)
    for s in CORE_REQUIRED:
        if s not in core:
            problems.append("iowq-bench-core does not register roundtrip_4k/" + s)
    for s in core:
        expected[("roundtrip_4k", s)] = ["skipped (io_uring_queue_init"] if s == "io_uring_async" else []
    no_taskset = [] if shutil.which("taskset") else ["skipped (no iowq-bench-core or taskset)"]
    for s in ["direct", "iowq_pool", "iowq_pool_nospin"]:
        expected[("roundtrip_4k_1cpu", s)] = no_taskset
    no_shim = [] if have_shim else ["skipped (no shim)"]
    for w in PROCESS_WORKLOADS:
        for s in PROCESS_SYSTEMS:
            expected[(w, s)] = [] if s == "direct" else no_shim
    for s in ["direct", "iowq_auto", "iowq_pool"]:
        expected[("stall_cancel_50ms", s)] = [] if s == "direct" else no_shim
    for w, systems in PERCALL.items():
        for s in systems:
            expected[(w, s)] = [] if s == "direct" else no_shim

    lines = open(os.path.join(out, "results.csv")).read().splitlines()
    if not lines or lines[0] != HEADER:
        problems.append("bad header: %r" % (lines[0] if lines else ""))
    seen, seen_ok = set(), {}
    for line in lines[1:]:
        f = line.split(",")
        if len(f) != 7:
            problems.append("not 7 columns: " + line)
            continue
        key = (f[0], f[1])
        if key in seen:
            problems.append("duplicate row: %s/%s" % key)
        seen.add(key)
        if key not in expected:
            problems.append("unexpected row: " + line)
            continue
        if not is_number(f[2]):
            if not any(f[2].startswith(p) for p in expected[key]):
                problems.append("not measured: " + line)
            continue
        med, p99, cpu, ratio, runs = f[2], f[3], f[4], f[5], f[6]
        if not all(is_number(x) for x in (med, p99, cpu, ratio)) or float(med) <= 0 or float(p99) <= 0 \
                or float(cpu) < 0 or float(ratio) <= 0:
            problems.append("bad numbers: " + line)
        if not runs.isdigit() or int(runs) < 1:
            problems.append("bad run count: " + line)
        if f[1] == "direct" and is_number(ratio) and abs(float(ratio) - 1) > 1e-9:
            problems.append("direct's ratio must be 1: " + line)
        if is_number(med):
            seen_ok[key] = float(med)
    for key in expected:
        if key not in seen:
            problems.append("missing row: %s/%s" % key)
    problems += check_deltas(out, seen_ok)
    if not os.path.isfile(os.path.join(out, "machine.txt")):
        problems.append("no machine.txt")
    if shutil.which("gnuplot") and not os.path.isfile(os.path.join(out, "chart.png")):
        problems.append("gnuplot is installed but there is no chart.png")
    for p in problems:
        print("FAIL: " + p)
    if not problems:
        print("ok: %d rows" % (len(lines) - 1))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
