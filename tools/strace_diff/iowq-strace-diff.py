#!/usr/bin/env python3
# iowq-strace-diff: run a command under `strace -f` twice, once plain and once
# under the iowq shim (through the iowq-run beside this script), and show that
# it did the same I/O: per output file the ordered bytes written (identical or
# not, first difference), syscall counts side by side, how many syscalls ran on
# iowq worker threads (worker_tids from the shim's JSON reports), wall time and
# exit status of each run.
#
# Contract (docs/design.md §8, man page iowq-strace-diff(1)):
#   exit 0  both runs wrote the same bytes to the same files, same exit status
#   exit 1  they did not
#   exit 2  usage error, or the comparison could not be made (strace/iowq-run
#           missing, --setup failed, command not found)
# Python 3 standard library only. Installed as bin/iowq-strace-diff.
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PROG = "iowq-strace-diff"
VERSION = "@PROJECT_VERSION@"
STRSIZE = 8 << 20          # strace -s: longest buffer shown in full (bytes)
SNAPSHOT_MAX = 256 << 20   # largest output file whose final content is kept
TOP_SYSCALLS = 20
IO_FAMILY = ("write", "pwrite64", "writev", "pwritev", "pwritev2", "read",
             "pread64", "readv", "preadv", "preadv2", "send", "sendto",
             "sendmsg", "recv", "recvfrom", "recvmsg")
IGNORED_PREFIXES = ("/proc/", "/sys/", "/dev/pts/")
IGNORED_PATHS = ("/dev/null", "/dev/tty")

HELP = """\
Usage: iowq-strace-diff [OPTIONS] [--] COMMAND [ARG]...

Run COMMAND twice under `strace -f`, once plain and once under the iowq shim
(via the iowq-run installed beside this tool), and compare what it wrote.

Reports, per output file, the ordered bytes written in each run (identical or
not, with the offset and an excerpt of the first difference); syscall counts
side by side (top 20 plus the read/write family); how many syscalls of the shim
run were made by iowq worker threads versus the program's own threads; the
wall time (under strace) and the exit status of each run.

Options of this tool:
  --json            print one JSON object instead of the text report
  --keep            keep the temporary directory (traces, captured
                    stdout/stderr, shim reports) and print its path
  --setup=CMD       shell command run (sh -c, in the working directory)
                    before EACH run, e.g. to remove the outputs of the
                    previous run; a failing CMD aborts with exit status 2
  --cwd=DIR         run COMMAND (and --setup) in DIR (default: current dir)
  --strace=PATH     strace binary to use (default: strace from PATH)
  -h, --help        show this help and exit
  --version         show the version and exit

Every other option before COMMAND is passed to iowq-run for the shim run, e.g.
--mode=pool or --write-behind; give values in the --opt=VALUE form (they are
checked by running iowq-run on `true` first). The shim
run gets IOWQ_STATS=<tmp>/iowq/report.%p.json and IOWQ_STATS_FORMAT=json so
every process writes its report (do not pass --stats options through).

What is compared:
  * write, pwrite64, writev, pwritev, pwritev2 and send, sendto, sendmsg, by
    the file each fd names (strace -y). Writes are laid out as a file image:
    write/writev at the path's current position (opens, O_TRUNC, O_APPEND,
    lseek and ftruncate are followed per path), pwrite* at their offset.
  * Files written where the data is not in the trace (copy_file_range,
    sendfile, splice, FICLONE) are compared by their content after the run.
  * Sockets and pipes are compared as streams, named socket#N / pipe#N in the
    order of their first write. The command's stdout and stderr are captured
    to files and compared as <stdout> and <stderr>; its stdin is /dev/null.
    <stderr> is shown but not judged (it carries timings, e.g. dd's rate).
  * Ignored: /proc, /sys, /dev/pts, /dev/null, /dev/tty and this tool's
    temporary directory.

Exit status: 0 equivalent (same bytes to the same files and the same exit
status), 1 not equivalent, 2 usage error or the comparison could not be made.

Example:
  iowq-strace-diff --mode=pool --setup='rm -f out' -- dd if=in of=out bs=64
"""


