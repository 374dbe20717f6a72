#!/usr/bin/env python3
"""tests/slowfs/slowfs_self_test.py BUILD — iowq-slowfs itself (label slowfs).

  passthrough  modes (setuid, sticky), sizes, bytes, ns atime/mtime, symlinks,
               hard links, renames, truncation: the same through the mount as
               in the backing directory
  counts       the JSON stats count each WRITE request and its size
  inflight     4 threads writing at once are served at once (max_inflight >= 2);
               --max-inflight=1 serves one at a time (max_inflight == 1)
  writeback    with --writeback-cache the kernel sends fewer, larger writes
  cleanup      the mount is gone after its owner gets SIGTERM, and after its
               owner is SIGKILLed (iowq-slowfs --die-with-parent)
FAILS (never skips) without root or /dev/fuse.
"""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SLOWFS_PY = os.path.join(HERE, "..", "..", "tools", "bench", "slowfs")
sys.path.insert(0, SLOWFS_PY)
import mount  # noqa: E402

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


def write_file(path, chunks, size, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    fd = os.open(path, flags, 0o644)
    for i in range(chunks):
        os.write(fd, bytes([i % 251]) * size)
    os.close(fd)


def passthrough(binary, base):
    b, m = os.path.join(base, "pt-b"), os.path.join(base, "pt-m")
    with mount.SlowMount(binary, b, m, latency="0.2ms") as sm:
        write_file(os.path.join(m, "f"), 8, 4096)
        os.chmod(os.path.join(m, "f"), 0o4751)
        os.utime(os.path.join(m, "f"), ns=(1234567890_123456789, 1500000000_000000007))
        os.mkdir(os.path.join(m, "d"))
        os.chmod(os.path.join(m, "d"), 0o1777)
        os.symlink("../f", os.path.join(m, "d", "l"))
        os.link(os.path.join(m, "f"), os.path.join(m, "hard"))
        write_file(os.path.join(m, "t"), 3, 1000)
        os.truncate(os.path.join(m, "t"), 1234)
        os.rename(os.path.join(m, "t"), os.path.join(m, "d", "t2"))
        for rel in ("f", "d", "d/l", "hard", "d/t2"):
            a, c = os.lstat(os.path.join(m, rel)), os.lstat(os.path.join(b, rel))
            # Not st_nlink: libfuse's high-level API gives each name its own
            # node, so "f" keeps its cached nlink for attr_timeout after link().
            same = (a.st_mode, a.st_size, a.st_mtime_ns) == (c.st_mode, c.st_size, c.st_mtime_ns)
            check(same, "passthrough: %s mode/size/mtime the same through the mount" % rel)
        st = os.stat(os.path.join(m, "f"))
        check(st.st_mode & 0o7777 == 0o4751, "passthrough: chmod 4751 kept (got %o)" % (st.st_mode & 0o7777))
        check(st.st_mtime_ns == 1500000000_000000007 and st.st_atime_ns == 1234567890_123456789,
              "passthrough: utimens to the ns (mtime %d atime %d)" % (st.st_mtime_ns, st.st_atime_ns))
        check(os.stat(os.path.join(m, "d")).st_mode & 0o7777 == 0o1777, "passthrough: mkdir 1777 kept")
        check(os.readlink(os.path.join(m, "d", "l")) == "../f", "passthrough: symlink target")
        with open(os.path.join(m, "d", "l"), "rb") as f:
            data = f.read()
        check(data == b"".join(bytes([i % 251]) * 4096 for i in range(8)), "passthrough: bytes read back")
        check(os.path.getsize(os.path.join(m, "d", "t2")) == 1234, "passthrough: truncate")
    s = sm.stats
    check(s is not None, "counts: stats JSON written at unmount")
    if s:
        # 8 x 4 KiB + 3 x 1000 B: one WRITE each without writeback_cache.
        check(s["requests"]["write"] == 11, "counts: 11 WRITE requests (got %d)" % s["requests"]["write"])
        check(s["write_bytes"] == 8 * 4096 + 3000, "counts: write_bytes %d" % s["write_bytes"])
        check(s["write_sizes"]["le4096"] == 11, "counts: 11 writes of <= 4 KiB")
        check(s["read_bytes"] >= 8 * 4096, "counts: read_bytes %d" % s["read_bytes"])
        check(s["latency_ns"]["write"] == 200000, "counts: latency recorded as 200000 ns")
        check(s["writeback_cache"] == 0, "counts: no writeback_cache")


def inflight(binary, base, cap):
    tag = "cap%d" % cap if cap else "nocap"
    b, m = os.path.join(base, tag + "-b"), os.path.join(base, tag + "-m")
    extra = ["--max-inflight=%d" % cap] if cap else []
    # 20 ms per write: 4 threads x 5 writes overlap unless served one by one.
    with mount.SlowMount(binary, b, m, latency="20ms", extra=extra) as sm:
        ts = [threading.Thread(target=write_file, args=(os.path.join(m, "f%d" % i), 5, 4096)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    mx = sm.stats["max_inflight"] if sm.stats else -1
    if cap:
        check(mx == cap, "inflight: --max-inflight=%d serves at most %d (max_inflight %d)" % (cap, cap, mx))
    else:
        check(mx >= 2, "inflight: 4 writing threads served in parallel (max_inflight %d)" % mx)


def writeback(binary, base):
    b, m = os.path.join(base, "wbc-b"), os.path.join(base, "wbc-m")
    with mount.SlowMount(binary, b, m, latency="0.2ms", writeback=True) as sm:
        write_file(os.path.join(m, "f"), 64, 4096)
        with open(os.path.join(b, "f"), "rb") as f:
            check(len(f.read()) == 64 * 4096, "writeback: all bytes in the backing file after close")
    s = sm.stats
    check(s and s["writeback_cache"] == 1, "writeback: the kernel granted writeback_cache")
    if s:
        check(0 < s["requests"]["write"] < 64 and s["write_bytes"] == 64 * 4096,
              "writeback: %d WRITE requests for 64 write(2)s, %d bytes" % (s["requests"]["write"], s["write_bytes"]))


OWNER = """
import os, sys, time
sys.path.insert(0, %r)
import mount
mount.raise_on_signals()
with mount.SlowMount(%r, %r, %r, latency="0.2ms"):
    print("mounted", flush=True)
    time.sleep(60)  # the test kills this process
"""


def cleanup(binary, base, sig):
    tag = "owner-%d" % sig
    b, m = os.path.join(base, tag + "-b"), os.path.join(base, tag + "-m")
    p = subprocess.Popen([sys.executable, "-c", OWNER % (SLOWFS_PY, binary, b, m)], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    check(line == "mounted" and mount.mounted(m), "cleanup: owner mounted %s" % m)
    os.kill(p.pid, sig)
    p.wait(timeout=30)
    deadline = time.monotonic() + 15
    while mount.mounted(m) and time.monotonic() < deadline:
        time.sleep(0.01)  # polling /proc/self/mountinfo, bounded
    check(not mount.mounted(m), "cleanup: mount gone after the owner got %s" % signal.Signals(sig).name)
    mount.unmount(m)


def main():
    if len(sys.argv) != 2:
        print("usage: slowfs_self_test.py BUILD")
        return 2
    why = mount.fuse_problem()
    if why:
        print("FAIL (not run): FUSE is not usable here: %s" % why)
        return 1
    binary = os.path.join(os.path.abspath(sys.argv[1]), "bin", "iowq-slowfs")
    if not os.path.exists(binary):
        print("FAIL (not run): %s not built (libfuse3-dev missing at configure time?)" % binary)
        return 1
    mount.raise_on_signals()
    base = tempfile.mkdtemp(prefix="iowq-slowfs-self.")
    try:
        passthrough(binary, base)
        inflight(binary, base, 0)
        inflight(binary, base, 1)
        writeback(binary, base)
        cleanup(binary, base, signal.SIGTERM)
        cleanup(binary, base, signal.SIGKILL)
    finally:
        left = []
        for d in os.listdir(base):
            p = os.path.join(base, d)
            if os.path.isdir(p) and mount.mounted(p):
                left.append(p)
                mount.unmount(p)
        check(not left, "no mount left behind (%s)" % left)
        if not any(mount.mounted(os.path.join(base, d)) for d in os.listdir(base)):
            subprocess.run(["rm", "-rf", base])
    print("FAILED: %d check(s)" % len(FAILS) if FAILS else "PASS")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
