// iowq/pool.hpp — the io-wq pool: bounded, hashed, cancellable, per NUMA node.
//
// A Pool owns one *node pool* per NUMA node (real, from libnuma, or a fake
// split of the allowed CPUs for tests). Each node pool has two classes, bound
// and unbound, each with its own worker cap, idle workers and running count.
// Work is queued on the node of the CPU that submits it (hashed work follows
// its key while earlier items of the key are in flight, so a key never runs on
// two nodes at once); a node's workers only run on that node's CPUs.
//
// Workers are created lazily by a manager thread (never on the submitter's
// stack), up to the class cap, and never for work whose key is busy. A worker
// idle for `idle_ms` exits unless it is the last of its class. Workers are
// named "iowq-wrk-<n>" and block every signal; `cancel_signal` is unblocked
// only while a worker runs unbound work (the only work ever signalled).
//
// Error convention of the core: functions return 0 or a count on success and
// -errno on failure; nothing throws after construction.
//
// Thread safety: every member function may be called from any thread.
// submit() and wait() are additionally async-signal-safe (no malloc, no mutex,
// no thread creation): an interposed write() may run inside a signal handler.
// shutdown() and reset_after_fork() are the exceptions to "any time":
// shutdown() must not run on a worker thread (it joins them), and
// reset_after_fork() only in a fork child before any other call.
//
// Memory ordering: submit() happens before the item's `fn` runs; `fn`
// happens before wait() returns, finished() reads true, or `done` is called
// (see iowq/work.hpp). drain() / drain_key() returning happens after every
// completion they waited for (seq_cst handshake on the in-flight counts), so
// the results of all items submitted before the call are visible. started()
// is an acquire load paired with start()'s release store. stats() reads
// counters without a lock: each value is current, but two values may come
// from slightly different moments.
#pragma once

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "iowq/stats.hpp"
#include "iowq/work.hpp"