class UsageError(Exception):
    """Reported as `iowq-strace-diff: <message>`, exit status 2."""


# ---- command line -----------------------------------------------------------

def parse_args(argv):
    opts = {"json": False, "keep": False, "setup": None, "cwd": None,
            "strace": None, "forward": [], "command": []}
    valued = {"--setup": "setup", "--cwd": "cwd", "--strace": "strace"}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        name, eq, value = a.partition("=")
        if a in ("-h", "--help"):
            opts["help"] = True
        elif a == "--version":
            opts["version"] = True
        elif a == "--json":
            opts["json"] = True
        elif a == "--keep":
            opts["keep"] = True
        elif name in valued:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise UsageError("option %s needs a value" % name)
                value = argv[i]
            opts[valued[name]] = value
        elif name in ("--json", "--keep", "--help", "--version"):
            raise UsageError("option %s takes no value" % name)
        else:
            opts["forward"].append(a)  # one of iowq-run's options
        i += 1
    opts["command"] = argv[i:]
    return opts


def find_strace(explicit):
    path = explicit if explicit else shutil.which("strace")
    if not path or not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise UsageError("strace not found%s (install the strace package or "
                         "use --strace=PATH)" % (": " + explicit if explicit else ""))
    return path


def check_forwarded(iowq_run, forward):
    """Let iowq-run judge the options meant for it (on `true`), so a bad one
    is a usage error here rather than a difference in exit status."""
    true = shutil.which("true") or "/bin/true"
    r = subprocess.run([iowq_run] + forward + ["--", true], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        msg = r.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError("iowq-run rejected %s: %s" % (" ".join(forward),
                                                       msg[0] if msg else "status %d" % r.returncode))


def find_command(cmd, cwd):
    if "/" in cmd:
        full = cmd if os.path.isabs(cmd) else os.path.join(cwd, cmd)
        ok = os.path.isfile(full) and os.access(full, os.X_OK)
    else:
        ok = shutil.which(cmd) is not None
    if not ok:
        raise UsageError("command not found or not executable: %s" % cmd)


# ---- strace output: lines to syscall records --------------------------------

LINE_RE = re.compile(r"^(?:(\d+)\s+)?([A-Za-z_][A-Za-z0-9_]*)\((.*)\)\s+=\s+(.*)$")
UNFINISHED = " <unfinished ...>"
RESUMED_RE = re.compile(r"^(?:(\d+)\s+)?<\.\.\. ([A-Za-z0-9_]+) resumed>(.*)$")
FD_RE = re.compile(r"^(-?\d+|AT_FDCWD)(?:<(.*)>)?$")
RET_RE = re.compile(r"^(-?\d+|0x[0-9a-fA-F]+)")
IOV_RE = re.compile(r'iov_base=("(?:[^"\\]|\\.)*"(?:\.\.\.)?)')


def records(path, default_tid):
    """Yield (tid, name, args_text, ret_text) per completed syscall; joins
    `<unfinished ...>` / `<... resumed>` halves, which -f interleaves."""
    pending = {}
    with open(path, "r", encoding="latin-1") as f:
        for line in f:
            line = line.rstrip("\n")
            m = RESUMED_RE.match(line)
            if m:
                tid = int(m.group(1) or default_tid)
                head = pending.pop(tid, None)
                if head is None:
                    continue
                line = "%d %s%s" % (tid, head, m.group(3))
            elif line.endswith(UNFINISHED):
                m = re.match(r"^(?:(\d+)\s+)?(.*)$", line[:-len(UNFINISHED)])
                pending[int(m.group(1) or default_tid)] = m.group(2)
                continue
            m = LINE_RE.match(line)
            if m:
                yield (int(m.group(1) or default_tid), m.group(2), m.group(3),
                       m.group(4))
    for tid, head in pending.items():  # never resumed (process killed)
        m = re.match(r"([A-Za-z0-9_]+)\((.*)$", head)
        if m:
            yield (tid, m.group(1), m.group(2), "?")


def split_args(text):
    """Top-level comma split; strings hold only \\xNN under -xx, but keep
    quotes and nesting straight anyway."""
    out, depth, start, i, n = [], 0, 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            out.append(text[start:i].strip())
            start = i + 1
        i += 1
    out.append(text[start:].strip())
    return out


ESCAPES = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, "\\": 92, '"': 34}


