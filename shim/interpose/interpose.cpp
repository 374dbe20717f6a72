// shim/interpose/interpose.cpp — the exported I/O entry points.
//
// Each one is: bypass check (shim inactive or nested → the real function),
// else build an Op and route() it. The bypass check is two loads, which is
// the whole cost of a call the shim does not handle.
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "process/state.hpp"
#include "route/fdtable.hpp"
#include "route/policy.hpp"
#include "route/route.hpp"
#include "sys/libc.hpp"

#define IOWQ_EXPORT extern "C" __attribute__((visibility("default")))

using namespace iowq::shim;

namespace {

ssize_t p_write(const Op& o) { return real::write(o.fd, o.buf, o.len); }
ssize_t p_read(const Op& o) { return real::read(o.fd, o.buf, o.len); }
ssize_t p_pwrite(const Op& o) { return real::pwrite64(o.fd, o.buf, o.len, o.off); }
ssize_t p_pread(const Op& o) { return real::pread64(o.fd, o.buf, o.len, o.off); }
ssize_t p_writev(const Op& o) { return real::writev(o.fd, o.iov, o.iovcnt); }
ssize_t p_readv(const Op& o) { return real::readv(o.fd, o.iov, o.iovcnt); }
ssize_t p_pwritev(const Op& o) { return real::pwritev2(o.fd, o.iov, o.iovcnt, o.off, o.flags); }
ssize_t p_preadv(const Op& o) { return real::preadv2(o.fd, o.iov, o.iovcnt, o.off, o.flags); }
ssize_t p_send(const Op& o) { return real::sendto(o.fd, o.buf, o.len, o.flags, o.addr, o.addrlen); }
ssize_t p_recv(const Op& o) { return real::recvfrom(o.fd, o.buf, o.len, o.flags, o.addr, o.addrlenp); }
ssize_t p_sendmsg(const Op& o) { return real::sendmsg(o.fd, o.msg, o.flags); }
ssize_t p_recvmsg(const Op& o) { return real::recvmsg(o.fd, o.msg, o.flags); }
ssize_t p_connect(const Op& o) { return real::connect(o.fd, o.addr, o.addrlen); }
ssize_t p_accept(const Op& o) { return real::accept(o.fd, o.addr, o.addrlenp); }
ssize_t p_accept4(const Op& o) { return real::accept4(o.fd, o.addr, o.addrlenp, o.flags); }
ssize_t p_sendmmsg(const Op& o) { return real::sendmmsg(o.fd, o.mmsg, o.vlen, o.flags); }
ssize_t p_recvmmsg(const Op& o) { return real::recvmmsg(o.fd, o.mmsg, o.vlen, o.flags, o.timeout); }

// Counts a call the shim hands to libc untouched (arguments libc rejects).
inline ssize_t passthrough(Sym s, ssize_t r) {
  count(s, Ran::Passthrough);
  return r;
}

inline Op buf_op(OpKind k, Sym s, int fd, const void* b, size_t n, ssize_t (*plain)(const Op&)) {
  Op o{k, s, fd};
  o.buf = const_cast<void*>(b);
  o.len = n;
  o.plain = plain;
  return o;
}

inline Op vec_op(OpKind k, Sym s, int fd, const struct iovec* v, int n, off_t off, int flags,
                 ssize_t (*plain)(const Op&)) {
  Op o{k, s, fd};
  o.iov = v;
  o.iovcnt = n;
  o.off = off;
  o.flags = flags;
  o.plain = plain;
  return o;
}

}  // namespace

// ---- read/write family ------------------------------------------------------

// The fast path (route/policy.hpp): a call the shim leaves alone, or a file
// write that runs in the caller, decided without building an Op.
#define FAST_PASS(sym, call)                \
  if (fast_path(fd, false) == Fast::Pass) { \
    count(sym, Ran::Passthrough);           \
    return call;                            \
  }
#define FAST_WRITE(sym, call)                                   \
  switch (fast_path(fd, true)) {                                \
    case Fast::Pass: count(sym, Ran::Passthrough); return call; \
    case Fast::InlineWrite: {                                   \
      ssize_t r_ = call;                                        \
      count(sym, Ran::Inline);                                  \
      return r_;                                                \
    }                                                           \
    case Fast::Route: break;                                    \
  }

