"""iowq_cases.py - the integration cases: deterministic inputs and the steps.

Each Case names the real programs it runs, builds its inputs in an empty work
dir (seeded random bytes, text lines, a small source tree; the same bytes and
mtimes on every call), lists its steps, and names the libc entry points that
must show up as routed or inline in the shim's reports. Those were chosen from
`strace -f -c` and `nm -D` of the Debian 12 binaries (coreutils 9.1, tar 1.34,
gzip 1.12, sqlite 3.40, git 2.39, python 3.11); what each program calls is in
the case's doc string. stdio output (fwrite, fputs) goes through libc's
internal write and is not interposable; only direct calls count.

Views replace raw bytes where they are not meaningful: a case's views(work,
capture) returns {name: bytes}, capture(argv, cwd) running a command plain.
"""

import os
import random

FIXED_TIME = 1600000000  # mtime of every input, so tar/gzip headers match


# ---------------------------------------------------------------------------
# Deterministic inputs
# ---------------------------------------------------------------------------

def write_file(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def rand_bytes(seed, n):
    return random.Random(seed).randbytes(n)


def text_lines(seed, n):
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "io", "wq", "worker", "hash",
             "bound", "unbound", "write", "read", "pool", "node", "queue"]
    return "".join("%06d %s\n" % (i, " ".join(rng.choice(words) for _ in range(rng.randint(1, 12))))
                   for i in range(n)).encode()


def source_tree(root, seed):
    """A small source tree: text files, a binary, an empty dir, a symlink."""
    rng = random.Random(seed)
    for d in ["src", "src/core", "src/shim", "include/iowq", "docs"]:
        for k in range(rng.randint(2, 4)):
            name = "%s/file%d.%s" % (d, k, rng.choice(["c", "h", "txt"]))
            write_file(os.path.join(root, name), text_lines(seed * 100 + len(name) + k, rng.randint(5, 300)))
    write_file(os.path.join(root, "README.txt"), b"a small tree\n")
    write_file(os.path.join(root, "bin/blob.bin"), rand_bytes(seed + 7, 70000))
    write_file(os.path.join(root, "tools/run.sh"), b"#!/bin/sh\necho run\n", 0o755)
    os.makedirs(os.path.join(root, "empty"), exist_ok=True)
    os.symlink("src/core", os.path.join(root, "link-to-core"))


