// shim/process/threads.cpp — the program's threads as the shim must see them:
// a thread made by a sandboxed one (seccomp.cpp marks it), pthread_exit, and
// the threads pthread_create makes: the
// program's get the write-behind net and a place in the exit watcher's table,
// the shim's own leave glibc's count of threads (exitwatch.cpp).
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>

#include "exitwatch.hpp"
#include "seccomp.hpp"
#include "startslot.hpp"
#include "state.hpp"
#include "sys/libc.hpp"
#include "writebehind/net.hpp"

#define IOWQ_EXPORT extern "C" __attribute__((visibility("default")))

using namespace iowq::shim;

// ============================================================================
// main's pthread_exit: the process must end when the program's last thread
// does, and as it would (exitwatch.cpp).
// ============================================================================

IOWQ_EXPORT __attribute__((noreturn)) void pthread_exit(void* ret) {
  static void (*real_exit)(void*) = reinterpret_cast<void (*)(void*)>(real::next("pthread_exit"));
  if (g.active.load(std::memory_order_relaxed)) {
    process::thread_ending(0);  // glibc's own exit syscall
    if (!tl.depth && !tl.sandboxed && sys::gettid() == g.pid) process::main_pthread_exit();
  }
  real_exit(ret);
  __builtin_unreachable();
}

// ============================================================================
// New program threads get the write-behind net (syscall user dispatch is per
// thread and not inherited) and a place in the exit watcher's table: the
// start routine is wrapped to do both first. The shim's own threads
// (sys::start_thread) never get the net and leave glibc's count of threads
// (exitwatch.cpp). Around the real call the net is off
// on the creating thread: glibc blocks every signal, SIGSYS included, around
// clone, and a trap then would kill the process. The threads glibc makes
// with its internal pthread_create and libc's clone() are covered in
// libc_threads.cpp; raw clone/clone3 system calls are not (docs/design.md
// §5 "The net").
// ============================================================================

namespace {
using StartFn = void*(void*);
// What a thread does at its very end (its start routine returned, or
// pthread_exit or cancellation unwinds through here). glibc blocks every
// signal, SIGSYS included, while a thread ends: the net goes off first, or a
// trap there would kill the process.
struct ProgramEnd {
  ~ProgramEnd() {
    net_thread_pause();
    process::program_thread_end();
  }
};
// The slot's flag: a program thread made while the net was on.
void* program_start(void* p) {
  const process::StartCopy s = process::start_slot_read(static_cast<process::StartSlot*>(p));
  if (s.flag) net_program_thread_begins();
  process::program_thread_begin();
  ProgramEnd end;
  return process::fn_as<StartFn>(s.fn)(s.arg);
}
struct OwnEnd {
  ~OwnEnd() { process::own_thread_end(); }
};
void* own_start(void* p) {
  const process::StartCopy s = process::start_slot_read(static_cast<process::StartSlot*>(p));
  OwnEnd end;
  return process::fn_as<StartFn>(s.fn)(s.arg);
}
}  // namespace

// raise, pthread_kill and pthread_cancel block every signal around tgkill;
// abort raises SIGABRT the same way. A signal to the calling thread itself is
// one raw tgkill from the shim's text instead (it never traps), so the
// handler it runs still has the net on.
// Returns 0 or -errno.
static int raise_self(int sig) noexcept {
  return static_cast<int>(sys::tgkill(sys::getpid(), sys::gettid(), sig));
}

IOWQ_EXPORT int pthread_kill(pthread_t t, int sig) {
  using fn_t = int(pthread_t, int);
  static fn_t* real_ = nullptr;
  fn_t* rf = real::next_fn(real_, "pthread_kill");
  if (!net_on()) return rf(t, sig);
  if (pthread_equal(t, pthread_self()) && sig > 0) return -raise_self(sig);
  return net_paused([&] { return rf(t, sig); });
}

IOWQ_EXPORT int raise(int sig) {
  using fn_t = int(int);
  static fn_t* real_ = nullptr;
  fn_t* rf = real::next_fn(real_, "raise");
  if (!net_on() || sig <= 0) return rf(sig);
  if (int e = -raise_self(sig)) {
    errno = e;
    return -1;
  }
  return 0;
}

IOWQ_EXPORT int pthread_cancel(pthread_t t) {
  using fn_t = int(pthread_t);
  static fn_t* real_ = nullptr;
  fn_t* rf = real::next_fn(real_, "pthread_cancel");
  g.cancel_seen.store(true, std::memory_order_seq_cst);  // before the cancel exists: testcancel()
  if (!net_on()) return rf(t);
  return net_paused([&] { return rf(t); });
}

IOWQ_EXPORT __attribute__((noreturn)) void abort(void) {
  using fn_t = void();
  static fn_t* real_ = nullptr;
  fn_t* rf = real::next_fn(real_, "abort");
  if (net_on()) net_thread_pause();
  rf();
  __builtin_unreachable();
}

IOWQ_EXPORT int pthread_create(pthread_t* t, const pthread_attr_t* attr, void* (*fn)(void*), void* arg) {
  using fn_t = int(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
  static fn_t* real_ = nullptr;
  fn_t* rf = real::next_fn(real_, "pthread_create");
  const bool own = sys::starting_own_thread();
  // A thread made by a sandboxed one inherits its filter (seccomp.cpp).
  if (tl.sandboxed && !own) return sandboxed_pthread_create(rf, t, attr, fn, arg);
  // A program thread has the net on (the main thread from the start, the
  // others from program_start); the shim's threads never do.
  const bool paused = !own && net_on() && net_thread_pause();
  process::StartSlot* s = nullptr;
  if (own || (g.active.load(std::memory_order_relaxed) && !tl.depth && !tl.sandboxed)) {
    process::know_glibc();
    s = process::start_slot_take(process::any_fn(fn), arg, paused);
  }
  int r;
  if (s) {
    const unsigned before = own ? process::own_thread_creating() : 0;
    r = rf(t, attr, own ? own_start : program_start, s);
    if (r != 0) process::start_slot_drop(s);
    if (r == 0 && own) {
      process::own_thread_created(before);
      // The shim has a thread now: the process must still end with the program's last.
      if (process::watcher_can_wait()) process::start_watcher();
    }
  } else {
    r = rf(t, attr, fn, arg);
  }
  if (paused) net_thread_resume();
  return r;
}