IOWQ_EXPORT ssize_t write(int fd, const void* buf, size_t n) {
  if (bypass()) return real::write(fd, buf, n);
  FAST_WRITE(Sym::Write, real::write(fd, buf, n))
  return to_libc(route_write(fd, buf, n, Sym::Write, p_write));
}

IOWQ_EXPORT ssize_t read(int fd, void* buf, size_t n) {
  if (bypass()) return real::read(fd, buf, n);
  FAST_PASS(Sym::Read, real::read(fd, buf, n))
  return to_libc(route(buf_op(OpKind::Read, Sym::Read, fd, buf, n, p_read)));
}

static ssize_t do_pwrite(Sym s, int fd, const void* buf, size_t n, off_t off) {
  if (bypass()) return real::pwrite64(fd, buf, n, off);
  if (off >= 0) FAST_WRITE(s, real::pwrite64(fd, buf, n, off))
  Op o = buf_op(OpKind::Pwrite, s, fd, buf, n, p_pwrite);
  o.off = off;
  return to_libc(route(o));
}

static ssize_t do_pread(Sym s, int fd, void* buf, size_t n, off_t off) {
  if (bypass()) return real::pread64(fd, buf, n, off);
  FAST_PASS(s, real::pread64(fd, buf, n, off))
  Op o = buf_op(OpKind::Pread, s, fd, buf, n, p_pread);
  o.off = off;
  return to_libc(route(o));
}

IOWQ_EXPORT ssize_t pwrite(int fd, const void* b, size_t n, off_t off) {
  return do_pwrite(Sym::Pwrite, fd, b, n, off);
}
IOWQ_EXPORT ssize_t pwrite64(int fd, const void* b, size_t n, off_t off) {
  return do_pwrite(Sym::Pwrite64, fd, b, n, off);
}
IOWQ_EXPORT ssize_t pread(int fd, void* b, size_t n, off_t off) {
  return do_pread(Sym::Pread, fd, b, n, off);
}
IOWQ_EXPORT ssize_t pread64(int fd, void* b, size_t n, off_t off) {
  return do_pread(Sym::Pread64, fd, b, n, off);
}

IOWQ_EXPORT ssize_t writev(int fd, const struct iovec* v, int n) {
  if (bypass()) return real::writev(fd, v, n);
  if (n <= 0) return passthrough(Sym::Writev, real::writev(fd, v, n));
  return to_libc(route(vec_op(OpKind::Writev, Sym::Writev, fd, v, n, -1, 0, p_writev)));
}

IOWQ_EXPORT ssize_t readv(int fd, const struct iovec* v, int n) {
  if (bypass()) return real::readv(fd, v, n);
  if (n <= 0) return passthrough(Sym::Readv, real::readv(fd, v, n));
  return to_libc(route(vec_op(OpKind::Readv, Sym::Readv, fd, v, n, -1, 0, p_readv)));
}

// pwritev/preadv take the offset as given: -1 is an error for them, so only
// the *v2 forms mean "current position" by -1 (route() passes -1 through for
// the v1 forms: positioned() is false only for v2 with -1).
IOWQ_EXPORT ssize_t pwritev(int fd, const struct iovec* v, int n, off_t off) {
  if (bypass()) return real::pwritev(fd, v, n, off);
  if (n <= 0 || off < 0) return passthrough(Sym::Pwritev, real::pwritev(fd, v, n, off));
  return to_libc(route(vec_op(OpKind::Pwritev, Sym::Pwritev, fd, v, n, off, 0, p_pwritev)));
}

IOWQ_EXPORT ssize_t preadv(int fd, const struct iovec* v, int n, off_t off) {
  if (bypass()) return real::preadv(fd, v, n, off);
  if (n <= 0 || off < 0) return passthrough(Sym::Preadv, real::preadv(fd, v, n, off));
  return to_libc(route(vec_op(OpKind::Preadv, Sym::Preadv, fd, v, n, off, 0, p_preadv)));
}

IOWQ_EXPORT ssize_t pwritev64(int fd, const struct iovec* v, int n, off_t off) {
  return pwritev(fd, v, n, off);
}
IOWQ_EXPORT ssize_t preadv64(int fd, const struct iovec* v, int n, off_t off) {
  return preadv(fd, v, n, off);
}

