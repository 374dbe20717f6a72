// shim/route/route.hpp — one interposed I/O call: passthrough, inline or pool.
//
// Every interposer builds an Op and calls route(). route() returns the plain
// call's result as a count or -errno (errno untouched), with the exact errno,
// partial counts, signals (SIGPIPE/SIGXFSZ on the calling thread) and
// cancellation behaviour of the plain call.
//
// One error convention in the shim: inside, a call's result is a count or
// -errno (int64_t/ssize_t), never -1 with errno, never a positive errno, never
// an out-parameter; only the exported functions turn it into -1/errno, with
// to_libc(). "The call was not taken" (pool full, not written behind) is
// kNotTaken.
#pragma once

#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <climits>
#include <cstdint>

#include "report/counters.hpp"

namespace iowq::shim {

enum class OpKind : uint8_t {
  Read,
  Write,
  Pread,
  Pwrite,
  Readv,
  Writev,
  Preadv,
  Pwritev,
  Send,
  Recv,
  Sendmsg,
  Recvmsg,
  Connect,
  Accept,
  Sendmmsg,
  Recvmmsg,
  // The blocking file calls (filecalls.cpp): bound work keyed by the file.
  Fsync,
  Fdatasync,
  SyncFileRange,
  Fallocate,
  CopyFileRange,
  Sendfile,
};

struct Op {
  OpKind kind = OpKind::Read;
  Sym sym = Sym::Read;
  int fd = -1;
  void* buf = nullptr;  // Read/Write/Pread/Pwrite/Send/Recv
  size_t len = 0;
  const struct iovec* iov = nullptr;  // *v kinds
  int iovcnt = 0;
  off_t off = -1;                   // P* kinds; -1 with *v2 = current position
  int flags = 0;                    // RWF_* for *v2, MSG_* for sockets
  struct sockaddr* addr = nullptr;  // Send (sendto) / Recv (recvfrom)
  socklen_t addrlen = 0;
  socklen_t* addrlenp = nullptr;
  struct msghdr* msg = nullptr;    // Sendmsg / Recvmsg
  struct mmsghdr* mmsg = nullptr;  // Sendmmsg / Recvmmsg (flags: MSG_*)
  unsigned vlen = 0;
  struct timespec* timeout = nullptr;  // Recvmmsg
  // Connect: addr/addrlen. Accept: addr/addrlenp, flags = accept4's SOCK_*.
  // File calls: fd (in), fd2 (out), offp/offp2 (in/out offsets), off and off2
  // (offset and length of sync_file_range/fallocate), len, flags (or mode).
  int fd2 = -1;
  loff_t* offp = nullptr;
  loff_t* offp2 = nullptr;
  off_t off2 = 0;
  // Function that performs the call the plain way (libc), for passthrough.
  ssize_t (*plain)(const Op&) = nullptr;

  bool is_write() const noexcept {
    return kind == OpKind::Write || kind == OpKind::Pwrite || kind == OpKind::Writev ||
           kind == OpKind::Pwritev || kind == OpKind::Send || kind == OpKind::Sendmsg ||
           kind == OpKind::Sendmmsg;
  }
  // Calls that move a byte count (not connect, accept or the mmsg calls).
  bool moves_bytes() const noexcept { return kind < OpKind::Connect; }
  bool positioned() const noexcept {
    return kind == OpKind::Pread || kind == OpKind::Pwrite ||
           ((kind == OpKind::Preadv || kind == OpKind::Pwritev) && off != -1);
  }
  size_t total_len() const noexcept;
  // The same call for what is left after `done` bytes moved. For vector
  // kinds the remaining iovecs are built in `tail` (IOV_MAX entries) and, for
  // msghdr kinds, `m`.
  Op advanced(size_t done, struct iovec* tail, struct msghdr* m) const noexcept;
};

// Not noexcept: pthread cancellation unwinds through it.
int64_t route(const Op& op);
// route() of write(fd, buf, n) (symbol `sym`, `plain` its libc call): the
// same, without building an Op when write-behind takes it (the dd bs=64 path).
// Defined next to write-behind's append (writebehind.cpp), so that the
// common case is one call; the rest is route_write_rest().
int64_t route_write(int fd, const void* buf, size_t n, Sym sym, ssize_t (*plain)(const Op&));
struct FdInfo;
// route_write() after write-behind did not take the write (`r` kNotTaken,
// `wb`: it was offered) or failed it with `r` (-errno): the rest of route()
// for it. `saved_errno`: errno at the call, put back.
int64_t route_write_rest(int fd, const void* buf, size_t n, Sym sym, ssize_t (*plain)(const Op&),
                         const FdInfo& fi, bool wb, int64_t r, int saved_errno);

// The exported functions' end: -errno becomes -1 with errno set.
inline ssize_t to_libc(int64_t r) noexcept {
  if (r < 0) {
    errno = static_cast<int>(-r);
    return -1;
  }
  return static_cast<ssize_t>(r);
}
// A libc-convention result (a real function, Op::plain) as a count or -errno.
inline int64_t neg_errno(ssize_t r) noexcept { return r < 0 ? -errno : r; }

// What the pool paths return when the pool could not take a call (no pool,
// a vfork child, its class full, no worker could be started): the caller
// runs it itself. Not an -errno, since every -errno (-EAGAIN included) can be
// a call's own result.
inline constexpr int64_t kNotTaken = INT64_MIN;

// Runs `op` as bound work hashed by `key` (after the file's calls already in
// the pool) and waits for it, uninterruptibly as for disk I/O. Returns the
// result as a count or -errno, or kNotTaken (the caller then runs the call
// itself).
int64_t run_bound_keyed(const Op& op, uint64_t key);

// Executes an Op with raw syscalls (used by pool workers and write-behind).
// `extra_flags` are OR-ed into socket flags (MSG_DONTWAIT for tries).
int64_t exec_raw(const Op& op, int extra_msg_flags = 0) noexcept;

}  // namespace iowq::shim
