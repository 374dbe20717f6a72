// shim/sys/libc.hpp — the shim's two ways to reach the kernel, in one place.
//
//  * real::X — the next definition of libc function X (what dlsym(RTLD_NEXT)
//    finds), resolved once in the constructor by one walk (resolve()). Used for passthrough and inline calls
//    so that libc semantics (cancellation points, fortify checks, errno) are
//    exactly the host's. Before resolution they point at raw fallbacks.
//  * sys::X  — raw syscalls returning -errno, errno untouched. Used on pool
//    workers, for nonblocking tries, and by the shim's own bookkeeping. The
//    helpers the core needs too (futexes, ids, signal masks, thread start)
//    are the core's own (iowq/sys.hpp), brought into sys:: below.
//
// Convention at the shim boundary: interposers return libc style (-1/errno);
// everything inside returns int64_t results with -errno.
#pragma once

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>

#include "iowq/sys.hpp"

namespace iowq::shim {

namespace real {
extern ssize_t (*write)(int, const void*, size_t);
extern ssize_t (*read)(int, void*, size_t);
extern ssize_t (*pwrite64)(int, const void*, size_t, off_t);
extern ssize_t (*pread64)(int, void*, size_t, off_t);
extern ssize_t (*writev)(int, const struct iovec*, int);
extern ssize_t (*readv)(int, const struct iovec*, int);
extern ssize_t (*pwritev)(int, const struct iovec*, int, off_t);
extern ssize_t (*preadv)(int, const struct iovec*, int, off_t);
extern ssize_t (*pwritev2)(int, const struct iovec*, int, off_t, int);
extern ssize_t (*preadv2)(int, const struct iovec*, int, off_t, int);
extern ssize_t (*send)(int, const void*, size_t, int);
extern ssize_t (*sendto)(int, const void*, size_t, int, const struct sockaddr*, socklen_t);
extern ssize_t (*sendmsg)(int, const struct msghdr*, int);
extern ssize_t (*recv)(int, void*, size_t, int);
extern ssize_t (*recvfrom)(int, void*, size_t, int, struct sockaddr*, socklen_t*);
extern ssize_t (*recvmsg)(int, struct msghdr*, int);
extern ssize_t (*read_chk)(int, void*, size_t, size_t);
extern ssize_t (*pread_chk)(int, void*, size_t, off_t, size_t);
extern ssize_t (*pread64_chk)(int, void*, size_t, off_t, size_t);
extern ssize_t (*recv_chk)(int, void*, size_t, size_t, int);
extern ssize_t (*recvfrom_chk)(int, void*, size_t, size_t, int, struct sockaddr*, socklen_t*);
extern int (*connect)(int, const struct sockaddr*, socklen_t);
extern int (*accept)(int, struct sockaddr*, socklen_t*);
extern int (*accept4)(int, struct sockaddr*, socklen_t*, int);
extern int (*sendmmsg)(int, struct mmsghdr*, unsigned, int);
extern int (*recvmmsg)(int, struct mmsghdr*, unsigned, int, struct timespec*);
extern int (*close)(int);
extern int (*close_range)(unsigned, unsigned, int);
extern int (*dup2)(int, int);
extern int (*dup3)(int, int, int);
extern int (*fcntl)(int, int, ...);
extern int (*ioctl)(int, unsigned long, ...);
extern int (*fclose)(FILE*);
extern int (*sigaction)(int, const struct sigaction*, struct sigaction*);
// syscall(): a program may call it anywhere, a signal handler included.
// (Assembler name: the syscall interposer's fast path jumps through it.)
extern long (*syscall)(long, ...) __asm__("iowq_real_syscall");
// Resolved here, not on first use: a fork child calling them would otherwise
// pay a dlsym (and its page faults) every time.
extern void (*_exit)(int);
extern int (*execve)(const char*, char* const[], char* const[]);
// A handler's jump out of an interposed call (longjmp.cpp): no dlsym there.
extern void (*siglongjmp)(struct __jmp_buf_tag*, int);
extern void (*longjmp_chk)(struct __jmp_buf_tag*, int);
// Constructor (and the interposers that can run before it): all of the
// above in one walk of the loaded objects, dlsym only where the walk cannot
// decide exactly (libc.cpp).
void resolve() noexcept;
// For tests: the names resolve() looks up and what each slot holds now.
size_t resolved(const char** names, void** addrs, size_t n) noexcept;

// The one lookup for functions too rarely called to resolve at start-up
// (closedir, prctl, the write-behind ordering hooks...): dlsym(RTLD_NEXT),
// nullptr if no later object defines `name`. Call only once libc is up.
void* next(const char* name) noexcept;
// `slot`, looked up on first use.
template <class F>
F* next_fn(F*& slot, const char* name) noexcept {
  if (!slot) slot = reinterpret_cast<F*>(next(name));
  return slot;
}
// The next definition of data symbol `name` (glibc's private ones the shim
// reads: process/exitwatch.cpp), found by the lock-free walk alone; nullptr
// where the walk cannot decide it exactly (no dlsym: callable anywhere).
void* next_object(const char* name) noexcept;
// dlsym in a library the shim opened itself (libunwind); nullptr if absent.
void* symbol(void* handle, const char* name) noexcept;
}  // namespace real

namespace sys {
// The six longs of a syscall()-like variadic call, read as glibc's syscall
// reads them (those the caller did not pass are whatever is there).
struct Args6 {
  long a, b, c, d, e, f;
};
inline Args6 va_args6(va_list ap) noexcept {
  Args6 r;
  r.a = va_arg(ap, long), r.b = va_arg(ap, long), r.c = va_arg(ap, long);
  r.d = va_arg(ap, long), r.e = va_arg(ap, long), r.f = va_arg(ap, long);
  return r;
}
// A raw system call, issued from iowq's own text (never trapped by the
// write-behind net): the result, or -errno; errno untouched.
int64_t syscall6(long nr, long a, long b, long c, long d, long e, long f) noexcept;
// The signal restorer in the shim's own text (rt_sigreturn), nullptr where
// there is none.
void* restorer() noexcept;
int64_t sched_yield() noexcept;
int64_t read(int fd, void* b, size_t n) noexcept;
int64_t write(int fd, const void* b, size_t n) noexcept;
int64_t pread(int fd, void* b, size_t n, off_t off) noexcept;
int64_t pwrite(int fd, const void* b, size_t n, off_t off) noexcept;
int64_t readv(int fd, const struct iovec* v, int n) noexcept;
int64_t writev(int fd, const struct iovec* v, int n) noexcept;
// off == -1: current file position (preadv2/pwritev2 semantics).
int64_t preadv2(int fd, const struct iovec* v, int n, off_t off, int flags) noexcept;
int64_t pwritev2(int fd, const struct iovec* v, int n, off_t off, int flags) noexcept;
int64_t sendto(int fd, const void* b, size_t n, int flags, const struct sockaddr* a, socklen_t al) noexcept;
int64_t recvfrom(int fd, void* b, size_t n, int flags, struct sockaddr* a, socklen_t* al) noexcept;
int64_t sendmsg(int fd, const struct msghdr* m, int flags) noexcept;
int64_t recvmsg(int fd, struct msghdr* m, int flags) noexcept;
int64_t connect(int fd, const struct sockaddr* a, socklen_t al) noexcept;
int64_t accept4(int fd, struct sockaddr* a, socklen_t* al, int flags) noexcept;
int64_t sendmmsg(int fd, struct mmsghdr* v, unsigned n, int flags) noexcept;
int64_t recvmmsg(int fd, struct mmsghdr* v, unsigned n, int flags, struct timespec* t) noexcept;
int64_t fsync(int fd) noexcept;
int64_t fdatasync(int fd) noexcept;
int64_t sync_file_range(int fd, off_t off, off_t n, unsigned flags) noexcept;
int64_t fallocate(int fd, int mode, off_t off, off_t len) noexcept;
int64_t copy_file_range(int in, loff_t* oin, int out, loff_t* oout, size_t n, unsigned flags) noexcept;
int64_t sendfile(int out, int in, loff_t* off, size_t n) noexcept;
int64_t splice(int in, loff_t* oin, int out, loff_t* oout, size_t n, unsigned flags) noexcept;
int64_t tee(int in, int out, size_t n, unsigned flags) noexcept;
// Waits (poll, interruptible) for a connect in progress to finish; returns
// its outcome (0 or -errno from SO_ERROR), or -EINTR.
int64_t wait_connected(int fd) noexcept;
// Aborts a pending connect: the socket is left as after a failed connect.
int64_t disconnect(int fd) noexcept;
// The socket's type (SOCK_STREAM, SOCK_DGRAM...), or -errno.
int64_t sock_type(int fd) noexcept;
// True when the socket has a receive (SO_RCVTIMEO) or send (SO_SNDTIMEO)
// timeout set; false for anything else.
bool sock_timeout_set(int fd, bool send) noexcept;
int64_t fstat(int fd, struct stat* st) noexcept;
int64_t fstatfs(int fd, struct statfs* st) noexcept;
int64_t open_ro(const char* path, int extra_flags) noexcept;  // O_RDONLY|O_CLOEXEC|extra
int64_t getdents64(int fd, void* buf, size_t n) noexcept;
int64_t close(int fd) noexcept;
// openat(AT_FDCWD, path, flags, mode).
int64_t open(const char* path, int flags, int mode) noexcept;
int64_t dup2(int oldfd, int newfd) noexcept;
int64_t close_range(unsigned lo, unsigned hi, int flags) noexcept;
int64_t lseek(int fd, off_t off, int whence) noexcept;
int64_t readlink(const char* path, char* buf, size_t n) noexcept;  // readlinkat(AT_FDCWD)
// process_vm_readv of one local and one remote range in process `pid`.
int64_t vm_read(int pid, void* dst, const void* src, size_t n) noexcept;
// 0 when fds a and b share one open file description, 1 or 2 when not,
// -errno (EBADF; ENOSYS/EPERM where kcmp is not available).
int64_t kcmp_file(int a, int b) noexcept;
int64_t prlimit(int pid, int res, const struct rlimit* nw, struct rlimit* old) noexcept;
// The address, or -errno (addresses in user space are below 2^63).
int64_t mmap(void* a, size_t n, int prot, int flags, int fd, off_t off) noexcept;
int64_t execveat(int dirfd, const char* path, char* const argv[], char* const envp[], int flags) noexcept;
[[noreturn]] void exit_group(int status) noexcept;
int64_t fcntl(int fd, int cmd, long arg) noexcept;
int64_t ioctl(int fd, unsigned long req, void* arg) noexcept;
int64_t poll1(int fd, short events) noexcept;  // 0 timeout; returns revents or -errno
// rt_sigprocmask on the calling thread with kernel sigsets (64 signals).
int64_t thread_sigmask(int how, const uint64_t* set, uint64_t* old) noexcept;
// Consumes a pending `sig` of the calling thread, if any (it must be blocked).
bool take_pending(int sig) noexcept;
// The kernel's struct sigaction (x86-64, aarch64 layout).
struct KSigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  uint64_t mask;
};
int64_t rt_sigaction(int sig, const KSigaction* act, KSigaction* old) noexcept;
// libc's struct sigaction as the kernel's (restorer none: the installer sets
// it) and back (the first 64 signals of the mask).
KSigaction to_kernel(const struct sigaction& a) noexcept;
void from_kernel(const KSigaction& k, struct sigaction* out) noexcept;
int64_t rt_sigqueueinfo(int pid, int sig, siginfo_t* info) noexcept;
int64_t rt_tgsigqueueinfo(int pid, int tid, int sig, siginfo_t* info) noexcept;
// Shared with the core, one copy (core/sys/iowq/sys.hpp): process and thread
// ids, tgkill, the clock, futexes, blocking every signal around a critical
// section, the spin hint, and starting the shim's own threads.
using iowq::sys::block_all_signals;
using iowq::sys::cpu_relax;
using iowq::sys::futex_wait;
using iowq::sys::futex_wake;
using iowq::sys::getpid;
using iowq::sys::gettid;
using iowq::sys::now_ns;
using iowq::sys::requeue_to_self;
using iowq::sys::restore_signals;
using iowq::sys::set_signal_mask;
using iowq::sys::SigMask;
using iowq::sys::start_thread;
using iowq::sys::starting_own_thread;
using iowq::sys::tgkill;
using iowq::sys::ThreadSpec;
}  // namespace sys

}  // namespace iowq::shim
