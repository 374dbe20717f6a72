// shim/interpose/filecalls.cpp — the blocking file calls io_uring also hands to io-wq
// (docs/design.md §4): fsync fdatasync sync_file_range fallocate posix_fallocate
// copy_file_range sendfile splice tee.
//
// Each is bound work keyed by the file it changes, so it runs in order with
// that file's writes already in the pool; where it runs is decide()'s
// (route/policy.hpp): pool mode the pool, auto mode the caller. A call with a pipe or socket end (splice, tee, sendfile to a
// socket) may wait forever, which bound work must not: it runs in the
// caller, as the plain call. Every call is counted, timed into
// latency_ns.file_calls and, with IOWQ_CALLSITES, attributed to its call site.
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/sendfile.h>
#include <unistd.h>
#include <algorithm>

#include "process/state.hpp"
#include "report/callsites.hpp"
#include "route/fdtable.hpp"
#include "route/policy.hpp"
#include "sys/libc.hpp"
#include "writebehind/writebehind.hpp"

#define IOWQ_EXPORT extern "C" __attribute__((visibility("default")))

using namespace iowq::shim;

namespace {

// The next definition of `name`, looked up once (after the constructor).
#define REAL_FN(type, name)                \
  using name##_fn = type;                  \
  static name##_fn* real_##name = nullptr; \
  real::next_fn(real_##name, #name)

// The one place where a file call meets write-behind: the file's pending
// writes are written first; `report` makes a deferred write error the call's
// result (the fsync family), as at any other sync point (docs/design.md §5).
int file_sync_point(int fd, bool report) noexcept {
  if (!g.cfg.write_behind || !wb_pending()) return 0;
  FdInfo fi = fd_info(fd);
  if (fi.kind != FdKind::File) {
    wb_before_talk(fi.kind);  // a pipe or socket end: another process is told
    return 0;
  }
  if (report) return wb_sync_file(fd, fi, true);  // the fsync family: errseq
  wb_wait_file(fi);                               // the error stays for a call that can return it
  return 0;
}

// The plain libc calls (cancellation points and all), for the caller.
ssize_t p_fsync(const Op& o) {
  REAL_FN(int(int), fsync);
  return real_fsync(o.fd);
}
ssize_t p_fdatasync(const Op& o) {
  REAL_FN(int(int), fdatasync);
  return real_fdatasync(o.fd);
}
ssize_t p_sync_file_range(const Op& o) {
  REAL_FN(int(int, off_t, off_t, unsigned), sync_file_range);
  return real_sync_file_range(o.fd, o.off, o.off2, static_cast<unsigned>(o.flags));
}
ssize_t p_fallocate(const Op& o) {
  REAL_FN(int(int, int, off_t, off_t), fallocate);
  return real_fallocate(o.fd, o.flags, o.off, o.off2);
}
ssize_t p_copy_file_range(const Op& o) {
  REAL_FN(ssize_t(int, loff_t*, int, loff_t*, size_t, unsigned), copy_file_range);
  return real_copy_file_range(o.fd, o.offp, o.fd2, o.offp2, o.len, static_cast<unsigned>(o.flags));
}
ssize_t p_sendfile(const Op& o) {
  REAL_FN(ssize_t(int, int, off_t*, size_t), sendfile);
  return real_sendfile(o.fd2, o.fd, reinterpret_cast<off_t*>(o.offp), o.len);
}

// glibc makes these cancellation points (SYSCALL_CANCEL); posix_fallocate
// and sendfile are not, and must not become ones on the pool path, whose
// wait acts on a pending cancel.
bool cancellation_point(Sym s) noexcept { return s != Sym::PosixFallocate && s != Sym::Sendfile; }

// Runs a file call on `fd` (the file it changes; `other` is its second fd,
// or -1). Returns a count or -errno; errno is left as found.
int64_t file_call(const Op& op, int fd, int other) {
  const int e0 = errno;
  const FdInfo fi = fd_info(fd);
  // A pipe or socket end may wait forever, which bound work must not: libc.
  const bool files = fi.bound() && (other < 0 || fd_info(other).bound());
  // What it may take on fd's filesystem, which pending writes were counted
  // on (docs/design.md §5 "A full disk").
  WbSpaceUse room;
  if (g.cfg.write_behind && fi.kind == FdKind::File) {
    if (op.kind == OpKind::Fallocate) room.begin(fi, nullptr, op.off2);
    if (op.kind == OpKind::CopyFileRange || op.kind == OpKind::Sendfile)
      room.begin(fi, nullptr, static_cast<int64_t>(std::min<size_t>(op.len, INT64_MAX / 4)));
  }
  const Where where = files ? decide(fi.kind, fi.nonblock()) : Where::Libc;
  const uint64_t t0 = sys::now_ns();
  int64_t r = kNotTaken;
  if (where == Where::Pool) {
    Nest nest;
    int cancel_state = PTHREAD_CANCEL_ENABLE;
    if (!cancellation_point(op.sym)) pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    r = run_bound_keyed(op, fi.key());  // counted as Ran::Pool there
    if (cancel_state != PTHREAD_CANCEL_DISABLE && !cancellation_point(op.sym))
      pthread_setcancelstate(cancel_state, nullptr);
  }
  if (r == kNotTaken) {
    count(op.sym, where == Where::Libc ? Ran::Passthrough : Ran::Inline);
    r = neg_errno(op.plain(op));
  }
  const uint64_t dt = sys::now_ns() - t0;
  g_counters.file_calls_ns.record(dt);
  if (g.cfg.callsites) callsites_record(dt);
  errno = e0;
  return r;
}

inline bool active() { return !bypass(); }

inline int ret_int(int64_t r) { return static_cast<int>(to_libc(r)); }

int fsync_like(OpKind k, Sym s, int fd, ssize_t (*plain)(const Op&)) {
  Op o{k, s, fd};
  o.plain = plain;
  if (int e = file_sync_point(fd, true)) {
    count(s, Ran::Passthrough);
    return ret_int(e);
  }
  return ret_int(file_call(o, fd, -1));
}

}  // namespace

// Before the shim is initialised (another library's constructor) and when
// it passes a call through, these are the raw syscalls or libc's own.

IOWQ_EXPORT int fsync(int fd) {
  if (!active()) return ret_int(sys::fsync(fd));
  return fsync_like(OpKind::Fsync, Sym::Fsync, fd, p_fsync);
}

IOWQ_EXPORT int fdatasync(int fd) {
  if (!active()) return ret_int(sys::fdatasync(fd));
  return fsync_like(OpKind::Fdatasync, Sym::Fdatasync, fd, p_fdatasync);
}

IOWQ_EXPORT int sync_file_range(int fd, off_t off, off_t n, unsigned flags) {
  if (!active()) return ret_int(sys::sync_file_range(fd, off, n, flags));
  Op o{OpKind::SyncFileRange, Sym::SyncFileRange, fd};
  o.off = off;
  o.off2 = n;
  o.flags = static_cast<int>(flags);
  o.plain = p_sync_file_range;
  if (int e = file_sync_point(fd, true)) {
    count(o.sym, Ran::Passthrough);
    return ret_int(e);
  }
  return ret_int(file_call(o, fd, -1));
}

IOWQ_EXPORT int fallocate(int fd, int mode, off_t off, off_t len) {
  if (!active()) return ret_int(sys::fallocate(fd, mode, off, len));
  Op o{OpKind::Fallocate, Sym::Fallocate, fd};
  o.flags = mode;
  o.off = off;
  o.off2 = len;
  o.plain = p_fallocate;
  file_sync_point(fd, false);
  return ret_int(file_call(o, fd, -1));
}
IOWQ_EXPORT int fallocate64(int fd, int mode, off_t off, off_t len) { return fallocate(fd, mode, off, len); }

// Returns the error number (errno is not used), as POSIX has it. Filesystems
// without fallocate get libc's emulation, in the caller.
IOWQ_EXPORT int posix_fallocate(int fd, off_t off, off_t len) {
  REAL_FN(int(int, off_t, off_t), posix_fallocate);
  if (!active() || !real_posix_fallocate) {
    if (real_posix_fallocate) return real_posix_fallocate(fd, off, len);
    return static_cast<int>(-sys::fallocate(fd, 0, off, len));
  }
  if (off < 0 || len <= 0) return real_posix_fallocate(fd, off, len);  // libc's argument checks
  Op o{OpKind::Fallocate, Sym::PosixFallocate, fd};
  o.off = off;
  o.off2 = len;
  o.plain = [](const Op& x) -> ssize_t {
    int e = real_posix_fallocate(x.fd, x.off, x.off2);  // the enclosing function's static
    if (e) errno = e;
    return e ? -1 : 0;
  };
  file_sync_point(fd, false);
  const int e0 = errno;
  int64_t r = file_call(o, fd, -1);
  if (r == -EOPNOTSUPP) r = -real_posix_fallocate(fd, off, len);
  errno = e0;
  return static_cast<int>(-r);
}
IOWQ_EXPORT int posix_fallocate64(int fd, off_t off, off_t len) { return posix_fallocate(fd, off, len); }

IOWQ_EXPORT ssize_t copy_file_range(int in, loff_t* oin, int out, loff_t* oout, size_t n, unsigned flags) {
  if (!active()) return to_libc(sys::copy_file_range(in, oin, out, oout, n, flags));
  file_sync_point(in, false);
  file_sync_point(out, false);
  Op o{OpKind::CopyFileRange, Sym::CopyFileRange, in};
  o.fd2 = out;
  o.offp = oin;
  o.offp2 = oout;
  o.len = n;
  o.flags = static_cast<int>(flags);
  o.plain = p_copy_file_range;
  return to_libc(file_call(o, out, in));
}

IOWQ_EXPORT ssize_t sendfile(int out, int in, off_t* off, size_t n) {
  if (!active()) return to_libc(sys::sendfile(out, in, reinterpret_cast<loff_t*>(off), n));
  file_sync_point(in, false);
  file_sync_point(out, false);
  Op o{OpKind::Sendfile, Sym::Sendfile, in};
  o.fd2 = out;
  o.offp = reinterpret_cast<loff_t*>(off);
  o.len = n;
  o.plain = p_sendfile;
  return to_libc(file_call(o, out, in));
}
IOWQ_EXPORT ssize_t sendfile64(int out, int in, off_t* off, size_t n) { return sendfile(out, in, off, n); }

// splice and tee always have a pipe end, which may wait forever: the plain
// call in the caller, counted and timed.
IOWQ_EXPORT ssize_t splice(int in, loff_t* oin, int out, loff_t* oout, size_t n, unsigned flags) {
  REAL_FN(ssize_t(int, loff_t*, int, loff_t*, size_t, unsigned), splice);
  if (!active() || !real_splice) return to_libc(sys::splice(in, oin, out, oout, n, flags));
  file_sync_point(in, false);
  file_sync_point(out, false);
  count(Sym::Splice, Ran::Inline);
  const uint64_t t0 = sys::now_ns();
  ssize_t r = real_splice(in, oin, out, oout, n, flags);
  g_counters.file_calls_ns.record(sys::now_ns() - t0);
  return r;
}

IOWQ_EXPORT ssize_t tee(int in, int out, size_t n, unsigned flags) {
  REAL_FN(ssize_t(int, int, size_t, unsigned), tee);
  if (!active() || !real_tee) return to_libc(sys::tee(in, out, n, flags));
  file_sync_point(in, false);
  file_sync_point(out, false);
  count(Sym::Tee, Ran::Inline);
  const uint64_t t0 = sys::now_ns();
  ssize_t r = real_tee(in, out, n, flags);
  g_counters.file_calls_ns.record(sys::now_ns() - t0);
  return r;
}
