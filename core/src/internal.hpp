// core/src/internal.hpp — the pool's internal structures, shared by pool.cpp
// (submission, waiting, cancel, drain) and worker.cpp (workers, manager).
//
// Data path of one item:
//   submit()  --lock-free push-->  ClassPool::intake (Boost.Lockfree, fixed size)
//   worker or canceller, under NodePool::mu  --drain_intake()-->
//       unhashed / first of an idle key : ClassPool::ready (FIFO)
//       later items of a key            : KeyState list behind it
//   worker takes from ready, runs the key's items as a chain, completes.
// Submitters never take `mu`; only workers, the manager and cancel paths do.
//
// Memory ordering, in one place (each site says which side it pairs with):
//   * Work fields a submitter writes before submit() reach the worker through
//     the intake: Boost.Lockfree's push publishes with release and pop reads
//     with acquire, so nothing else is needed for them.
//   * Everything under NodePool::mu (dispatch lists, KeyState, Worker::cur,
//     Work::worker/next/prev, the kSpilled bit) is ordered by the lock.
//   * Three store-load handshakes need seq_cst and are the reason most of the
//     seq_cst in the core exists: submit/notify vs an idle worker (fences),
//     complete vs drain(), complete vs drain_key() (seq_cst RMW + load).
//   * Futex words (wake_seq, mgr_seq, drain_seq, home_seq, Work::state) are
//     read before the condition is checked and bumped after it changes; the
//     kernel's compare closes the window between check and sleep.
//   * Completion is published by Work::state (acq_rel) and, for callbacks,
//     by the callback itself; see iowq/work.hpp.
//   * Most counters use the default (seq_cst) ordering where relaxed would
//     do; they are statistics or heuristics that the manager's next scan
//     corrects. They were left as they are rather than weakened one by one.
#pragma once

#include <pthread.h>
#include <sched.h>
#include <boost/lockfree/queue.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "debug.hpp"
#include "iowq/pool.hpp"
#include "iowq/sys.hpp"
#include "topology.hpp"

namespace iowq {
namespace detail {

struct NodePool;
struct ClassPool;

// Work::flags bit of the pool's own: the item was signalled and is counted in
// Impl::resignal until it completes.
constexpr uint32_t kSignalled = 4u;
// Work::flags bit of the pool's own: the item sits in ClassPool::spill (its
// key's state could not be allocated). Changes under the node lock only.
constexpr uint32_t kSpilled = 16u;

// Intrusive FIFO over Work::next/prev. Requires: the node lock.
struct WorkList {
  Work* head = nullptr;
  Work* tail = nullptr;
  size_t size = 0;
  void push_back(Work* w) noexcept;
  void insert_after(Work* pos, Work* w) noexcept;  // pos == nullptr: at front
  void unlink(Work* w) noexcept;
  Work* pop_front() noexcept;
};

// Items of one key that wait behind the key's first item. `first` is the key's
// item sitting in the ready list (not started), `running` is true while a
// worker runs the key's chain. Requires: the node lock.
struct KeyState {
  Work* first = nullptr;
  WorkList waiting;
  bool running = false;
};

struct Worker {
  ClassPool* cls = nullptr;
  int tid = 0;
  unsigned index = 0;
  Work* cur = nullptr;     // under the node lock
  unsigned spin_fail = 0;  // worker-private: adaptive idle spinning
  Worker* next = nullptr;  // ClassPool::workers list, under the node lock
  Worker* prev = nullptr;
  void* pool = nullptr;  // the Pool::Impl, for worker_main
};

using Intake = boost::lockfree::queue<Work*, boost::lockfree::fixed_sized<true>>;

// The memory of a class's key states (ClassPool::keys), used under the node
// lock: size classes of 16 B << k carved from a fixed block taken with the
// pool and reused through free lists; past the block, the heap, except on a
// worker, which never calls malloc or free (worker_loop()): there it throws
// std::bad_alloc, the item spills and the manager places it on its next
// drain.
class KeyArena {
 public:
  static constexpr size_t kBlock = 128 * 1024;
  KeyArena() : block_(new std::byte[kBlock]) {}
  KeyArena(const KeyArena&) = delete;
  KeyArena& operator=(const KeyArena&) = delete;
  ~KeyArena() { free_heap(); }
  void* allocate(size_t n);  // pool.cpp
  void deallocate(void* p, size_t n) noexcept {
    auto* f = static_cast<Free*>(p);
    const unsigned k = size_class(n);
    f->next = free_[k];
    free_[k] = f;
  }
  // Empty again, what it handed out forgotten (a fork child: the old map is left).
  void reset() noexcept {
    used_ = 0;
    for (Free*& f : free_) f = nullptr;
    heap_ = nullptr;
  }

