#!/usr/bin/env python3
"""tests/install/install_test.py — the install layout and the Debian package.

    install_test.py prefix|deb --build DIR --libdir LIBDIR --cmake CMAKE
                    --cpack CPACK --cxx CXX --src SRC

prefix: `cmake --install BUILD --prefix P` lays out bin/, LIBDIR/, include/,
        the CMake package and the .pc file; the INSTALLED iowq-run preloads
        the INSTALLED libiowq.so and routes dd's writes (JSON report:
        routed + inline > 0); a C++ program that submits one Work and waits
        builds against the installed core with find_package(iowq) and with
        `pkg-config --cflags --libs iowq`, and runs.
deb:    `cpack -G DEB` with the project's CPackConfig.cmake packages the tree
        installed under the package prefix (staged with DESTDIR, so cpack does
        not run its "preinstall" build: this test never rebuilds the project);
        `dpkg-deb -c` lists bin/iowq-run, lib/libiowq.so and the man pages,
        the control fields are set, and the extracted package's iowq-run runs.
        Only as root with IOWQ_TEST_DPKG=1: `dpkg -i`, run the installed
        iowq-run, `dpkg -P` (otherwise that part is skipped, and said so).

Exit 0 pass, 1 fail, 77 skip (only when dpkg-deb is missing: not Debian).
Every subprocess has a timeout.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

FAILS = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what, flush=True)
    if not cond:
        FAILS.append(what)
    return cond


def run(cmd, timeout=120, env=None, cwd=None, check_rc=True):
    """Runs cmd, returns CompletedProcess; a non-zero exit is a failure."""
    print("+ " + " ".join(cmd), flush=True)
    try:
        p = subprocess.run(cmd, env=env, cwd=cwd, timeout=timeout,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    except subprocess.TimeoutExpired:
        check(False, "timed out after %ds: %s" % (timeout, cmd[0]))
        raise SystemExit(finish())
    except OSError as e:
        check(False, "cannot run %s: %s" % (cmd[0], e))
        raise SystemExit(finish())
    if check_rc and p.returncode != 0:
        check(False, "%s exited %d\n--- stdout\n%s--- stderr\n%s"
              % (cmd[0], p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return p


def finish():
    if FAILS:
        print("\n%d check(s) failed" % len(FAILS))
        return 1
    print("\nall checks passed")
    return 0


def clean_env():
    """The environment without anything that would preload or configure iowq."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("IOWQ_") and k != "LD_PRELOAD"}
    return env


# ---- Running the installed launcher -----------------------------------------

def check_launcher(run_bin, expect_lib, work, label):
    """run_bin preloads expect_lib and routes dd's writes; returns nothing."""
    env = clean_env()
    p = run([run_bin, "--", "printenv", "LD_PRELOAD"], timeout=30, env=env)
    first = p.stdout.strip().split(":")[0].split(" ")[0]
    check(first and os.path.realpath(first) == os.path.realpath(expect_lib),
          "%s: iowq-run preloads %s (got %r)" % (label, expect_lib, first))

    out = os.path.join(work, "dd.out")
    report = os.path.join(work, "report.json")
    run([run_bin, "--stats=" + report, "--json", "--",
         "dd", "if=/dev/zero", "of=" + out, "bs=4k", "count=256", "status=none"],
        timeout=60, env=env)
    check(os.path.exists(out) and os.path.getsize(out) == 256 * 4096,
          "%s: dd under iowq-run wrote 1 MiB" % label)
    try:
        with open(report) as f:
            r = json.load(f)
    except (OSError, ValueError) as e:
        check(False, "%s: JSON report readable (%s)" % (label, e))
        return
    t = r.get("totals", {})
    n = t.get("routed", 0) + t.get("inline", 0)
    check(r.get("iowq_stats") == 1 and n > 0,
          "%s: report shows routed+inline = %d > 0" % (label, n))


# ---- A program using the installed core --------------------------------------

CONSUMER_CPP = r"""
// Submits one Work to an iowq::Pool and waits for it.
#include <iowq/pool.hpp>
#include <cstdio>

static void fn(iowq::Work* w) { w->result = 42; }

int main() {
  iowq::Pool pool;
  if (pool.start() != 0) return 2;
  iowq::Work w;
  w.fn = fn;
  if (pool.submit(&w) != 0) return 3;
  if (pool.wait(&w) != 0) return 4;
  std::printf("result %lld\n", static_cast<long long>(w.result));
  return w.result == 42 ? 0 : 5;
}
"""

CONSUMER_CMAKE = r"""
cmake_minimum_required(VERSION 3.22)
project(iowq_consumer CXX)
set(CMAKE_CXX_STANDARD 20)
find_package(iowq 0.1 REQUIRED)
message(STATUS "iowq_DIR=${iowq_DIR}")
add_executable(consumer main.cpp)
target_link_libraries(consumer PRIVATE iowq::core)
"""


