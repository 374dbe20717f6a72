// shim/process/seccomp.cpp — the program's own seccomp sandbox is never
// bypassed nor tripped by the shim (docs/design.md §4 "seccomp").
//
// A thread enters seccomp through prctl(PR_SET_SECCOMP), or the seccomp
// system call made with libc's syscall() (libseccomp's seccomp_load uses one
// of the two); a thread created by a sandboxed thread inherits its filter.
// Once the shim knows a thread is sandboxed, its calls run in the caller,
// plain (a pool worker is not under the thread's filter: the sandbox would be
// bypassed), and the shim makes no syscall of its own there (strict mode
// allows read, write, _exit and sigreturn only; a filter, whatever the
// program chose). A filter set with SECCOMP_FILTER_FLAG_TSYNC covers every
// thread, the shim's too: the process is then sealed — every call of every
// thread runs in its caller, plain, from then on, so the shim's threads stay
// idle and make no syscall a filter written for the program's threads would
// not expect.
#include "seccomp.hpp"

#include <errno.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <atomic>

#include "startslot.hpp"
#include "state.hpp"
#include "sys/libc.hpp"
#include "writebehind/net.hpp"
#include "writebehind/writebehind.hpp"

#define IOWQ_EXPORT extern "C" __attribute__((visibility("default")))
#define IOWQ_STR2(x) #x
#define IOWQ_STR(x) IOWQ_STR2(x)

using namespace iowq::shim;

namespace {

enum class Scope { None, Thread, Process };

// What the seccomp system call puts under seccomp. A filter call without a
// program fails (EFAULT): libseccomp probes the kernel's flags that way.
Scope seccomp_scope(unsigned long op, unsigned long flags, unsigned long prog) noexcept {
  if (op == SECCOMP_SET_MODE_STRICT) return Scope::Thread;
  if (op != SECCOMP_SET_MODE_FILTER || !prog) return Scope::None;
  return (flags & SECCOMP_FILTER_FLAG_TSYNC) ? Scope::Process : Scope::Thread;
}
// The same for prctl(PR_SET_SECCOMP, mode, prog).
Scope prctl_scope(unsigned long mode, unsigned long prog) noexcept {
  return mode == SECCOMP_MODE_FILTER && !prog ? Scope::None : Scope::Thread;
}

void mark_thread() noexcept {
  tl.sandboxed = true;
  ++tl.depth;  // every later call of this thread passes straight through
}

// Runs `call`, which puts the calling thread (Thread) or the whole process
// (Process) under seccomp, with the shim prepared first: once it succeeds,
// nothing but the program's own calls may run here. Returns what `call`
// returns, errno as it left it.
template <class F>
long enter(Scope scope, unsigned long flags, F call) {
  const bool sealing = scope == Scope::Process && !g.sealed.load(std::memory_order_relaxed);
  if (scope == Scope::None || (tl.sandboxed && !sealing)) return call();
  const bool active = g.active.load(std::memory_order_relaxed);
  // A vfork child shares the parent's memory (its TLS too): marking it would
  // mark the parent. Its calls pass straight through anyway.
  if (active && in_vfork_child()) return call();
  const bool was_sandboxed = tl.sandboxed;
  const int saved_errno = errno;
  // What must run outside the sandbox later starts now (the exit watcher).
  if (!was_sandboxed) process::before_sandbox();
  bool paused = false;
  if (!was_sandboxed) {
    // The net's per-thread dispatch goes off for good (one prctl, still
    // allowed here): a sandboxed thread never waits for write-behind data.
    paused = net_thread_pause();
  }
  if (sealing) g.sealed.store(true, std::memory_order_relaxed);  // no new hand-off from now on
  // What the plain program wrote before sandboxing itself is written before
  // the sandbox goes on (a worker under a TSYNC filter may not be let write
  // it; a sandboxed thread can no longer wait for it).
  if (active && !was_sandboxed && !tl.depth) wb_sync_all();
  // The pool's threads will be under the filter: none is started from now
  // on (a call already queued runs in its caller, one running finishes).
  // A pool another thread is starting now (its manager's clone) is waited
  // for, bounded; none starts once sealed (ensure_pool()).
  for (int i = 0; sealing && i < 100000 && g.pool_state.load(std::memory_order_acquire) == 1; ++i)
    sys::sched_yield();
  const bool freezing = sealing && g.pool_state.load(std::memory_order_acquire) == 2;
  if (freezing) g.pool->freeze();
  if (!was_sandboxed) mark_thread();
  errno = saved_errno;  // a successful call leaves errno as the program had it
  long r = call();
  // Failure: -1, or with TSYNC the id of a thread that could not take the
  // filter (a listener fd is a success).
  const bool failed =
      r < 0 || (scope == Scope::Process && r > 0 && !(flags & SECCOMP_FILTER_FLAG_NEW_LISTENER));
  if (failed) {
    const int e = errno;
    if (freezing) g.pool->thaw();
    if (sealing) g.sealed.store(false, std::memory_order_relaxed);  // before the net may come back
    if (!was_sandboxed) {
      --tl.depth;
      tl.sandboxed = false;
      if (paused) net_thread_resume();
    }
    errno = e;
  }
  return r;
}

// pthread_create from a sandboxed thread: the start routine and its argument
// reach the new thread through a slot (malloc and free could map memory in
// either thread, a syscall the program did not ask for; a malloc'ed slot,
// more than 64 threads being born at once, is left to leak: its free could
// map memory in the sandboxed new thread).
void* slot_start(void* p) {
  const process::StartCopy s = process::start_slot_read(static_cast<process::StartSlot*>(p), false);
  mark_thread();
  return process::fn_as<void*(void*)>(s.fn)(s.arg);
}

// The seccomp mode of the thread that started the pool: its manager and
// workers inherited it.
constinit int g_pool_mode = 0;

}  // namespace

