"""tools/bench/slowfs/mount.py — mounting iowq-slowfs for the bench and the tests.

    with SlowMount(binary, backing, mountpoint, latency="1ms", writeback=False) as m:
        ... use m.path ...
    m.stats   # the filesystem's request counts (dict), read after the unmount

The mount is always undone: on leaving the block (also on exceptions and on
SIGTERM/SIGINT/SIGHUP, which raise_on_signals() turns into SystemExit), with
`fusermount3 -u`/`umount`, falling back to a lazy `umount -l`; and if this
process is killed outright, iowq-slowfs runs with --die-with-parent and
unmounts itself. Needs root and /dev/fuse: fuse_problem() says what is missing.
"""
import json
import os
import shutil
import signal
import subprocess
import time


def fuse_problem():
    """None when FUSE mounts can work here, else why not (for a loud message)."""
    if os.geteuid() != 0:
        return "not root (iowq-slowfs mounts with mount(2))"
    if not os.path.exists("/dev/fuse"):
        # A fresh VM may have the module but not loaded it yet.
        subprocess.run(["modprobe", "fuse"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not os.path.exists("/dev/fuse"):
            return "/dev/fuse is missing (modprobe fuse failed; a container needs --device /dev/fuse)"
    return None


def raise_on_signals():
    """SIGTERM/SIGINT/SIGHUP -> SystemExit, so every `finally` unmounts."""
    def handler(sig, frame):
        raise SystemExit(128 + sig)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, handler)


def mounted(path):
    """True while `path` is a mount point (per /proc/self/mountinfo)."""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            # Field 5 is the mount point, with spaces etc. octal-escaped.
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == path:
                return True
    return False


def unmount(path):
    """Best effort, never raises: umount, then a lazy umount."""
    for cmd in (["fusermount3", "-u", path], ["umount", path], ["umount", "-l", path]):
        if not mounted(path):
            return True
        if shutil.which(cmd[0]):
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return not mounted(path)


class SlowMount:
    def __init__(self, binary, backing, path, latency="1ms", writeback=False, extra=(), stats=None):
        self.binary, self.backing, self.path = binary, backing, os.path.realpath(path)
        self.args = ["--latency=" + latency] + list(extra)
        if writeback:
            self.args.append("--writeback-cache")
        self.stats_path = stats or os.path.join(os.path.dirname(self.path),
                                                os.path.basename(self.path) + ".stats.json")
        self.proc = None
        self.stats = None

    def __enter__(self):
        os.makedirs(self.backing, exist_ok=True)
        os.makedirs(self.path, exist_ok=True)
        if os.path.exists(self.stats_path):
            os.unlink(self.stats_path)
        self.errlog = open(self.path + ".log", "w+")
        self.proc = subprocess.Popen([self.binary] + self.args + ["--die-with-parent", "--stats=" + self.stats_path,
                                                                  self.backing, self.path],
                                     stdin=subprocess.DEVNULL, stdout=self.errlog, stderr=self.errlog)
        deadline = time.monotonic() + 15
        try:
            while not mounted(self.path):
                if self.proc.poll() is not None:
                    raise RuntimeError("iowq-slowfs exited with %d before mounting: %s" % (self.proc.returncode,
                                                                                         self.log()))
                if time.monotonic() > deadline:
                    raise RuntimeError("iowq-slowfs did not mount %s within 15 s: %s" % (self.path, self.log()))
                time.sleep(0.005)  # polling /proc/self/mountinfo, bounded by the deadline
        except BaseException:
            self.close()
            raise
        return self

    def log(self):
        self.errlog.seek(0)
        return self.errlog.read().strip()

    def close(self):
        """Unmounts, waits for the daemon, reads its stats. Idempotent."""
        if self.proc is None:
            return
        unmount(self.path)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.errlog.close()
        try:
            with open(self.stats_path) as f:
                self.stats = json.load(f)
        except (OSError, ValueError):
            self.stats = None
        if mounted(self.path):
            raise RuntimeError("%s is still mounted after unmounting" % self.path)

    def __exit__(self, *exc):
        self.close()
        return False
