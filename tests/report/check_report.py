#!/usr/bin/env python3
"""Check one iowq JSON report (briefs/report_format.md, docs/design.md §7).

usage: check_report.py REPORT.json [--callsites|--no-callsites]
Exits 1 with a message on the first missing key or wrong type; otherwise
prints every leaf as "dotted.path=value" (lists indexed 0,1,...) so a test
can compare numbers without a JSON parser of its own.
"""
import json
import sys

SYMS = ("write read pwrite pread pwrite64 pread64 writev readv pwritev preadv pwritev2 preadv2 "
        "send sendto sendmsg recv recvfrom recvmsg __read_chk __pread_chk __pread64_chk "
        "__recv_chk __recvfrom_chk").split()
ROUTES = {"routed": int, "inline": int, "passthrough": int}
CLASS = {"created": int, "max_alive": int}
PCT = {"p50": int, "p99": int}
SCHEMA = {
    "iowq_stats": int, "pid": int, "program": str, "mode": str,
    "totals": ROUTES,
    "calls": dict,
    "workers": {"created": int, "max_alive": int, "bound": CLASS, "unbound": CLASS},
    "cancel": {"stall_timeouts": int, "running": int, "pending": int},
    "write_behind": {"enabled": bool, "writes": int, "bytes": int, "syscalls": int,
                     "deferred_errors": int, "peak_pending_bytes": int},
    "latency_ns": {"queue_wait": PCT, "service": PCT, "caller": PCT},
    "worker_tids": list,
}


def fail(msg):
    print("check_report: " + msg)
    sys.exit(1)


def is_type(v, t):
    # bool is an int in Python; the report never mixes them.
    if t is int:
        return type(v) is int and v >= 0
    return isinstance(v, t)


def check(obj, schema, path):
    for key, t in schema.items():
        p = path + key
        if key not in obj:
            fail("missing key " + p)
        if isinstance(t, dict):
            if not isinstance(obj[key], dict):
                fail(p + " is not an object")
            check(obj[key], t, p + ".")
        elif not is_type(obj[key], t):
            fail("%s has type %s" % (p, type(obj[key]).__name__))


def leaves(v, path, out):
    if isinstance(v, dict):
        for k, x in v.items():
            leaves(x, path + [k], out)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            leaves(x, path + [str(i)], out)
    else:
        s = ("true" if v else "false") if isinstance(v, bool) else str(v)
        out.append(".".join(path) + "=" + s.replace("\n", "\\n"))


def main():
    if len(sys.argv) < 2:
        fail("usage: check_report.py REPORT.json [--callsites|--no-callsites]")
    with open(sys.argv[1], "rb") as f:
        try:
            doc = json.loads(f.read())
        except ValueError as e:
            fail("not JSON: %s" % e)
    if not isinstance(doc, dict):
        fail("not an object")
    check(doc, SCHEMA, "")
    if doc["iowq_stats"] != 1:
        fail("iowq_stats != 1")
    for sym, counts in doc["calls"].items():
        if sym not in SYMS:
            fail("unknown symbol in calls: " + sym)
        if not isinstance(counts, dict):
            fail("calls." + sym + " is not an object")
        check(counts, ROUTES, "calls." + sym + ".")
        if sum(counts.values()) == 0:
            fail("calls." + sym + " listed with no calls")
    for r in ROUTES:
        if sum(c[r] for c in doc["calls"].values()) != doc["totals"][r]:
            fail("totals." + r + " is not the sum of calls")
    if not all(is_type(t, int) for t in doc["worker_tids"]):
        fail("worker_tids holds a non-integer")
    want = sys.argv[2] if len(sys.argv) > 2 else ""
    if want == "--callsites" and "callsites" not in doc:
        fail("missing key callsites")
    if want == "--no-callsites" and "callsites" in doc:
        fail("callsites present although disabled")
    for i, cs in enumerate(doc.get("callsites", [])):
        check(cs, {"count": int, "blocked_ns": int, "frames": list}, "callsites.%d." % i)
        if not all(isinstance(fr, str) for fr in cs["frames"]):
            fail("callsites.%d.frames holds a non-string" % i)
    out = []
    leaves(doc, [], out)
    print("\n".join(out))


if __name__ == "__main__":
    main()
