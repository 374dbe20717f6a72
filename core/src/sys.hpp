// core/src/sys.hpp — the core's only door to raw syscalls and CPU specifics.
//
// Convention: every function returns 0 or a non-negative value on success and
// -errno on failure; errno itself is left as it was (callers run inside an
// interposed libc call and must not disturb the host's errno). All functions
// here are async-signal-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <ctime>

namespace iowq::sys {

// FUTEX_WAIT_PRIVATE on `word` while it equals `expected`. `timeout_ns` is
// relative; 0 means wait forever. Returns 0 (woken), -EAGAIN (value differed),
// -EINTR (a handler ran and SA_RESTART did not apply), -ETIMEDOUT.
// Not noexcept: pthread cancellation may unwind out of it.
int futex_wait(std::atomic<uint32_t>* word, uint32_t expected, uint64_t timeout_ns = 0);
// Wakes up to `n` waiters. Returns how many were woken, or -errno.
int futex_wake(std::atomic<uint32_t>* word, int n) noexcept;

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
// if absent. Not async-signal-safe (the only exception here).
void* symbol(void* handle, const char* name) noexcept;

// Blocks every signal on the calling thread; returns the previous mask in *old
// (an opaque 128-byte kernel sigset). restore_signals() puts it back.
// `caller`: the thread is the host program's, which may run under syscall
// user dispatch (the shim's write-behind net): SIGSYS stays open, since a
// system call trapped with SIGSYS blocked kills the process.
struct SigMask {
  uint64_t bits[16];
};
void block_all_signals(SigMask* old, bool caller = false) noexcept;
void restore_signals(const SigMask& old) noexcept;

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
