// shim/route/policy.hpp — where a routed call runs: the one decision.
//
// decide() is the whole auto/pool policy (docs/design.md §4 "The modes").
// route() (route.cpp), the interposers' fast path (fast_path() below) and the
// blocking file calls (filecalls.cpp) ask it, then do what it says.
// Write-behind comes before it: route() first offers a file write to
// wb_try(), and the fast path leaves every call write-behind must see to
// route(). Calls libc would reject or not block on (flags, zero lengths) are
// route()'s to pass through: only it sees the call's arguments.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "process/state.hpp"
#include "route/fdtable.hpp"

namespace iowq::shim {

enum class Where : uint8_t {
  Libc,         // passthrough: the real libc function, untouched
  Caller,       // the plain call, in the caller
  CallerStall,  // the plain call in the caller, under the stall deadline (stall.hpp)
  ReadTry,      // a nonblocking try in the caller; the pool if it would wait
  Pool,         // handed to the pool; the caller waits for it
};

// Per file (hashed by FdInfo::key()): calls of that file in the pool. A
// bucket collision only sends a call to the pool.
constexpr size_t kBusyBuckets = 4096;
extern std::atomic<uint32_t> g_busy[kBusyBuckets];

inline bool file_busy(uint64_t key) noexcept {
  return g_busy[key % kBusyBuckets].load(std::memory_order_acquire) != 0;
}

// Where a call on an fd of `kind` runs. `read`: the call only reads the
// file. `file_key()` (the file's FdInfo::key()) is asked only when the answer
// depends on it.
//
// - kinds not in IOWQ_ROUTE, and sockets/pipes/ttys opened O_NONBLOCK
//   (O_NONBLOCK means nothing to regular files): libc.
// - terminals: the caller, whatever the mode (job control, SIGTTIN/SIGTTOU,
//   acts on the calling thread; a worker would get EIO instead).
// - pool mode: the pool.
// - auto mode, sockets, pipes, char devices: the caller (waiting on a socket
//   holds no worker), under the stall deadline when IOWQ_STALL_MS is set.
// - auto mode, files: a read is tried without blocking and goes to the pool
//   only if it would wait; any other call runs in the caller unless the file
//   has calls in the pool (it then joins their chain, so order holds). A
//   slow file changes nothing: the caller waits for its call either way, and
//   a hand-off would only add its cost (issue 13).
template <class FileKey>
inline Where decide(FdKind kind, bool nonblock, bool read, FileKey file_key) noexcept {
  if (!(g.cfg.route & route_bit(kind))) return Where::Libc;
  const bool bound = kind == FdKind::File || kind == FdKind::Block;
  if (nonblock && !bound) return Where::Libc;
  if (kind == FdKind::Tty) return Where::Caller;
  if (g.cfg.mode == Mode::Pool) return Where::Pool;
  if (!bound) return g.stall_ns ? Where::CallerStall : Where::Caller;
  if (read) return Where::ReadTry;
  return file_busy(file_key()) ? Where::Pool : Where::Caller;
}

// ---- The interposers' fast path -----------------------------------------
// decide() from the fd cache alone, without building an Op, for the two
// answers that need nothing else: libc (Pass), and a plain file write in the
// caller (InlineWrite). Everything else takes route().

bool wb_pending() noexcept;  // writebehind.hpp

enum class Fast : uint8_t { Route, Pass, InlineWrite };

// Requires !bypass(). `plain_write`: write/pwrite with no flags; the other
// callers (read, pread, send, recv) act on Pass only.
inline Fast fast_path(int fd, bool plain_write) noexcept {
  if (static_cast<unsigned>(fd) >= static_cast<unsigned>(kMaxFd)) return Fast::Route;
  const FdEntry& e = g_fdtab[fd];
  const auto kind = static_cast<FdKind>(e.kind.load(std::memory_order_acquire));
  if (kind == FdKind::Unknown) return Fast::Route;
  // Write-behind: its files, and anything while data is pending (a write to
  // a pipe or socket waits for it), take route().
  if (g.cfg.write_behind && (kind == FdKind::File || (plain_write && wb_pending()))) return Fast::Route;
  const bool nonblock = e.flags.load(std::memory_order_relaxed) & 1;
  const Where where = decide(kind, nonblock, !plain_write, [&e] {
    FdInfo fi;
    fi.dev = e.dev.load(std::memory_order_relaxed);
    fi.ino = e.ino.load(std::memory_order_relaxed);
    return fi.key();
  });
  if (where == Where::Libc) return Fast::Pass;
  const bool bound = kind == FdKind::File || kind == FdKind::Block;
  return plain_write && bound && where == Where::Caller ? Fast::InlineWrite : Fast::Route;
}

}  // namespace iowq::shim
