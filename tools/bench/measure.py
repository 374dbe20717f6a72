#!/usr/bin/env python3
"""tools/bench/measure.py — measures one workload/system and appends a raw row.

run.sh calls this once per (workload, system). Raw rows (raw.csv, no header):
    workload,system,kind,median,p99,cpu_ns_per_op,runs,status
kind is "latency" (median/p99 are ns per op) or "tput" (median is ops/s,
p99 is the ops/s of the slowest 1 % of runs); status is "ok", "skipped (...)"
or "failed (...)". table.py turns raw.csv into results.csv.

Subcommands:
  process --raw F --workload W --system S --kind K --ops N --reps R
          [--warmup] [--clean DIR] [--timeout SEC] [--env K=V]... -- CMD...
      Runs CMD R times (hyperfine when installed and BENCH_HYPERFINE != 0,
      else its own loop); per run: wall time and the child's user+sys CPU.
      DIR is emptied before every run (outside the timing).
  stall   --raw F --workload W --system S [--timeout SEC] [--env K=V]... -- CMD...
      Runs iowq-bench-stall once and records its p50/p99 call-to-error ns.
  percall --raw F --workload W --reps R [--warmup] [--timeout SEC] --preload LIB
          --variant SYSTEM [K=V...]... -- CMD...
      Runs iowq-bench-percall CMD once per variant, R rounds, the variants
      interleaved (order rotated every round) so drift hits all alike; each
      variant's environment is this one without LD_PRELOAD and IOWQ_* plus
      its K=V pairs, plus LD_PRELOAD=LIB for every SYSTEM but "direct". Per variant: median over runs of the run's median ns per
      call, nearest-rank p99 over runs of the run's slowest batch, median CPU
      ns per call; one raw row each (kind latency).
  skip    --raw F --workload W --system S --kind K --why TEXT
  pair    --name W --reps R [--warmup] [--clean DIR] [--timeout SEC] [--env K=V]...
          [--base-env K=V]... -- CMD...
      Runs CMD plain (or with the --base-env pairs: another build, say) and
      with the --env pairs (e.g. LD_PRELOAD=... IOWQ_WRITE_BEHIND=1)
      alternately, R times each (the order
      swapped every round, DIR emptied before every run), and prints one line:
        W plain <ms> wb <ms> ratio <x> cpu_plain <ms> cpu_wb <ms> cpu_ratio <x>
      medians of wall and CPU (user+sys of the process and its children) time;
      ratio = median over rounds of plain / wb (> 1: the second is faster).
"""
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    v = sorted(values)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def append_row(path, fields):
    # Fields never contain commas (a reason text gets ';' instead): raw.csv stays 8 columns.
    with open(path, "a") as f:
        f.write(",".join(str(x).replace(",", ";") for x in fields) + "\n")


def child_env(pairs):
    env = dict(os.environ)
    for kv in pairs:
        k, _, v = kv.partition("=")
        env[k] = v
    return env


def empty_dir(d):
    if not d:
        return
    for name in os.listdir(d):
        p = os.path.join(d, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)


def run_once(cmd, env, timeout):
    """One run: (wall_ns, cpu_ns, exit status). Exit 124 on timeout."""
    t0 = time.monotonic_ns()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            p.kill()
            os.wait4(p.pid, 0)
            return 0, 0, 124
        time.sleep(0.0005)  # polling the child, not synchronising with it
    wall = time.monotonic_ns() - t0
    cpu = int((ru.ru_utime + ru.ru_stime) * 1e9)
    p.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from reaping again
    return wall, cpu, p.returncode


def own_loop(a, env):
    walls, cpus = [], []
    if a.warmup:
        empty_dir(a.clean)
        run_once(a.cmd, env, a.timeout)
    for _ in range(a.reps):
        empty_dir(a.clean)
        wall, cpu, rc = run_once(a.cmd, env, a.timeout)
        if rc != 0:
            return None, "failed (exit %d)" % rc
        walls.append(wall)
        cpus.append(cpu)
    return (walls, cpus), "ok"


