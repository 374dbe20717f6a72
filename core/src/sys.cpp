// core/src/sys.cpp — raw syscalls, futexes, signal masks and thread start for
// the core and the shim (see core/sys/iowq/sys.hpp for the convention).
#include "iowq/sys.hpp"

#include <dlfcn.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>

namespace iowq::sys {

// syscall(2) reports through errno; convert to -errno and leave errno intact.
long raw_syscall(long nr, long a, long b, long c, long d, long e, long f) {
  int saved = errno;
  long r = syscall(nr, a, b, c, d, e, f);
  if (r == -1) r = -errno;
  errno = saved;
  return r;
}

int futex_wait(std::atomic<uint32_t>* word, uint32_t expected, uint64_t timeout_ns) {
  struct timespec ts, *tp = nullptr;
  if (timeout_ns) {
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1000000000ull);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1000000000ull);
    tp = &ts;
  }
  return static_cast<int>(raw_syscall(SYS_futex, reinterpret_cast<long>(word), FUTEX_WAIT_PRIVATE,
                                      static_cast<long>(expected), reinterpret_cast<long>(tp)));
}

int futex_wake(std::atomic<uint32_t>* word, int n) noexcept {
  return static_cast<int>(raw_syscall(SYS_futex, reinterpret_cast<long>(word), FUTEX_WAKE_PRIVATE, n));
}

int gettid() noexcept { return static_cast<int>(raw_syscall(SYS_gettid)); }
int getpid() noexcept { return static_cast<int>(raw_syscall(SYS_getpid)); }
int tgkill(int tgid, int tid, int sig) noexcept {
  return static_cast<int>(raw_syscall(SYS_tgkill, tgid, tid, sig));
}

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
    long r = raw_syscall(SYS_write, fd, reinterpret_cast<long>(buf), static_cast<long>(n));
    if (r == -EINTR) continue;
    if (r <= 0) return;
    buf += r;
    n -= static_cast<size_t>(r);
  }
}

void* symbol(void* handle, const char* name) noexcept { return dlsym(handle, name); }

void block_all_signals(SigMask* old) noexcept {
  const uint64_t all = ~0ull;
  raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&all),
              reinterpret_cast<long>(&old->bits), sizeof all);
}

void restore_signals(const SigMask& old) noexcept {
  raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&old.bits), 0, sizeof old.bits);
}

int start_thread(pthread_t* t, void* (*fn)(void*), void* arg, const ThreadSpec& spec) noexcept {
  pthread_attr_t attr;
  int rc = pthread_attr_init(&attr);
  if (rc != 0) return -rc;
  if (spec.detached) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (spec.stack_size) pthread_attr_setstacksize(&attr, spec.stack_size);
  if (spec.cpus) pthread_attr_setaffinity_np(&attr, sizeof(cpu_set_t), spec.cpus);
  // The new thread inherits the creator's mask: all blocked for the moment of
  // the start, then the creator's own mask back. Through pthread_sigmask, not
  // block_all_signals(): glibc keeps its internal signals open, and a thread
  // that blocked SIGSETXID would make every setuid()/setgid() of the program
  // wait for it forever (tests/contract/setxid_threads.c).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t tid;
  rc = pthread_create(&tid, &attr, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  if (rc != 0) return -rc;
  if (spec.name) pthread_setname_np(tid, spec.name);
  if (t) *t = tid;
  return 0;
}

}  // namespace iowq::sys
