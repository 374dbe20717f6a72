// shim/writebehind/wb_order.cpp — write-behind ordering against calls that are not
// reads or writes (docs/design.md §5 "Ordering against everything else").
//
//  * metadata of a file (timestamps, mode, owner, xattrs): the
//    file's pending writes land first — a deferred write landing after
//    futimens would stamp "now" over the restored mtime (tar, gzip -d), and
//    a write clears set-uid bits after fchmod;
//  * locks (flock, fcntl locks, lockf) and everything that tells another
//    process something (signals, SysV/POSIX IPC, connect, sendmmsg, tee):
//    every pending write lands first — the other side acts on what it is told;
//  * shared memory (shm_open, memfd_create, shmat): write-behind drains and
//    stays off (the writable-mapping case is in syncpoints.cpp's mmap);
//  * munmap/mprotect/mremap: the shim forgets which buffers it knew readable;
//  * quick_exit, execveat: nothing pending is lost.
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

#include "net.hpp"
#include "wb_hooks.hpp"

using namespace iowq::shim;
using iowq::shim::hooks::report_fd;
using iowq::shim::hooks::wait_all;
using iowq::shim::hooks::wait_fd;

// ============================================================================
// Metadata: the file's writes land first
// ============================================================================

WB_HOOK(wait_fd(fd), int, futimens, (int fd, const struct timespec t[2]), (fd, t))
WB_HOOK(wait_fd(fd), int, futimes, (int fd, const struct timeval t[2]), (fd, t))
WB_HOOK(wait_all(), int, utimensat, (int d, const char* p, const struct timespec t[2], int f), (d, p, t, f))
WB_HOOK(wait_all(), int, futimesat, (int d, const char* p, const struct timeval t[2]), (d, p, t))
WB_HOOK(wait_all(), int, utimes, (const char* p, const struct timeval t[2]), (p, t))
WB_HOOK(wait_all(), int, lutimes, (const char* p, const struct timeval t[2]), (p, t))
WB_HOOK(wait_all(), int, utime, (const char* p, const struct utimbuf* t), (p, t))
WB_HOOK(wait_fd(fd), int, fchmod, (int fd, mode_t m), (fd, m))
WB_HOOK(wait_all(), int, fchmodat, (int d, const char* p, mode_t m, int f), (d, p, m, f))
WB_HOOK(wait_all(), int, chmod, (const char* p, mode_t m), (p, m))
WB_HOOK(wait_fd(fd), int, fchown, (int fd, uid_t u, gid_t gr), (fd, u, gr))
WB_HOOK(wait_all(), int, fchownat, (int d, const char* p, uid_t u, gid_t gr, int f), (d, p, u, gr, f))
WB_HOOK(wait_all(), int, chown, (const char* p, uid_t u, gid_t gr), (p, u, gr))
WB_HOOK(wait_all(), int, lchown, (const char* p, uid_t u, gid_t gr), (p, u, gr))
WB_HOOK(wait_fd(fd), int, fsetxattr, (int fd, const char* n, const void* v, size_t s, int f),
        (fd, n, v, s, f))
WB_HOOK(wait_all(), int, setxattr, (const char* p, const char* n, const void* v, size_t s, int f),
        (p, n, v, s, f))
WB_HOOK(wait_all(), int, lsetxattr, (const char* p, const char* n, const void* v, size_t s, int f),
        (p, n, v, s, f))
WB_HOOK(wait_fd(fd), int, fremovexattr, (int fd, const char* n), (fd, n))
WB_HOOK(wait_all(), int, removexattr, (const char* p, const char* n), (p, n))
WB_HOOK(wait_all(), int, lremovexattr, (const char* p, const char* n), (p, n))
WB_HOOK(wait_fd(fd), ssize_t, fgetxattr, (int fd, const char* n, void* v, size_t s), (fd, n, v, s))

// fallocate, posix_fallocate: filecalls.cpp (file_sync_point).

// ============================================================================
// Locks: taking or releasing one tells the other holders; everything lands
// first (the data may be in another file than the lock). lockf also uses
// the fd's offset, which pending writes have not moved yet.
// ============================================================================

WB_HOOK(wait_all(), int, flock, (int fd, int op), (fd, op))
WB_HOOK(wait_all(), int, lockf, (int fd, int cmd, off_t len), (fd, cmd, len))
WB_HOOK(wait_all(), int, lockf64, (int fd, int cmd, off_t len), (fd, cmd, len))

// ============================================================================
// Telling another process something: everything lands first
// ============================================================================

WB_HOOK(wait_all(), int, kill, (pid_t p, int s), (p, s))
WB_HOOK(wait_all(), int, killpg, (pid_t p, int s), (p, s))
WB_HOOK(wait_all(), int, sigqueue, (pid_t p, int s, const union sigval v), (p, s, v))
WB_HOOK(wait_all(), int, tgkill, (pid_t p, pid_t t, int s), (p, t, s))
WB_HOOK(wait_all(), int, pidfd_send_signal, (int fd, int s, siginfo_t* i, unsigned f), (fd, s, i, f))
WB_HOOK(wait_all(), int, msgsnd, (int q, const void* m, size_t n, int f), (q, m, n, f))
WB_HOOK(wait_all(), int, semop, (int s, struct sembuf* o, size_t n), (s, o, n))
WB_HOOK(wait_all(), int, semtimedop, (int s, struct sembuf* o, size_t n, const struct timespec* t),
        (s, o, n, t))
