#!/usr/bin/env python3
"""tools/bench/sockets.py BUILD — socket benchmarks of issue 10 (loopback only).

  echo_1000conn   iowq-bench-sockets server (thread per connection) with 1,000
                  client connections of which 990 stay idle and 10 do 64-byte
                  round trips for --secs: plain, iowq auto (default options),
                  iowq pool. Per variant: median req/s, whether every active
                  request was served in every run, workers the shim created.
  redis           redis-server (Debian package; skipped when absent) with
                  redis-benchmark -t set,get -c 50 -n 100000: plain, iowq auto,
                  iowq pool; median req/s of SET and GET.
  stall_recv_50ms recv() from a silent 127.0.0.1 peer, IOWQ_STALL_MS=50
                  (iowq-bench-stall): p50/p99 time from call to ETIMEDOUT.
  stall_connect_50ms connect() to a listener with a full backlog,
                  IOWQ_STALL_MS=50: p50/p99 time to ETIMEDOUT.
  trickle_40ms    a peer sends 1 byte every 40 ms (50 bytes); recv(MSG_WAITALL)
                  with IOWQ_STALL_MS=50 must get all of them (never cut off).
Variants are interleaved, --runs times (default 5); medians of the runs are
printed with the machine load (uptime) before and after. Numbers only: this
script asserts nothing about timing.
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def uptime():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def shim_env(build, mode, extra=None, stats=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOWQ_") and k != "LD_PRELOAD"}
    if mode == "plain":
        return env
    env["LD_PRELOAD"] = os.path.join(build, "lib", "libiowq.so")
    env["IOWQ_MODE"] = mode
    if stats:
        env["IOWQ_STATS"] = stats
        env["IOWQ_STATS_FORMAT"] = "json"
    env.update(extra or {})
    return env


def echo_run(build, mode, secs, conns, active, tmp):
    exe = os.path.join(build, "bin", "iowq-bench-sockets")
    portfile = os.path.join(tmp, f"port.{mode}")
    stats = os.path.join(tmp, f"stats.{mode}.json")
    for p in (portfile, stats):
        if os.path.exists(p):
            os.unlink(p)
    srv = subprocess.Popen([exe, "server", portfile], env=shim_env(build, mode, stats=stats))
    try:
        for _ in range(500):
            if os.path.exists(portfile) and open(portfile).read().strip():
                break
            time.sleep(0.01)
        port = int(open(portfile).read())
        cl = subprocess.run([exe, "client", str(port), str(conns), str(active), str(secs)],
                            env=shim_env(build, "plain"), capture_output=True, text=True, timeout=secs + 120)
        m = re.search(r"req_per_s=(\d+) failed=(\d+)", cl.stdout)
    finally:
        # SIGINT: the server exits normally, so its report is written.
        srv.send_signal(signal.SIGINT)
        try:
            srv.wait(timeout=10)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()
    workers = None
    if os.path.exists(stats):
        with open(stats) as f:
            rep = json.load(f)
        workers = rep.get("workers", {}).get("created")
    if not m:
        return {"rps": 0, "failed": active, "workers": workers, "err": cl.stderr[-300:]}
    return {"rps": int(m.group(1)), "failed": int(m.group(2)), "workers": workers}


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_run(build, mode, tmp):
    import shutil
    if not shutil.which("redis-server") or not shutil.which("redis-benchmark"):
        return None
    port = free_port()
    srv = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--dir", tmp, "--daemonize", "no", "--loglevel", "warning"],
                           env=shim_env(build, mode), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(500):
            r = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True)
            if "PONG" in r.stdout:
                break
            time.sleep(0.02)
        out = subprocess.run(["redis-benchmark", "-p", str(port), "-q", "-t", "set,get", "-c", "50",
                              "-n", "100000"], capture_output=True, text=True, timeout=300,
                             env=shim_env(build, "plain")).stdout
    finally:
        srv.terminate()
        srv.wait(timeout=10)
    res = {}
    for name in ("SET", "GET"):
        m = re.search(name + r": ([\d.]+) requests per second", out)
        if m:
            res[name] = float(m.group(1))
    return res or None


def stall_run(build, mode, kind, runs):
    if kind == "recv":
        cmd = [os.path.join(build, "bin", "iowq-bench-stall"), "--runs", str(runs)]
    else:
        cmd = [os.path.join(build, "bin", "iowq-bench-sockets"), "connect-stall", str(runs)]
    env = shim_env(build, mode, {"IOWQ_STALL_MS": "50", "IOWQ_LOG": "off"})
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300).stdout
    m = re.search(r"ok=(\d+) p50_ns=(\d+) p99_ns=(\d+)", out)
    if not m:
        return None
    return {"ok": int(m.group(1)), "p50": int(m.group(2)), "p99": int(m.group(3))}


def trickle_run(build, mode):
    cmd = [os.path.join(build, "bin", "iowq-bench-sockets"), "trickle", "40", "50"]
    env = shim_env(build, mode, {"IOWQ_STALL_MS": "50", "IOWQ_LOG": "off"})
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60).stdout
    m = re.search(r"got=(-?\d+) .*max_gap_ms=([\d.]+)", out)
    return (int(m.group(1)), float(m.group(2))) if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--secs", type=float, default=3.0)
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--active", type=int, default=10)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    print(f"load before: {uptime()}  (nproc {os.cpu_count()})")
    modes = ["plain", "auto", "pool"]
    echo = {m: [] for m in modes}
    stall = {(m, k): [] for m in ("auto", "pool") for k in ("recv", "connect")}
    redis = {m: [] for m in modes}
    trick = {m: [] for m in ("auto", "pool")}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(a.runs):
            for m in modes:
                echo[m].append(echo_run(build, m, a.secs, a.conns, a.active, tmp))
            for m in modes:
                r = redis_run(build, m, tmp)
                if r:
                    redis[m].append(r)
            for m in trick:
                trick[m].append(trickle_run(build, m))
            for (m, k) in stall:
                r = stall_run(build, m, k, 20)
                if r:
                    stall[(m, k)].append(r)
    print(f"load after:  {uptime()}")
    print(f"\necho_{a.conns}conn ({a.active} active, {a.secs:g} s, {a.runs} interleaved runs, medians)")
    base = statistics.median(r["rps"] for r in echo["plain"]) or 1
    for m in modes:
        rs = echo[m]
        rps = statistics.median(r["rps"] for r in rs)
        served = all(r["failed"] == 0 for r in rs)
        workers = [r["workers"] for r in rs if r["workers"] is not None]
        print(f"  {m:6s} req/s {rps:8.0f}  ratio {rps / base:5.2f}  every active request served: "
              f"{'yes' if served else 'NO'}  pool workers created (median) "
              f"{statistics.median(workers) if workers else '-'}")
    if redis["plain"]:
        print("\nredis-server, redis-benchmark -c 50 -n 100000 (medians)")
        for op in ("SET", "GET"):
            base = statistics.median(r[op] for r in redis["plain"] if op in r) or 1
            for m in modes:
                vals = [r[op] for r in redis[m] if op in r]
                if vals:
                    v = statistics.median(vals)
                    print(f"  {op} {m:6s} req/s {v:9.0f}  ratio {v / base:5.2f}")
    else:
        print("\nredis: skipped (redis-server/redis-benchmark not installed)")
    print("\ntrickle: 1 byte every 40 ms, recv(50, MSG_WAITALL), IOWQ_STALL_MS=50")
    for m, rs in trick.items():
        rs = [r for r in rs if r]
        full = sum(1 for r in rs if r[0] == 50)
        cut = [f"{g} bytes, longest gap between the peer's sends {gap:.1f} ms" for g, gap in rs if g != 50]
        print(f"  {m:5s} got all 50 bytes in {full}/{len(rs)} runs" + (f"; cut off: {cut}" if cut else ""))
    print("\nstall 50 ms: time from call to ETIMEDOUT (medians over runs of 20 calls each)")
    for (m, k), rs in stall.items():
        if not rs:
            print(f"  {k:8s} {m:5s} no result")
            continue
        p50 = statistics.median(r["p50"] for r in rs) / 1e6
        p99 = statistics.median(r["p99"] for r in rs) / 1e6
        ok = sum(r["ok"] for r in rs)
        print(f"  {k:8s} {m:5s} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  timed out {ok}/{20 * len(rs)}")


if __name__ == "__main__":
    main()
