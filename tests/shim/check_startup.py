#!/usr/bin/env python3
"""tests/shim/check_startup.py LIB — what loading libiowq.so costs every process,
in counts, not time (issue 14, item 8; docs/design.md §10 "process start-up").

  - the dynamic linker binds at most MAX_BINDINGS symbols for the library while
    /bin/true starts and exits (LD_DEBUG=bindings): its own PLT is bound
    lazily (-z now bound all ~80 imports in every process: +45k instructions),
    and the real functions are found by one walk of the loaded objects, not
    by ~40 dlsym(RTLD_NEXT) calls (each shows up as a binding);
  - no dlsym of an interposed name at start-up at all;
  - the library needs nothing but libc, libm and the dynamic linker;
  - its mapped file image (text and data) stays under MAX_IMAGE bytes;
  - none of its own sources has a dynamic initialiser (constinit state: an
    initialiser runs in every process and dirties a page before any call);
  - a process that starts the pool (write-behind starts it at once) on a
    machine with one NUMA node does not load libnuma to be told so (its
    dlopen, mmaps and constructor cost ~0.3 ms of CPU per process)."""
import os
import re
import subprocess
import sys

# Measured: 23 bindings (data symbols, lazily bound functions the constructor
# calls); 128 with -z now and dlsym per name.
MAX_BINDINGS = 32
MAX_IMAGE = 448 * 1024  # measured ~350 KiB
NEEDED_OK = re.compile(r"^(libc\.so\.6|libm\.so\.6|ld-linux[-\w.]*\.so\.\d)$")
# libstdc++'s own (the exception emergency pool, the error categories).
INIT_OK = {"eh_alloc.cc", "system_error.cc"}
HOOKS = {"write", "read", "close", "_exit", "execve", "sigaction", "fclose", "__read_chk", "siglongjmp"}


def main():
    lib = os.path.abspath(sys.argv[1])
    fail = []
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith(("IOWQ_", "LD_"))}
    env.update(LD_PRELOAD=lib, LD_DEBUG="bindings")
    r = subprocess.run(["/bin/true"], env=env, stderr=subprocess.PIPE, text=True, timeout=60)
    if r.returncode != 0:
        fail.append("/bin/true under the shim exited %d" % r.returncode)
    ours = [l for l in r.stderr.splitlines() if "binding file %s " % lib in l]
    names = [m.group(1) for m in (re.search(r"symbol `([^']+)'", l) for l in ours) if m]
    print("bindings for the library at start-up: %d (at most %d)" % (len(names), MAX_BINDINGS))
    if len(names) > MAX_BINDINGS:
        fail.append("%d bindings: %s" % (len(names), " ".join(names)))
    looked_up = sorted(HOOKS & set(names))
    if looked_up:
        fail.append("dlsym at start-up for: %s" % " ".join(looked_up))

    dyn = subprocess.run(["readelf", "-dW", lib], stdout=subprocess.PIPE, text=True, check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn)
    print("needed:", " ".join(needed))
    extra = [n for n in needed if not NEEDED_OK.match(n)]
    if extra:
        fail.append("loads more libraries in every process: %s" % " ".join(extra))

    ph = subprocess.run(["readelf", "-lW", lib], stdout=subprocess.PIPE, text=True, check=True).stdout
    image = sum(int(m.group(1), 16) for m in re.finditer(r"^\s*LOAD\s+\S+\s+\S+\s+\S+\s+(0x[0-9a-f]+)", ph, re.M))
    print("file image: %d KiB (at most %d KiB)" % (image // 1024, MAX_IMAGE // 1024))
    if image > MAX_IMAGE:
        fail.append("file image %d bytes > %d" % (image, MAX_IMAGE))
    nm = subprocess.run(["nm", lib], stdout=subprocess.PIPE, text=True, check=True).stdout
    inits = sorted(set(re.findall(r"_GLOBAL__sub_I_(\S+)", nm)) - INIT_OK)
    if inits:
        fail.append("dynamic initialisers in: %s" % " ".join(inits))

    nodes = [n for n in os.listdir("/sys/devices/system/node") if re.match(r"node\d+$", n)] \
        if os.path.isdir("/sys/devices/system/node") else []
    if len(nodes) == 1:
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith(("IOWQ_", "LD_"))}
        env.update(LD_PRELOAD=lib, IOWQ_WRITE_BEHIND="1")
        maps = subprocess.run(["cat", "/proc/self/maps"], env=env, stdout=subprocess.PIPE, text=True,
                              timeout=60).stdout
        numa = "libnuma" in maps
        print("libnuma mapped with the pool started, one NUMA node: %s" % ("yes" if numa else "no"))
        if numa:
            fail.append("libnuma loaded on a machine with one NUMA node")
        if lib not in maps:
            fail.append("the shim is not in cat's /proc/self/maps")
    else:
        print("libnuma check not made: %d NUMA nodes in /sys" % len(nodes))
    for f in fail:
        print("FAIL:", f)
    return 1 if fail else 0


if __name__ == "__main__":
    sys.exit(main())