 private:
  struct Free {
    Free* next;
  };
  struct alignas(16) Chunk {
    Chunk* next;
  };
  static constexpr unsigned kClasses = 20;  // up to 8 MiB (a bucket array of 1 M keys)
  static unsigned size_class(size_t n) noexcept {
    unsigned k = 0;
    while (k < kClasses && (size_t{16} << k) < n) ++k;
    return k;
  }
  void free_heap() noexcept;
  std::unique_ptr<std::byte[]> block_;
  size_t used_ = 0;
  Free* free_[kClasses] = {};
  Chunk* heap_ = nullptr;
};

template <class T>
struct KeyAllocator {
  using value_type = T;
  KeyArena* arena;
  explicit KeyAllocator(KeyArena* a) noexcept : arena(a) {}
  template <class U>
  KeyAllocator(const KeyAllocator<U>& o) noexcept : arena(o.arena) {}  // NOLINT: rebinding
  T* allocate(size_t n) { return static_cast<T*>(arena->allocate(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept { arena->deallocate(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const KeyAllocator<U>& o) const noexcept {
    return arena == o.arena;
  }
};

using KeyMap = std::unordered_map<uint64_t, KeyState, std::hash<uint64_t>, std::equal_to<uint64_t>,
                                  KeyAllocator<std::pair<const uint64_t, KeyState>>>;

struct ClassPool {
  NodePool* node = nullptr;
  Class cls = Class::Bound;
  unsigned cap = 1;
  std::unique_ptr<Intake> intake;
  // Idle workers sleep on wake_seq; submitters bump it to wake one.
  std::atomic<uint32_t> wake_seq{0};
  std::atomic<int> spinners{0}, sleepers{0};
  // alive: workers counted against the cap; drops under the node lock when a
  // worker decides to exit, so two idle workers cannot both leave as "not the
  // last". threads: worker threads still touching the pool; drops as the very
  // last thing a worker does (what shutdown() waits for).
  std::atomic<int> alive{0}, starting{0}, threads{0};
  std::atomic<size_t> ready_hint{0};  // mirror of ready.size for lock-free peeks
  std::atomic<int> inflight{0};       // items submitted here, not completed (Work::immediate)
  // Counters.
  std::atomic<uint64_t> created{0}, max_alive{0}, completed{0};
  // Under NodePool::mu.
  WorkList ready;
  // Items taken from the intake whose key state could not be allocated
  // (std::bad_alloc), in intake order; later intake items queue behind them
  // so no key is reordered. Retried on every drain.
  WorkList spill;
  // The key states: workers place and erase keys (KeyArena).
  KeyArena key_arena;
  KeyMap keys{KeyMap::allocator_type(&key_arena)};
  // The key memory anew, the old key states left (fork child).
  void reset_keys() noexcept {
    key_arena.reset();
    new (&keys) KeyMap(KeyMap::allocator_type(&key_arena));
  }
  Worker* workers = nullptr;
  // Workers that ended, linked by `next`, for the manager to delete: a worker
  // thread never calls malloc or free (worker_loop()).
  Worker* dead = nullptr;
};

// IOWQ_DEBUG: checks the dispatch state of `c` (lists, key states, workers,
// counts); see pool.cpp for the list. Requires the node lock. No code when
// IOWQ_DEBUG is off.
void check_class_locked(const ClassPool& c) noexcept;
// IOWQ_DEBUG: the flags and state of an item about to be completed.
void check_completing(const Work* w, int64_t result) noexcept;

struct NodePool {
  unsigned id = 0;
  std::vector<int> cpus;  // CPUs workers of this node may run on
  cpu_set_t mask;
  std::mutex mu;
  ClassPool cls[2];
};

}  // namespace detail

struct Pool::Impl {
  Options opts;
  int sig = 0;
  detail::Topology topo;
  std::vector<std::unique_ptr<detail::NodePool>> nodes;

  std::atomic<bool> started{false};
  std::atomic<bool> stopping{false};
  std::mutex start_mu;  // start()/shutdown() only

  // Manager thread: creates workers, re-signals cancelled work, enforces
  // deadlines. Sleeps on mgr_seq.
  pthread_t mgr{};
  bool mgr_running = false;
  std::atomic<uint32_t> mgr_seq{0};
  std::atomic<uint64_t> next_deadline{~0ull};  // earliest deadline the manager knows
  std::atomic<int> deadline_items{0};          // in-flight items with a deadline
  std::atomic<int> resignal{0};                // running items cancelled, not yet completed
  std::atomic<bool> frozen{false};             // freeze(): no thread is started
  std::atomic<uint32_t> mgr_passes{0};         // manager passes done (freeze() waits for two)

  // In flight (submitted, not completed), for drain().
  std::atomic<uint64_t> inflight{0};
  std::atomic<uint32_t> drain_seq{0};
  std::atomic<int> drain_waiters{0};
  // Key buckets: (node << 48) | count of in-flight hashed items whose key maps
  // here. Keeps a key on one node while it has items in flight; drain_key().
  static constexpr size_t kHomeBuckets = 1024;
  std::atomic<uint64_t> home[kHomeBuckets];
  std::atomic<uint32_t> home_seq{0};
  std::atomic<int> home_waiters{0};

  // Exit of workers: shutdown() waits for every class's alive to reach 0.
  std::atomic<uint32_t> exit_seq{0};

  // Counters.
  std::atomic<uint64_t> submitted{0}, cancel_ok{0}, cancel_running{0}, deadline_cancels{0}, signals_sent{0};
  Histogram queue_wait, service;
  static constexpr int kMaxTids = 4096;
  std::atomic<int> tids[kMaxTids];
  std::atomic<int> ntids{0};
  std::atomic<unsigned> worker_index{0};

  explicit Impl(const Options& o);

  // worker.cpp
  void manager_loop();
  void manage_node(detail::NodePool& n, uint64_t now, uint64_t* next_wake);
  // Deletes a list of ended workers (linked by next; manager thread).
  static void free_workers(detail::Worker* w) noexcept;
  // False when no thread could be created (resources or memory).
  bool create_worker(detail::ClassPool& c) noexcept;
  // Completes every queued item of `c` no worker can take, without running
  // it (-EAGAIN, handed_back()), keys in submission order. Takes n.mu.
  void hand_back(detail::ClassPool& c) noexcept;
  void worker_loop(detail::Worker* w);
  // pool.cpp
  void drain_intake(detail::ClassPool& c) noexcept;              // requires n.mu
  bool place(detail::ClassPool& c, Work* w) noexcept;            // requires n.mu; false: no memory
  Work* take_ready(detail::ClassPool& c, detail::Worker* self);  // requires n.mu
  Work* next_in_chain(detail::ClassPool& c, Work* done_item);    // requires n.mu
  // pending -> running on `self` (take_ready, and a chain's next item).
  void start_running(detail::ClassPool& c, detail::Worker* self, Work* w) noexcept;  // requires n.mu
  void unlink_pending(detail::ClassPool& c, Work* w);                                // requires n.mu
  void complete(Work* w, int64_t result) noexcept;                                   // bookkeeping + publish
  void notify(detail::ClassPool& c) noexcept;
  void wake_manager() noexcept;
  void signal_worker(detail::Worker* w) noexcept;
  // Marks running `w` (held by `wk`) cancelled, signalling unbound work.
  // False if it already was. Requires the node lock.
  bool cancel_running_locked(detail::Worker* wk, Work* w, uint32_t extra_flags) noexcept;
  size_t home_bucket(uint64_t key) const noexcept;
};

}  // namespace iowq
