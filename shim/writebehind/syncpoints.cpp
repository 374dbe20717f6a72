// shim/writebehind/syncpoints.cpp — the calls that must see write-behind data written.
//
// docs/design.md §5: fd calls that observe a file wait for that file's pending
// writes (and the I/O-error ones report a deferred error); path calls that
// can observe any file wait for every pending write; exec, spawn and _exit
// wait for everything. Each interposer costs one load when write-behind is
// off or nothing is pending.
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "net.hpp"
#include "process/state.hpp"
#include "route/fdtable.hpp"
#include "signals/signals.hpp"
#include "sys/libc.hpp"
#include "writebehind.hpp"

#define IOWQ_EXPORT extern "C" __attribute__((visibility("default")))

using namespace iowq::shim;

namespace {

// The next definition of `name`, looked up once. The interposers below only
// run after libc is up (they are not called by the dynamic loader itself).
using real::next_fn;
#define REAL(type, name)        \
  using fn_t = type;            \
  static fn_t* real_ = nullptr; \
  fn_t* rf = next_fn(real_, name)

// A sandboxed thread (seccomp) is never made to issue a syscall it did not ask for.
inline bool pending() { return g.active.load(std::memory_order_relaxed) && !tl.sandboxed && wb_pending(); }
// Waits for the file's queued writes; its deferred error stays pending.
inline void wait_fd(int fd) {
  if (pending()) wb_wait_fd(fd);
}
inline void wait_all() {
  if (pending()) wb_sync_all();
}
// stdio reads and writes a FILE's fd with libc-internal calls: the file is
// kept out of write-behind.
inline void stdio_opened(int fd) {
  fd_forget(fd);
  if (g.active.load(std::memory_order_relaxed) && g.cfg.write_behind) wb_opt_out(fd);
}

}  // namespace

// ============================================================================
// fd sync points: wait for the file
// ============================================================================

IOWQ_EXPORT off_t lseek(int fd, off_t off, int whence) {
  REAL(off_t(int, off_t, int), "lseek");
  wait_fd(fd);
  return rf(fd, off, whence);
}
IOWQ_EXPORT off_t lseek64(int fd, off_t off, int whence) { return lseek(fd, off, whence); }

IOWQ_EXPORT int fstat(int fd, struct stat* st) {
  REAL(int(int, struct stat*), "fstat");
  wait_fd(fd);
  return rf(fd, st);
}
IOWQ_EXPORT int fstat64(int fd, struct stat64* st) {
  REAL(int(int, struct stat64*), "fstat64");
  wait_fd(fd);
  return rf(fd, st);
}
IOWQ_EXPORT int __fxstat(int ver, int fd, struct stat* st) {
  REAL(int(int, int, struct stat*), "__fxstat");
  wait_fd(fd);
  return rf(ver, fd, st);
}
IOWQ_EXPORT int __fxstat64(int ver, int fd, struct stat64* st) {
  REAL(int(int, int, struct stat64*), "__fxstat64");
  wait_fd(fd);
  return rf(ver, fd, st);
}

IOWQ_EXPORT void* mmap(void* a, size_t n, int prot, int flags, int fd, off_t off) {
  static void* (*real_)(void*, size_t, int, int, int, off_t) = nullptr;
  if (!real_) {
    // Before the shim resolved it (another library's constructor), go raw.
    // (Default order; pairs with the constructor's release store of active.)
    if (!g.active.load()) {
      int64_t r = sys::mmap(a, n, prot, flags, fd, off);
      if (r < 0) {
        errno = static_cast<int>(-r);
        return MAP_FAILED;
      }
      return reinterpret_cast<void*>(r);
    }
    next_fn(real_, "mmap");
  }
  if (g.active.load(std::memory_order_relaxed) && g.cfg.write_behind) {
    if ((flags & MAP_TYPE) == MAP_SHARED && (prot & PROT_WRITE)) {
      // Memory another process may read (a shared file mapping, or shared
      // anonymous memory across fork) tells it things with no syscall.
      wb_off_shared();
    } else if (fd >= 0 && !(flags & MAP_ANONYMOUS)) {
      wb_opt_out(fd);  // a mapping sees later writes at once: none go behind
    }
  }
  if (a && (flags & MAP_FIXED)) wb_memory_changed();
  if (net_armed()) {  // libc's call would trap (net.hpp)
    int64_t r = sys::mmap(a, n, prot, flags, fd, off);
    if (r < 0 && r > -4096) {
      errno = static_cast<int>(-r);
      return MAP_FAILED;
    }
    return reinterpret_cast<void*>(r);
  }
  return real_(a, n, prot, flags, fd, off);
}
IOWQ_EXPORT void* mmap64(void* a, size_t n, int prot, int flags, int fd, off_t off) {
  return mmap(a, n, prot, flags, fd, off);
}

