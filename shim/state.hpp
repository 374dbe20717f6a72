// shim/state.hpp — the shim's process-wide and per-thread state.
//
// Process-wide state is written once by the constructor (and by the fork
// child handler) before `active` is published; interposers read it without
// locks. Per-thread state lives in initial-exec TLS (the shim is preloaded,
// so static TLS is available and access is a single %fs-relative load).
#pragma once

#include <atomic>

#include "iowq/pool.hpp"
#include "options.hpp"
#include "route.hpp"

namespace iowq::shim {

struct Shim {
  Config cfg;
  std::atomic<bool> active{false};     // initialised, enabled and selected
  std::atomic<int> pool_state{0};      // 0 not started, 1 starting, 2 started, -1 failed
  iowq::Pool* pool = nullptr;
  int pid = 0;
  int sig = 0;                         // cancel signal
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
  int depth = 0;           // > 0: inside the shim; nested calls pass through
  bool worker = false;     // this thread is a pool worker
  iowq::Work work;         // the calling thread's one in-flight pool item
  Job job;
};
extern thread_local ThreadCtx tl __attribute__((tls_model("initial-exec")));

// True when an interposer must not touch anything but the real function.
inline bool bypass() noexcept {
  return !g.active.load(std::memory_order_relaxed) || tl.depth != 0;
}

// RAII depth guard: calls made while it lives pass straight through.
struct Nest {
  Nest() noexcept { ++tl.depth; }
  ~Nest() { --tl.depth; }
  Nest(const Nest&) = delete;
  Nest& operator=(const Nest&) = delete;
};

// Starts the pool on first need (auto mode). False when it cannot run now.
bool ensure_pool() noexcept;

// One warning line on the log destination ("iowq: ..."), at most `level`.
void log_line(LogLevel level, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));

}  // namespace iowq::shim