def fix_mtimes(root):
    """Same mtimes in every copy, children before their directory."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for n in filenames + dirnames:
            os.utime(os.path.join(dirpath, n), (FIXED_TIME, FIXED_TIME), follow_symlinks=False)
    os.utime(root, (FIXED_TIME, FIXED_TIME))


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

class Step:
    """One command. argv is a list (run directly) or a str (run with sh -c)."""

    def __init__(self, argv, stdin=None, stderr_filter=None, compare_stderr=True):
        self.argv = ["sh", "-c", argv] if isinstance(argv, str) else argv
        self.stdin = stdin  # file name in the work dir, or None (/dev/null)
        self.stderr_filter = stderr_filter
        self.compare_stderr = compare_stderr

    def label(self):
        return " ".join(self.argv)


class Case:
    def __init__(self, name, doc, needs, inputs, steps, expect_calls, views=None, exclude=(), variants=None):
        self.name = name
        self.needs = needs                # programs that must be on PATH
        self.doc = doc
        self.inputs = inputs              # fn(workdir)
        self.steps = steps                # [Step]
        self.expect_calls = expect_calls  # symbols that must be routed or inline
        self.views = views                # fn(workdir, capture) -> {name: bytes}
        self.exclude = set(exclude)       # paths (and what is under them) not compared raw
        self.variants = variants          # default variants, None = ["auto"]


def _dd_inputs(w):
    write_file(os.path.join(w, "in.bin"), rand_bytes(1, 300001))
    write_file(os.path.join(w, "base.bin"), rand_bytes(2, 100000))


def _dd_steps():
    # dd calls read/write only (plus fdatasync for conv=fdatasync, a
    # write-behind sync point); seek= is an lseek on the output, then write.
    return [
        Step(["dd", "if=in.bin", "of=o64.bin", "bs=64", "status=noxfer"]),
        Step(["dd", "if=in.bin", "of=o4k.bin", "bs=4k", "status=noxfer"]),
        Step(["dd", "if=in.bin", "of=base.bin", "bs=4k", "seek=5", "conv=notrunc,fdatasync", "status=noxfer"]),
        Step(["dd", "if=in.bin", "of=base.bin", "bs=1000", "skip=3", "seek=13", "count=7",
              "conv=notrunc,fdatasync", "status=noxfer"]),
        Step(["dd", "if=in.bin", "bs=4k", "status=noxfer"]),  # stdout is the harness's pipe
    ]


def _tree_inputs(w):
    source_tree(os.path.join(w, "tree"), 3)


def _tar_inputs(w):
    _tree_inputs(w)
    os.makedirs(os.path.join(w, "x"))


TAR_FIXED = ["--sort=name", "--mtime=@%d" % FIXED_TIME, "--owner=0", "--group=0", "--numeric-owner"]


def _gzip_inputs(w):
    write_file(os.path.join(w, "data.txt"), text_lines(5, 40000))
    write_file(os.path.join(w, "noise.bin"), rand_bytes(6, 200000))


def _sqlite_inputs(w):
    rng = random.Random(7)
    sql = ["CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL, blob BLOB);",
           "CREATE INDEX t_name ON t(name);", "BEGIN;"]
    for i in range(2000):
        sql.append("INSERT INTO t VALUES(%d, 'name-%d', %d.25, x'%s');"
                   % (i, rng.randrange(100000), rng.randrange(10**6), rng.randbytes(rng.randint(0, 40)).hex()))
    sql += ["COMMIT;", "SELECT count(*), sum(v), max(length(blob)) FROM t;",
            "SELECT id, name FROM t WHERE id % 250 = 0 ORDER BY name;"]
    write_file(os.path.join(w, "script.sql"), ("\n".join(sql) + "\n").encode())


def _sqlite_views(w, capture):
    return {"<sqlite3 t.db .dump>": capture(["sqlite3", "t.db", ".dump"], w)}


def _git_inputs(w):
    _tree_inputs(w)


def _git_views(w, capture):
    t = os.path.join(w, "tree")
    views = {}
    for argv in (["git", "log", "--format=%H%n%T"], ["git", "fsck", "--full", "--strict"],
                 ["git", "ls-files", "-s"], ["git", "cat-file", "-p", "HEAD"]):
        views["<%s>" % " ".join(argv)] = capture(argv, t)
    return views


PY_WRITER = r"""
import os
fd = os.open("lines.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for i in range(10000):
    os.write(fd, b"%05d the quick brown fox %d\n" % (i, i * 7919 % 1000))
os.close(fd)
"""

PY_READER = r"""
import hashlib, os
fd = os.open("input.bin", os.O_RDONLY)
h = hashlib.sha256(); n = 0; k = 0
while k < 100000:
    b = os.read(fd, 1000 + k % 3000)  # odd sizes: short reads at the end
    if not b:
        break
    h.update(b); n += len(b); k += 1
tail = os.pread(fd, 4096, 12345)
os.close(fd)
line = "%d %d %s %s\n" % (n, k, h.hexdigest(), hashlib.sha256(tail).hexdigest())
out = os.open("digest.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(out, line.encode())
os.close(out)
print(line, end="")
"""

PY_SOCKET = r"""
import hashlib, socket, threading
a, b = socket.socketpair()
def echo():
    while True:
        d = b.recv(4096)
        if not d:
            break
        b.sendall(d)
    b.close()
t = threading.Thread(target=echo)
t.start()
out = bytearray()
for i in range(1000):
    msg = (b"message %d " % i) * (i % 13 + 1)
    a.sendall(msg)
    got = b""
    while len(got) < len(msg):
        part = a.recv(len(msg) - len(got))
        if not part:
            raise SystemExit("peer closed early")
        got += part
    out += got
a.shutdown(socket.SHUT_WR)
assert a.recv(10) == b""
a.close()
t.join()
with open("echo.out", "wb") as f:
    f.write(out)
print(len(out), hashlib.sha256(out).hexdigest())
"""

PY_PIPE = r"""
import subprocess, sys
producer = subprocess.Popen([sys.executable, "-c", '''
import os
for i in range(3000):
    os.write(1, b"%06d produced line with some payload %s\\n" % (i, b"x" * (i % 50)))
'''], stdout=subprocess.PIPE)
with open("consumed.txt", "wb") as out:
    consumer = subprocess.Popen([sys.executable, "-c", '''
import os, sys
n = 0
while True:
    b = os.read(0, 777)
    if not b:
        break
    os.write(1, b.upper())
    n += len(b)
os.write(2, b"consumer bytes %d\\n" % n)
'''], stdin=producer.stdout, stdout=out)
    producer.stdout.close()
    rc = (consumer.wait(timeout=50), producer.wait(timeout=50))
print("rc", rc)
sys.exit(0 if rc == (0, 0) else 1)
"""


def _py_inputs(script):
    def make(w):
        write_file(os.path.join(w, "prog.py"), script.encode())
        write_file(os.path.join(w, "input.bin"), rand_bytes(9, 2 * 1024 * 1024 + 17))
    return make


def _bad_inputs(w):
    write_file(os.path.join(w, "in.bin"), rand_bytes(11, 200000))


CASES = {}


def _add(case):
    CASES[case.name] = case


_add(Case("dd", "dd bs=64 / bs=4k to a file, notrunc seek/skip, and to a pipe (read, write)",
          ["dd"],
          _dd_inputs, _dd_steps(), ["read", "write"]))
_add(Case("cp", "cp --reflink=never of a 5 MiB file. coreutils 9.1 cp then uses read/write "
          "(128 KiB); without --reflink=never it uses copy_file_range, which is not interposed",
          ["cp"],
          lambda w: write_file(os.path.join(w, "big.bin"), rand_bytes(4, 5 * 1024 * 1024)),
          [Step(["cp", "--reflink=never", "big.bin", "copy.bin"])], ["read", "write"]))
_add(Case("cat", "cat through sh redirections. To a regular file, cat 9.1 uses copy_file_range "
          "(no read/write); with >> (O_APPEND) copy_file_range fails EBADF and cat falls back to "
          "read/write; a pipe on stdin is read with read",
          ["sh", "cat"],
          lambda w: (write_file(os.path.join(w, "f1.txt"), text_lines(12, 3000)),
                     write_file(os.path.join(w, "f2.bin"), rand_bytes(13, 150000))),
          [Step("cat f1.txt f2.bin > out.bin"),
           Step("cat f2.bin f1.txt >> out.bin"),
           Step("cat f1.txt | cat - f2.bin > out2.bin")], ["read", "write"]))
_add(Case("tar", "tar -c of a small tree to a .tar, then -x elsewhere (read, write; tar opens the "
          "files it archives and extracts O_NONBLOCK, so only the archive's I/O is routed)",
          ["tar"],
          _tar_inputs,
          [Step(["tar"] + TAR_FIXED + ["-cf", "t.tar", "tree"]),
           Step(["tar", "-tvf", "t.tar"]),
           Step(["tar", "-xf", "t.tar", "-C", "x"])], ["read", "write"]))
_add(Case("gzip", "gzip -c to a file and gunzip -c back (read, write; gzip opens its input file "
          "O_NONBLOCK, so those reads pass through; its writes to stdout are routed)",
          ["sh", "gzip", "gunzip"],
          _gzip_inputs,
          [Step("gzip -n -c data.txt > data.txt.gz"),
           Step("gzip -n -9 -c noise.bin > noise.bin.gz"),
           Step("gunzip -c data.txt.gz > data.back"),
           Step("gunzip -c < noise.bin.gz > noise.back")], ["read", "write"]))
_add(Case("sqlite3", "sqlite3: 2000 inserts in a transaction, queries; libsqlite3 uses "
          "pwrite64/pread64 for db and journal (the CLI's stdin/stdout are stdio, not interposed)",
          ["sqlite3"],
          _sqlite_inputs,
          [Step(["sqlite3", "t.db"], stdin="script.sql"),
           Step(["sqlite3", "t.db", "SELECT count(*), min(name), max(name) FROM t;"]),
           Step(["sqlite3", "t.db", "UPDATE t SET v = v + 1 WHERE id % 3 = 0; DELETE FROM t WHERE id % 7 = 0;"])],
          ["pwrite64", "pread64"], views=_sqlite_views, exclude={"t.db"}))
_add(Case("git", "git init/add/commit/repack of a small tree, fixed dates and identity "
          "(read, write, pread64 on packs)",
          ["sh", "git"],
          _git_inputs,
          [Step("cd tree && git init -q -b main ."),
           Step("cd tree && git add -A && git commit -q -m initial"),
           Step("cd tree && echo change >> README.txt && git commit -q -a -m second"),
           Step("cd tree && git repack -a -d -q && git gc -q --prune=now")],
          ["read", "write"], views=_git_views, exclude={"tree/.git"}))
_add(Case("py_write", "python3 os.write of 10k short lines to a file (write)",
          ["python3"],
          _py_inputs(PY_WRITER), [Step(["python3", "prog.py"])], ["write"]))
_add(Case("py_read", "python3 os.read of a 2 MiB file in odd sizes, one os.pread, digest os.write (read, pread64, write)",
          ["python3"],
          _py_inputs(PY_READER), [Step(["python3", "prog.py"])], ["read", "pread64"]))
_add(Case("py_socket", "python3 socketpair echo between two threads (send, recv)",
          ["python3"],
          _py_inputs(PY_SOCKET), [Step(["python3", "prog.py"])], ["send", "recv"]))
_add(Case("py_pipe", "python3 subprocess producer | consumer > file (pipes: read/write only "
          "routed with IOWQ_ROUTE=all; the consumer's file writes always)",
          ["python3"],
          _py_inputs(PY_PIPE), [Step(["python3", "prog.py"])], ["write"]))
_add(Case("env_all_bad", "every IOWQ_* variable with an invalid value set to nonsense: same output, "
          "one 'iowq:' warning per variable, defaults kept (auto mode, no write-behind). "
          "dd is one process, so each warning is printed once",
          ["dd"],
          _bad_inputs,
          [Step(["dd", "if=in.bin", "of=out.bin", "bs=4k", "status=noxfer"])],
          ["read", "write"], variants=["bad"]))