def unquote(lit):
    """strace string literal -> (bytes, truncated)."""
    truncated = lit.endswith("...")
    if truncated:
        lit = lit[:-3]
    body = lit[1:-1] if len(lit) >= 2 and lit[0] == '"' else ""
    try:
        return bytes.fromhex(body.replace("\\x", "")), truncated
    except ValueError:
        pass
    out, i = bytearray(), 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(ord(c) & 0xFF)
            i += 1
        elif body[i + 1:i + 2] == "x":
            out.append(int(body[i + 2:i + 4], 16))
            i += 4
        elif body[i + 1:i + 2].isdigit():
            j = i + 1
            while j < len(body) and j < i + 4 and body[j] in "01234567":
                j += 1
            out.append(int(body[i + 1:j], 8) & 0xFF)
            i = j
        else:
            out.append(ESCAPES.get(body[i + 1:i + 2], ord(body[i + 1:i + 2] or "\\")))
            i += 2
    return bytes(out), truncated


def ret_value(ret):
    m = RET_RE.match(ret)
    return int(m.group(1), 0) if m else None


def fd_target(arg):
    """`3</x2f/x74...>` -> decoded target text ('/tmp/f', 'socket:[12]')."""
    m = FD_RE.match(arg)
    if not m or m.group(2) is None:
        return None
    data, _ = unquote('"%s"' % m.group(2))
    name = os.fsdecode(data)
    return name[:-10] if name.endswith(" (deleted)") else name


# ---- per-run reconstruction -------------------------------------------------

class Output:
    """What one run did to one output: the bytes written, laid out as a file
    image (streams: appended), plus facts for the report."""

    def __init__(self, kind):
        self.kind = kind
        self.image = bytearray()
        self.cursor = 0
        self.append = kind != "file"
        self.written = 0
        self.writes = 0
        self.opaque = set()
        self.incomplete = False
        self.final = None  # content after the run (regular files, opaque writes)

    def put(self, data, nbytes, offset=None):
        pos = offset if offset is not None else (
            len(self.image) if self.append else self.cursor)
        if len(data) < nbytes:
            self.incomplete = True
            data = data + bytes(nbytes - len(data))
        data = data[:nbytes]
        if pos > len(self.image):
            self.image.extend(bytes(pos - len(self.image)))
        self.image[pos:pos + len(data)] = data
        if offset is None:
            self.cursor = pos + len(data)
        self.written += nbytes
        self.writes += 1