def hyperfine_loop(a, env, hf):
    with tempfile.TemporaryDirectory() as td:
        out = os.path.join(td, "hf.json")
        args = [hf, "--style", "none", "--runs", str(a.reps), "--export-json", out, "-N"]
        if a.warmup:
            args += ["--warmup", "1"]
        if a.clean:
            args += ["--prepare", "find %s -mindepth 1 -delete" % shlex.quote(a.clean)]
        args.append(shlex.join(a.cmd))
        try:
            r = subprocess.run(args, env=env, stdout=subprocess.DEVNULL, timeout=a.timeout * (a.reps + 1))
        except subprocess.TimeoutExpired:
            return None, "failed (timeout)"
        if r.returncode != 0:
            return None, "failed (exit %d)" % r.returncode
        res = json.load(open(out))["results"][0]
        walls = [int(t * 1e9) for t in res["times"]]
        # hyperfine reports CPU as means only.
        cpu = int((res["user"] + res["system"]) * 1e9)
        return (walls, [cpu] * len(walls)), "ok"


def cmd_process(a):
    env = child_env(a.env)
    hf = shutil.which("hyperfine") if os.environ.get("BENCH_HYPERFINE", "1") != "0" else None
    data, status = hyperfine_loop(a, env, hf) if hf else own_loop(a, env)
    if data is None:
        append_row(a.raw, [a.workload, a.system, a.kind, "NA", "NA", "NA", 0, status])
        return 0
    walls, cpus = data
    cpu_per_op = median(cpus) / a.ops
    if a.kind == "tput":
        med = a.ops / (median(walls) / 1e9)
        low = a.ops / (percentile(walls, 0.99) / 1e9)
    else:
        med = median(walls) / a.ops
        low = percentile(walls, 0.99) / a.ops
    append_row(a.raw, [a.workload, a.system, a.kind, "%.1f" % med, "%.1f" % low, "%.1f" % cpu_per_op, len(walls), "ok"])
    return 0


def cmd_stall(a):
    env = child_env(a.env)
    try:
        r = subprocess.run(a.cmd, env=env, stdout=subprocess.PIPE, text=True, timeout=a.timeout)
    except subprocess.TimeoutExpired:
        r = None
    fields = {}
    if r is not None:
        for tok in r.stdout.split():
            k, _, v = tok.partition("=")
            fields[k] = v
    if r is None or r.returncode != 0 or "p50_ns" not in fields:
        why = "timeout" if r is None else "exit %d, %s ok, errno %s" % (r.returncode, fields.get("ok", "?"), fields.get("errno", "?"))
        append_row(a.raw, [a.workload, a.system, "latency", "NA", "NA", "NA", 0, "failed (%s)" % why])
        return 0
    runs = int(fields["runs"])
    append_row(a.raw, [a.workload, a.system, "latency", fields["p50_ns"], fields["p99_ns"],
                       "%.1f" % (int(fields["cpu_ns"]) / runs), runs, "ok"])
    return 0


def percall_env(pairs):
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("IOWQ_")}
    for kv in pairs:
        k, _, v = kv.partition("=")
        env[k] = v
    return env


def percall_once(cmd, env, timeout):
    """One iowq-bench-percall run: its key=value fields, or None with a reason."""
    try:
        r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "failed (timeout)"
    fields = dict(tok.partition("=")[::2] for tok in r.stdout.split())
    if r.returncode != 0 or "median_ns" not in fields:
        return None, "failed (exit %d)" % r.returncode
    return fields, "ok"


