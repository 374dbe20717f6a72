// shim/interpose/longjmp.cpp — a program's handler leaving an interposed call by
// siglongjmp (alarm() timeouts around a blocking recv, old servers).
//
// The call's frame is gone the moment the jump lands, so what it left behind
// is taken back before the jump, not at the thread's next interposed call:
// a pool worker still running the call would write into stack the program
// is already reusing (and consume data the plain call never took), and a
// stall deadline still armed would keep interrupting whatever the program
// does next (nanosleep, poll: EINTR). Nothing here allocates or locks:
// these run inside signal handlers.
#include <dlfcn.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>

#include "sys/libc.hpp"
#include "process/state.hpp"

#define IOWQ_EXPORT extern "C" __attribute__((visibility("default")))

using namespace iowq::shim;

namespace {

using jump_fn = void (*)(struct __jmp_buf_tag*, int);

// Where the jump lands, when it can be read: the stack pointer sigsetjmp
// saved, which glibc stores mangled with the thread's pointer guard.
bool target_sp(const struct __jmp_buf_tag* env, uintptr_t* sp) noexcept {
#if defined(__x86_64__) && defined(__GLIBC__)
  uintptr_t guard;
  __asm__("mov %%fs:0x30, %0" : "=r"(guard));              // tcbhead_t.pointer_guard
  uintptr_t v = static_cast<uintptr_t>(env->__jmpbuf[6]);  // JB_RSP
  v = (v >> 17) | (v << (64 - 17));                        // undo PTR_MANGLE's rol 17, then its xor
  *sp = v ^ guard;
  return true;
#else
  (void)env;
  (void)sp;
  return false;
#endif
}

// Leaves the shim's frame for good? A handler may also jump within itself
// (setjmp in the handler): then the interrupted call goes on.
bool leaves_call(const struct __jmp_buf_tag* env) noexcept {
  uintptr_t sp;
  if (!target_sp(env, &sp)) return true;  // cannot tell: the common case
  stack_t ss;
  if (sigaltstack(nullptr, &ss) == 0 && (ss.ss_flags & SS_ONSTACK)) {
    const uintptr_t lo = reinterpret_cast<uintptr_t>(ss.ss_sp);
    if (sp >= lo && sp < lo + ss.ss_size) return false;  // within the handler's own stack
  }
  return sp > tl.nest_frame;
}

inline void before_jump(struct __jmp_buf_tag* env) noexcept {
  if (tl.depth == 0 || tl.depth >= kPrivateFdsDepth || tl.private_fds || tl.sandboxed) return;
  if (!g.active.load(std::memory_order_relaxed) || !leaves_call(env)) return;
  abandon_call(env->__mask_was_saved != 0);
}

[[noreturn]] void jump(jump_fn real_fn, const char* name, struct __jmp_buf_tag* env, int val) noexcept {
  if (!real_fn) real_fn = reinterpret_cast<jump_fn>(real::next(name));  // before the constructor
  before_jump(env);
  real_fn(env, val);
  __builtin_unreachable();
}

}  // namespace

IOWQ_EXPORT __attribute__((noreturn)) void siglongjmp(struct __jmp_buf_tag* env, int val) {
  jump(real::siglongjmp, "siglongjmp", env, val);
}
IOWQ_EXPORT __attribute__((noreturn)) void longjmp(struct __jmp_buf_tag* env, int val) {
  jump(real::siglongjmp, "siglongjmp", env, val);  // one function in glibc
}
IOWQ_EXPORT __attribute__((noreturn)) void _longjmp(struct __jmp_buf_tag* env, int val) {
  jump(real::siglongjmp, "siglongjmp", env, val);
}
// -D_FORTIFY_SOURCE builds call this one (it checks the target frame).
IOWQ_EXPORT __attribute__((noreturn)) void __longjmp_chk(struct __jmp_buf_tag* env, int val) {
  jump(real::longjmp_chk, "__longjmp_chk", env, val);
}