class Run:
    def __init__(self, label, tmp, rundir):
        self.label = label
        self.tmp = tmp
        self.rundir = rundir
        self.outputs = {}
        self.counts = {}       # syscall name -> count
        self.by_tid = {}       # tid -> {name: count}
        self.ordinals = {}     # socket:[ino] / pipe:[ino] -> socket#N / pipe#N
        self.wall = 0.0
        self.status = None
        self.unparsed = 0

    def key(self, target):
        """Output key for an fd target, or None when it is not compared."""
        if target is None:
            return None, None
        for kind in ("socket", "pipe"):
            if target.startswith(kind + ":["):
                if target not in self.ordinals:
                    n = sum(1 for v in self.ordinals.values() if v.startswith(kind))
                    self.ordinals[target] = "%s#%d" % (kind, n + 1)
                return self.ordinals[target], kind
        if not target.startswith("/"):
            return None, None
        for std in ("stdout", "stderr"):
            if target == os.path.join(self.rundir, std):
                return "<%s>" % std, "file"
        if (target in IGNORED_PATHS or target.startswith(IGNORED_PREFIXES)
                or target == self.tmp or target.startswith(self.tmp + "/")):
            return None, None
        return target, "file"

    def output(self, target):
        key, kind = self.key(target)
        if key is None:
            return None
        if key not in self.outputs:
            self.outputs[key] = Output(kind)
        return self.outputs[key]

    def feed(self, tid, name, args_text, ret):
        self.counts[name] = self.counts.get(name, 0) + 1
        per = self.by_tid.setdefault(tid, {})
        per[name] = per.get(name, 0) + 1
        rv = ret_value(ret)
        if name in WRITES:
            if rv is None or rv < 0:
                return
            args = split_args(args_text)
            out = self.output(fd_target(args[0]))
            if out is not None:
                WRITES[name](out, args, rv)
        elif name in OPAQUE and rv is not None and rv >= 0:
            if name == "ioctl" and "FICLONE" not in args_text:
                return
            args = split_args(args_text)
            out = self.output(fd_target(args[OPAQUE[name]]))
            if out is not None and out.kind == "file":
                out.opaque.add(name)
            elif out is not None:
                out.incomplete = True  # stream bytes strace cannot show
        elif name in ("open", "openat", "openat2", "creat"):
            if rv is None or rv < 0:
                return
            target = fd_target(ret.split(" ", 1)[0])
            key, _ = self.key(target)
            trunc = name == "creat" or "O_TRUNC" in args_text
            if key is None or (key not in self.outputs and not trunc
                               and "O_CREAT" not in args_text):
                return
            out = self.output(target)
            out.cursor = 0
            out.append = out.kind != "file" or "O_APPEND" in args_text
            if trunc:
                del out.image[:]
        elif name == "lseek" and rv is not None and rv >= 0:
            key, _ = self.key(fd_target(split_args(args_text)[0]))
            if key in self.outputs:
                self.outputs[key].cursor = rv
        elif name == "ftruncate" and rv == 0:
            args = split_args(args_text)
            key, _ = self.key(fd_target(args[0]))
            if key in self.outputs:
                img, size = self.outputs[key].image, int(args[1], 0)
                if size < len(img):
                    del img[size:]
                else:
                    img.extend(bytes(size - len(img)))

    def snapshot(self):
        """Keep the final content of regular-file outputs (for opaque writes,
        and as a cross-check in the report)."""
        for key, out in self.outputs.items():
            if out.kind != "file":
                continue
            path = os.path.join(self.rundir, key[1:-1]) if key.startswith("<") else key
            try:
                if os.path.isfile(path) and os.path.getsize(path) <= SNAPSHOT_MAX:
                    with open(path, "rb") as f:
                        out.final = f.read()
            except OSError:
                pass


def _stream_data(args):
    data, trunc = unquote(args[1])
    return data, trunc


def _iov_data(text):
    parts, trunc = [], False
    for lit in IOV_RE.findall(text):
        d, t = unquote(lit)
        parts.append(d)
        trunc = trunc or t
    return b"".join(parts), trunc


def _w_write(out, args, rv):
    data, trunc = _stream_data(args)
    out.put(data, rv)
    out.incomplete |= trunc and len(data) < rv


def _w_pwrite(out, args, rv):
    data, trunc = _stream_data(args)
    out.put(data, rv, None if out.kind != "file" else int(args[3], 0))
    out.incomplete |= trunc and len(data) < rv


def _w_writev(out, args, rv):
    out.put(_iov_data(args[1])[0], rv)


def _w_pwritev(out, args, rv):
    off = int(args[3], 0) if len(args) > 3 else -1
    if len(args) > 4 and "RWF_APPEND" in args[4]:
        off = -1
    out.put(_iov_data(args[1])[0], rv, off if off >= 0 and out.kind == "file" else None)


def _w_sendmsg(out, args, rv):
    out.put(_iov_data(args[1])[0], rv)


WRITES = {"write": _w_write, "send": _w_write, "sendto": _w_write,
          "pwrite64": _w_pwrite, "writev": _w_writev, "pwritev": _w_pwritev,
          "pwritev2": _w_pwritev, "sendmsg": _w_sendmsg}
