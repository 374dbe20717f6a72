// shim/process/state.hpp — the shim's process-wide and per-thread state.
//
// Process-wide state is written once by the constructor (and by the fork
// child handler) before `active` is published; interposers read it without
// locks. Per-thread state lives in initial-exec TLS (the shim is preloaded,
// so static TLS is available and access is a single %fs-relative load).
#pragma once

#include <pthread.h>

#include <atomic>

#include "iowq/pool.hpp"
#include "options/options.hpp"
#include "route/fdtable.hpp"
#include "route/route.hpp"

namespace iowq::shim {

struct Shim {
  Config cfg;
  std::atomic<bool> active{false};  // initialised, enabled and selected
  std::atomic<bool> sealed{false};  // a seccomp filter covers every thread: all calls plain (seccomp.cpp)
  std::atomic<int> pool_state{0};   // 0 not started, 1 starting, 2 started, -1 failed
  std::atomic<bool> cancel_seen{false};  // pthread_cancel was called (testcancel() below); never reset
  iowq::Pool* pool = nullptr;
  int pid = 0;
  unsigned long main_thread = 0;  // pthread_self() of the thread whose tid is pid
  unsigned long forker = 0;       // pthread_self() of the thread in fork(): the child's main_thread
  int sig = 0;                    // cancel signal
  uint64_t stall_ns = 0;
  const char* program = "";
};
extern Shim g;

// A pool job: the Op a worker executes and what it learnt.
struct Job {
  Op op;
  int raise_sig = 0;  // SIGPIPE/SIGXFSZ the syscall generated on the worker
};

struct ThreadCtx {
  int depth = 0;                 // > 0: inside the shim; nested calls pass through
  bool worker = false;           // this thread is a pool worker
  bool sandboxed = false;        // seccomp on this thread: no syscall it did not ask for
  bool seccomp_checked = false;  // its seccomp mode was compared with the pool's (seccomp.cpp)
  bool private_fds = false;      // unshare(CLONE_FILES): not the pool's; every call passes through
  bool async_cancel = false;     // inside a pool wait with asynchronous cancellation on
  uint32_t cancel_sigs = 0;      // cancel signals a pool worker's handler took (a call was cut short)
  uintptr_t nest_frame = 0;      // frame of the outermost shim entry (depth 0 -> 1)
  iowq::Work work;               // the calling thread's one in-flight pool item
  Job job;
};
extern constinit thread_local ThreadCtx tl __attribute__((tls_model("initial-exec")));

// A thread that left the shim by siglongjmp out of a signal handler keeps
// depth > 0. Called when depth != 0: if the calling frame is above the frame
// that entered the shim (and not on a signal stack), that frame is gone —
// repairs the thread (depth, leftover pool item, stall deadline) and returns
// true. False for a genuine nested call.
bool repair_stale_depth() noexcept __attribute__((noinline));
// Takes back what an interposed call left behind when its frame is being
// left for good (depth, pool item, stall deadline): for repair_stale_depth
// and the siglongjmp interposers (longjmp.cpp). `mask_restored`: the jump
// puts back the program's signal mask itself.
void abandon_call(bool mask_restored) noexcept;

// Depth added for a thread with a private fd table: it never enters the shim.
constexpr int kPrivateFdsDepth = 1 << 20;

// True when an interposer must not touch anything but the real function.
inline bool bypass() noexcept {
  if (!g.active.load(std::memory_order_relaxed) || g.sealed.load(std::memory_order_relaxed)) return true;
  return __builtin_expect(tl.depth != 0, 0) && !repair_stale_depth();
}

// pthread_testcancel() where a cancel may be pending. Only pthread_cancel
// (interposed, process/threads.cpp, which sets cancel_seen before the real
// call) makes one pending, so until the process's first one no thread has a
// cancel to act on and the libc call (a call through the PLT, ~8 instructions,
// on each interposed read and write) is skipped. Never reset: a fork child's thread
// keeps a cancel that was pending in its parent.
inline void testcancel() {
  if (__builtin_expect(g.cancel_seen.load(std::memory_order_relaxed), 0)) pthread_testcancel();
}

// RAII depth guard: calls made while it lives pass straight through.
struct Nest {
  Nest() noexcept {
    if (tl.depth++ == 0) tl.nest_frame = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  }
  ~Nest() { --tl.depth; }
  Nest(const Nest&) = delete;
  Nest& operator=(const Nest&) = delete;
};

// Starts the pool on first need (auto mode). False when it cannot run now.
bool ensure_pool() noexcept;

// True in a vfork child (or a posix_spawn helper): it shares the parent's
// memory, so the shim's state, but has its own pid and fd table. One syscall.
bool in_vfork_child() noexcept;

// The exit report now (the process is about to end without exit(): the exit
// watcher, process/exitwatch.cpp). Once.
void write_exit_report_now() noexcept;

namespace process {
// Called on a thread about to sandbox itself with seccomp (a filter or strict
// mode; the prctl interposer, the seccomp syscall route), before the call:
// whatever must run outside the sandbox later starts now (the exit watcher,
// when it is main that sandboxes itself).
void before_sandbox() noexcept;
// A program thread is about to end with exit code `code` (the raw exit
// syscall; glibc's paths are seen by the shim itself): if it is the last, the
// process's status is this code. No syscall.
void thread_ending(int code) noexcept;
}  // namespace process

// IOWQ_STATS=stderr: keep a close-on-exec copy of fd 2 when the program closes it.
void keep_stderr(int fd) noexcept;
// One warning line on the log destination ("iowq: ..."), at most `level`.
void log_line(LogLevel level, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));

}  // namespace iowq::shim
