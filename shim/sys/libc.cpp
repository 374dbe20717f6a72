// shim/sys/libc.cpp — real libc entry points and raw syscalls (see libc.hpp).
#include "libc.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// The shim's signal restorer, in its own text: syscall user dispatch (the
// write-behind net, docs/design.md §5) exempts that text, so a handler's
// rt_sigreturn through it never traps (through libc's __restore_rt it would).
#if defined(__x86_64__)
asm(R"(
  .text
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
extern "C" void iowq_restore_rt();
#endif

namespace iowq::shim {
namespace sys {
int64_t syscall6(long nr, long a, long b, long c, long d, long e, long f) noexcept {
  return iowq::sys::raw_syscall(nr, a, b, c, d, e, f);
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
// The core's syscall(2) wrapper: -errno, errno untouched (iowq/sys.hpp).
// On x86-64 inline (the interposers' own read and write under the
// write-behind net, net.cpp, and the pool's file calls come through here).
inline int64_t raw(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) noexcept {
#if defined(__x86_64__)
  return iowq::sys::raw_syscall_inline(nr, a, b, c, d, e, f);
#else
  return iowq::sys::raw_syscall(nr, a, b, c, d, e, f);
#endif
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
bool sock_timeout_set(int fd, bool send) noexcept {
  struct timeval tv = {};
  socklen_t len = sizeof tv;
  if (raw(SYS_getsockopt, fd, SOL_SOCKET, send ? SO_SNDTIMEO : SO_RCVTIMEO, L(&tv), L(&len)) < 0)
    return false;
  return tv.tv_sec != 0 || tv.tv_usec != 0;
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
// 0: fds a and b of this process share one open file description.
int64_t kcmp_file(int a, int b) noexcept {
  long pid = raw(SYS_getpid);
  return raw(SYS_kcmp, pid, pid, 0 /* KCMP_FILE */, a, b);
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
KSigaction to_kernel(const struct sigaction& a) noexcept {
  KSigaction k;
  k.handler = reinterpret_cast<void*>(a.sa_handler);
  k.flags = static_cast<unsigned long>(static_cast<unsigned>(a.sa_flags));
  k.restorer = nullptr;
  memcpy(&k.mask, &a.sa_mask, sizeof k.mask);
  return k;
}
void from_kernel(const KSigaction& k, struct sigaction* out) noexcept {
  memset(out, 0, sizeof *out);
  out->sa_handler = reinterpret_cast<sighandler_t>(k.handler);
  out->sa_flags = static_cast<int>(k.flags);
#ifdef SA_RESTORER
  out->sa_restorer = reinterpret_cast<void (*)()>(k.restorer);
#endif
  memcpy(&out->sa_mask, &k.mask, sizeof k.mask);
}
int64_t rt_sigqueueinfo(int pid, int sig, siginfo_t* info) noexcept {
  return raw(SYS_rt_sigqueueinfo, pid, sig, L(info));
}
int64_t rt_tgsigqueueinfo(int pid, int tid, int sig, siginfo_t* info) noexcept {
  return raw(SYS_rt_tgsigqueueinfo, pid, tid, sig, L(info));
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
long fb_syscall(long nr, ...) {
  va_list ap;
  va_start(ap, nr);
  const sys::Args6 x = sys::va_args6(ap);
  va_end(ap);
  return ret(sys::syscall6(nr, x.a, x.b, x.c, x.d, x.e, x.f));
}
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
long (*syscall)(long, ...) = fb_syscall;
void (*_exit)(int) = nullptr;
int (*execve)(const char*, char* const[], char* const[]) = nullptr;
void (*siglongjmp)(struct __jmp_buf_tag*, int) = nullptr;
void (*longjmp_chk)(struct __jmp_buf_tag*, int) = nullptr;

void* symbol(void* handle, const char* name) noexcept { return dlsym(handle, name); }

// ---- resolve(): dlsym(RTLD_NEXT) for every name in one walk -----------------
// Every process under the shim needs these ~40 functions, and dlsym pays
// ~800 instructions a name, mostly not for the lookup (the loader lock, error
// catching): a third of what preloading the shim cost at start-up. The walk
// below does the lookups dlsym would do — the objects after this one in the
// global search order, each one's GNU hash table, the default version — for
// all names at once, and leaves every case it does not handle exactly to
// dlsym itself (docs/design.md §4, "Start-up").
//
// Exactness: the objects from ours up to libc.so.6 are all initially loaded
// (dlopen appends after libc, which every process loads at start-up), so the
// load order of the link-map chain is their search order. A name found there
// as a plain function is what dlsym returns; anything else (ifunc, unique,
// TLS or data symbol, a name not defined up to libc, an audited process whose
// auditor may rebind dlsym results, no GNU hash table) goes to dlsym.
namespace {

struct Object {
  ElfW(Addr) base = 0;
  const ElfW(Sym) * syms = nullptr;
  const char* strs = nullptr;
  const uint32_t* gnu_hash = nullptr;
  const ElfW(Versym) * versym = nullptr;
  const char* soname = nullptr;
  bool audit = false;  // DT_AUDIT / DT_DEPAUDIT
};

// The loader relocates most dynamic-section pointers in place; the vDSO's
// (and some architectures') stay offsets from the load address.
const void* dyn_ptr(const link_map* m, ElfW(Addr) p) noexcept {
  return reinterpret_cast<const void*>(p < m->l_addr ? p + m->l_addr : p);
}

Object object_of(const link_map* m) noexcept {
  Object o;
  o.base = m->l_addr;
  size_t soname = 0;
  bool has_soname = false;
  for (const ElfW(Dyn)* d = m->l_ld; d && d->d_tag != DT_NULL; ++d) {
    switch (d->d_tag) {
      case DT_SYMTAB: o.syms = static_cast<const ElfW(Sym)*>(dyn_ptr(m, d->d_un.d_ptr)); break;
      case DT_STRTAB: o.strs = static_cast<const char*>(dyn_ptr(m, d->d_un.d_ptr)); break;
      case DT_GNU_HASH: o.gnu_hash = static_cast<const uint32_t*>(dyn_ptr(m, d->d_un.d_ptr)); break;
      case DT_VERSYM: o.versym = static_cast<const ElfW(Versym)*>(dyn_ptr(m, d->d_un.d_ptr)); break;
      case DT_SONAME:
        soname = d->d_un.d_val;
        has_soname = true;
        break;
      case DT_AUDIT:
      case DT_DEPAUDIT: o.audit = true; break;
    }
  }
  if (has_soname && o.strs) o.soname = o.strs + soname;
  return o;
}

uint32_t gnu_hash(const char* s) noexcept {
  uint32_t h = 5381;
  for (; *s; ++s) h = h * 33 + static_cast<unsigned char>(*s);
  return h;
}

enum class Found { No, Func, AskDlsym };

// glibc's do_lookup_x/check_match for one object, as dlsym calls them (no
// version asked: an unversioned or base-version symbol at once, else the one
// non-hidden version if there is exactly one).
Found find(const Object& o, const char* name, uint32_t h, void** out, bool object = false) noexcept {
  const uint32_t nbuckets = o.gnu_hash[0], symoffset = o.gnu_hash[1];
  const uint32_t bloom_size = o.gnu_hash[2], bloom_shift = o.gnu_hash[3];
  if (nbuckets == 0 || bloom_size == 0) return Found::No;
  const auto* bloom = reinterpret_cast<const ElfW(Addr)*>(o.gnu_hash + 4);
  const auto* buckets = reinterpret_cast<const uint32_t*>(bloom + bloom_size);
  const uint32_t* chain = buckets + nbuckets;
  constexpr unsigned kBits = sizeof(ElfW(Addr)) * 8;
  const ElfW(Addr) word = bloom[(h / kBits) & (bloom_size - 1)];
  const ElfW(Addr) mask = (ElfW(Addr){1} << (h % kBits)) | (ElfW(Addr){1} << ((h >> bloom_shift) % kBits));
  if ((word & mask) != mask) return Found::No;
  uint32_t i = buckets[h % nbuckets];
  if (i < symoffset) return Found::No;
  const ElfW(Sym)* hit = nullptr;
  const ElfW(Sym)* versioned = nullptr;
  int versions = 0;
  for (;; ++i) {
    const uint32_t h2 = chain[i - symoffset];
    const ElfW(Sym)* s = &o.syms[i];
    const unsigned type = ELF64_ST_TYPE(s->st_info);
    constexpr unsigned kAllowed = (1u << STT_NOTYPE) | (1u << STT_OBJECT) | (1u << STT_FUNC) |
                                  (1u << STT_COMMON) | (1u << STT_TLS) | (1u << STT_GNU_IFUNC);
    if ((h | 1) == (h2 | 1) && !(s->st_value == 0 && s->st_shndx != SHN_ABS && type != STT_TLS) &&
        ((1u << type) & kAllowed) && strcmp(name, o.strs + s->st_name) == 0) {
      const ElfW(Versym) v = o.versym ? o.versym[i] : 0;
      if ((v & 0x7fff) < 2) {
        hit = s;
        break;
      }
      if (!(v & 0x8000) && versions++ == 0) versioned = s;
    }
    if (h2 & 1) break;
  }
  if (!hit && versions == 1) hit = versioned;
  if (!hit) return Found::No;
  const unsigned bind = ELF64_ST_BIND(hit->st_info);
  if (bind != STB_GLOBAL && bind != STB_WEAK) return bind == STB_LOCAL ? Found::No : Found::AskDlsym;
  if (ELF64_ST_TYPE(hit->st_info) != (object ? STT_OBJECT : STT_FUNC) || hit->st_shndx == SHN_UNDEF ||
      hit->st_shndx == SHN_ABS)
    return Found::AskDlsym;
  *out = reinterpret_cast<void*>(o.base + hit->st_value);
  return Found::Func;
}

bool audited() noexcept {
  for (char** e = environ; e && *e; ++e)
    if ((*e)[0] == 'L' && strncmp(*e, "LD_AUDIT=", 9) == 0 && (*e)[9]) return true;
  return false;
}

struct Want {
  const char* name;
  void* slot;  // a function pointer of namespace real
};

template <class F>
constexpr Want want(F*& slot, const char* name) noexcept {
  return {name, &slot};
}

// resolve()'s names (fcntl: fcntl64, else fcntl below).
const Want kWant[] = {
    want(write, "write"),
    want(read, "read"),
    want(pwrite64, "pwrite64"),
    want(pread64, "pread64"),
    want(writev, "writev"),
    want(readv, "readv"),
    want(pwritev, "pwritev64"),
    want(preadv, "preadv64"),
    want(pwritev2, "pwritev64v2"),
    want(preadv2, "preadv64v2"),
    want(send, "send"),
    want(sendto, "sendto"),
    want(sendmsg, "sendmsg"),
    want(recv, "recv"),
    want(recvfrom, "recvfrom"),
    want(recvmsg, "recvmsg"),
    want(read_chk, "__read_chk"),
    want(pread_chk, "__pread_chk"),
    want(pread64_chk, "__pread64_chk"),
    want(recv_chk, "__recv_chk"),
    want(recvfrom_chk, "__recvfrom_chk"),
    want(connect, "connect"),
    want(accept, "accept"),
    want(accept4, "accept4"),
    want(sendmmsg, "sendmmsg"),
    want(recvmmsg, "recvmmsg"),
    want(close, "close"),
    want(close_range, "close_range"),
    want(dup2, "dup2"),
    want(dup3, "dup3"),
    want(fcntl, "fcntl64"),
    want(ioctl, "ioctl"),
    want(fclose, "fclose"),
    want(sigaction, "sigaction"),
    want(syscall, "syscall"),
    want(_exit, "_exit"),
    want(execve, "execve"),
    want(siglongjmp, "siglongjmp"),
    want(longjmp_chk, "__longjmp_chk"),
};
constexpr size_t kWantCount = sizeof kWant / sizeof kWant[0];

void store(const Want& w, void* p) noexcept { memcpy(w.slot, &p, sizeof p); }

// Sets found[i] to Func (and stores the address) for every name it can decide
// exactly; the rest are AskDlsym.
void walk(Found* found) noexcept {
  for (size_t i = 0; i < kWantCount; ++i) found[i] = Found::AskDlsym;
  // _dl_find_object: lock-free and a few hundred instructions (dladdr1
  // searches the symbol table for the nearest symbol: 10k).
  struct dl_find_object dlfo;
  if (audited() || _dl_find_object(reinterpret_cast<void*>(&walk), &dlfo) != 0 || !dlfo.dlfo_link_map) return;
  const link_map* self = dlfo.dlfo_link_map;
  const link_map* head = self;
  while (head->l_prev) head = head->l_prev;
  if (object_of(head).audit) return;
  void* addr[kWantCount];
  uint32_t hash[kWantCount];
  for (size_t i = 0; i < kWantCount; ++i) {
    found[i] = Found::No;
    hash[i] = gnu_hash(kWant[i].name);
    addr[i] = nullptr;
  }
  for (const link_map* m = self->l_next; m; m = m->l_next) {
    const Object o = object_of(m);
    if (!o.syms || !o.strs || !o.gnu_hash) break;  // cannot search it: dlsym decides
    for (size_t i = 0; i < kWantCount; ++i)
      if (found[i] == Found::No) found[i] = find(o, kWant[i].name, hash[i], &addr[i]);
    if (o.soname && strcmp(o.soname, "libc.so.6") == 0) {
      // Past libc the chain may hold RTLD_LOCAL objects: dlsym decides the rest.
      for (size_t i = 0; i < kWantCount; ++i) {
        if (found[i] == Found::Func)
          store(kWant[i], addr[i]);
        else
          found[i] = Found::AskDlsym;
      }
      return;
    }
  }
  for (size_t i = 0; i < kWantCount; ++i) found[i] = Found::AskDlsym;  // libc not met
}

// One name, as walk() does them: the address when the walk decides it
// exactly, else nullptr (dlsym decides). `object`: a data symbol, not a function.
void* walk_one(const char* name, bool object = false) noexcept {
  struct dl_find_object dlfo;
  if (audited() || _dl_find_object(reinterpret_cast<void*>(&walk), &dlfo) != 0 || !dlfo.dlfo_link_map)
    return nullptr;
  const link_map* self = dlfo.dlfo_link_map;
  const link_map* head = self;
  while (head->l_prev) head = head->l_prev;
  if (object_of(head).audit) return nullptr;
  const uint32_t h = gnu_hash(name);
  for (const link_map* m = self->l_next; m; m = m->l_next) {
    const Object o = object_of(m);
    if (!o.syms || !o.strs || !o.gnu_hash) return nullptr;
    void* addr = nullptr;
    Found f = find(o, name, h, &addr, object);
    if (f == Found::Func) return addr;
    if (f == Found::AskDlsym) return nullptr;
    if (o.soname && strcmp(o.soname, "libc.so.6") == 0) return nullptr;  // past libc: dlsym's
  }
  return nullptr;
}

}  // namespace

// The lock-free walk first: dlsym holds the loader's lock, and a program's
// signal handler that calls exit() while an interposer's first call is in
// dlsym deadlocks in exit's _dl_fini (plain, that call holds no lock).
void* next(const char* name) noexcept {
  if (void* p = walk_one(name)) return p;
  return dlsym(RTLD_NEXT, name);
}

void* next_object(const char* name) noexcept { return walk_one(name, true); }

void resolve() noexcept {
  Found found[kWantCount];
  walk(found);
  // What the walk could not decide exactly gets dlsym's own answer (a slot
  // keeps its raw fallback when no later object defines the name).
  for (size_t i = 0; i < kWantCount; ++i)
    if (found[i] == Found::AskDlsym)
      if (void* p = dlsym(RTLD_NEXT, kWant[i].name)) store(kWant[i], p);
  if (!fcntl)
    if (void* p = dlsym(RTLD_NEXT, "fcntl")) fcntl = reinterpret_cast<int (*)(int, int, ...)>(p);
}

size_t resolved(const char** names, void** addrs, size_t n) noexcept {
  size_t i = 0;
  for (; i < kWantCount && i < n; ++i) {
    names[i] = kWant[i].name;
    memcpy(&addrs[i], kWant[i].slot, sizeof addrs[i]);
  }
  return i;
}
}  // namespace real
}  // namespace iowq::shim