# Writes whose data strace cannot show: syscall -> index of the destination fd.
OPAQUE = {"copy_file_range": 2, "sendfile": 0, "sendfile64": 0, "splice": 2,
          "tee": 1, "vmsplice": 0, "ioctl": 0}


# ---- running ----------------------------------------------------------------

def run_once(run, strace, argv, env, cwd, setup):
    os.makedirs(run.rundir)
    if setup:
        r = subprocess.run(["/bin/sh", "-c", setup], cwd=cwd, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise UsageError("--setup command failed (status %d) before the %s run"
                             % (r.returncode, run.label))
    trace = os.path.join(run.rundir, "trace")
    cmd = [strace, "-f", "-qq", "-y", "-xx", "-s", str(STRSIZE), "-o", trace, "--"] + argv
    with open(os.path.join(run.rundir, "stdout"), "wb") as so, \
            open(os.path.join(run.rundir, "stderr"), "wb") as se:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                             stdout=so, stderr=se)
        p.wait()
        run.wall = time.monotonic() - t0
    # strace exits with the tracee's status and re-raises a fatal signal.
    run.status = 128 - p.returncode if p.returncode < 0 else p.returncode
    if not os.path.exists(trace) or os.path.getsize(trace) == 0:
        with open(os.path.join(run.rundir, "stderr"), "rb") as f:
            err = f.read().decode(errors="replace").strip()
        raise UsageError("strace produced no trace for the %s run%s"
                         % (run.label, (": " + err) if err else ""))
    # The shim run starts as iowq-run, which execs the command: skip what the
    # launcher did before the command's own execve so both runs compare alike.
    # The launcher's children (a shell launcher's $(...)) are skipped too.
    execs, leader = (0 if run.label == "iowq" else 2), None
    for rec in records(trace, p.pid):
        if execs < 2:
            leader = rec[0] if leader is None else leader
            if rec[0] == leader and rec[1] == "execve" and ret_value(rec[3]) == 0:
                execs += 1
            if execs < 2:
                continue
        try:
            run.feed(*rec)
        except (ValueError, IndexError):  # a shape this parser does not know
            run.unparsed += 1
    run.snapshot()


def read_reports(rundir):
    tids, n = set(), 0
    for name in sorted(os.listdir(rundir)):
        if name.startswith("report.") and name.endswith(".json"):
            try:
                with open(os.path.join(rundir, name)) as f:
                    rep = json.load(f)
            except (OSError, ValueError):
                continue
            n += 1
            tids.update(int(t) for t in rep.get("worker_tids", []))
    return tids, n


def plain_env():
    env = dict(os.environ)
    pre = [p for p in re.split(r"[ :]", env.get("LD_PRELOAD", ""))
           if p and "libiowq" not in os.path.basename(p)]
    if pre:
        env["LD_PRELOAD"] = ":".join(pre)
    else:
        env.pop("LD_PRELOAD", None)
    return env


# ---- comparison and report --------------------------------------------------

def excerpt(data, off, width=16):
    chunk = bytes(data[off:off + width])
    return (" ".join("%02x" % b for b in chunk),
            "".join(chr(b) if 32 <= b < 127 else "." for b in chunk))


def first_difference(a, b):
    n = min(len(a), len(b))
    step = 4096
    for base in range(0, n, step):
        if a[base:base + step] != b[base:base + step]:
            for i in range(base, min(base + step, n)):
                if a[i] != b[i]:
                    return i
    return None if len(a) == len(b) else n


