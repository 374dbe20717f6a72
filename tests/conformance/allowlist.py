"""allowlist.py — the differences docs/design.md accepts, and only those.

Each entry: a name, the docs/design.md passage that accepts it, and a predicate over
one differing item. fuzz.py consults accepted() for every difference it
finds; nothing else is skipped. Keep this list short: an entry here is a
promise the README makes to users.
"""

WB_MODES = ("wb", "wb_tiny")
# errno values of the device (docs/design.md §5: "only the device's errors are deferred")
DEVICE_ERRNOS = {"28", "27", "5", "122"}  # ENOSPC EFBIG EIO EDQUOT
# write1 is write(2) on fd 1: stdout's file is eligible (docs/design.md §5), so
# a deferred device error behaves there as on any other fd. (write2 is not
# here: stderr's file is never written behind.)
WRITE_OPS = {"write", "write1", "pwrite", "writev", "pwritev", "pwritev2"}
# calls that can return an I/O error, where a deferred one is reported (docs/design.md §5)
REPORTING_OPS = WRITE_OPS | {"read", "pread", "readv", "preadv", "preadv2", "fsync",
                             "fdatasync", "close", "fclose", "fflush", "fprintf", "fputs",
                             "fwrite", "hidden_close"}  # hidden_close: conf_runner's close of a reused slot


def _fields(line):
    p = line.split()
    # "<step> <op> <ret> <errno> ..."
    if len(p) < 4:
        return None
    return p[1], p[2], p[3]


def _deferred_write(mode, plain, shim, ops):
    """write-behind returns the full count at once; a device error of the
    deferred write comes later (docs/design.md §5 'Errors, as the kernel reports
    writeback errors')."""
    if mode not in WB_MODES:
        return False
    a, b = _fields(plain), _fields(shim)
    faulty = any(o.startswith(("# fault", "rlimit_fsize")) for o in ops)
    if a and b and a[0] == b[0] == "peer_flock" and faulty:
        # the op's own write ("wrote=N"): the same rule, the rest of the line equal
        pa, pb = plain.split(), shim.split()
        wa = [x for x in pa if x.startswith("wrote=")]
        wb = [x for x in pb if x.startswith("wrote=")]
        rest_a = [x for x in pa if not x.startswith("wrote=")]
        rest_b = [x for x in pb if not x.startswith("wrote=")]
        return (rest_a == rest_b and wa == ["wrote=-1"] and len(wb) == 1
                and wb[0] != "wrote=-1")
    if not a or not b or a[0] != b[0] or a[0] not in WRITE_OPS:
        return False
    if a[1] == "-1" and a[2] in DEVICE_ERRNOS and b[1] != "-1":
        return True
    # a short count where the device filled up (full disk, RLIMIT_FSIZE):
    # the kernel's way of saying "error after these bytes"
    try:
        return faulty and b[1] != "-1" and int(b[1]) > int(a[1]) >= 0
    except ValueError:
        return False


def _deferred_report(mode, plain, shim):
    """...and is then reported by the next call that can return an I/O error."""
    if mode not in WB_MODES:
        return False
    a, b = _fields(plain), _fields(shim)
    if not a or not b or a[0] != b[0] or a[0] not in REPORTING_OPS:
        return False
    return b[1] == "-1" and b[2] in DEVICE_ERRNOS


def _unreported_at_exit(mode, plain, shim):
    """'An error still unreported when the process exits is printed as an
    iowq: error line' (docs/design.md §5)."""
    return mode in WB_MODES and "error" in shim


def _stall_cut(mode, plain, shim):
    """IOWQ_STALL_MS: 'a socket or pipe call that moves no byte for that long
    fails with ETIMEDOUT' (docs/design.md §1, §4 "stall"): a call waiting on a
    peer that stalls (a recv, an accept nobody connects to), which the
    program's own timeout would end later with EAGAIN, ends at the stall
    deadline instead; the rest of the step's line is the same."""
    if mode != "stall":
        return False
    a, b = _fields(plain), _fields(shim)
    if not (a and b and a[0] == b[0] and a[1:] == ("-1", "11") and b[1:] == ("-1", "110")):
        return False  # EAGAIN, ETIMEDOUT
    return plain.split()[4:] == shim.split()[4:]


def _stall_line(mode, plain, shim):
    """...and the cut is told on the shim's log ('the warning line names the
    fd and what was returned', README, troubleshooting)."""
    return mode == "stall" and shim.startswith("iowq: stall timeout:")


ENTRIES = [
    # (kind, name, predicate, reason)
    ("step", "wb-deferred-device-error", _deferred_write,
     "docs/design.md §5: write-behind defers device errors (ENOSPC/EFBIG/EIO/EDQUOT) to a later call"),
    ("step", "wb-deferred-error-reported", _deferred_report,
     "docs/design.md §5: the deferred error is reported by the next call that can return one"),
    ("step", "stall-deadline-before-program-timeout", _stall_cut,
     "docs/design.md §1, §4: with IOWQ_STALL_MS a call that moves no byte for that long fails with ETIMEDOUT"),
    ("iowq-line", "stall-timeout-line", _stall_line,
     "README: a stall cut is told by an iowq: warning line naming the fd and what was returned"),
    ("iowq-line", "wb-unreported-error-line", _unreported_at_exit,
     "docs/design.md §5: an error unreported at exit is printed as an iowq: error line"),
]


def accepted(kind, mode, plain, shim, ops):
    """The reason string if docs/design.md accepts this difference, else None."""
    for k, _name, pred, reason in ENTRIES:
        if k == kind and (pred(mode, plain, shim, ops) if pred is _deferred_write
                          else pred(mode, plain, shim)):
            return reason
    return None
