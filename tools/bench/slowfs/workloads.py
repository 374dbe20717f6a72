"""tools/bench/slowfs/workloads.py — the slow-storage workloads, shared by the
bench (bench.py) and the tests (tests/slowfs/run_slowfs_test.py).

A workload writes into OUT (a fresh directory on the slowfs mount), reading
its inputs from SRC (a local directory prepared once by prepare()); seq_read
reads MNT/big.bin (place_inputs() puts it into each backing directory) into
SINK. Sizes come from a dict like BENCH_SIZES / TEST_SIZES.

MODES: how a workload is run. Every mode but wbc runs on the plain mount
(no writeback_cache); wbc is plain on the writeback_cache mount.
"""
import hashlib
import os
import random
import shutil
import stat
import sys
import tarfile

BENCH_SIZES = dict(dd_bs4k=4 << 20, dd_bs64=4 << 20, tar_files=200, logger_lines=10000, sqlite_rows=1000,
                   writer_ops=1024, cp_files=100, read_bytes=16 << 20, rewrite_bytes=16 << 20)
TEST_SIZES = dict(dd_bs4k=256 << 10, dd_bs64=32 << 10, tar_files=20, logger_lines=300, sqlite_rows=100,
                  writer_ops=64, cp_files=12, read_bytes=1 << 20, rewrite_bytes=4 << 20)

# mode -> (environment additions, writeback_cache mount?)
MODES = {
    "plain": ({}, False),
    "auto": ({"IOWQ_MODE": "auto"}, False),
    "pool": ({"IOWQ_MODE": "pool"}, False),
    "wb": ({"IOWQ_WRITE_BEHIND": "1"}, False),
    "wbc": ({}, True),
}
PRELOADED = ("auto", "pool", "wb")

# name -> (how its files' mtimes compare, does it write files)
#   exact:  the workload sets them (tar): identical to plain's, to the ns
#   window: "now" when written: between the start and the end of the process
WORKLOADS = {
    "dd_bs4k": ("window", True),
    "dd_bs64": ("window", True),
    "tar_xf": ("exact", True),
    "logger": ("window", True),
    "sqlite": ("window", True),
    "threads_4x4": ("window", True),
    "cp_r": ("window", True),
    "seq_read": ("window", False),
    "rewrite": ("window", True),
}


def _rand(rng, n):
    return rng.getrandbits(8 * n).to_bytes(n, "little") if n else b""


def prepare(src, sizes):
    """Builds every workload's local inputs under SRC (deterministic)."""
    rng = random.Random(13)
    os.makedirs(src, exist_ok=True)
    with open(os.path.join(src, "rand.bin"), "wb") as f:
        f.write(_rand(rng, max(sizes["dd_bs4k"], sizes["dd_bs64"])))
    # tar: small files in a few directories, assorted modes, mtimes with ns.
    stage = os.path.join(src, "tarstage")
    for i in range(sizes["tar_files"]):
        d = os.path.join(stage, "d%02d" % (i % 8))
        os.makedirs(d, exist_ok=True)
        p = os.path.join(d, "file%04d.txt" % i)
        with open(p, "wb") as f:
            f.write(_rand(rng, rng.randint(100, 8192)))
        os.chmod(p, (0o644, 0o600, 0o755, 0o640)[i % 4])
        os.utime(p, ns=(1600000000_123456789 + i * 1000003, 1600000000_987654321 + i * 7777777))
    for i in range(8):
        d = os.path.join(stage, "d%02d" % i)
        if os.path.isdir(d):
            os.utime(d, ns=(1500000000_000000001 + i, 1500000000_500000001 + i))
    with tarfile.open(os.path.join(src, "files.tar"), "w", format=tarfile.PAX_FORMAT) as t:
        t.add(stage, arcname="x")
    # cp -r: a tree of files of 1-32 KiB.
    tree = os.path.join(src, "tree")
    for i in range(sizes["cp_files"]):
        d = os.path.join(tree, "sub%d" % (i % 10))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "f%03d" % i), "wb") as f:
            f.write(_rand(rng, rng.randint(1024, 32768)))
    # sqlite: inserts in one transaction.
    with open(os.path.join(src, "inserts.sql"), "w") as f:
        f.write("PRAGMA journal_mode=DELETE;\nCREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL);\nBEGIN;\n")
        for i in range(sizes["sqlite_rows"]):
            f.write("INSERT INTO t VALUES(%d, 'row %d %s', %d.5);\n" % (i, i, "x" * (i % 50), i))
        f.write("COMMIT;\n")
    with open(os.path.join(src, "big.bin"), "wb") as f:
        left = sizes["read_bytes"]
        while left:
            n = min(left, 1 << 20)
            f.write(_rand(rng, n))
            left -= n


def place_inputs(src, backing):
    """Puts seq_read's file into a backing directory (before it is mounted)."""
    dst = os.path.join(backing, "big.bin")
    if not os.path.exists(dst):
        try:
            os.link(os.path.join(src, "big.bin"), dst)
        except OSError:
            shutil.copyfile(os.path.join(src, "big.bin"), dst)


def command(name, sizes, bins, src, out, mnt, sink):
    """argv of workload NAME writing into OUT; bins: {"writer": path, "logger": path}."""
    if name in ("dd_bs4k", "dd_bs64"):
        bs = 4096 if name == "dd_bs4k" else 64
        return ["dd", "if=" + os.path.join(src, "rand.bin"), "of=" + os.path.join(out, "f"), "bs=%d" % bs,
                "count=%d" % (sizes[name] // bs), "status=none"]
    if name == "tar_xf":
        return ["tar", "xf", os.path.join(src, "files.tar"), "-C", out]
    if name == "logger":
        return [bins["logger"], os.path.join(out, "log"), str(sizes["logger_lines"]), "80"]
    if name == "sqlite":
        return ["sqlite3", os.path.join(out, "db"), ".read " + os.path.join(src, "inserts.sql")]
    if name == "threads_4x4":
        return [bins["writer"], "-n", str(sizes["writer_ops"]), "-s", "4096", "-t", "4", "-f", "4",
                os.path.join(out, "f")]
    if name == "cp_r":
        return ["cp", "-r", os.path.join(src, "tree"), os.path.join(out, "tree")]
    if name == "rewrite":
        return [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "rewrite.py"),
                os.path.join(out, "f"), str(sizes["rewrite_bytes"])]
    if name == "seq_read":
        return ["dd", "if=" + os.path.join(mnt, "big.bin"), "of=" + sink, "bs=128k", "status=none"]
    raise KeyError(name)


def _entry(p):
    st = os.lstat(p)
    if stat.S_ISREG(st.st_mode):
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        what, digest = "file", h.hexdigest()
    elif stat.S_ISLNK(st.st_mode):
        what, digest = "link", os.readlink(p)
    elif stat.S_ISDIR(st.st_mode):
        what, digest = "dir", ""
    else:
        what, digest = "other", ""
    size = 0 if what == "dir" else st.st_size  # a directory's size is the filesystem's business
    return (what, size, st.st_mode, st.st_uid, st.st_gid, digest, st.st_mtime_ns)


def manifest(root):
    """relpath -> (type, size, mode, uid, gid, sha256 or link target, mtime_ns) for ROOT's tree."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        out[os.path.relpath(dirpath, root)] = _entry(dirpath)
        for n in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, root)] = _entry(p)
    return out
