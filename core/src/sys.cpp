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
#include <cstdlib>
#include <new>

namespace iowq::sys {

// The kernel's own convention (-errno in [-4095, -1]) straight from the
// instruction: no libc syscall() and no errno save and restore, so a fork
// child's bookkeeping (getpid) touches no libc page it would not otherwise,
// and the instruction lies in iowq's own text (what syscall user dispatch
// exempts, docs/design.md §5).
long raw_syscall(long nr, long a, long b, long c, long d, long e, long f) {
#if defined(__x86_64__)
  return raw_syscall_inline(nr, a, b, c, d, e, f);
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = nr;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
#else
  int saved = errno;
  long r = syscall(nr, a, b, c, d, e, f);
  if (r == -1) r = -errno;
  errno = saved;
  return r;
#endif
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

int take_signal(uint64_t set, siginfo_t* info, uint64_t timeout_ns) {
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout_ns / 1000000000ull);
  ts.tv_nsec = static_cast<long>(timeout_ns % 1000000000ull);
  return static_cast<int>(raw_syscall(SYS_rt_sigtimedwait, reinterpret_cast<long>(&set),
                                      reinterpret_cast<long>(info), reinterpret_cast<long>(&ts), sizeof set));
}

int requeue_to_self(int sig, const siginfo_t& info) noexcept {
  siginfo_t si = info;
  const int pid = getpid(), tid = gettid();
  if ((si.si_code >= 0 || si.si_code == SI_TKILL) && tid != pid) si.si_code = SI_QUEUE;
  int r = static_cast<int>(raw_syscall(SYS_rt_tgsigqueueinfo, pid, tid, sig, reinterpret_cast<long>(&si)));
  // Out of queue entries (RLIMIT_SIGPENDING): a plain tgkill still delivers
  // the signal, without its siginfo.
  if (r == -EAGAIN) r = tgkill(pid, tid, sig);
  return r;
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

void block_all_signals(SigMask* old, bool caller) noexcept {
  const uint64_t all = caller ? ~(uint64_t{1} << (SIGSYS - 1)) : ~0ull;
  raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&all),
              reinterpret_cast<long>(&old->bits), sizeof all);
}

void restore_signals(const SigMask& old) noexcept {
  raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&old.bits), 0, sizeof old.bits);
}

void set_signal_mask(uint64_t mask) {
  raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&mask), 0, sizeof mask);
}

namespace {
thread_local bool tl_own_start = false;

// ThreadSpec::malloc_arena: the start routine, its argument and "the arena
// is taken". On the heap, not the creator's stack: the creator waits a
// bounded time, and a thread that has not said so by then (a sandbox
// killed it, a stopped machine) must not write into a frame that is gone;
// the record is then left to it (a leak of 24 bytes, never in practice).
struct ArenaBirth {
  void* (*fn)(void*);
  void* arg;
  std::atomic<uint32_t> done{0};
};
void* arena_birth(void* p) {
  auto* b = static_cast<ArenaBirth*>(p);
  void* (*fn)(void*) = b->fn;
  void* arg = b->arg;
  void* volatile m = malloc(1);  // volatile: the pair is not optimised away
  free(m);
  b->done.store(1, std::memory_order_release);
  futex_wake(&b->done, 1);
  return fn(arg);
}
}  // namespace
bool starting_own_thread() noexcept { return tl_own_start; }

int start_thread(pthread_t* t, void* (*fn)(void*), void* arg, const ThreadSpec& spec) noexcept {
  pthread_attr_t attr;
  int rc = pthread_attr_init(&attr);
  if (rc != 0) return -rc;
  if (spec.detached) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, spec.stack_size);
  if (spec.cpus) pthread_attr_setaffinity_np(&attr, sizeof(cpu_set_t), spec.cpus);
  // Every signal blocked but glibc's internal ones: a thread that blocked
  // SIGSETXID would make every setuid()/setgid() of the program wait for it
  // forever (tests/contract/setxid_threads.c). glibc sets the mask of the
  // attribute as the thread starts (leaving those two open); a mask
  // inherited from the creator is not enough: the host's pthread_sigmask may
  // keep a signal open on a thread (the shim's, SIGSYS under the write-behind
  // net), and a process-directed SIGSYS the program blocks then landed on the
  // thread (tests/contract/sigsys_blocked.c).
  sigset_t all;
  sigfillset(&all);
  rc = pthread_attr_setsigmask_np(&attr, &all);  // glibc 2.32
  if (rc != 0) {
    pthread_attr_destroy(&attr);
    return -rc;
  }
  pthread_t tid;
  ArenaBirth* birth = spec.malloc_arena ? new (std::nothrow) ArenaBirth{fn, arg} : nullptr;
  tl_own_start = true;
  rc = birth ? pthread_create(&tid, &attr, arena_birth, birth) : pthread_create(&tid, &attr, fn, arg);
  tl_own_start = false;
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    delete birth;
    return -rc;
  }
  if (birth) {
    // Never a hang: 2 s is far beyond a malloc, and the thread runs either way.
    const uint64_t end = now_ns() + 2000000000ull;
    bool done = false;
    for (uint64_t now = now_ns(); !(done = birth->done.load(std::memory_order_acquire)) && now < end;
         now = now_ns())
      futex_wait(&birth->done, 0, end - now);
    if (done) delete birth;
  }
  if (spec.name) pthread_setname_np(tid, spec.name);
  if (t) *t = tid;
  return 0;
}

}  // namespace iowq::sys
