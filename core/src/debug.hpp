// core/src/debug.hpp — invariant checks of the IOWQ_DEBUG build.
//
// IOWQ_CHECK(cond, what): in a build with IOWQ_DEBUG defined (CMake option
// IOWQ_DEBUG=ON; the sanitizer builds turn it on), a false `cond` prints
// "iowq: invariant failed: <what>: <cond> (<file>:<line>)" to stderr and
// aborts. Without IOWQ_DEBUG the condition is not evaluated and no code is
// emitted (it is only type-checked, so a variable used only by checks does
// not warn). Async-signal-safe: the message is written with a raw write(2)
// through sys::, never through stdio or an interposed libc function.
//
// Checks that need more than an expression (walking a list) go inside
// `#if IOWQ_DEBUG_ON` blocks, which the compiler drops when it is 0.
#pragma once

namespace iowq::detail {
// Prints the failed invariant and aborts. Defined in every build, so a test
// can call it directly.
[[noreturn]] void check_failed(const char* what, const char* expr, const char* file, int line) noexcept;
}  // namespace iowq::detail

#ifdef IOWQ_DEBUG
#define IOWQ_DEBUG_ON 1
#define IOWQ_CHECK(cond, what) \
  ((cond) ? (void)0 : ::iowq::detail::check_failed((what), #cond, __FILE__, __LINE__))
#else
#define IOWQ_DEBUG_ON 0
#define IOWQ_CHECK(cond, what) ((void)sizeof(static_cast<bool>(cond)))
#endif