namespace iowq::shim {

bool seccomp_may_hand_off(bool starting) noexcept {
  if (tl.seccomp_checked && !starting) return true;
  tl.seccomp_checked = true;
  const int mode = static_cast<int>(sys::syscall6(SYS_prctl, PR_GET_SECCOMP, 0, 0, 0, 0, 0));
  if (starting) {
    g_pool_mode = mode;  // published by the pool state's release store
    return true;
  }
  if (mode == g_pool_mode) return true;
  mark_thread();
  // The net off here too, as for the ways in the shim sees (one more prctl,
  // now or never): its traps would otherwise go on, and glibc's clone in a
  // pthread_create of this thread, every signal blocked, would be fatal.
  net_thread_pause();
  return false;
}

int sandboxed_pthread_create(pthread_create_fn* rf, pthread_t* t, const pthread_attr_t* attr,
                             void* (*fn)(void*), void* arg) noexcept {
  process::StartSlot* s = process::start_slot_take(process::any_fn(fn), arg);
  if (!s) return EAGAIN;  // what pthread_create says when memory runs out
  const int r = rf(t, attr, slot_start, s);
  if (r != 0) process::start_slot_drop(s);
  return r;
}

}  // namespace iowq::shim

IOWQ_EXPORT int prctl(int option, ...) {
  static int (*real_prctl)(int, ...) = reinterpret_cast<int (*)(int, ...)>(real::next("prctl"));
  va_list ap;
  va_start(ap, option);
  unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
  unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
  va_end(ap);
  if (__builtin_expect(option == PR_SET_SECCOMP, 0))
    return static_cast<int>(
        enter(prctl_scope(a2, a3), 0, [&] { return real_prctl(option, a2, a3, a4, a5); }));
  return real_prctl(option, a2, a3, a4, a5);
}

// libc's syscall(): every number but seccomp, prctl and exit goes on untouched to
// libc (the write-behind net sees it there). On x86-64 the entry is two
// compares and a jump with every register and the stack as the caller left
// them (reading six variadic longs in C cost ~40 instructions a call);
// seccomp, prctl and exit go on to iowq_syscall_seccomp() below, the same way.
IOWQ_EXPORT long syscall(long nr, ...);
extern "C" __attribute__((visibility("hidden"))) long iowq_syscall_seccomp(long nr, ...);
#if defined(__x86_64__)
asm(R"(
  .text
  .p2align 4
  .globl syscall
  .type syscall, @function
syscall:
  .cfi_startproc
  endbr64
  cmpq $)" IOWQ_STR(SYS_seccomp) R"(, %rdi
  je 1f
  cmpq $)" IOWQ_STR(SYS_prctl) R"(, %rdi
  je 1f
  cmpq $)" IOWQ_STR(SYS_exit) R"(, %rdi
  je 1f
  jmp *iowq_real_syscall(%rip)
1:
  jmp iowq_syscall_seccomp
  .cfi_endproc
  .size syscall, .-syscall
)");
#else
IOWQ_EXPORT long syscall(long nr, ...) {
  va_list ap;
  va_start(ap, nr);
  const sys::Args6 x = sys::va_args6(ap);
  va_end(ap);
  const long a = x.a, b = x.b, c = x.c, d = x.d, e = x.e, f = x.f;
  if (__builtin_expect(nr == SYS_seccomp || nr == SYS_prctl || nr == SYS_exit, 0))
    return iowq_syscall_seccomp(nr, a, b, c, d, e, f);
  return real::syscall(nr, a, b, c, d, e, f);
}
#endif

// syscall(SYS_seccomp, SYS_prctl or SYS_exit, ...): six longs read as glibc reads them
// (the sixth from the caller's stack, whatever it passed).
long iowq_syscall_seccomp(long nr, ...) {
  va_list ap;
  va_start(ap, nr);
  const sys::Args6 x = sys::va_args6(ap);
  va_end(ap);
  const long a = x.a, b = x.b, c = x.c, d = x.d, e = x.e, f = x.f;
  // A thread leaving by the raw exit syscall: if it is the program's last,
  // its code is the process's status (process/exitwatch.cpp). No syscall.
  if (nr == SYS_exit) process::thread_ending(static_cast<int>(a));
  if (nr == SYS_seccomp)
    return enter(seccomp_scope(static_cast<unsigned long>(a), static_cast<unsigned long>(b),
                               static_cast<unsigned long>(c)),
                 static_cast<unsigned long>(b), [&] { return real::syscall(nr, a, b, c, d, e, f); });
  if (a == PR_SET_SECCOMP)
    return enter(prctl_scope(static_cast<unsigned long>(b), static_cast<unsigned long>(c)), 0,
                 [&] { return real::syscall(nr, a, b, c, d, e, f); });
  return real::syscall(nr, a, b, c, d, e, f);
}