namespace iowq {

struct Options {
  // Worker caps per node pool. 0 = default: bound 4 x CPUs of the node,
  // unbound default_unbound_max(). As in the kernel, the unbound cap is the
  // process-count limit: a small cap lets blocked readers starve the call
  // that would unblock them.
  unsigned bound_max = 0;
  unsigned unbound_max = 0;
  static constexpr unsigned kMaxUnbound = 4096;
  static unsigned default_unbound_max();  // RLIMIT_NPROC soft limit, 1..kMaxUnbound
  // Idle worker exit (the last worker of a class stays).
  unsigned idle_ms = 5000;
  // NUMA: -1 = real topology from libnuma (one node if unavailable), 0 = one
  // node, N > 0 = split the allowed CPUs into N fake nodes.
  int numa_nodes = -1;
  // CPUs workers may run on (intersected with each node's CPUs); empty = all
  // CPUs the process may run on.
  std::vector<int> cpus;
  // Signal used to interrupt running unbound work. The pool installs a no-op
  // handler without SA_RESTART for it. 0 = kDefaultCancelSignal.
  int cancel_signal = 0;
  static int default_cancel_signal();  // SIGRTMIN + 3
  // Install the no-op handler in start(). An embedder that owns signal
  // dispositions (the LD_PRELOAD shim) installs its own handler instead; it
  // must not use SA_RESTART.
  bool install_cancel_handler = true;
  // Called before each cancel signal goes to a worker (the canceller's or
  // the manager's thread, under a pool lock: it must not call the pool).
  // The shim puts its handler back there if the program replaced it.
  void (*before_cancel_signal)() noexcept = nullptr;
  // Bounded spinning before sleeping: caller in wait(), worker before idling.
  // Adaptive: spinning stops when it keeps failing or when the waiter and the
  // worker share a CPU. 0 disables spinning.
  unsigned spin_us = 30;
  // Capacity of each class's lock-free intake queue (max 65534). A full
  // intake makes submit() return -EAGAIN.
  unsigned queue_capacity = 4096;
};

class Pool {
 public:
  // Builds the node pools. Starts no thread: start() does (or the first
  // submit() of a pool constructed with autostart).
  explicit Pool(const Options& opts = {});
  ~Pool();  // shutdown(): pending bound work runs, pending unbound is cancelled
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Starts the manager thread. Idempotent. Not async-signal-safe (creates a
  // thread). Returns 0 or -errno.
  int start();
  bool started() const noexcept;

  // Queues `w` on the submitting CPU's node. Returns 0, -EAGAIN when the pool
  // cannot take it (not started, intake full, shutting down), -EBUSY when
  // `w->immediate` and its class has cap items in flight on the node — the
  // caller should then run the work itself. Async-signal-safe, lock-free.
  int submit(Work* w) noexcept;

  // Waits for `w` (submitted with done == nullptr) to finish. Spins briefly
  // (adaptive), then sleeps on a futex. If `interruptible`, returns -EINTR when
  // a signal handler ran on this thread and interrupted the sleep (the futex
  // wait obeys SA_RESTART: a handler with SA_RESTART does not interrupt it);
  // the item is then still owned by the pool. Returns 0 when finished.
  // Async-signal-safe. Not noexcept: a caller that enabled asynchronous
  // pthread cancellation may be unwound out of the wait (clean up the item in
  // a destructor: cancel it and wait again).
  int wait(Work* w, bool interruptible = false);

  // Waits for `w` like wait(), but a signal of `set` (kernel sigset bits:
  // bit n-1 for signal n) arriving first is taken before any handler of the
  // program runs: the caller decides what it means for the item (cancel it
  // or not) and then delivers the signal itself. The caller must have every
  // signal of `set` and the cancel signal blocked: the waiter sleeps in
  // rt_sigtimedwait and the pool wakes it with the cancel signal (a
  // tgkill from this process; any other cancel signal taken is returned
  // like a signal of `set`). Returns 0 when the item finished, or the
  // number of the signal taken (its siginfo in *info). Either way no wake of
  // the pool is left pending on the thread. Async-signal-safe. A pthread
  // cancellation point: cancellation acts while it sleeps (see wait() for
  // the cleanup); left that way, the item is disarmed (a wake already on its
  // way is dropped: take_stray_wake()).
  int wait_or_signal(Work* w, uint64_t set, siginfo_t* info);
  // A wait_or_signal left by pthread cancellation may leave one wake to
  // come on its thread: true (once) for a cancel signal (SI_TKILL from this
  // process) that is such a stray wake, for the embedder's handler to drop.
  // Async-signal-safe.
  static bool take_stray_wake() noexcept;

  // Cancels one item; see CancelResult. Running unbound work is interrupted by
  // signalling its worker, re-signalled until the item completes (so a signal
  // that lands between the worker's flag check and its syscall entry cannot
  // lose the cancel). Running bound work is only marked.
  CancelResult cancel(Work* w) noexcept;
  // Cancels every item for which `match` returns true (called under a pool
  // lock: must not call back into the pool). Returns how many were found.
  size_t cancel_if(const std::function<bool(const Work&)>& match);
  size_t cancel_all();

  // Waits until everything submitted before the call has completed: the
  // in-flight count of the whole pool, or of `key`'s bucket, reaching zero.
  // (Concurrent submitters keep the count up; the wait ends when it drops to
  // zero.) Not for use from a worker's fn.
  void drain() noexcept;
  void drain_key(uint64_t key) noexcept;
  // Number of items of `key` (or of a key sharing its bucket) in flight.
  uint64_t inflight_key(uint64_t key) const noexcept;

  // Stops accepting work, runs pending bound work, cancels pending unbound
  // work, interrupts running unbound work, joins every thread. Idempotent.
  void shutdown();

  // From now on the pool starts no thread (a seccomp filter is about to
  // cover its threads, and one that forbids clone would kill the process):
  // queued work no idle worker takes is handed back to its submitter, as when
  // no worker can be created. Returns once the manager has seen it and no
  // worker is being born (a bounded wait). thaw() undoes it.
  void freeze() noexcept;
  void thaw() noexcept;

  // After fork(), in the child only: forget every thread and item of the
  // parent (they do not exist in the child) and return to the constructed,
  // not-started state. Items that were in flight are abandoned, not completed.
  void reset_after_fork() noexcept;

  // Topology and counters.
  unsigned num_nodes() const noexcept;
  int node_of_cpu(int cpu) const noexcept;
  std::vector<int> node_cpus(unsigned node) const;
  // Caps in force for node `node`.
  unsigned cap(unsigned node, Class c) const noexcept;
  Stats stats() const;
  // True on a worker thread of any Pool (from its first instruction: an
  // embedder's signal handler can tell a cancel on a worker before the
  // worker's first item runs). Async-signal-safe.
  static bool on_worker_thread() noexcept;
  // Thread ids of every worker this pool ever created (first 4096), in
  // creation order; idle workers exit, their tids stay listed.
  std::vector<int> worker_tids() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace iowq