IOWQ_EXPORT int dup(int fd) {
  REAL(int(int), "dup");
  wait_fd(fd);
  int r = rf(fd);
  if (r >= 0) fd_forget(r);
  return r;
}

// ============================================================================
// ftruncate: waits, leaves the error. (The fd sync points that report a
// deferred write error — the fsync family, sendfile, splice,
// copy_file_range — are in filecalls.cpp, via file_sync_point.)
// ============================================================================

// ftruncate waits for the file's pending writes (they must land before the
// size changes) but leaves a deferred error pending: the kernel's ftruncate
// never reports writeback errors, so plain would return 0 here.
IOWQ_EXPORT int ftruncate(int fd, off_t len) {
  REAL(int(int, off_t), "ftruncate");
  wait_fd(fd);
  return rf(fd, len);
}
IOWQ_EXPORT int ftruncate64(int fd, off_t len) { return ftruncate(fd, len); }

// ============================================================================
// Path sync points: wait for everything pending
// ============================================================================

static mode_t mode_arg(int flags, va_list ap) {
  return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE ? static_cast<mode_t>(va_arg(ap, int)) : 0;
}

// Every open is a path sync point, and its fd number starts a new life in
// the fd cache.
template <class Call>
static int opened(Call call) {
  wait_all();
  int r = call();
  if (r >= 0) {
    fd_forget(r);
    if (pending()) wb_fd_opened(r);
  }
  return r;
}