def compare_outputs(plain, iowq):
    files = []
    for key in sorted(set(plain.outputs) | set(iowq.outputs)):
        p, q = plain.outputs.get(key), iowq.outputs.get(key)
        kind = (p or q).kind
        opaque = sorted((p.opaque if p else set()) | (q.opaque if q else set()))
        if opaque:
            how = "final_content"
            a = p.final if p and p.final is not None else b""
            b = q.final if q and q.final is not None else b""
        else:
            how = "writes"
            a = p.image if p else b""
            b = q.image if q else b""
        off = first_difference(a, b)
        # stderr carries timings and diagnostics (dd's rate): shown, not judged.
        entry = {"path": key, "kind": kind, "equal": off is None, "compared": how,
                 "counted": key != "<stderr>",
                 "plain_bytes": len(a), "iowq_bytes": len(b),
                 "plain_writes": p.writes if p else 0,
                 "iowq_writes": q.writes if q else 0,
                 "opaque_syscalls": opaque,
                 "incomplete": bool((p and p.incomplete) or (q and q.incomplete)),
                 "first_difference": None}
        if p and q and p.final is not None and q.final is not None:
            entry["final_content_equal"] = p.final == q.final
        if off is not None:
            ph, pa = excerpt(a, off)
            qh, qa = excerpt(b, off)
            entry["first_difference"] = {"offset": off, "plain_hex": ph, "plain_ascii": pa,
                                         "iowq_hex": qh, "iowq_ascii": qa}
        files.append(entry)
    return files


def build_report(argv, plain, iowq, workers, nreports, keep_dir):
    files = compare_outputs(plain, iowq)
    wcounts = {}
    for tid, per in iowq.by_tid.items():
        if tid in workers:
            for name, c in per.items():
                wcounts[name] = wcounts.get(name, 0) + c
    names = sorted(set(plain.counts) | set(iowq.counts),
                   key=lambda n: (-(plain.counts.get(n, 0) + iowq.counts.get(n, 0)), n))
    syscalls = {n: {"plain": plain.counts.get(n, 0), "iowq": iowq.counts.get(n, 0),
                    "iowq_workers": wcounts.get(n, 0)} for n in names}
    worker_sys = sum(wcounts.values())
    same_status = plain.status == iowq.status
    return {
        "equivalent": all(f["equal"] or not f["counted"] for f in files) and same_status,
        "command": argv,
        "files": files,
        "syscalls": syscalls,
        "worker_syscalls": worker_sys,
        "program_syscalls": sum(iowq.counts.values()) - worker_sys,
        "worker_tids": sorted(workers),
        "worker_threads_seen": len([t for t in iowq.by_tid if t in workers]),
        "reports": nreports,
        "unparsed_syscalls": {"plain": plain.unparsed, "iowq": iowq.unparsed},
        "wall_s": {"plain": round(plain.wall, 6), "iowq": round(iowq.wall, 6)},
        "exit_status": {"plain": plain.status, "iowq": iowq.status,
                        "equal": same_status},
        "temp_dir": keep_dir,
    }


def status_text(st):
    if st is not None and st > 128:
        try:
            return "%d (killed by %s)" % (st, signal.Signals(st - 128).name)
        except ValueError:
            pass
    return str(st)