IOWQ_EXPORT ssize_t pwritev2(int fd, const struct iovec* v, int n, off_t off, int flags) {
  if (bypass()) return real::pwritev2(fd, v, n, off, flags);
  if (n <= 0 || off < -1) return passthrough(Sym::Pwritev2, real::pwritev2(fd, v, n, off, flags));
  return to_libc(route(vec_op(OpKind::Pwritev, Sym::Pwritev2, fd, v, n, off, flags, p_pwritev)));
}

IOWQ_EXPORT ssize_t preadv2(int fd, const struct iovec* v, int n, off_t off, int flags) {
  if (bypass()) return real::preadv2(fd, v, n, off, flags);
  if (n <= 0 || off < -1) return passthrough(Sym::Preadv2, real::preadv2(fd, v, n, off, flags));
  return to_libc(route(vec_op(OpKind::Preadv, Sym::Preadv2, fd, v, n, off, flags, p_preadv)));
}

IOWQ_EXPORT ssize_t pwritev64v2(int fd, const struct iovec* v, int n, off_t off, int flags) {
  return pwritev2(fd, v, n, off, flags);
}
IOWQ_EXPORT ssize_t preadv64v2(int fd, const struct iovec* v, int n, off_t off, int flags) {
  return preadv2(fd, v, n, off, flags);
}

// ---- sockets -----------------------------------------------------------------

IOWQ_EXPORT ssize_t send(int fd, const void* b, size_t n, int flags) {
  if (bypass()) return real::send(fd, b, n, flags);
  FAST_PASS(Sym::Send, real::send(fd, b, n, flags))
  Op o = buf_op(OpKind::Send, Sym::Send, fd, b, n, p_send);
  o.flags = flags;
  return to_libc(route(o));
}

IOWQ_EXPORT ssize_t sendto(int fd, const void* b, size_t n, int flags, const struct sockaddr* a,
                           socklen_t al) {
  if (bypass()) return real::sendto(fd, b, n, flags, a, al);
  Op o = buf_op(OpKind::Send, Sym::Sendto, fd, b, n, p_send);
  o.flags = flags;
  o.addr = const_cast<struct sockaddr*>(a);
  o.addrlen = al;
  return to_libc(route(o));
}

IOWQ_EXPORT ssize_t sendmsg(int fd, const struct msghdr* m, int flags) {
  if (bypass()) return real::sendmsg(fd, m, flags);
  Op o{OpKind::Sendmsg, Sym::Sendmsg, fd};
  o.msg = const_cast<struct msghdr*>(m);
  o.flags = flags;
  o.plain = p_sendmsg;
  return to_libc(route(o));
}

IOWQ_EXPORT ssize_t recv(int fd, void* b, size_t n, int flags) {
  if (bypass()) return real::recv(fd, b, n, flags);
  FAST_PASS(Sym::Recv, real::recv(fd, b, n, flags))
  Op o = buf_op(OpKind::Recv, Sym::Recv, fd, b, n, p_recv);
  o.flags = flags;
  return to_libc(route(o));
}

IOWQ_EXPORT ssize_t recvfrom(int fd, void* b, size_t n, int flags, struct sockaddr* a, socklen_t* al) {
  if (bypass()) return real::recvfrom(fd, b, n, flags, a, al);
  Op o = buf_op(OpKind::Recv, Sym::Recvfrom, fd, b, n, p_recv);
  o.flags = flags;
  o.addr = a;
  o.addrlenp = al;
  return to_libc(route(o));
}

IOWQ_EXPORT ssize_t recvmsg(int fd, struct msghdr* m, int flags) {
  if (bypass()) return real::recvmsg(fd, m, flags);
  Op o{OpKind::Recvmsg, Sym::Recvmsg, fd};
  o.msg = m;
  o.flags = flags;
  o.plain = p_recvmsg;
  return to_libc(route(o));
}

// connect, accept: blocking socket calls with stall timeouts (a stalled
// connect fails with ETIMEDOUT and is aborted, as a failed connect leaves the
// socket); the mmsg calls batch several send/recv.
IOWQ_EXPORT int connect(int fd, const struct sockaddr* a, socklen_t al) {
  if (bypass()) return real::connect(fd, a, al);
  Op o{OpKind::Connect, Sym::Connect, fd};
  o.addr = const_cast<struct sockaddr*>(a);
  o.addrlen = al;
  o.plain = p_connect;
  return static_cast<int>(to_libc(route(o)));
}

