// shim/process/threads.cpp — the program's threads as the shim must see them:
// a thread that sandboxed itself with seccomp (every later call of it passes
// straight through), and main's pthread_exit (the process must end when the
// program's last thread does, whatever threads the shim keeps).
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include "state.hpp"
#include "sys/libc.hpp"
#include "writebehind/net.hpp"

#define IOWQ_EXPORT extern "C" __attribute__((visibility("default")))

using namespace iowq::shim;

// ============================================================================
// Sandboxed threads: after seccomp is set on a thread (strict mode allows
// only read, write, _exit and sigreturn; a filter, whatever the program
// chose), the shim must not issue a syscall of its own there — so every
// call of that thread passes straight through, as a nested call does.
// (The syscall(SYS_seccomp) route is not interposed: the shim's own raw
// syscalls go through libc's syscall function, and a filter inherited from
// the parent cannot be seen.)
// ============================================================================

IOWQ_EXPORT int prctl(int option, ...) {
  static int (*real_prctl)(int, ...) = reinterpret_cast<int (*)(int, ...)>(real::next("prctl"));
  va_list ap;
  va_start(ap, option);
  unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
  unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
  va_end(ap);
  if (option == PR_SET_SECCOMP && !tl.sandboxed) {
    // Marked first: once the call succeeds, nothing else may run here.
    tl.sandboxed = true;
    ++tl.depth;
    int r = real_prctl(option, a2, a3, a4, a5);
    if (r != 0) {
      int e = errno;
      --tl.depth;
      tl.sandboxed = false;
      errno = e;
    }
    return r;
  }
  return real_prctl(option, a2, a3, a4, a5);
}

// ============================================================================
// main's pthread_exit: glibc ends the process (exit(0)) when the last thread
// it counts ends, and it counts the shim's threads too, which never end.
// Once main has called pthread_exit, a watcher thread of the shim's looks at
// the process's threads every 50 ms and calls exit(0) when none is the
// program's any more (the shim's are named "iowq-*"; zombies do not count).
// ============================================================================

namespace {

bool program_thread_left(int self) noexcept {
  int64_t dfd = sys::open_ro("/proc/self/task", O_DIRECTORY);
  if (dfd < 0) return true;  // cannot tell: keep the process
  bool left = false;
  alignas(8) char buf[4096];
  for (int64_t n; !left && (n = sys::getdents64(static_cast<int>(dfd), buf, sizeof buf)) > 0;) {
    for (int64_t off = 0; off < n && !left;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      off += d->d_reclen;
      int tid = atoi(d->d_name);
      if (tid <= 0 || tid == self) continue;
      char path[64], st[512];
      snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
      int64_t fd = sys::open_ro(path, 0);
      if (fd < 0) continue;  // gone meanwhile
      int64_t r = sys::read(static_cast<int>(fd), st, sizeof st - 1);
      sys::close(static_cast<int>(fd));
      if (r <= 0) continue;
      st[r] = '\0';
      const char* open = strchr(st, '(');
      const char* close = strrchr(st, ')');
      if (!open || !close || close[1] != ' ') continue;
      const char state = close[2];
      if (state == 'Z' || state == 'X') continue;
      if (strncmp(open + 1, "iowq-", 5) == 0) continue;
      left = true;
    }
  }
  sys::close(static_cast<int>(dfd));
  return left;
}

void* exit_watch(void*) {
  const int self = sys::gettid();
  for (;;) {
    struct timespec ts = {0, 50 * 1000 * 1000};
    clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
    if (!program_thread_left(self)) exit(0);  // what glibc's last thread does
  }
  return nullptr;
}

std::atomic<bool> g_exit_watch{false};

}  // namespace

IOWQ_EXPORT __attribute__((noreturn)) void pthread_exit(void* ret) {
  static void (*real_exit)(void*) = reinterpret_cast<void (*)(void*)>(real::next("pthread_exit"));
  if (g.active.load(std::memory_order_relaxed) && !tl.depth && !tl.sandboxed && sys::gettid() == g.pid &&
      !g_exit_watch.exchange(true)) {
    // Whatever threads the shim has now or starts later (pool, stall thread).
    Nest nest;
    sys::ThreadSpec spec;
    spec.name = "iowq-exit";
    spec.stack_size = 64 * 1024;
    if (sys::start_thread(nullptr, exit_watch, nullptr, spec) != 0) g_exit_watch.store(false);
  }
  real_exit(ret);
  __builtin_unreachable();
}

// ============================================================================
// New program threads get the write-behind net (syscall user dispatch is per
// thread and not inherited): the start routine is wrapped to enable it
// first. The shim's own threads (created inside the shim, or by a pool
// worker or the manager) never get it. Around the real call the net is off
// on the creating thread: glibc blocks every signal, SIGSYS included, around
// clone, and a trap then would kill the process. The threads glibc makes
// with its internal pthread_create and libc's clone() are covered in
// libc_threads.cpp; raw clone/clone3 system calls are not (docs/design.md
// §5 "The net").
// ============================================================================

namespace {
struct Start {
  void* (*fn)(void*);
  void* arg;
};
void* net_start(void* p) {
  Start s = *static_cast<Start*>(p);
  free(p);
  net_thread_enable();
  NetOffAtEnd off;
  return s.fn(s.arg);
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
  if (!net_on()) return rf(t, attr, fn, arg);
  const bool paused = net_thread_pause();
  int r;
  Start* s = nullptr;
  // A program thread has the net on (the main thread from the start, the
  // others from net_start); the shim's threads never do.
  if (paused && !tl.depth && !tl.sandboxed && !sys::starting_own_thread())
    s = static_cast<Start*>(malloc(sizeof(Start)));
  if (s) {
    *s = Start{fn, arg};
    r = rf(t, attr, net_start, s);
    if (r != 0) free(s);
  } else {
    r = rf(t, attr, fn, arg);
  }
  if (paused) net_thread_resume();
  return r;
}