def check_consumer_run(exe, label):
    p = run([exe], timeout=30, env=clean_env(), check_rc=False)
    check(p.returncode == 0 and "result 42" in p.stdout,
          "%s: program submits one Work and waits (exit %d, %r)"
          % (label, p.returncode, p.stdout.strip()))


def check_find_package(args, prefix, work):
    src = os.path.join(work, "consumer")
    bld = os.path.join(work, "consumer-build")
    os.makedirs(src)
    with open(os.path.join(src, "main.cpp"), "w") as f:
        f.write(CONSUMER_CPP)
    with open(os.path.join(src, "CMakeLists.txt"), "w") as f:
        f.write(CONSUMER_CMAKE)
    p = run([args.cmake, "-S", src, "-B", bld, "-DCMAKE_BUILD_TYPE=Release",
             "-DCMAKE_CXX_COMPILER=" + args.cxx, "-DCMAKE_PREFIX_PATH=" + prefix,
             "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF"], timeout=120, env=clean_env())
    m = re.search(r"iowq_DIR=(\S+)", p.stdout)
    check(m is not None and os.path.realpath(m.group(1)).startswith(os.path.realpath(prefix)),
          "find_package(iowq) found the installed config (%s)" % (m.group(1) if m else None))
    if p.returncode != 0:
        return
    p = run([args.cmake, "--build", bld], timeout=180, env=clean_env())
    if p.returncode == 0:
        check_consumer_run(os.path.join(bld, "consumer"), "find_package")


def check_pkg_config(args, prefix, work):
    pkgconf = shutil.which("pkg-config")
    if not check(pkgconf is not None, "pkg-config is installed (Debian: pkgconf)"):
        return
    env = clean_env()
    env["PKG_CONFIG_PATH"] = os.path.join(prefix, args.libdir, "pkgconfig")
    p = run([pkgconf, "--cflags", "--libs", "iowq"], timeout=30, env=env)
    flags = p.stdout.split()
    check("-liowq_core" in flags and "-lpthread" in flags,
          "pkg-config --libs iowq: %s" % p.stdout.strip())
    inc = [f[2:] for f in flags if f.startswith("-I")]
    check(any(os.path.realpath(i) == os.path.realpath(os.path.join(prefix, "include"))
              for i in inc), "pkg-config --cflags points into the prefix")
    srcf = os.path.join(work, "pc_main.cpp")
    with open(srcf, "w") as f:
        f.write(CONSUMER_CPP)
    exe = os.path.join(work, "pc_consumer")
    p = run([args.cxx, "-std=c++20", "-O1", srcf, "-o", exe] + flags, timeout=180, env=env)
    if p.returncode == 0:
        check_consumer_run(exe, "pkg-config")


def test_prefix(args, work):
    prefix = os.path.join(work, "prefix")
    run([args.cmake, "--install", args.build, "--prefix", prefix], timeout=120)
    lib = os.path.join(prefix, args.libdir)
    expected = [
        "bin/iowq-run", "bin/iowq-strace-diff",
        args.libdir + "/libiowq.so", args.libdir + "/libiowq_core.a",
        "include/iowq/pool.hpp", "include/iowq/work.hpp", "include/iowq/stats.hpp",
        args.libdir + "/cmake/iowq/iowqConfig.cmake",
        args.libdir + "/cmake/iowq/iowqConfigVersion.cmake",
        args.libdir + "/cmake/iowq/iowqTargets.cmake",
        args.libdir + "/pkgconfig/iowq.pc",
        "share/man/man1/iowq-run.1", "share/man/man1/iowq-strace-diff.1",
        "share/man/man7/iowq.7",
    ]
    if os.path.exists(os.path.join(args.src, "README.md")):
        expected.append("share/doc/iowq/README.md")
    for rel in expected:
        check(os.path.isfile(os.path.join(prefix, rel)), "installed " + rel)
    for rel in ("bin/iowq-run", "bin/iowq-strace-diff"):
        check(os.access(os.path.join(prefix, rel), os.X_OK), rel + " is executable")
    # Nothing of the build or source tree may leak into the installed config.
    with open(os.path.join(lib, "cmake/iowq/iowqTargets.cmake")) as f:
        targets = f.read()
    check(args.build not in targets and args.src not in targets,
          "iowqTargets.cmake names no build/source path")
    if FAILS:
        return
    check_launcher(os.path.join(prefix, "bin/iowq-run"),
                   os.path.join(lib, "libiowq.so"), work, "installed")
    check_find_package(args, prefix, work)
    check_pkg_config(args, prefix, work)


# ---- The Debian package -------------------------------------------------------

def cpack_prefix(build):
    try:
        with open(os.path.join(build, "CPackConfig.cmake")) as f:
            m = re.search(r'set\(CPACK_PACKAGING_INSTALL_PREFIX "([^"]*)"\)', f.read())
            return m.group(1) if m else "/usr"
    except OSError:
        return None


