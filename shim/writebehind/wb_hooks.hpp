// shim/writebehind/wb_hooks.hpp — what the write-behind ordering interposers share
// (wb_order.cpp, wb_stdio.cpp): the next definition of a libc function, and
// the waits, each one load when write-behind is off or nothing is pending.
#pragma once

#include <errno.h>

#include "sys/libc.hpp"
#include "process/state.hpp"
#include "writebehind.hpp"

#define IOWQ_EXPORT extern "C" __attribute__((visibility("default")))

namespace iowq::shim::hooks {

// The next definition of `name`, looked up once. These interposers only run
// after libc is up (they are not called by the dynamic loader itself).
using real::next_fn;

inline bool pending() noexcept {
  return g.active.load(std::memory_order_relaxed) && !tl.sandboxed && wb_pending();
}
// The file's queued writes land; its deferred error stays pending.
inline void wait_fd(int fd) noexcept {
  if (pending()) wb_wait_fd(fd);
}
// The same, and takes the error: -1/errno when there was one.
inline int report_fd(int fd) noexcept {
  if (!pending()) return 0;
  if (int e = wb_sync_fd(fd)) {
    errno = -e;
    return -1;
  }
  return 0;
}
inline void wait_all() noexcept {
  if (pending()) wb_sync_all();
}

}  // namespace iowq::shim::hooks

#define WB_REAL(type, name)     \
  using fn_t = type;            \
  static fn_t* real_ = nullptr; \
  fn_t* rf = ::iowq::shim::hooks::next_fn(real_, name)

// An interposer that runs `before` and then the real function.
#define WB_HOOK(before, ret, name, params, args) \
  IOWQ_EXPORT ret name params {                  \
    WB_REAL(ret params, #name);                  \
    before;                                      \
    return rf args;                              \
  }