def cmd_percall(a):
    variants = [(v[0], percall_env(v[1:] + ([] if v[0] == "direct" else ["LD_PRELOAD=" + a.preload])))
                for v in a.variant]
    results = {name: [] for name, _ in variants}
    failed = {}
    rounds = ([] if not a.warmup else [-1]) + list(range(a.reps))
    for rnd in rounds:
        k = max(rnd, 0) % len(variants)
        for name, env in variants[k:] + variants[:k]:
            if name in failed:
                continue
            fields, status = percall_once(a.cmd, env, a.timeout)
            if fields is None:
                failed[name] = status
            elif rnd >= 0:
                results[name].append(fields)
    for name, _ in variants:
        runs = results[name]
        if name in failed or not runs:
            append_row(a.raw, [a.workload, name, "latency", "NA", "NA", "NA", 0, failed.get(name, "failed (no runs)")])
            continue
        med = median([float(f["median_ns"]) for f in runs])
        p99 = percentile([float(f["p99_ns"]) for f in runs], 0.99)
        cpu = median([float(f["cpu_ns"]) for f in runs])
        append_row(a.raw, [a.workload, name, "latency", "%.1f" % med, "%.1f" % p99, "%.1f" % cpu, len(runs), "ok"])
    return 0


def cmd_pair(a):
    envs = {"plain": child_env(a.base_env), "wb": child_env(a.env)}
    res = {"plain": [], "wb": []}
    for rnd in range(-1 if a.warmup else 0, a.reps):
        order = ["plain", "wb"] if rnd % 2 == 0 else ["wb", "plain"]
        for name in order:
            empty_dir(a.clean)
            wall, cpu, rc = run_once(a.cmd, envs[name], a.timeout)
            if rc != 0:
                print("%s failed (%s exit %d)" % (a.name, name, rc))
                return 1
            if rnd >= 0:
                res[name].append((wall, cpu))
    ratio = median([p[0] / q[0] for p, q in zip(res["plain"], res["wb"])])
    cpu_ratio = median([p[1] / max(q[1], 1) for p, q in zip(res["plain"], res["wb"])])
    wall = {k: median([x[0] for x in v]) / 1e6 for k, v in res.items()}
    cpu = {k: median([x[1] for x in v]) / 1e6 for k, v in res.items()}
    print("%-16s plain %9.2f ms  wb %9.2f ms  ratio %5.2f   cpu: plain %9.2f ms  wb %9.2f ms  ratio %5.2f"
          % (a.name, wall["plain"], wall["wb"], ratio, cpu["plain"], cpu["wb"], cpu_ratio))
    return 0


def cmd_skip(a):
    append_row(a.raw, [a.workload, a.system, a.kind, "NA", "NA", "NA", 0, a.why])
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="sub", required=True)
    p = sub.add_parser("pair")
    p.add_argument("--name", required=True)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", action="store_true")
    p.add_argument("--clean")
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--base-env", action="append", default=[])
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    for name in ("process", "stall", "percall", "skip"):
        p = sub.add_parser(name)
        p.add_argument("--raw", required=True)
        p.add_argument("--workload", required=True)
        if name == "percall":
            p.add_argument("--variant", nargs="+", action="append", required=True)
            p.add_argument("--preload", required=True)
            p.add_argument("--reps", type=int, default=5)
            p.add_argument("--warmup", action="store_true")
            p.add_argument("--timeout", type=float, default=120)
            p.add_argument("cmd", nargs=argparse.REMAINDER)
            continue
        p.add_argument("--system", required=True)
        p.add_argument("--kind", default="latency", choices=["latency", "tput"])
        if name == "skip":
            p.add_argument("--why", required=True)
            continue
        p.add_argument("--timeout", type=float, default=120)
        p.add_argument("--env", action="append", default=[])
        if name == "process":
            p.add_argument("--ops", type=int, required=True)
            p.add_argument("--reps", type=int, default=5)
            p.add_argument("--warmup", action="store_true")
            p.add_argument("--clean")
        p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if hasattr(a, "cmd"):
        if a.cmd and a.cmd[0] == "--":
            a.cmd = a.cmd[1:]
        if not a.cmd:
            ap.error("missing command")
    return {"process": cmd_process, "stall": cmd_stall, "percall": cmd_percall, "skip": cmd_skip,
            "pair": cmd_pair}[a.sub](a)


if __name__ == "__main__":
    sys.exit(main())