WB_HOOK(wait_all(), int, mq_send, (mqd_t q, const char* m, size_t n, unsigned p), (q, m, n, p))
WB_HOOK(wait_all(), int, mq_timedsend,
        (mqd_t q, const char* m, size_t n, unsigned p, const struct timespec* t), (q, m, n, p, t))
// connect and sendmmsg take route() (wb_before_talk there); sendfile,
// splice and tee: filecalls.cpp (file_sync_point).
WB_HOOK(wait_all(), ssize_t, vmsplice, (int fd, const struct iovec* v, size_t n, unsigned f), (fd, v, n, f))

// ============================================================================
// Shared memory: write-behind drains and stays off
// ============================================================================

static inline void shared_memory() noexcept {
  if (g.active.load(std::memory_order_relaxed) && g.cfg.write_behind) wb_off_shared();
}
WB_HOOK(shared_memory(), int, shm_open, (const char* n, int f, mode_t m), (n, f, m))
WB_HOOK(shared_memory(), int, memfd_create, (const char* n, unsigned f), (n, f))
WB_HOOK(shared_memory(), void*, shmat, (int id, const void* a, int f), (id, a, f))

// ============================================================================
// Memory that may stop being readable
// ============================================================================

static inline void memory_changed() noexcept {
  if (g.active.load(std::memory_order_relaxed) && g.cfg.write_behind) wb_memory_changed();
}
// While the net is armed, libc's wrapper would trap on every call (net.hpp):
// these plain system calls run from the shim's text (-1/errno as libc's).
static inline int64_t raw_mem(long nr, long a, long b, long c, long d = 0, long e = 0) noexcept {
  return sys::syscall6(nr, a, b, c, d, e, 0);
}
static inline int int_ret(int64_t r) noexcept {
  if (r < 0) {
    errno = static_cast<int>(-r);
    return -1;
  }
  return static_cast<int>(r);
}
IOWQ_EXPORT int munmap(void* a, size_t n) {
  WB_REAL(int(void*, size_t), "munmap");
  memory_changed();
  if (net_armed()) return int_ret(raw_mem(SYS_munmap, reinterpret_cast<long>(a), static_cast<long>(n), 0));
  return rf(a, n);
}
IOWQ_EXPORT int mprotect(void* a, size_t n, int p) {
  WB_REAL(int(void*, size_t, int), "mprotect");
  memory_changed();
  if (net_armed()) return int_ret(raw_mem(SYS_mprotect, reinterpret_cast<long>(a), static_cast<long>(n), p));
  return rf(a, n, p);
}
WB_HOOK(memory_changed(), int, pkey_mprotect, (void* a, size_t n, int p, int k), (a, n, p, k))
constexpr int kMremapDontunmap = 4;  // MREMAP_DONTUNMAP (Linux 5.7), not in every libc's headers
IOWQ_EXPORT void* mremap(void* a, size_t o, size_t n, int f, ...) {
  WB_REAL(void*(void*, size_t, size_t, int, ...), "mremap");
  va_list ap;
  va_start(ap, f);
  // The new address, read when glibc's own wrapper reads it (a hint with
  // MREMAP_DONTUNMAP alone).
  void* na = (f & (MREMAP_FIXED | kMremapDontunmap)) ? va_arg(ap, void*) : nullptr;
  va_end(ap);
  memory_changed();
  if (net_armed()) {
    int64_t r = raw_mem(SYS_mremap, reinterpret_cast<long>(a), static_cast<long>(o), static_cast<long>(n), f,
                        reinterpret_cast<long>(na));
    if (r < 0 && r > -4096) {
      errno = static_cast<int>(-r);
      return MAP_FAILED;
    }
    return reinterpret_cast<void*>(r);
  }
  return rf(a, o, n, f, na);
}

// ============================================================================
// Ends and replacements of the process that libc reaches internally
// ============================================================================

IOWQ_EXPORT __attribute__((noreturn)) void quick_exit(int status) {
  static void (*real_)(int) = nullptr;
  if (g.active.load(std::memory_order_relaxed)) wb_exit();
  hooks::next_fn(real_, "quick_exit");
  real_(status);
  __builtin_unreachable();
}

IOWQ_EXPORT int execveat(int d, const char* p, char* const a[], char* const e[], int f) {
  WB_REAL(int(int, const char*, char* const[], char* const[], int), "execveat");
  bool on = g.active.load(std::memory_order_relaxed);
  if (on) wb_exec_begin();
  int r;
  if (rf) {
    r = rf(d, p, a, e, f);
  } else {
    int64_t k = sys::execveat(d, p, a, e, f);
    if (k < 0) errno = static_cast<int>(-k);
    r = k < 0 ? -1 : static_cast<int>(k);
  }
  if (on) wb_exec_failed();
  return r;
}
