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

#include <cstdint>

#include "process/state.hpp"
#include "route/fdtable.hpp"

namespace iowq::shim {

enum class Where : uint8_t {
  Libc,         // passthrough: the real libc function, untouched
  Caller,       // the plain call, in the caller
  CallerStall,  // the plain call in the caller, under the stall deadline (stall.hpp)
  Pool,         // handed to the pool; the caller waits for it
};

// Where a call on an fd of `kind` runs (`nonblock`: opened O_NONBLOCK).
//
// - kinds not in IOWQ_ROUTE, and sockets/pipes/ttys opened O_NONBLOCK
//   (O_NONBLOCK means nothing to regular files): libc.
// - terminals: the caller, whatever the mode (job control, SIGTTIN/SIGTTOU,
//   acts on the calling thread; a worker would get EIO instead).
// - pool mode: the pool.
// - auto mode: the caller. The caller waits for the result either way, so
//   a hand-off buys nothing but costs a wake-up and a context switch (on
//   slow storage, where a file call blocks for milliseconds, it made auto
//   mode 1.06-1.12x slower than plain: issue 13); waiting on a socket holds
//   no worker. A socket, pipe or char device call runs under the stall
//   deadline when IOWQ_STALL_MS is set. The pool serves pool mode and
//   write-behind; a process in auto mode without write-behind never starts
//   it.
inline Where decide(FdKind kind, bool nonblock) noexcept {
  if (!(g.cfg.route & route_bit(kind))) return Where::Libc;
  const bool bound = kind == FdKind::File || kind == FdKind::Block;
  if (nonblock && !bound) return Where::Libc;
  if (kind == FdKind::Tty) return Where::Caller;
  if (g.cfg.mode == Mode::Pool) return Where::Pool;
  return !bound && g.stall_ns ? Where::CallerStall : Where::Caller;
}

// ---- The interposers' fast path -----------------------------------------
// decide() from the fd cache alone, without building an Op, for the two
// answers that need nothing else: libc (Pass), and a plain file write in the
// caller (InlineWrite). Everything else takes route().

bool wb_pending() noexcept;  // writebehind.hpp

enum class Fast : uint8_t { Route, Pass, InlineWrite };

// Requires !bypass(). `plain_write`: write/pwrite with no flags; the other
// callers (read, pread, send, recv) act on Pass only (route() counts a call
// whose arguments libc rejects as passthrough, which needs the arguments).
inline Fast fast_path(int fd, bool plain_write) noexcept {
  if (static_cast<unsigned>(fd) >= static_cast<unsigned>(kMaxFd)) return Fast::Route;
  const FdEntry& e = g_fdtab[fd];
  const auto kind = static_cast<FdKind>(e.kind.load(std::memory_order_acquire));
  if (kind == FdKind::Unknown) return Fast::Route;
  // Write-behind: its files, and anything while data is pending (a write to
  // a pipe or socket waits for it), take route().
  if (g.cfg.write_behind && (kind == FdKind::File || (plain_write && wb_pending()))) return Fast::Route;
  const Where where = decide(kind, e.flags.load(std::memory_order_relaxed) & kFdNonblock);
  if (where == Where::Libc) return Fast::Pass;
  const bool bound = kind == FdKind::File || kind == FdKind::Block;
  return plain_write && bound && where == Where::Caller ? Fast::InlineWrite : Fast::Route;
}

}  // namespace iowq::shim
