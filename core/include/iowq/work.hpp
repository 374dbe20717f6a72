// iowq/work.hpp — one unit of work for an iowq::Pool.
//
// A Work is an intrusive, caller-owned item: the pool never allocates or frees
// one, which is what keeps submission async-signal-safe. The caller fills in
// `fn` (and usually `ctx`, `cls`, `key`), submits it, and then either waits for
// it (Pool::wait) or lets a `done` callback take it back.
//
// Lifetime contract:
//   * From Pool::submit() returning 0 until completion, the item belongs to the
//     pool: the caller must not modify, reuse or free it.
//   * Completion happens exactly once, either by a worker after `fn` returned or
//     by a cancel of pending work (result = -ECANCELED, `fn` never runs).
//   * If `done` is null, completion is published by Work::finished() becoming
//     true (release ordering: `result` and everything `fn` wrote are visible to
//     a thread that saw finished() == true, or returned from Pool::wait()).
//     The pool's own bookkeeping (in-flight counts) ends a moment later; the
//     item may be reused or freed once Pool::wait() has returned, which it
//     does only after that.
//   * If `done` is set, the pool calls it as its very last access to the item;
//     the callback owns the item from then on (it may free or reuse it).
//     finished() is not updated in that case.
//   * Handed back: when the pool cannot start a worker for queued work (no
//     thread can be created: RLIMIT_NPROC, RLIMIT_AS, out of memory), it
//     completes that work without running `fn`: result = -EAGAIN and
//     handed_back() is true. The submitter then runs the work itself. Items of
//     one key are handed back in submission order, and `done` callbacks of
//     handed-back items are called one at a time in that order.
//
// Thread safety: fields marked "submitter" are written before submit and read
// by the pool; fields marked "pool" are internal. One item is never run by two
// workers at once, and items of one key never run at the same time.
//
// Memory ordering: everything the submitter wrote before submit() happens
// before `fn` runs (the intake queue's push is a release, a worker's pop an
// acquire). Everything `fn` wrote, and `result`, happens before finished()
// returns true or Pool::wait() returns (release on completion, acquire in
// both readers), and before `done` is called (on the worker that ran `fn`;
// an item completed without running gets `done` on the thread that took it
// out of the queue under the pool lock). cancelled(),
// timed_out() and handed_back() are acquire loads: a flag set before the
// pool interrupted or completed the item is visible to `fn` after EINTR and
// to the owner after completion.
#pragma once

#include <atomic>
#include <cstdint>

namespace iowq {

// io-wq's two accounting classes. Bound work (regular files, block devices)
// never blocks indefinitely and is never interrupted; unbound work (sockets,
// pipes, ttys) may block forever and is cancelled by signalling its worker.
enum class Class : uint8_t { Bound = 0, Unbound = 1 };

enum class CancelResult : uint8_t {
  Ok,        // was pending: removed and completed with -ECANCELED
  Running,   // was running: marked cancelled; unbound work's worker signalled
  NotFound,  // not in the pool (never submitted, or already completed)
};

struct Work {
  // ---- submitter ----------------------------------------------------------
  // Runs on a worker thread. Must store the outcome in `result` (a byte count
  // or -errno, by convention). For unbound work: a blocking syscall inside `fn`
  // may fail with EINTR because the pool interrupted it; `fn` must then check
  // Work::cancelled() and retry the syscall if it is false (the signal was for
  // an earlier item of the same worker) or return if it is true.
  void (*fn)(Work*) = nullptr;
  void* ctx = nullptr;
  // Optional completion callback; see the lifetime contract above.
  void (*done)(Work*) = nullptr;
  // Hashed work: items with the same key run one at a time, in submission
  // order. Exact 64-bit comparison: distinct keys never serialize each other.
  uint64_t key = 0;
  bool hashed = false;
  Class cls = Class::Bound;
  // Absolute CLOCK_MONOTONIC deadline in ns for unbound work, 0 = none. When
  // it passes, the pool cancels the item (pending or running) and sets
  // timed_out().
  uint64_t deadline_ns = 0;
  // Refuse rather than queue: submit() returns -EBUSY when the class already
  // has `cap` items in flight on the node, so a blocking call never waits
  // behind blocking calls (the submitter then runs it itself).
  bool immediate = false;

  // ---- outcome ------------------------------------------------------------
  int64_t result = 0;

  // True once the item completed (only when `done` is null). Acquire load.
  bool finished() const noexcept { return (state.load(std::memory_order_acquire) & kDone) != 0; }
  // True once a cancel (explicit or by deadline) was requested for the item.
  bool cancelled() const noexcept { return (flags.load(std::memory_order_acquire) & kCancel) != 0; }
  // True when the item was cancelled because its deadline passed.
  bool timed_out() const noexcept { return (flags.load(std::memory_order_acquire) & kTimedOut) != 0; }
  // True when the pool completed the item without running it (see above).
  bool handed_back() const noexcept { return (flags.load(std::memory_order_acquire) & kHandedBack) != 0; }

  // Make a finished (or never submitted) item submittable again, keeping the
  // submitter fields. Not needed for a fresh item.
  void rearm() noexcept {
    state.store(0, std::memory_order_relaxed);
    flags.store(0, std::memory_order_relaxed);
    result = 0;
  }

  // ---- pool (internal) ----------------------------------------------------
  static constexpr uint32_t kDone = 1u;        // state: completed
  static constexpr uint32_t kWaiter = 2u;      // state: a waiter sleeps on it
  static constexpr uint32_t kQueued = 4u;      // state: owned by the pool
  static constexpr uint32_t kRunning = 8u;     // state: a worker runs it
  static constexpr uint32_t kReleased = 16u;   // state: the pool is done with it
  static constexpr uint32_t kSigWaiter = 32u;  // state: a waiter sleeps in sigtimedwait (wait_or_signal)
  static constexpr uint32_t kWakeLost = 64u;   // state: its wake could not be sent (signal queue full)
  static constexpr uint32_t kCancel = 1u;      // flags
  static constexpr uint32_t kTimedOut = 2u;    // flags
  static constexpr uint32_t kHandedBack = 8u;  // flags

  std::atomic<uint32_t> state{0};  // futex word
  std::atomic<uint32_t> flags{0};
  Work* next = nullptr;  // dispatch lists (under the node lock)
  Work* prev = nullptr;
  void* worker = nullptr;        // running worker (under the node lock)
  uint64_t t_submit = 0;         // ns, CLOCK_MONOTONIC
  uint32_t node = 0;             // node pool it was queued on
  std::atomic<int32_t> cpu{-1};  // CPU its worker started it on (spin hint)
  // wait_or_signal's thread: written before kSigWaiter is set (the CAS
  // publishes it). Atomic (relaxed) because the completion that read it for
  // its wake and the same item's next wait are ordered only by that wake, a
  // signal, which TSan cannot see.
  std::atomic<int32_t> waiter_tid{0};
};

}  // namespace iowq
