// shim/sys/libc.cpp — real libc entry points and raw syscalls (see libc.hpp).
#include "libc.hpp"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// The shim's one syscall instruction and its signal restorer, in the shim's
// own text: syscall user dispatch (the write-behind net, docs/design.md §5)
// exempts that text, so these never trap. (libc's syscall() would.)
#if defined(__x86_64__)
asm(R"(
  .text
  .p2align 4
  .globl iowq_syscall6
  .hidden iowq_syscall6
  .type iowq_syscall6, @function
iowq_syscall6:
  movq %rdi, %rax
  movq %rsi, %rdi
  movq %rdx, %rsi
  movq %rcx, %rdx
  movq %r8, %r10
  movq %r9, %r8
  movq 8(%rsp), %r9
  syscall
  ret
  .size iowq_syscall6, .-iowq_syscall6
  .p2align 4
  .globl iowq_restore_rt
  .hidden iowq_restore_rt
  .type iowq_restore_rt, @function
iowq_restore_rt:
  movq $15, %rax
  syscall
  hlt
  .size iowq_restore_rt, .-iowq_restore_rt
)");
extern "C" long iowq_syscall6(long, long, long, long, long, long, long) noexcept;
extern "C" void iowq_restore_rt();
#endif

namespace iowq::shim {
namespace sys {

int64_t syscall6(long nr, long a, long b, long c, long d, long e, long f) noexcept {
#if defined(__x86_64__)
  return iowq_syscall6(nr, a, b, c, d, e, f);
#else
  int saved = errno;
  long r = syscall(nr, a, b, c, d, e, f);
  if (r == -1) r = -errno;
  errno = saved;
  return r;
#endif
}

void* restorer() noexcept {
#if defined(__x86_64__)
  return reinterpret_cast<void*>(iowq_restore_rt);
#else
  return nullptr;
#endif
}

int64_t sched_yield() noexcept { return syscall6(SYS_sched_yield, 0, 0, 0, 0, 0, 0); }

namespace {
inline int64_t raw(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) noexcept {
  return syscall6(nr, a, b, c, d, e, f);
}
#define L(x) ((long)(x))
}  // namespace

int64_t read(int fd, void* b, size_t n) noexcept { return raw(SYS_read, fd, L(b), L(n)); }
int64_t write(int fd, const void* b, size_t n) noexcept { return raw(SYS_write, fd, L(b), L(n)); }
int64_t pread(int fd, void* b, size_t n, off_t o) noexcept { return raw(SYS_pread64, fd, L(b), L(n), o); }
int64_t pwrite(int fd, const void* b, size_t n, off_t o) noexcept {
  return raw(SYS_pwrite64, fd, L(b), L(n), o);
}
int64_t readv(int fd, const struct iovec* v, int n) noexcept { return raw(SYS_readv, fd, L(v), n); }
int64_t writev(int fd, const struct iovec* v, int n) noexcept { return raw(SYS_writev, fd, L(v), n); }
// The kernel splits the offset into low/high words; on 64-bit, low carries it.
int64_t preadv2(int fd, const struct iovec* v, int n, off_t o, int fl) noexcept {
  return raw(SYS_preadv2, fd, L(v), n, L(o), 0, fl);
}
int64_t pwritev2(int fd, const struct iovec* v, int n, off_t o, int fl) noexcept {
  return raw(SYS_pwritev2, fd, L(v), n, L(o), 0, fl);
}
int64_t sendto(int fd, const void* b, size_t n, int fl, const struct sockaddr* a, socklen_t al) noexcept {
  return raw(SYS_sendto, fd, L(b), L(n), fl, L(a), al);
}
int64_t recvfrom(int fd, void* b, size_t n, int fl, struct sockaddr* a, socklen_t* al) noexcept {
  return raw(SYS_recvfrom, fd, L(b), L(n), fl, L(a), L(al));
}
int64_t sendmsg(int fd, const struct msghdr* m, int fl) noexcept { return raw(SYS_sendmsg, fd, L(m), fl); }
int64_t recvmsg(int fd, struct msghdr* m, int fl) noexcept { return raw(SYS_recvmsg, fd, L(m), fl); }
int64_t connect(int fd, const struct sockaddr* a, socklen_t al) noexcept {
  return raw(SYS_connect, fd, L(a), al);
}
int64_t accept4(int fd, struct sockaddr* a, socklen_t* al, int fl) noexcept {
  return raw(SYS_accept4, fd, L(a), L(al), fl);
}
int64_t sendmmsg(int fd, struct mmsghdr* v, unsigned n, int fl) noexcept {
  return raw(SYS_sendmmsg, fd, L(v), n, fl);
}
int64_t recvmmsg(int fd, struct mmsghdr* v, unsigned n, int fl, struct timespec* t) noexcept {
  return raw(SYS_recvmmsg, fd, L(v), n, fl, L(t));
}
int64_t fsync(int fd) noexcept { return raw(SYS_fsync, fd); }
int64_t fdatasync(int fd) noexcept { return raw(SYS_fdatasync, fd); }
int64_t sync_file_range(int fd, off_t off, off_t n, unsigned fl) noexcept {
  return raw(SYS_sync_file_range, fd, L(off), L(n), fl);
}
int64_t fallocate(int fd, int mode, off_t off, off_t len) noexcept {
  return raw(SYS_fallocate, fd, mode, L(off), L(len));
}
int64_t copy_file_range(int in, loff_t* oin, int out, loff_t* oout, size_t n, unsigned fl) noexcept {
  return raw(SYS_copy_file_range, in, L(oin), out, L(oout), L(n), fl);
}
int64_t sendfile(int out, int in, loff_t* off, size_t n) noexcept {
  return raw(SYS_sendfile, out, in, L(off), L(n));
}
int64_t splice(int in, loff_t* oin, int out, loff_t* oout, size_t n, unsigned fl) noexcept {
  return raw(SYS_splice, in, L(oin), out, L(oout), L(n), fl);
}
int64_t tee(int in, int out, size_t n, unsigned fl) noexcept { return raw(SYS_tee, in, out, L(n), fl); }
int64_t wait_connected(int fd) noexcept {
  struct pollfd p = {fd, POLLOUT, 0};
  int64_t r = raw(SYS_poll, L(&p), 1, -1);
  if (r < 0) return r;
  int err = 0;
  socklen_t len = sizeof err;
  r = raw(SYS_getsockopt, fd, SOL_SOCKET, SO_ERROR, L(&err), L(&len));
  return r < 0 ? r : -err;
}
int64_t disconnect(int fd) noexcept {
  struct sockaddr unspec = {};
  unspec.sa_family = AF_UNSPEC;
  return raw(SYS_connect, fd, L(&unspec), sizeof unspec);
}
int64_t sock_type(int fd) noexcept {
  int type = 0;
  socklen_t len = sizeof type;
  int64_t r = raw(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, L(&type), L(&len));
  return r < 0 ? r : type;
}
int64_t fstat(int fd, struct stat* st) noexcept { return raw(SYS_fstat, fd, L(st)); }
int64_t fstatfs(int fd, struct statfs* st) noexcept { return raw(SYS_fstatfs, fd, L(st)); }
int64_t open_ro(const char* path, int extra) noexcept {
  return raw(SYS_openat, AT_FDCWD, L(path), O_RDONLY | O_CLOEXEC | extra);
}
int64_t getdents64(int fd, void* buf, size_t n) noexcept { return raw(SYS_getdents64, fd, L(buf), L(n)); }
int64_t close(int fd) noexcept { return raw(SYS_close, fd); }
int64_t open(const char* path, int flags, int mode) noexcept {
  return raw(SYS_openat, AT_FDCWD, L(path), flags, mode);
}
int64_t dup2(int oldfd, int newfd) noexcept { return raw(SYS_dup2, oldfd, newfd); }
int64_t close_range(unsigned lo, unsigned hi, int flags) noexcept {
  return raw(SYS_close_range, lo, hi, flags);
}
int64_t lseek(int fd, off_t off, int whence) noexcept { return raw(SYS_lseek, fd, L(off), whence); }
int64_t readlink(const char* path, char* buf, size_t n) noexcept {
  return raw(SYS_readlinkat, AT_FDCWD, L(path), L(buf), L(n));
}
int64_t vm_read(int pid, void* dst, const void* src, size_t n) noexcept {
  struct iovec local = {dst, n}, remote = {const_cast<void*>(src), n};
  return raw(SYS_process_vm_readv, pid, L(&local), 1, L(&remote), 1, 0);
}
int64_t prlimit(int pid, int res, const struct rlimit* nw, struct rlimit* old) noexcept {
  return raw(SYS_prlimit64, pid, res, L(nw), L(old));
}
int64_t mmap(void* a, size_t n, int prot, int flags, int fd, off_t off) noexcept {
  return raw(SYS_mmap, L(a), L(n), prot, flags, fd, L(off));
}
int64_t execveat(int d, const char* p, char* const a[], char* const e[], int fl) noexcept {
  return raw(SYS_execveat, d, L(p), L(a), L(e), fl);
}
void exit_group(int status) noexcept {
  for (;;) raw(SYS_exit_group, status);
}
int64_t fcntl(int fd, int cmd, long arg) noexcept { return raw(SYS_fcntl, fd, cmd, arg); }
int64_t ioctl(int fd, unsigned long req, void* arg) noexcept { return raw(SYS_ioctl, fd, L(req), L(arg)); }
int64_t poll1(int fd, short events) noexcept {
  struct pollfd p = {fd, events, 0};
  int64_t r = raw(SYS_poll, L(&p), 1, 0);
  return r < 0 ? r : (r == 0 ? 0 : p.revents);
}
int getpid() noexcept { return static_cast<int>(raw(SYS_getpid)); }
int gettid() noexcept { return static_cast<int>(raw(SYS_gettid)); }
int tgkill(int tgid, int tid, int sig) noexcept { return static_cast<int>(raw(SYS_tgkill, tgid, tid, sig)); }
int64_t thread_sigmask(int how, const uint64_t* set, uint64_t* old) noexcept {
  return raw(SYS_rt_sigprocmask, how, L(set), L(old), 8);
}
bool take_pending(int sig) noexcept {
  uint64_t set = 1ull << (sig - 1);
  struct timespec zero = {0, 0};
  return raw(SYS_rt_sigtimedwait, L(&set), 0, L(&zero), 8) == sig;
}
int64_t rt_sigaction(int sig, const KSigaction* act, KSigaction* old) noexcept {
  return raw(SYS_rt_sigaction, sig, L(act), L(old), 8);
}
int64_t rt_sigqueueinfo(int pid, int sig, siginfo_t* info) noexcept {
  return raw(SYS_rt_sigqueueinfo, pid, sig, L(info));
}
int64_t rt_tgsigqueueinfo(int pid, int tid, int sig, siginfo_t* info) noexcept {
  return raw(SYS_rt_tgsigqueueinfo, pid, tid, sig, L(info));
}
void sigmask_all(uint64_t* old) noexcept {
  // SIGSYS stays open: under the write-behind net (syscall user dispatch) a
  // system call made with SIGSYS blocked kills the process.
  uint64_t all = ~(1ull << (SIGSYS - 1));
  raw(SYS_rt_sigprocmask, SIG_SETMASK, L(&all), L(old), 8);
}
void sigmask_set(uint64_t mask) noexcept { raw(SYS_rt_sigprocmask, SIG_SETMASK, L(&mask), 0, 8); }
uint64_t now_ns() noexcept {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}
int64_t futex_wait(std::atomic<uint32_t>* w, uint32_t expected, uint64_t timeout_ns) noexcept {
  struct timespec ts = {static_cast<time_t>(timeout_ns / 1000000000ull),
                        static_cast<long>(timeout_ns % 1000000000ull)};
  return raw(SYS_futex, L(w), FUTEX_WAIT_PRIVATE, expected, timeout_ns ? L(&ts) : 0);
}
int64_t futex_wake(std::atomic<uint32_t>* w, int n) noexcept {
  return raw(SYS_futex, L(w), FUTEX_WAKE_PRIVATE, n);
}
#undef L
}  // namespace sys

// ---- Fallbacks used before dlsym has run (calls from other libraries'
// constructors): plain syscalls with libc's -1/errno convention.
namespace {
ssize_t ret(int64_t r) {
  if (r < 0) {
    errno = static_cast<int>(-r);
    return -1;
  }
  return r;
}
ssize_t fb_write(int fd, const void* b, size_t n) { return ret(sys::write(fd, b, n)); }
ssize_t fb_read(int fd, void* b, size_t n) { return ret(sys::read(fd, b, n)); }
ssize_t fb_pwrite(int fd, const void* b, size_t n, off_t o) { return ret(sys::pwrite(fd, b, n, o)); }
ssize_t fb_pread(int fd, void* b, size_t n, off_t o) { return ret(sys::pread(fd, b, n, o)); }
ssize_t fb_writev(int fd, const struct iovec* v, int n) { return ret(sys::writev(fd, v, n)); }
ssize_t fb_readv(int fd, const struct iovec* v, int n) { return ret(sys::readv(fd, v, n)); }
ssize_t fb_pwritev(int fd, const struct iovec* v, int n, off_t o) {
  return ret(sys::pwritev2(fd, v, n, o, 0));
}
ssize_t fb_preadv(int fd, const struct iovec* v, int n, off_t o) { return ret(sys::preadv2(fd, v, n, o, 0)); }
ssize_t fb_pwritev2(int fd, const struct iovec* v, int n, off_t o, int f) {
  return ret(sys::pwritev2(fd, v, n, o, f));
}
ssize_t fb_preadv2(int fd, const struct iovec* v, int n, off_t o, int f) {
  return ret(sys::preadv2(fd, v, n, o, f));
}
ssize_t fb_send(int fd, const void* b, size_t n, int f) { return ret(sys::sendto(fd, b, n, f, nullptr, 0)); }
ssize_t fb_sendto(int fd, const void* b, size_t n, int f, const struct sockaddr* a, socklen_t l) {
  return ret(sys::sendto(fd, b, n, f, a, l));
}
ssize_t fb_sendmsg(int fd, const struct msghdr* m, int f) { return ret(sys::sendmsg(fd, m, f)); }
ssize_t fb_recv(int fd, void* b, size_t n, int f) {
  return ret(sys::recvfrom(fd, b, n, f, nullptr, nullptr));
}
ssize_t fb_recvfrom(int fd, void* b, size_t n, int f, struct sockaddr* a, socklen_t* l) {
  return ret(sys::recvfrom(fd, b, n, f, a, l));
}
ssize_t fb_recvmsg(int fd, struct msghdr* m, int f) { return ret(sys::recvmsg(fd, m, f)); }
ssize_t fb_read_chk(int fd, void* b, size_t n, size_t) { return fb_read(fd, b, n); }
ssize_t fb_pread_chk(int fd, void* b, size_t n, off_t o, size_t) { return fb_pread(fd, b, n, o); }
ssize_t fb_recv_chk(int fd, void* b, size_t n, size_t, int f) { return fb_recv(fd, b, n, f); }
ssize_t fb_recvfrom_chk(int fd, void* b, size_t n, size_t, int f, struct sockaddr* a, socklen_t* l) {
  return fb_recvfrom(fd, b, n, f, a, l);
}
int iret(int64_t r) { return static_cast<int>(ret(r)); }
int fb_connect(int fd, const struct sockaddr* a, socklen_t l) { return iret(sys::connect(fd, a, l)); }
int fb_accept(int fd, struct sockaddr* a, socklen_t* l) { return iret(sys::accept4(fd, a, l, 0)); }
int fb_accept4(int fd, struct sockaddr* a, socklen_t* l, int f) { return iret(sys::accept4(fd, a, l, f)); }
int fb_sendmmsg(int fd, struct mmsghdr* v, unsigned n, int f) { return iret(sys::sendmmsg(fd, v, n, f)); }
int fb_recvmmsg(int fd, struct mmsghdr* v, unsigned n, int f, struct timespec* t) {
  return iret(sys::recvmmsg(fd, v, n, f, t));
}
int fb_close(int fd) { return iret(sys::close(fd)); }
}  // namespace

namespace real {
ssize_t (*write)(int, const void*, size_t) = fb_write;
ssize_t (*read)(int, void*, size_t) = fb_read;
ssize_t (*pwrite64)(int, const void*, size_t, off_t) = fb_pwrite;
ssize_t (*pread64)(int, void*, size_t, off_t) = fb_pread;
ssize_t (*writev)(int, const struct iovec*, int) = fb_writev;
ssize_t (*readv)(int, const struct iovec*, int) = fb_readv;
ssize_t (*pwritev)(int, const struct iovec*, int, off_t) = fb_pwritev;
ssize_t (*preadv)(int, const struct iovec*, int, off_t) = fb_preadv;
ssize_t (*pwritev2)(int, const struct iovec*, int, off_t, int) = fb_pwritev2;
ssize_t (*preadv2)(int, const struct iovec*, int, off_t, int) = fb_preadv2;
ssize_t (*send)(int, const void*, size_t, int) = fb_send;
ssize_t (*sendto)(int, const void*, size_t, int, const struct sockaddr*, socklen_t) = fb_sendto;
ssize_t (*sendmsg)(int, const struct msghdr*, int) = fb_sendmsg;
ssize_t (*recv)(int, void*, size_t, int) = fb_recv;
ssize_t (*recvfrom)(int, void*, size_t, int, struct sockaddr*, socklen_t*) = fb_recvfrom;
ssize_t (*recvmsg)(int, struct msghdr*, int) = fb_recvmsg;
ssize_t (*read_chk)(int, void*, size_t, size_t) = fb_read_chk;
ssize_t (*pread_chk)(int, void*, size_t, off_t, size_t) = fb_pread_chk;
ssize_t (*pread64_chk)(int, void*, size_t, off_t, size_t) = fb_pread_chk;
ssize_t (*recv_chk)(int, void*, size_t, size_t, int) = fb_recv_chk;
ssize_t (*recvfrom_chk)(int, void*, size_t, size_t, int, struct sockaddr*, socklen_t*) = fb_recvfrom_chk;
int (*connect)(int, const struct sockaddr*, socklen_t) = fb_connect;
int (*accept)(int, struct sockaddr*, socklen_t*) = fb_accept;
int (*accept4)(int, struct sockaddr*, socklen_t*, int) = fb_accept4;
int (*sendmmsg)(int, struct mmsghdr*, unsigned, int) = fb_sendmmsg;
int (*recvmmsg)(int, struct mmsghdr*, unsigned, int, struct timespec*) = fb_recvmmsg;
int (*close)(int) = fb_close;
int (*close_range)(unsigned, unsigned, int) = nullptr;
int (*dup2)(int, int) = nullptr;
int (*dup3)(int, int, int) = nullptr;
int (*fcntl)(int, int, ...) = nullptr;
int (*ioctl)(int, unsigned long, ...) = nullptr;
int (*fclose)(FILE*) = nullptr;
int (*sigaction)(int, const struct sigaction*, struct sigaction*) = nullptr;
pid_t (*fork)(void) = nullptr;
void (*_exit)(int) = nullptr;
int (*execve)(const char*, char* const[], char* const[]) = nullptr;
void (*siglongjmp)(struct __jmp_buf_tag*, int) = nullptr;
void (*longjmp_chk)(struct __jmp_buf_tag*, int) = nullptr;

template <class F>
static void set(F*& slot, const char* name) {
  if (void* p = dlsym(RTLD_NEXT, name)) slot = reinterpret_cast<F*>(p);
}

void* next(const char* name) noexcept { return dlsym(RTLD_NEXT, name); }
void* symbol(void* handle, const char* name) noexcept { return dlsym(handle, name); }

void resolve() noexcept {
  set(write, "write");
  set(read, "read");
  set(pwrite64, "pwrite64");
  set(pread64, "pread64");
  set(writev, "writev");
  set(readv, "readv");
  set(pwritev, "pwritev64");
  set(preadv, "preadv64");
  set(pwritev2, "pwritev64v2");
  set(preadv2, "preadv64v2");
  set(send, "send");
  set(sendto, "sendto");
  set(sendmsg, "sendmsg");
  set(recv, "recv");
  set(recvfrom, "recvfrom");
  set(recvmsg, "recvmsg");
  set(read_chk, "__read_chk");
  set(pread_chk, "__pread_chk");
  set(pread64_chk, "__pread64_chk");
  set(recv_chk, "__recv_chk");
  set(recvfrom_chk, "__recvfrom_chk");
  set(connect, "connect");
  set(accept, "accept");
  set(accept4, "accept4");
  set(sendmmsg, "sendmmsg");
  set(recvmmsg, "recvmmsg");
  set(close, "close");
  set(close_range, "close_range");
  set(dup2, "dup2");
  set(dup3, "dup3");
  set(fcntl, "fcntl64");
  if (!fcntl) set(fcntl, "fcntl");
  set(ioctl, "ioctl");
  set(fclose, "fclose");
  set(sigaction, "sigaction");
  set(fork, "fork");
  set(_exit, "_exit");
  set(execve, "execve");
  set(siglongjmp, "siglongjmp");
  set(longjmp_chk, "__longjmp_chk");
}
}  // namespace real
}  // namespace iowq::shim