#define OPEN_VA(name)                                      \
  IOWQ_EXPORT int name(const char* path, int flags, ...) { \
    va_list ap;                                            \
    va_start(ap, flags);                                   \
    mode_t m = mode_arg(flags, ap);                        \
    va_end(ap);                                            \
    REAL(int(const char*, int, ...), #name);               \
    return opened([&] { return rf(path, flags, m); });     \
  }
#define OPENAT_VA(name)                                               \
  IOWQ_EXPORT int name(int dirfd, const char* path, int flags, ...) { \
    va_list ap;                                                       \
    va_start(ap, flags);                                              \
    mode_t m = mode_arg(flags, ap);                                   \
    va_end(ap);                                                       \
    REAL(int(int, const char*, int, ...), #name);                     \
    return opened([&] { return rf(dirfd, path, flags, m); });         \
  }
OPEN_VA(open)
OPEN_VA(open64)
OPENAT_VA(openat)
OPENAT_VA(openat64)

IOWQ_EXPORT int __open_2(const char* path, int flags) {
  REAL(int(const char*, int), "__open_2");
  return opened([&] { return rf(path, flags); });
}
IOWQ_EXPORT int __open64_2(const char* path, int flags) {
  REAL(int(const char*, int), "__open64_2");
  return opened([&] { return rf(path, flags); });
}
IOWQ_EXPORT int __openat_2(int d, const char* path, int flags) {
  REAL(int(int, const char*, int), "__openat_2");
  return opened([&] { return rf(d, path, flags); });
}
IOWQ_EXPORT int __openat64_2(int d, const char* path, int flags) {
  REAL(int(int, const char*, int), "__openat64_2");
  return opened([&] { return rf(d, path, flags); });
}
IOWQ_EXPORT int creat(const char* path, mode_t m) {
  REAL(int(const char*, mode_t), "creat");
  return opened([&] { return rf(path, m); });
}
IOWQ_EXPORT int creat64(const char* path, mode_t m) { return creat(path, m); }

IOWQ_EXPORT FILE* fopen(const char* path, const char* mode) {
  REAL(FILE * (const char*, const char*), "fopen");
  wait_all();
  FILE* f = rf(path, mode);
  if (f) stdio_opened(fileno(f));
  return f;
}
IOWQ_EXPORT FILE* fopen64(const char* path, const char* mode) {
  REAL(FILE * (const char*, const char*), "fopen64");
  wait_all();
  FILE* f = rf(path, mode);
  if (f) stdio_opened(fileno(f));
  return f;
}
IOWQ_EXPORT FILE* freopen(const char* path, const char* mode, FILE* s) {
  REAL(FILE * (const char*, const char*, FILE*), "freopen");
  wait_all();
  if (s) fd_forget(fileno(s));
  FILE* f = rf(path, mode, s);
  if (f) stdio_opened(fileno(f));
  return f;
}

IOWQ_EXPORT FILE* fdopen(int fd, const char* mode) {
  REAL(FILE * (int, const char*), "fdopen");
  FILE* f = rf(fd, mode);
  if (f) stdio_opened(fd);
  return f;
}

// An explicit flush orders stdio's (invisible) write after the shim's.
IOWQ_EXPORT int fflush(FILE* s) {
  REAL(int(FILE*), "fflush");
  if (pending()) {
    if (!s) {
      wb_sync_all();
    } else if (int e = wb_sync_fd(fileno(s))) {
      // fflush can fail with an I/O error: it reports the file's deferred one.
      rf(s);
      errno = -e;
      return EOF;
    }
  }
  return rf(s);
}
IOWQ_EXPORT FILE* freopen64(const char* path, const char* mode, FILE* s) { return freopen(path, mode, s); }

#define PATH_WAIT(ret, name, params, args) \
  IOWQ_EXPORT ret name params {            \
    REAL(ret params, #name);               \
    wait_all();                            \
    return rf args;                        \
  }

PATH_WAIT(int, stat, (const char* p, struct stat* s), (p, s))
PATH_WAIT(int, stat64, (const char* p, struct stat64* s), (p, s))
PATH_WAIT(int, lstat, (const char* p, struct stat* s), (p, s))
PATH_WAIT(int, lstat64, (const char* p, struct stat64* s), (p, s))
PATH_WAIT(int, __xstat, (int v, const char* p, struct stat* s), (v, p, s))
PATH_WAIT(int, __xstat64, (int v, const char* p, struct stat64* s), (v, p, s))
PATH_WAIT(int, __lxstat, (int v, const char* p, struct stat* s), (v, p, s))
PATH_WAIT(int, __lxstat64, (int v, const char* p, struct stat64* s), (v, p, s))
PATH_WAIT(int, fstatat, (int d, const char* p, struct stat* s, int f), (d, p, s, f))
PATH_WAIT(int, fstatat64, (int d, const char* p, struct stat64* s, int f), (d, p, s, f))
PATH_WAIT(int, __fxstatat, (int v, int d, const char* p, struct stat* s, int f), (v, d, p, s, f))
PATH_WAIT(int, __fxstatat64, (int v, int d, const char* p, struct stat64* s, int f), (v, d, p, s, f))
PATH_WAIT(int, statx, (int d, const char* p, int f, unsigned m, struct statx* s), (d, p, f, m, s))
PATH_WAIT(int, access, (const char* p, int m), (p, m))
PATH_WAIT(int, faccessat, (int d, const char* p, int m, int f), (d, p, m, f))
PATH_WAIT(int, rename, (const char* a, const char* b), (a, b))
PATH_WAIT(int, renameat, (int da, const char* a, int db, const char* b), (da, a, db, b))
PATH_WAIT(int, renameat2, (int da, const char* a, int db, const char* b, unsigned f), (da, a, db, b, f))
PATH_WAIT(int, unlink, (const char* p), (p))
PATH_WAIT(int, unlinkat, (int d, const char* p, int f), (d, p, f))
PATH_WAIT(int, remove, (const char* p), (p))
PATH_WAIT(int, link, (const char* a, const char* b), (a, b))
PATH_WAIT(int, linkat, (int da, const char* a, int db, const char* b, int f), (da, a, db, b, f))
PATH_WAIT(int, truncate, (const char* p, off_t n), (p, n))
PATH_WAIT(int, truncate64, (const char* p, off_t n), (p, n))
PATH_WAIT(int, syncfs, (int fd), (fd))

// RLIMIT_FSIZE changes switch write-behind off or on again.
IOWQ_EXPORT int setrlimit(__rlimit_resource_t r, const struct rlimit* rl) {
  REAL(int(__rlimit_resource_t, const struct rlimit*), "setrlimit");
  wait_all();
  int ret = rf(r, rl);
  wb_limits_changed();
  return ret;
}
IOWQ_EXPORT int setrlimit64(__rlimit_resource_t r, const struct rlimit64* rl) {
  REAL(int(__rlimit_resource_t, const struct rlimit64*), "setrlimit64");
  wait_all();
  int ret = rf(r, rl);
  wb_limits_changed();
  return ret;
}
IOWQ_EXPORT int prlimit(pid_t pid, enum __rlimit_resource r, const struct rlimit* n, struct rlimit* o) {
  REAL(int(pid_t, enum __rlimit_resource, const struct rlimit*, struct rlimit*), "prlimit");
  wait_all();
  int ret = rf(pid, r, n, o);
  wb_limits_changed();
  return ret;
}
IOWQ_EXPORT int prlimit64(pid_t pid, enum __rlimit_resource r, const struct rlimit64* n, struct rlimit64* o) {
  REAL(int(pid_t, enum __rlimit_resource, const struct rlimit64*, struct rlimit64*), "prlimit64");
  wait_all();
  int ret = rf(pid, r, n, o);
  wb_limits_changed();
  return ret;
}

IOWQ_EXPORT void sync(void) {
  REAL(void(void), "sync");
  wait_all();
  rf();
}

// ============================================================================
// exec, spawn, _exit: everything pending is written first
// ============================================================================

// exec replaces the process: writes from other threads racing it run
// synchronously and everything accepted lands first (a failed exec resumes
// write-behind); posix_spawn only waits. The program's SIG_IGN on the
// cancel signal goes with the new image.
static inline void exec_begin(bool replaces) {
  if (replaces && g.active.load(std::memory_order_relaxed))
    wb_exec_begin();
  else
    wait_all();
  cancel_signal_exec(true);
}
static inline void exec_end(bool replaces) {
  int e = errno;
  cancel_signal_exec(false);
  if (replaces && g.active.load(std::memory_order_relaxed)) wb_exec_failed();
  errno = e;
}
#define EXEC_WAIT(ret, name, params, args) EXEC_CALL(ret, name, params, args, true)
#define SPAWN_WAIT(ret, name, params, args) EXEC_CALL(ret, name, params, args, false)
#define EXEC_CALL(ret, name, params, args, replaces)      \
  IOWQ_EXPORT ret name params {                           \
    REAL(ret params, #name);                              \
    exec_begin(replaces);                                 \
    const bool paused_ = !replaces && net_thread_pause(); \
    const int mask_ = net_exec_begin();                   \
    ret r_ = rf args;                                     \
    net_exec_end(mask_);                                  \
    if (paused_) net_thread_resume();                     \
    exec_end(replaces);                                   \
    return r_;                                            \
  }

// execve and execv use the pointer resolved at start (libc.hpp): shells and
// make call them in fork children, where a lookup would be paid every time.
IOWQ_EXPORT int execve(const char* p, char* const a[], char* const e[]) {
  if (!real::execve) real::resolve();
  exec_begin(true);
  const int mask = net_exec_begin();
  int r = real::execve(p, a, e);
  net_exec_end(mask);
  exec_end(true);
  return r;
}
IOWQ_EXPORT int execv(const char* p, char* const a[]) { return execve(p, a, environ); }
EXEC_WAIT(int, execvp, (const char* p, char* const a[]), (p, a))
EXEC_WAIT(int, execvpe, (const char* p, char* const a[], char* const e[]), (p, a, e))
EXEC_WAIT(int, fexecve, (int fd, char* const a[], char* const e[]), (fd, a, e))
SPAWN_WAIT(int, posix_spawn,
           (pid_t * pid, const char* p, const posix_spawn_file_actions_t* fa, const posix_spawnattr_t* at,
            char* const a[], char* const e[]),
           (pid, p, fa, at, a, e))
SPAWN_WAIT(int, posix_spawnp,
           (pid_t * pid, const char* p, const posix_spawn_file_actions_t* fa, const posix_spawnattr_t* at,
            char* const a[], char* const e[]),
           (pid, p, fa, at, a, e))
// system and popen spawn a shell the same way (glibc's posix_spawn inside,
// every signal blocked around the clone): a net trap there would find SIGSYS
// blocked and kill the process.
SPAWN_WAIT(FILE*, popen, (const char* c, const char* m), (c, m))
SPAWN_WAIT(int, system, (const char* c), (c))

// execl* are variadic: collect the arguments, then the v form.
static constexpr int kMaxExeclArgs = 4096;
#define COLLECT_ARGS(first, last_out)                                                    \
  const char* argv[kMaxExeclArgs];                                                       \
  int argc = 0;                                                                          \
  argv[argc++] = first;                                                                  \
  va_list ap;                                                                            \
  va_start(ap, first);                                                                   \
  while (argv[argc - 1] && argc < kMaxExeclArgs) argv[argc++] = va_arg(ap, const char*); \
  last_out;                                                                              \
  va_end(ap);                                                                            \
  if (argv[argc - 1]) {                                                                  \
    errno = E2BIG;                                                                       \
    return -1;                                                                           \
  }

IOWQ_EXPORT int execl(const char* path, const char* arg, ...) {
  COLLECT_ARGS(arg, (void)0)
  return execv(path, const_cast<char* const*>(argv));
}
IOWQ_EXPORT int execlp(const char* file, const char* arg, ...) {
  COLLECT_ARGS(arg, (void)0)
  return execvp(file, const_cast<char* const*>(argv));
}
IOWQ_EXPORT int execle(const char* path, const char* arg, ...) {
  char* const* envp = nullptr;
  COLLECT_ARGS(arg, envp = va_arg(ap, char* const*))
  return execve(path, const_cast<char* const*>(argv), envp);
}

IOWQ_EXPORT __attribute__((noreturn)) void _exit(int status) {
  if (!real::_exit) real::resolve();
  if (g.active.load(std::memory_order_relaxed) && !tl.sandboxed) wb_exit();
  if (real::_exit) real::_exit(status);
  sys::exit_group(status);
}
IOWQ_EXPORT __attribute__((noreturn)) void _Exit(int status) { _exit(status); }
