// core/src/sys.cpp — raw syscalls for the core (see sys.hpp for the convention).
#include "sys.hpp"

#include <dlfcn.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>

namespace iowq::sys {
namespace {

// -errno on failure, errno intact. On x86-64 the syscall instruction is
// inline, in the core's own text: a host that exempts its own text from
// syscall user dispatch (the shim's write-behind net) never traps the pool's
// futex wakes, which run in the threads that submit.
long raw(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
#if defined(__x86_64__)
  register long r10 asm("r10") = d;
  register long r8 asm("r8") = e;
  register long r9 asm("r9") = f;
  long r;
  asm volatile("syscall"
               : "=a"(r)
               : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
               : "rcx", "r11", "memory");
  return r;
#else
  int saved = errno;
  long r = syscall(nr, a, b, c, d, e, f);
  if (r == -1) r = -errno;
  errno = saved;
  return r;
#endif
}

}  // namespace

int futex_wait(std::atomic<uint32_t>* word, uint32_t expected, uint64_t timeout_ns) {
  struct timespec ts, *tp = nullptr;
  if (timeout_ns) {
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1000000000ull);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1000000000ull);
    tp = &ts;
  }
  return static_cast<int>(raw(SYS_futex, reinterpret_cast<long>(word), FUTEX_WAIT_PRIVATE,
                              static_cast<long>(expected), reinterpret_cast<long>(tp)));
}

int futex_wake(std::atomic<uint32_t>* word, int n) noexcept {
  return static_cast<int>(raw(SYS_futex, reinterpret_cast<long>(word), FUTEX_WAKE_PRIVATE, n));
}

int gettid() noexcept { return static_cast<int>(raw(SYS_gettid)); }
int getpid() noexcept { return static_cast<int>(raw(SYS_getpid)); }
int tgkill(int tgid, int tid, int sig) noexcept { return static_cast<int>(raw(SYS_tgkill, tgid, tid, sig)); }

int current_cpu() noexcept {
  int saved = errno;
  int c = sched_getcpu();
  errno = saved;
  return c < 0 ? 0 : c;
}

uint64_t now_ns() noexcept {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void write_all(int fd, const char* buf, size_t n) noexcept {
  while (n > 0) {
    long r = raw(SYS_write, fd, reinterpret_cast<long>(buf), static_cast<long>(n));
    if (r == -EINTR) continue;
    if (r <= 0) return;
    buf += r;
    n -= static_cast<size_t>(r);
  }
}

void* symbol(void* handle, const char* name) noexcept { return dlsym(handle, name); }

void block_all_signals(SigMask* old, bool caller) noexcept {
  uint64_t all[16];
  for (auto& w : all) w = ~0ull;
  if (caller) all[0] &= ~(1ull << (SIGSYS - 1));
  raw(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(all), reinterpret_cast<long>(old->bits), 8);
}

void restore_signals(const SigMask& old) noexcept {
  raw(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(old.bits), 0, 8);
}

}  // namespace iowq::sys
