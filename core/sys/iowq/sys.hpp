// iowq/sys.hpp — the one door to raw syscalls, futexes, signal masks and the
// threads iowq starts for itself. Core-internal (not installed): the core uses
// it, and the shim reaches it as the private CMake target `iowq_sys` (its
// shim/sys/libc.hpp forwards sys:: here), so both layers share one copy of
// each low-level helper. Implemented in core/src/sys.cpp.
//
// Convention: every function returns 0 or a non-negative value on success and
// -errno on failure; errno itself is left as it was (callers run inside an
// interposed libc call and must not disturb the host's errno). All functions
// here are async-signal-safe unless their comment says otherwise.
//
// Thread safety: every function may be called from any thread; none keeps
// state between calls. Memory ordering: a futex wait or wake is not a fence;
// callers order the futex word with their own atomics (each call site says
// which store its wait pairs with).
#pragma once

#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <ctime>

namespace iowq::sys {

// syscall(2) with up to six arguments; the result or -errno, errno intact.
// Not noexcept: a futex wait inside it may be left by pthread cancellation.
long raw_syscall(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0);
#if defined(__x86_64__)
// raw_syscall's body, inline, for the paths where a call more counts: the
// shim's own read of each record under the write-behind net (dd bs=64: the
// call was ~10 of the read's ~100 instructions).
inline long raw_syscall_inline(long nr, long a, long b, long c, long d, long e, long f) noexcept {
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long r;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return r;
}
#endif

// FUTEX_WAIT_PRIVATE on `word` while it equals `expected`. `timeout_ns` is
// relative; 0 means wait forever. Returns 0 (woken), -EAGAIN (value differed),
// -EINTR (a handler ran and SA_RESTART did not apply), -ETIMEDOUT.
// Not noexcept: pthread cancellation may unwind out of it.
int futex_wait(std::atomic<uint32_t>* word, uint32_t expected, uint64_t timeout_ns = 0);
// Wakes up to `n` waiters. Returns how many were woken, or -errno.
int futex_wake(std::atomic<uint32_t>* word, int n) noexcept;

// rt_sigtimedwait for the signals of `set` (kernel sigset bits, blocked by
// the caller) for at most `timeout_ns`: the signal number taken (siginfo in
// *info), -EAGAIN on timeout, or -EINTR when a handler of a signal outside
// `set` ran. Not noexcept (pthread cancellation).
int take_signal(uint64_t set, siginfo_t* info, uint64_t timeout_ns);
// Queues a signal taken by take_signal to the calling thread again, with its
// siginfo. The kernel lets only the main thread re-send a kernel or kill()
// code: elsewhere it goes as SI_QUEUE (else it would be lost). Returns 0 or
// -errno.
int requeue_to_self(int sig, const siginfo_t& info) noexcept;

int gettid() noexcept;
int getpid() noexcept;
int tgkill(int tgid, int tid, int sig) noexcept;
// CPU the caller runs on (vDSO getcpu), or 0 if unknown.
int current_cpu() noexcept;
// CLOCK_MONOTONIC in nanoseconds (vDSO).
uint64_t now_ns() noexcept;
// write(2) of all `n` bytes to `fd`, retrying short writes and EINTR; gives up
// silently on any other error. For diagnostics (debug.cpp).
void write_all(int fd, const char* buf, size_t n) noexcept;

// dlsym(handle, name) in a library the core opened itself (libnuma); nullptr
// if absent. Not async-signal-safe.
void* symbol(void* handle, const char* name) noexcept;

// Blocks every signal on the calling thread; returns the previous mask in *old
// (the kernel's sigset: 64 signals on x86-64 and aarch64). restore_signals()
// puts it back. Blocks glibc's internal signals too, so only around short
// critical sections: a setuid() on another thread waits until the restore.
// `caller`: the thread is the host program's, which may run under syscall
// user dispatch (the shim's write-behind net): SIGSYS stays open, since a
// system call trapped with SIGSYS blocked kills the process.
struct SigMask {
  uint64_t bits;
};
void block_all_signals(SigMask* old, bool caller = false) noexcept;
void restore_signals(const SigMask& old) noexcept;
// Sets the calling thread's mask to `mask`. Not noexcept: a handler of a
// pending signal it unblocks runs inside it and may be left by pthread
// cancellation.
void set_signal_mask(uint64_t mask);

// A thread iowq starts for itself (the core's manager and workers, the shim's
// stall and exit-watch threads). It starts with every signal blocked but
// glibc's internal ones (SIGCANCEL, SIGSETXID: setuid() must reach it),
// whatever the caller's mask (the caller's own mask is unchanged on return),
// so no signal meant for the program ever lands on it; it may open one itself.
struct ThreadSpec {
  // "iowq-<what>", at most 15 characters: the shim tells its own threads from
  // the program's by this prefix (process/exitwatch.cpp). Set by the creator
  // right after the start, so only for a thread that cannot have ended by
  // then (detached and never returning, or joinable); nullptr: the thread
  // names itself (a worker: "iowq-wrk-<n>").
  const char* name = nullptr;
  bool detached = true;
  // Small, not glibc's default (RLIMIT_STACK, 8 MiB): glibc hands a thread
  // a cached stack of a thread that ended if it is at most 4x the size asked
  // for, so iowq's threads, born and ended at any time, never take the stack
  // a program's next pthread_create would have reused (nor the reverse), and
  // reserve little address space (RLIMIT_AS). They run system calls and
  // iowq's own loops, nothing deep.
  size_t stack_size = 256 * 1024;
  const cpu_set_t* cpus = nullptr;  // nullptr: the creator's affinity
  // For a thread that calls malloc or free: it takes its glibc arena first
  // thing, and start_thread returns only then. A thread's first malloc or
  // free maps 128 MiB and unmaps the unaligned half of it a moment later; a
  // thread the shim starts before main does it before the program can see
  // it (/proc/self/statm, RLIMIT_AS). A thread without it (workers) must
  // never call malloc or free.
  bool malloc_arena = false;
};
// Returns 0 and the thread in *t (may be nullptr when detached), or -errno
// (-EAGAIN: RLIMIT_NPROC or no memory for a stack). Not async-signal-safe
// (pthread_create).
int start_thread(pthread_t* t, void* (*fn)(void*), void* arg, const ThreadSpec& spec) noexcept;
// True on the calling thread while it is inside start_thread: a host that
// interposes pthread_create (the shim) tells iowq's own threads by it.
bool starting_own_thread() noexcept;

// Spin-loop hint.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#else
  asm volatile("" ::: "memory");
#endif
}

}  // namespace iowq::sys