def print_text(rep, out):
    w = out.write
    w("command: %s\n" % shlex.join(rep["command"]))
    w("verdict: %s\n\n" % ("EQUIVALENT: same bytes to the same files, same exit status"
                           if rep["equivalent"] else "DIFFERENT"))
    w("%-44s %12s %12s  %s\n" % ("output (ordered bytes written)", "plain", "iowq", "result"))
    if not rep["files"]:
        w("  (no output written)\n")
    for f in rep["files"]:
        res = "same" if f["equal"] else "DIFFERENT at offset %d" % f["first_difference"]["offset"]
        if f["compared"] == "final_content":
            res += " (content after run; %s)" % ",".join(f["opaque_syscalls"])
        if not f["counted"]:
            res += " (stderr: not judged)"
        if f["incomplete"]:
            res += " (data truncated in trace)"
        w("  %-42s %12d %12d  %s\n" % (f["path"], f["plain_bytes"], f["iowq_bytes"], res))
        d = f["first_difference"]
        if d:
            w("      plain: %-47s |%s|\n" % (d["plain_hex"], d["plain_ascii"]))
            w("      iowq : %-47s |%s|\n" % (d["iowq_hex"], d["iowq_ascii"]))
    es = rep["exit_status"]
    w("\nexit status   plain %s   iowq %s%s\n" % (status_text(es["plain"]), status_text(es["iowq"]),
                                               "" if es["equal"] else "   DIFFERENT"))
    w("wall time     plain %.3f s   iowq %.3f s   (both under strace)\n"
      % (rep["wall_s"]["plain"], rep["wall_s"]["iowq"]))
    w("iowq run      %d syscalls on iowq workers (%d threads), %d by the program's own "
      "threads; %d shim report(s)\n" % (rep["worker_syscalls"], rep["worker_threads_seen"],
                                         rep["program_syscalls"], rep["reports"]))
    un = rep["unparsed_syscalls"]
    if un["plain"] or un["iowq"]:
        w("note: %d/%d syscall lines not understood (plain/iowq)\n" % (un["plain"], un["iowq"]))
    if rep["reports"] == 0:
        w("note: no shim report was written: was libiowq.so loaded? (see <stderr>)\n")
    names = list(rep["syscalls"])
    shown = names[:TOP_SYSCALLS] + [n for n in IO_FAMILY if n in rep["syscalls"]
                                    and n not in names[:TOP_SYSCALLS]]
    w("\n%-24s %10s %10s %14s\n" % ("syscall (top %d + I/O)" % TOP_SYSCALLS, "plain", "iowq",
                                      "iowq workers"))
    for n in shown:
        s = rep["syscalls"][n]
        w("  %-22s %10d %10d %14d\n" % (n, s["plain"], s["iowq"], s["iowq_workers"]))
    if rep["temp_dir"]:
        w("\nkept: %s\n" % rep["temp_dir"])


# ---- main -------------------------------------------------------------------

def main(argv):
    opts = parse_args(argv)
    if opts.get("help"):
        sys.stdout.write(HELP)
        return 0
    if opts.get("version"):
        print("%s %s" % (PROG, VERSION))
        return 0
    if not opts["command"]:
        raise UsageError("no command given (try --help)")
    for f in opts["forward"]:
        if f.split("=")[0] in ("--stats", "--stats-format", "--json-stats"):
            raise UsageError("%s: the shim's report is set by this tool" % f)
    strace = find_strace(opts["strace"])
    here = os.path.dirname(os.path.realpath(sys.argv[0]))
    iowq_run = os.path.join(here, "iowq-run")
    if not os.access(iowq_run, os.X_OK):
        raise UsageError("iowq-run not found beside this tool (%s)" % iowq_run)
    if opts["forward"]:
        check_forwarded(iowq_run, opts["forward"])
    cwd = os.path.abspath(opts["cwd"] or os.getcwd())
    if not os.path.isdir(cwd):
        raise UsageError("--cwd: not a directory: %s" % cwd)
    find_command(opts["command"][0], cwd)

    tmp = os.path.realpath(tempfile.mkdtemp(prefix="iowq-strace-diff."))
    try:
        plain = Run("plain", tmp, os.path.join(tmp, "plain"))
        run_once(plain, strace, opts["command"], plain_env(), cwd, opts["setup"])
        iowq = Run("iowq", tmp, os.path.join(tmp, "iowq"))
        env = dict(os.environ)
        env["IOWQ_STATS"] = os.path.join(iowq.rundir, "report.%p.json")
        env["IOWQ_STATS_FORMAT"] = "json"
        run_once(iowq, strace, [iowq_run] + opts["forward"] + ["--"] + opts["command"],
                 env, cwd, opts["setup"])
        workers, nreports = read_reports(iowq.rundir)
        rep = build_report(opts["command"], plain, iowq, workers, nreports,
                           tmp if opts["keep"] else None)
    finally:
        if not opts["keep"]:
            shutil.rmtree(tmp, ignore_errors=True)
    if opts["json"]:
        json.dump(rep, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print_text(rep, sys.stdout)
    if opts["keep"]:
        sys.stderr.write("%s: kept %s\n" % (PROG, tmp))
    return 0 if rep["equivalent"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except UsageError as e:
        sys.stderr.write("%s: %s\n" % (PROG, e))
        sys.exit(2)
    except BrokenPipeError:  # report piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    except KeyboardInterrupt:
        sys.exit(130)