def test_deb(args, work):
    if not shutil.which("dpkg-deb"):
        print("SKIP: dpkg-deb not found (not a Debian system)")
        return 77
    pfx = cpack_prefix(args.build)
    if not check(pfx is not None, "CPackConfig.cmake exists (cmake/packaging.cmake included)"):
        return finish()
    # Stage the install the package holds, then let cpack package that tree
    # with the project's own CPack settings (metadata, dependencies, name).
    stage = os.path.join(work, "stage")
    env = clean_env()
    env["DESTDIR"] = stage
    run([args.cmake, "--install", args.build, "--prefix", pfx], timeout=120, env=env)
    cfg = os.path.join(work, "CPackTest.cmake")
    with open(cfg, "w") as f:
        f.write('include("%s/CPackConfig.cmake")\n' % args.build)
        f.write('set(CPACK_INSTALL_CMAKE_PROJECTS "")\n')
        f.write('set(CPACK_INSTALLED_DIRECTORIES "%s;.")\n' % stage)
    pkgdir = os.path.join(work, "pkg")
    run([args.cpack, "--config", cfg, "-G", "DEB", "-B", pkgdir], timeout=180, cwd=args.build)
    debs = [f for f in os.listdir(pkgdir) if f.endswith(".deb")] if os.path.isdir(pkgdir) else []
    if not check(len(debs) == 1, "cpack -G DEB produced one .deb (%s)" % debs):
        return finish()
    deb = os.path.join(pkgdir, debs[0])

    p = run(["dpkg-deb", "-c", deb], timeout=30)
    files = set()
    for line in p.stdout.splitlines():
        name = line.split()[-1] if line.split() else ""
        files.add(name[1:] if name.startswith("./") else name)
    pl = pfx.rstrip("/")
    for rel in ("bin/iowq-run", "bin/iowq-strace-diff", args.libdir + "/libiowq.so",
                "share/man/man1/iowq-run.1", "share/man/man1/iowq-strace-diff.1",
                "share/man/man7/iowq.7", "include/iowq/pool.hpp",
                args.libdir + "/pkgconfig/iowq.pc",
                args.libdir + "/cmake/iowq/iowqConfig.cmake"):
        check(pl + "/" + rel in files, "dpkg-deb -c lists %s/%s" % (pl, rel))

    fields = {}
    for field in ("Package", "Version", "Architecture", "Maintainer", "Depends",
                  "Suggests", "Description"):
        fields[field] = run(["dpkg-deb", "-f", deb, field], timeout=30).stdout.strip()
    check(fields["Package"] == "iowq", "Package: %s" % fields["Package"])
    check(bool(fields["Maintainer"]), "Maintainer: %s" % fields["Maintainer"])
    check(bool(fields["Description"]), "Description set")
    check("libnuma1" in fields["Depends"] and "libc6" in fields["Depends"],
          "Depends: %s" % fields["Depends"])
    check("strace" in fields["Suggests"] + fields["Depends"],
          "strace suggested: %s" % fields["Suggests"])

    # The packaged files work from wherever they are unpacked.
    root = os.path.join(work, "extract")
    run(["dpkg-deb", "-x", deb, root], timeout=60)
    xw = os.path.join(work, "extracted-run")
    os.makedirs(xw)
    check_launcher(root + pl + "/bin/iowq-run", root + pl + "/" + args.libdir + "/libiowq.so",
                   xw, "extracted .deb")

    if os.geteuid() == 0 and os.environ.get("IOWQ_TEST_DPKG") == "1":
        # A package the machine already had stays installed (now this build).
        before = run(["dpkg-query", "-W", "-f=${Status}", "iowq"], timeout=30,
                     check_rc=False).stdout
        had = "install ok installed" in before
        run(["dpkg", "-i", deb], timeout=120)
        try:
            iw = os.path.join(work, "dpkg-run")
            os.makedirs(iw)
            check_launcher(pl + "/bin/iowq-run", pl + "/" + args.libdir + "/libiowq.so",
                           iw, "dpkg -i")
            if shutil.which("man"):
                man = run(["man", "-w", "iowq-run"], timeout=30, check_rc=False)
                check(man.returncode == 0, "man -w iowq-run finds the page")
        finally:
            if had:
                print("note: iowq was installed before the test; left installed")
            else:
                run(["dpkg", "-P", "iowq"], timeout=120)
    else:
        print("SKIP (part): dpkg -i of the package not run: needs root and "
              "IOWQ_TEST_DPKG=1 (euid %d, IOWQ_TEST_DPKG=%r); contents and the "
              "extracted package were checked"
              % (os.geteuid(), os.environ.get("IOWQ_TEST_DPKG")))
    return finish()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=["prefix", "deb"])
    ap.add_argument("--build", required=True)
    ap.add_argument("--libdir", required=True)
    ap.add_argument("--cmake", required=True)
    ap.add_argument("--cpack", required=True)
    ap.add_argument("--cxx", required=True)
    ap.add_argument("--src", required=True)
    args = ap.parse_args()
    args.build = os.path.realpath(args.build)
    args.src = os.path.realpath(args.src)
    work = tempfile.mkdtemp(prefix="iowq-install-test.")
    try:
        if args.part == "prefix":
            test_prefix(args, work)
            return finish()
        return test_deb(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