IOWQ_EXPORT int accept(int fd, struct sockaddr* a, socklen_t* al) {
  if (bypass()) return real::accept(fd, a, al);
  Op o{OpKind::Accept, Sym::Accept, fd};
  o.addr = a;
  o.addrlenp = al;
  o.plain = p_accept;
  int r = static_cast<int>(to_libc(route(o)));
  if (r >= 0) fd_forget(r);
  return r;
}

IOWQ_EXPORT int accept4(int fd, struct sockaddr* a, socklen_t* al, int flags) {
  if (bypass()) return real::accept4(fd, a, al, flags);
  Op o{OpKind::Accept, Sym::Accept4, fd};
  o.addr = a;
  o.addrlenp = al;
  o.flags = flags;
  o.plain = p_accept4;
  int r = static_cast<int>(to_libc(route(o)));
  if (r >= 0) fd_forget(r);
  return r;
}

IOWQ_EXPORT int sendmmsg(int fd, struct mmsghdr* v, unsigned n, int flags) {
  if (bypass()) return real::sendmmsg(fd, v, n, flags);
  Op o{OpKind::Sendmmsg, Sym::Sendmmsg, fd};
  o.mmsg = v;
  o.vlen = n;
  o.flags = flags;
  o.plain = p_sendmmsg;
  return static_cast<int>(to_libc(route(o)));
}

IOWQ_EXPORT int recvmmsg(int fd, struct mmsghdr* v, unsigned n, int flags, struct timespec* t) {
  if (bypass()) return real::recvmmsg(fd, v, n, flags, t);
  Op o{OpKind::Recvmmsg, Sym::Recvmmsg, fd};
  o.mmsg = v;
  o.vlen = n;
  o.flags = flags;
  o.timeout = t;
  o.plain = p_recvmmsg;
  return static_cast<int>(to_libc(route(o)));
}

// A thread with its own fd table is not the pool's (its fd numbers name
// other files than the workers' and the fd cache's): from now on every call
// it makes passes straight through.
IOWQ_EXPORT int unshare(int flags) {
  static int (*real_unshare)(int) = reinterpret_cast<int (*)(int)>(real::next("unshare"));
  int r = real_unshare(flags);
  if (r == 0 && (flags & CLONE_FILES) && !tl.private_fds) {
    tl.private_fds = true;
    tl.depth += kPrivateFdsDepth;
  }
  return r;
}

// ---- _FORTIFY_SOURCE entry points ---------------------------------------------
// The bounds check is libc's: an overflowing call goes to the real __*_chk,
// which reports it and aborts exactly as without the shim.

IOWQ_EXPORT ssize_t __read_chk(int fd, void* b, size_t n, size_t buflen) {
  if (bypass() || n > buflen) return real::read_chk(fd, b, n, buflen);
  return to_libc(route(buf_op(OpKind::Read, Sym::ReadChk, fd, b, n, p_read)));
}

IOWQ_EXPORT ssize_t __pread_chk(int fd, void* b, size_t n, off_t off, size_t buflen) {
  if (bypass() || n > buflen) return real::pread_chk(fd, b, n, off, buflen);
  Op o = buf_op(OpKind::Pread, Sym::PreadChk, fd, b, n, p_pread);
  o.off = off;
  return to_libc(route(o));
}

IOWQ_EXPORT ssize_t __pread64_chk(int fd, void* b, size_t n, off_t off, size_t buflen) {
  if (bypass() || n > buflen) return real::pread64_chk(fd, b, n, off, buflen);
  Op o = buf_op(OpKind::Pread, Sym::Pread64Chk, fd, b, n, p_pread);
  o.off = off;
  return to_libc(route(o));
}

IOWQ_EXPORT ssize_t __recv_chk(int fd, void* b, size_t n, size_t buflen, int flags) {
  if (bypass() || n > buflen) return real::recv_chk(fd, b, n, buflen, flags);
  Op o = buf_op(OpKind::Recv, Sym::RecvChk, fd, b, n, p_recv);
  o.flags = flags;
  return to_libc(route(o));
}

IOWQ_EXPORT ssize_t __recvfrom_chk(int fd, void* b, size_t n, size_t buflen, int flags, struct sockaddr* a,
                                   socklen_t* al) {
  if (bypass() || n > buflen) return real::recvfrom_chk(fd, b, n, buflen, flags, a, al);
  Op o = buf_op(OpKind::Recv, Sym::RecvfromChk, fd, b, n, p_recv);
  o.flags = flags;
  o.addr = a;
  o.addrlenp = al;
  return to_libc(route(o));
}
