// core/src/pool.cpp — the Pool's public operations: submit, wait, cancel,
// drain, shutdown, fork reset, stats; and the dispatch lists they share with
// the workers (worker.cpp).
#include <sys/resource.h>
#include <cerrno>
#include <climits>
#include <csignal>
#include <new>

#include "internal.hpp"

namespace iowq {

using detail::ClassPool;
using detail::KeyState;
using detail::kSignalled;
using detail::kSpilled;
using detail::NodePool;
using detail::Worker;
using detail::WorkList;

namespace {

constexpr uint64_t kHomeCount = (1ull << 48) - 1;

// Thread-local adaptive spinning for wait(): after kSpinFailLimit spins in a
// row that did not see completion, skip spinning for kSpinSkip waits.
struct WaitSpin {
  uint32_t fail = 0;
  uint32_t skip = 0;
};
constexpr uint32_t kSpinFailLimit = 4, kSpinSkip = 64;
thread_local WaitSpin tl_spin __attribute__((tls_model("initial-exec")));

void noop_handler(int) {}

}  // namespace

int Options::default_cancel_signal() { return SIGRTMIN + 3; }

unsigned Options::default_unbound_max() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NPROC, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > kMaxUnbound)
    return kMaxUnbound;
  return rl.rlim_cur ? static_cast<unsigned>(rl.rlim_cur) : 1;
}

// ============================================================================
// WorkList
// ============================================================================

// The O(1) checks below run on every list operation of an IOWQ_DEBUG build:
// an item enters a list only when it is in none (its links are clear), leaves
// only the list it is in, and the size agrees with the ends.
#define IOWQ_CHECK_ENDS(l)                                                                                 \
  IOWQ_CHECK(((l).size == 0) == ((l).head == nullptr) && ((l).head == nullptr) == ((l).tail == nullptr) && \
                 (!(l).head || ((l).head->prev == nullptr && (l).tail->next == nullptr)),                  \
             "dispatch list size agrees with its ends")

void WorkList::push_back(Work* w) noexcept { insert_after(tail, w); }

void WorkList::insert_after(Work* pos, Work* w) noexcept {
  IOWQ_CHECK(w->next == nullptr && w->prev == nullptr && head != w,
             "an item enters a dispatch list only when it is in none");
  w->prev = pos;
  w->next = pos ? pos->next : head;
  if (w->next)
    w->next->prev = w;
  else
    tail = w;
  if (pos)
    pos->next = w;
  else
    head = w;
  ++size;
  IOWQ_CHECK_ENDS(*this);
}

void WorkList::unlink(Work* w) noexcept {
  IOWQ_CHECK(
      size > 0 && (w->prev ? w->prev->next == w : head == w) && (w->next ? w->next->prev == w : tail == w),
      "an item leaves only the dispatch list it is in");
  if (w->prev)
    w->prev->next = w->next;
  else
    head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    tail = w->prev;
  w->next = w->prev = nullptr;
  --size;
  IOWQ_CHECK_ENDS(*this);
}

Work* WorkList::pop_front() noexcept {
  Work* w = head;
  if (w) unlink(w);
  return w;
}

// ============================================================================
// Construction and start
// ============================================================================

Pool::Impl::Impl(const Options& o) : opts(o) {
  sig = opts.cancel_signal > 0 ? opts.cancel_signal : Options::default_cancel_signal();
  topo = detail::build_topology(opts.numa_nodes);
  // With a single CPU to run on, a spinning waiter only delays the worker it
  // waits for (and vice versa): never spin.
  size_t ncpus = 0;
  for (auto& cpus : topo.node_cpus) ncpus += cpus.size();
  if (ncpus <= 1) opts.spin_us = 0;
  for (auto& h : home) h.store(0, std::memory_order_relaxed);
  for (auto& t : tids) t.store(0, std::memory_order_relaxed);
  unsigned qcap = opts.queue_capacity ? opts.queue_capacity : 4096;
  if (qcap > 65534) qcap = 65534;
  for (size_t i = 0; i < topo.node_cpus.size(); ++i) {
    auto n = std::make_unique<NodePool>();
    n->id = static_cast<unsigned>(i);
    // Workers may run on the node's CPUs, narrowed by Options::cpus when the
    // intersection is not empty.
    for (int c : topo.node_cpus[i]) {
      bool ok = opts.cpus.empty();
      for (int a : opts.cpus) ok = ok || a == c;
      if (ok) n->cpus.push_back(c);
    }
    if (n->cpus.empty()) n->cpus = topo.node_cpus[i];
    CPU_ZERO(&n->mask);
    for (int c : n->cpus) CPU_SET(c, &n->mask);
    unsigned ncpu = static_cast<unsigned>(topo.node_cpus[i].size());
    n->cls[0].cap = opts.bound_max ? opts.bound_max : 4 * ncpu;
    n->cls[1].cap = opts.unbound_max ? opts.unbound_max : Options::default_unbound_max();
    for (int k = 0; k < 2; ++k) {
      n->cls[k].node = n.get();
      n->cls[k].cls = static_cast<Class>(k);
      n->cls[k].intake = std::make_unique<detail::Intake>(qcap);
    }
    nodes.push_back(std::move(n));
  }
}

Pool::Pool(const Options& opts) : impl_(std::make_unique<Impl>(opts)) {}

Pool::~Pool() { shutdown(); }

static void* manager_main(void* arg) {
  static_cast<Pool::Impl*>(arg)->manager_loop();
  return nullptr;
}

int Pool::start() {
  Impl& p = *impl_;
  std::lock_guard<std::mutex> g(p.start_mu);
  if (p.started.load(std::memory_order_acquire)) return 0;
  if (p.stopping.load()) return -ESHUTDOWN;
  // The cancel signal interrupts syscalls: a no-op handler without SA_RESTART.
  if (p.opts.install_cancel_handler) {
    struct sigaction sa = {};
    sa.sa_handler = noop_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    if (sigaction(p.sig, &sa, nullptr) != 0) return -errno;
  }
  // Manager and workers start with every signal blocked (sys::start_thread);
  // workers then unblock only the cancel signal. The manager is joined by
  // shutdown(), so it is named at once.
  sys::ThreadSpec spec;
  spec.name = "iowq-manager";
  spec.detached = false;
  spec.malloc_arena = true;  // its queues and key tables
  int rc = sys::start_thread(&p.mgr, manager_main, &p, spec);
  if (rc != 0) return rc;
  p.mgr_running = true;
  p.started.store(true, std::memory_order_release);
  return 0;
}

bool Pool::started() const noexcept { return impl_->started.load(std::memory_order_acquire); }

// ============================================================================
// Submission (async-signal-safe: atomics, a lock-free push, futex wakes)
// ============================================================================

size_t Pool::Impl::home_bucket(uint64_t key) const noexcept {
  return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 54) & (kHomeBuckets - 1);
}

void Pool::Impl::wake_manager() noexcept {
  // Pairs with the manager's mgr_seq load at the top of manager_loop(), taken
  // before it scans: a bump after that load makes its futex_wait return at
  // once, so whatever the caller published before this call (an intake push,
  // a deadline, a resignal count) is seen by the next scan. Without the bump
  // the manager could sleep through it. seq_cst is stronger than needed
  // (release here, acquire there would do); kept.
  mgr_seq.fetch_add(1, std::memory_order_seq_cst);
  sys::futex_wake(&mgr_seq, 1);
}

void Pool::Impl::notify(ClassPool& c) noexcept {
  // Store-load handshake with an idle worker (worker_loop, idle path):
  //   here:   push to intake ; FENCE ; load spinners/sleepers
  //   worker: sleepers += 1  ; FENCE ; check ready_hint/intake, then sleep
  // This fence pairs with the worker's fence before its last check. Without
  // both, each side could read the other's stale value: we see no sleeper,
  // the worker sees an empty intake and sleeps with work queued (up to
  // idle_ms, or until the next submit). The same pairing covers a spinner:
  // if we read spinners > 0 the spinner's later decrement comes after this
  // fence in the total order, so its own fenced check still finds the item.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // After the fence these two loads could be relaxed (the fence orders them);
  // seq_cst is stronger than needed, kept.
  if (c.spinners.load(std::memory_order_seq_cst) > 0) return;  // a spinning worker sees it
  if (c.sleepers.load(std::memory_order_seq_cst) > 0) {
    // Pairs with the worker's wake_seq load before its futex_wait: a bump
    // after that load makes the wait return at once (the futex compares the
    // word), so the wake cannot fall between its check and its sleep. Only
    // atomicity is needed here; seq_cst is stronger than needed, kept.
    c.wake_seq.fetch_add(1, std::memory_order_seq_cst);
    sys::futex_wake(&c.wake_seq, 1);
    return;
  }
  // Default (seq_cst) loads, a hint only: a stale count either wakes the
  // manager for nothing or skips a wake the manager's next scan makes good
  // (every worker start and exit bumps mgr_seq). Relaxed would do.
  if (c.alive.load() + c.starting.load() < static_cast<int>(c.cap)) wake_manager();
}

int Pool::submit(Work* w) noexcept {
  Impl& p = *impl_;
  if (!p.started.load(std::memory_order_acquire) || p.stopping.load(std::memory_order_relaxed))
    return -EAGAIN;
  if (!w || !w->fn) return -EINVAL;
  // A waited-for item is in flight from submit() until completion replaces its
  // state with kDone|kReleased (or rearm() clears it): kQueued means the
  // caller submits an item the pool still owns. (Callback items keep their
  // last state; the callback owns them, so they are not checked.)
  IOWQ_CHECK(w->done || !(w->state.load(std::memory_order_relaxed) & Work::kQueued),
             "an item is not submitted again while in flight");
  unsigned node = 0;
  if (p.nodes.size() > 1) node = static_cast<unsigned>(p.topo.node_of(sys::current_cpu()));
  if (w->hashed) {
    // A key stays on the node of its in-flight items; a fresh key goes local.
    auto& h = p.home[p.home_bucket(w->key)];
    uint64_t v = h.load(std::memory_order_relaxed), nv;
    do {
      nv = (v & kHomeCount) ? v + 1 : (static_cast<uint64_t>(node) << 48) | 1;
    } while (!h.compare_exchange_weak(v, nv, std::memory_order_acq_rel));
    node = static_cast<unsigned>(nv >> 48);
  }
  ClassPool& c = p.nodes[node]->cls[static_cast<int>(w->cls)];
  if (w->immediate) {
    int n = c.inflight.load(std::memory_order_relaxed);
    do {
      if (n >= static_cast<int>(c.cap)) {
        if (w->hashed) {
          [[maybe_unused]] uint64_t old = p.home[p.home_bucket(w->key)].fetch_sub(1);
          IOWQ_CHECK((old & kHomeCount) > 0, "a key bucket's in-flight count never goes negative");
        }
        return -EBUSY;
      }
    } while (!c.inflight.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel));
  } else {
    c.inflight.fetch_add(1, std::memory_order_acq_rel);
  }
  w->node = node;
  w->worker = nullptr;
  w->cpu.store(-1, std::memory_order_relaxed);
  w->next = w->prev = nullptr;
  w->result = 0;
  w->flags.store(0, std::memory_order_relaxed);
  w->state.store(Work::kQueued, std::memory_order_relaxed);
  w->t_submit = sys::now_ns();
  // Counted before the push makes the item visible to a worker, so its
  // decrement in complete() (reached through the queue's release/acquire)
  // always finds this increment: the count never goes below zero. Pairs with
  // drain()'s inflight loads; a drain that began after submit() returned
  // sees it by happens-before alone. seq_cst is stronger than needed, kept.
  p.inflight.fetch_add(1, std::memory_order_seq_cst);
  // Default (seq_cst): the manager reads it under the node lock after
  // draining the intake, which already orders it; relaxed would do.
  if (w->deadline_ns) p.deadline_items.fetch_add(1);
  if (!c.intake->push(w)) {
    // Intake full: undo, the caller runs the work itself.
    c.inflight.fetch_sub(1, std::memory_order_acq_rel);
    w->state.store(0, std::memory_order_relaxed);
    if (w->deadline_ns) p.deadline_items.fetch_sub(1);
    if (w->hashed) p.home[p.home_bucket(w->key)].fetch_sub(1);
    // Default (seq_cst) on purpose: the same store-load handshake with
    // drain() as the decrement in complete() (see there).
    if (p.inflight.fetch_sub(1) == 1 && p.drain_waiters.load() > 0) {
      p.drain_seq.fetch_add(1);
      sys::futex_wake(&p.drain_seq, INT_MAX);
    }
    return -EAGAIN;
  }
  p.submitted.fetch_add(1, std::memory_order_relaxed);
  p.notify(c);
  if (w->deadline_ns && w->deadline_ns < p.next_deadline.load(std::memory_order_relaxed)) {
    // Default (seq_cst) load and CAS: only the value matters (the manager is
    // woken right after and rescans every item); relaxed would do.
    uint64_t cur = p.next_deadline.load();
    while (w->deadline_ns < cur && !p.next_deadline.compare_exchange_weak(cur, w->deadline_ns)) {
    }
    p.wake_manager();
  }
  return 0;
}

// ============================================================================
// Dispatch lists (require the node lock)
// ============================================================================

namespace detail {
void* KeyArena::allocate(size_t n) {
  const unsigned k = size_class(n);
  if (k >= kClasses) throw std::bad_alloc();
  if (Free* f = free_[k]) {
    free_[k] = f->next;
    return f;
  }
  const size_t size = size_t{16} << k;
  if (kBlock - used_ >= size) {
    void* p = block_.get() + used_;
    used_ += size;
    return p;
  }
  if (Pool::on_worker_thread()) throw std::bad_alloc();  // a worker never calls malloc
  auto* c = static_cast<Chunk*>(::operator new(sizeof(Chunk) + size));
  c->next = heap_;
  heap_ = c;
  return c + 1;
}

void KeyArena::free_heap() noexcept {
  while (Chunk* c = heap_) {
    heap_ = c->next;
    ::operator delete(c);
  }
}
}  // namespace detail

bool Pool::Impl::place(ClassPool& c, Work* w) noexcept {
  if (!w->hashed) {
    c.ready.push_back(w);
    return true;
  }
  KeyState* ks;
  try {
    ks = &c.keys[w->key];  // may allocate; no effect when it throws
  } catch (...) {
    return false;
  }
  if (!ks->running && !ks->first) {
    ks->first = w;
    c.ready.push_back(w);
  } else {
    ks->waiting.push_back(w);
  }
  return true;
}

void Pool::Impl::drain_intake(ClassPool& c) noexcept {
  // Spilled items first: they came out of the intake before anything in it.
  while (Work* w = c.spill.head) {
    c.spill.unlink(w);
    if (!place(c, w)) {
      c.spill.insert_after(nullptr, w);
      break;
    }
    w->flags.fetch_and(~kSpilled);  // under the node lock: the lock orders it, seq_cst not needed
  }
  bool spilled = false;
  Work* w;
  while (c.intake->pop(w)) {
    // A hashed item behind a spilled one waits there too: no key reordered.
    if (w->hashed && (c.spill.head || !place(c, w))) {
      // kSpilled is only read and written under the node lock: the lock
      // orders it, the default seq_cst is stronger than needed.
      w->flags.fetch_or(kSpilled);
      c.spill.push_back(w);
      spilled = true;
    } else if (!w->hashed) {
      c.ready.push_back(w);
    }
  }
  c.ready_hint.store(c.ready.size, std::memory_order_relaxed);
  if (spilled) wake_manager();  // it retries, or hands the items back
}

Work* Pool::Impl::take_ready(ClassPool& c, Worker* self) {
  drain_intake(c);
  Work* w = c.ready.pop_front();
  c.ready_hint.store(c.ready.size, std::memory_order_relaxed);
  if (!w) return nullptr;
  if (w->hashed) {
    auto it = c.keys.find(w->key);  // placed by drain_intake
    IOWQ_CHECK(it != c.keys.end() && it->second.first == w && !it->second.running,
               "a key's item leaves the ready list only as its key's first, key idle");
    KeyState& ks = it->second;
    ks.first = nullptr;
    ks.running = true;
  }
  start_running(c, self, w);
  return w;
}

void Pool::Impl::start_running(ClassPool& c, Worker* self, Work* w) noexcept {
  // pending -> running: only from the queued state, by a worker that runs
  // nothing else, never for an item a cancel already took.
  [[maybe_unused]] uint32_t st = w->state.load(std::memory_order_relaxed);
  IOWQ_CHECK((st & Work::kQueued) && !(st & (Work::kRunning | Work::kDone | Work::kReleased)),
             "only a pending item starts running");
  IOWQ_CHECK(!(w->flags.load(std::memory_order_relaxed) & (Work::kCancel | kSpilled)),
             "a cancelled or spilled item never starts running");
  IOWQ_CHECK(self->cur == nullptr && w->worker == nullptr, "a worker runs one item at a time");
  w->worker = self;
  self->cur = w;
  w->state.fetch_or(Work::kRunning, std::memory_order_relaxed);
  check_class_locked(c);
}

Work* Pool::Impl::next_in_chain(ClassPool& c, Work* prev_item) {
  auto it = c.keys.find(prev_item->key);
  IOWQ_CHECK(it != c.keys.end() && it->second.running && !it->second.first,
             "a key whose chain runs is marked running and has no first in the ready list");
  if (it == c.keys.end()) return nullptr;
  drain_intake(c);
  KeyState& ks = it->second;
  Work* nx = ks.waiting.pop_front();
  if (!nx) {
    ks.running = false;
    if (!ks.first) c.keys.erase(it);
    return nullptr;
  }
  IOWQ_CHECK(nx->hashed && nx->key == prev_item->key, "a key's chain holds only that key's items");
  return nx;
}

void Pool::Impl::unlink_pending(ClassPool& c, Work* w) {
  // Out of the lists means out of reach of another cancel: only the one that
  // unlinked it completes it. Release: the caller set the item's flags first
  // (kCancel, kTimedOut, kHandedBack: default seq_cst RMWs, stronger than
  // needed since this release already publishes them); a cancel() that reads
  // the state without kQueued through its acquire load sees those flags.
  [[maybe_unused]] uint32_t st = w->state.fetch_and(~Work::kQueued, std::memory_order_release);
  IOWQ_CHECK((st & Work::kQueued) && !(st & (Work::kRunning | Work::kDone | Work::kReleased)),
             "only a pending item is unlinked from the dispatch lists");
  if (w->flags.load(std::memory_order_relaxed) & kSpilled) {
    c.spill.unlink(w);
    w->flags.fetch_and(~kSpilled);  // under the node lock: seq_cst not needed
  } else if (!w->hashed) {
    c.ready.unlink(w);
  } else {
    auto it = c.keys.find(w->key);
    KeyState& ks = it->second;
    if (ks.first == w) {
      // Keep the key's place in the ready list: its next item takes it.
      Work* pos = w->prev;
      c.ready.unlink(w);
      Work* nx = ks.waiting.pop_front();
      if (nx) {
        c.ready.insert_after(pos, nx);
        ks.first = nx;
      } else {
        ks.first = nullptr;
        if (!ks.running) c.keys.erase(it);
      }
    } else {
      ks.waiting.unlink(w);
    }
  }
  c.ready_hint.store(c.ready.size, std::memory_order_relaxed);
  detail::check_class_locked(c);
}

void Pool::Impl::hand_back(ClassPool& c) noexcept {
  WorkList out;  // intrusive: handing back needs no memory
  {
    std::lock_guard<std::mutex> g(c.node->mu);
    drain_intake(c);
    // The ready list holds unhashed items and the first item of each key
    // whose chain is not running; unlinking a key's first puts the key's next
    // item at the front, so each key leaves in submission order.
    // kHandedBack (default seq_cst RMW, stronger than needed) is published by
    // unlink_pending()'s release, read by the submitter's acquire of state.
    while (Work* w = c.ready.head) {
      w->flags.fetch_or(Work::kHandedBack);
      unlink_pending(c, w);
      out.push_back(w);
    }
    // Spilled items, up to the first whose key still has items in a chain.
    while (Work* w = c.spill.head) {
      if (c.keys.find(w->key) != c.keys.end()) break;
      w->flags.fetch_or(Work::kHandedBack);
      unlink_pending(c, w);
      out.push_back(w);
    }
  }
  // In order, on this one thread: `done` callbacks of one key run in order.
  while (Work* w = out.pop_front()) complete(w, -EAGAIN);
}

// ============================================================================
// Completion
// ============================================================================

void Pool::Impl::complete(Work* w, int64_t result) noexcept {
  detail::check_completing(w, result);
  // Copy what the bookkeeping needs: after publishing, the item is the owner's.
  const bool hashed = w->hashed;
  const uint64_t key = w->key;
  const bool had_deadline = w->deadline_ns != 0;
  std::atomic<int>& cls_inflight = nodes[w->node]->cls[static_cast<int>(w->cls)].inflight;
  w->result = result;
  const bool callback = w->done != nullptr;
  if (callback)
    w->done(w);  // last access: the callback owns the item now
  else
    w->state.fetch_or(Work::kDone, std::memory_order_acq_rel);
  // In-flight counts drop after finished() is true (drain() implies finished)
  // and before wait() returns (a waiter sees the counts without its item).
  // Default (seq_cst): read by manage_node() under the node lock; relaxed
  // would do.
  if (had_deadline) {
    [[maybe_unused]] int old = deadline_items.fetch_sub(1);
    IOWQ_CHECK(old > 0, "the deadline item count never goes negative");
  }
  [[maybe_unused]] int cls_old = cls_inflight.fetch_sub(1, std::memory_order_acq_rel);
  IOWQ_CHECK(cls_old > 0, "a class's in-flight count never goes negative");
  if (hashed) {
    // Store-load handshake with drain_key():
    //   here:      count -= 1  (seq_cst) ; load home_waiters (seq_cst)
    //   drain_key: waiters += 1 (seq_cst) ; load count (seq_cst), then sleep
    // Both sides must be seq_cst: otherwise we may read no waiter while the
    // waiter reads the old non-zero count, and it sleeps on home_seq with
    // nobody left to wake it (drain_key hangs).
    uint64_t old = home[home_bucket(key)].fetch_sub(1, std::memory_order_seq_cst) & kHomeCount;
    IOWQ_CHECK(old > 0, "a key bucket's in-flight count never goes negative");
    if (old == 1 && home_waiters.load(std::memory_order_seq_cst) > 0) {
      // Default (seq_cst); pairs with drain_key()'s home_seq load taken before
      // its checks: the futex compare turns a bump after it into no sleep.
      home_seq.fetch_add(1);
      sys::futex_wake(&home_seq, INT_MAX);
    }
  }
  // Store-load handshake with drain(), the same shape as the key's above:
  //   here:  inflight -= 1 (seq_cst) ; load drain_waiters (seq_cst)
  //   drain: waiters += 1  (seq_cst) ; load inflight (seq_cst), then sleep
  // Without seq_cst on both sides drain() could sleep forever on drain_seq
  // after the last item completed.
  uint64_t old_inflight = inflight.fetch_sub(1, std::memory_order_seq_cst);
  IOWQ_CHECK(old_inflight > 0, "the pool's in-flight count never goes negative");
  if (old_inflight == 1 && drain_waiters.load(std::memory_order_seq_cst) > 0) {
    // Default (seq_cst); pairs with drain()'s drain_seq load (futex compare).
    drain_seq.fetch_add(1);
    sys::futex_wake(&drain_seq, INT_MAX);
  }
  if (!callback) {
    uint32_t old = w->state.exchange(Work::kDone | Work::kReleased, std::memory_order_acq_rel);
    if (old & Work::kWaiter) sys::futex_wake(&w->state, INT_MAX);
    // A waiter in wait_or_signal that saw kSigWaiter still set waits for
    // this wake before it returns, so the item (and waiter_tid, published by
    // its CAS) is still its wait's here.
    // With the user's queue of real-time signals full (RLIMIT_SIGPENDING)
    // the wake is refused: the waiter polls for kWakeLost instead.
    if ((old & Work::kSigWaiter) &&
        sys::tgkill(sys::getpid(), w->waiter_tid.load(std::memory_order_relaxed), sig) != 0)
      w->state.fetch_or(Work::kWakeLost, std::memory_order_release);
  }
}

// ============================================================================
// Waiting
// ============================================================================

namespace {

// Neither this nor the spin is noexcept: a waiter in asynchronous
// cancellation mode may be unwound from anywhere in them.
bool is_released(const Work* w) { return (w->state.load(std::memory_order_acquire) & Work::kReleased) != 0; }

// Bounded, adaptive spin before sleeping: only useful when the worker runs on
// another CPU. True when the item was released meanwhile.
bool spin_until_released(const Options& opts, const Work* w) {
  WaitSpin& sp = tl_spin;
  if (!opts.spin_us || w->cpu.load(std::memory_order_relaxed) == sys::current_cpu()) return false;
  if (sp.skip) {
    --sp.skip;
    return false;
  }
  uint64_t end = sys::now_ns() + opts.spin_us * 1000ull;
  for (unsigned i = 1;; ++i) {
    if (is_released(w)) {
      sp.fail = 0;
      return true;
    }
    sys::cpu_relax();
    if ((i & 31) == 0 && sys::now_ns() > end) break;
  }
  if (++sp.fail >= kSpinFailLimit) {
    sp.fail = 0;
    sp.skip = kSpinSkip;
  }
  return false;
}

}  // namespace

int Pool::wait(Work* w, bool interruptible) {
  Impl& p = *impl_;
  auto released = [w] { return is_released(w); };
  if (released() || spin_until_released(p.opts, w)) return 0;
  for (;;) {
    uint32_t s = w->state.load(std::memory_order_acquire);
    if (s & Work::kReleased) return 0;
    if (!(s & Work::kWaiter) &&
        !w->state.compare_exchange_weak(s, s | Work::kWaiter, std::memory_order_acq_rel))
      continue;
    int r = sys::futex_wait(&w->state, s | Work::kWaiter);
    if (r == -EINTR && interruptible && !released()) return -EINTR;
  }
}

namespace {

// The pool's wake for wait_or_signal: its cancel signal by tgkill from this
// process (a program's kill or sigqueue has another si_code; its tgkill does
// not, see wait_or_signal).
// (Syscalls here and in wait_or_signal through raw_syscall, which is not
// noexcept: asynchronous cancellation may unwind from any of them.)
bool is_wake(const siginfo_t& si, int sig) {
  return si.si_signo == sig && si.si_code == SI_TKILL && si.si_pid == sys::raw_syscall(SYS_getpid);
}

// Wakes this thread may still get for waits it was unwound out of (pthread
// cancellation): dropped where they arrive (take_stray_wake()).
thread_local int tl_stray_wakes __attribute__((tls_model("initial-exec"))) = 0;

// How often a waiter in wait_or_signal looks for a wake the pool could not
// send (kWakeLost): a sleeping waiter wakes this often, a lost wake costs this much.
constexpr uint64_t kLostWakePollNs = 1000000000ull;

// wait_or_signal's arming: while kSigWaiter is set, completion sends a wake.
// disarm() clears it; if the completion already took it, the wake is on its
// way and is taken here. Program cancel signals taken meanwhile are queued
// to the thread again (after the wake, so they are not taken twice).
struct SigArm {
  Work* w;
  int sig;
  bool armed = false;
  // Not noexcept: the owner may be in asynchronous cancellation mode (the
  // destructor then finishes the job; a thread being cancelled is not
  // cancelled again).
  void disarm() {
    if (!armed) return;
    uint32_t s = w->state.load(std::memory_order_acquire);
    while (!(s & Work::kReleased)) {
      if (w->state.compare_exchange_weak(s, s & ~Work::kSigWaiter, std::memory_order_acq_rel)) {
        armed = false;
        return;
      }
    }
    siginfo_t other[4];
    int n = 0;
    const uint64_t bit = uint64_t{1} << (sig - 1);
    for (;;) {
      if (w->state.load(std::memory_order_acquire) & Work::kWakeLost) break;
      siginfo_t si;
      if (sys::take_signal(bit, &si, kLostWakePollNs) != sig) continue;
      if (is_wake(si, sig)) break;
      if (n < 4) other[n++] = si;
    }
    armed = false;
    for (int i = 0; i < n; ++i) sys::requeue_to_self(sig, other[i]);
  }
  // Only does something when cancellation unwinds the wait: the wake may
  // be on its way or taken already (just before the unwinding began), so
  // it is not waited for; one that comes is a stray wake.
  ~SigArm() {
    if (!armed) return;
    uint32_t s = w->state.load(std::memory_order_acquire);
    while (!(s & Work::kReleased))
      if (w->state.compare_exchange_weak(s, s & ~Work::kSigWaiter, std::memory_order_acq_rel)) return;
    if (!(s & Work::kWakeLost)) ++tl_stray_wakes;
  }
};

}  // namespace

bool Pool::take_stray_wake() noexcept {
  if (tl_stray_wakes <= 0) return false;
  --tl_stray_wakes;
  return true;
}

int Pool::wait_or_signal(Work* w, uint64_t set, siginfo_t* info) {
  Impl& p = *impl_;
  auto released = [w] { return is_released(w); };
  // A signal during the spin stays pending (blocked) for the sleep below.
  if (released() || spin_until_released(p.opts, w)) return 0;
  const uint64_t wait_set = set | (uint64_t{1} << (p.sig - 1));
  SigArm arm{w, p.sig};
  w->waiter_tid.store(static_cast<int32_t>(sys::raw_syscall(SYS_gettid)), std::memory_order_relaxed);
  for (;;) {
    uint32_t s = w->state.load(std::memory_order_acquire);
    if (s & Work::kReleased) break;
    if (!(s & Work::kSigWaiter)) {
      if (!w->state.compare_exchange_weak(s, s | Work::kSigWaiter, std::memory_order_acq_rel)) continue;
      arm.armed = true;
    }
    siginfo_t si;
    // A cancellation point, as glibc makes its blocking calls one: pthread
    // cancellation acts in the sleep only (asynchronous just around it).
    int type;
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &type);
    const int r = sys::take_signal(wait_set, &si, kLostWakePollNs);
    pthread_setcanceltype(type, nullptr);
    if (r <= 0) continue;  // timeout (a lost wake?) or a handler outside the set ran (EINTR)
    // The one wake of the completion; a program's tgkill of the same signal
    // looks the same, and counts as the wake only once the item is released
    // (one of the two is left pending, and they cannot be told apart).
    if (r == p.sig && is_wake(si, p.sig)) {
      if (released()) {
        arm.armed = false;
        return 0;
      }
      if (tl_stray_wakes > 0) {  // for a wait left earlier
        --tl_stray_wakes;
        continue;
      }
    }
    arm.disarm();
    *info = si;
    return r;
  }
  arm.disarm();  // released: the wake may still be on its way
  return 0;
}

// ============================================================================
// Cancel
// ============================================================================

bool Pool::Impl::cancel_running_locked(Worker* wk, Work* w, uint32_t extra_flags) noexcept {
  // Flags use the default (seq_cst) here. What matters: kCancel is set
  // before the signal is sent (program order plus the RMW), so the worker's
  // fn, woken by EINTR, reads cancelled() == true through its acquire load;
  // otherwise it would retry the syscall and the cancel would wait for the
  // manager's re-signal. Release would do; kept. resignal pairs with the
  // worker's decrement and the manager's load, both under the node lock.
  if (w->flags.load() & Work::kCancel) return false;  // already cancelled
  if (w->cls == Class::Unbound) {
    // Interrupt it; the manager re-signals until the item completes.
    w->flags.fetch_or(Work::kCancel | kSignalled | extra_flags);
    resignal.fetch_add(1);
    signal_worker(wk);
  } else {
    w->flags.fetch_or(Work::kCancel | extra_flags);  // disk work is never interrupted
  }
  return true;
}

void Pool::Impl::signal_worker(Worker* wk) noexcept {
  if (wk && wk->tid > 0) {
    if (opts.before_cancel_signal) opts.before_cancel_signal();
    sys::tgkill(sys::getpid(), wk->tid, sig);
    signals_sent.fetch_add(1, std::memory_order_relaxed);
  }
}

CancelResult Pool::cancel(Work* w) noexcept {
  Impl& p = *impl_;
  uint32_t st = w->state.load(std::memory_order_acquire);
  if (!(st & Work::kQueued)) return CancelResult::NotFound;
  unsigned node = w->node;
  if (node >= p.nodes.size()) return CancelResult::NotFound;
  NodePool& n = *p.nodes[node];
  ClassPool& c = n.cls[static_cast<int>(w->cls)];
  CancelResult res = CancelResult::NotFound;
  // A handler on this thread must not re-enter the pool while we hold n.mu.
  sys::SigMask old;
  sys::block_all_signals(&old, true);
  {
    std::lock_guard<std::mutex> g(n.mu);
    st = w->state.load(std::memory_order_acquire);
    if ((st & Work::kQueued) && w->node == node) {
      // Items move to kRunning only under n.mu, so after draining the intake
      // the item is either in a dispatch list or held by a worker.
      p.drain_intake(c);
      st = w->state.load(std::memory_order_acquire);
      if (st & Work::kRunning) {
        auto* wk = static_cast<Worker*>(w->worker);
        if (wk && wk->cur == w) {
          p.cancel_running_locked(wk, w, 0);
          res = CancelResult::Running;
        }
      } else if (st & Work::kQueued) {
        // Queued and not running is stable under n.mu: truly pending. (A
        // running item completes outside the lock, so its state may already
        // read kDone here: that is NotFound, never Ok.) kCancel: published by
        // unlink_pending()'s release (see there).
        w->flags.fetch_or(Work::kCancel);
        p.unlink_pending(c, w);
        res = CancelResult::Ok;
      }
    }
  }
  sys::restore_signals(old);
  if (res == CancelResult::Ok) {
    p.cancel_ok.fetch_add(1, std::memory_order_relaxed);
    p.complete(w, -ECANCELED);
  } else if (res == CancelResult::Running) {
    p.cancel_running.fetch_add(1, std::memory_order_relaxed);
    if (w->cls == Class::Unbound) p.wake_manager();  // re-signals until done
  }
  return res;
}

size_t Pool::cancel_if(const std::function<bool(const Work&)>& match) {
  Impl& p = *impl_;
  size_t found = 0;
  std::vector<Work*> pending;
  sys::SigMask old;
  sys::block_all_signals(&old, true);
  for (auto& np : p.nodes) {
    std::lock_guard<std::mutex> g(np->mu);
    for (auto& c : np->cls) {
      p.drain_intake(c);
      std::vector<Work*> hits;
      try {  // nothing changes until the memory is there
        for (Work* w = c.ready.head; w; w = w->next)
          if (match(*w)) hits.push_back(w);
        for (auto& kv : c.keys)
          for (Work* w = kv.second.waiting.head; w; w = w->next)
            if (match(*w)) hits.push_back(w);
        for (Work* w = c.spill.head; w; w = w->next)
          if (match(*w)) hits.push_back(w);
        pending.reserve(pending.size() + hits.size());
      } catch (const std::bad_alloc&) {
        continue;  // out of memory: this class's pending items stay queued
      }
      for (Work* w : hits) {
        w->flags.fetch_or(Work::kCancel);  // published by unlink_pending()'s release
        p.unlink_pending(c, w);
        pending.push_back(w);
      }
      for (Worker* wk = c.workers; wk; wk = wk->next) {
        Work* w = wk->cur;
        if (!w || !match(*w)) continue;
        ++found;
        p.cancel_running.fetch_add(1, std::memory_order_relaxed);
        p.cancel_running_locked(wk, w, 0);
      }
    }
  }
  sys::restore_signals(old);
  for (Work* w : pending) {
    p.cancel_ok.fetch_add(1, std::memory_order_relaxed);
    p.complete(w, -ECANCELED);
  }
  if (p.resignal.load()) p.wake_manager();
  return found + pending.size();
}

size_t Pool::cancel_all() {
  return cancel_if([](const Work&) { return true; });
}

// ============================================================================
// Drain
// ============================================================================

void Pool::drain() noexcept {
  Impl& p = *impl_;
  for (;;) {
    // Read before the count: a drain_seq bump by the last completion after
    // this load makes the futex_wait below return at once. Pairs with the
    // bump in complete(); acquire would do, seq_cst is stronger than needed.
    uint32_t seq = p.drain_seq.load(std::memory_order_seq_cst);
    if (p.inflight.load(std::memory_order_seq_cst) == 0) return;
    // The waiter side of the handshake in complete(): announce, then re-read
    // the count. Both seq_cst, or we may miss the last decrement while it
    // misses us (drain() sleeps forever).
    p.drain_waiters.fetch_add(1, std::memory_order_seq_cst);
    if (p.inflight.load(std::memory_order_seq_cst) != 0) sys::futex_wait(&p.drain_seq, seq);
    // No pairing needed: a stale non-zero count only costs a spurious wake.
    // seq_cst is stronger than needed, kept.
    p.drain_waiters.fetch_sub(1, std::memory_order_seq_cst);
  }
}

uint64_t Pool::inflight_key(uint64_t key) const noexcept {
  // seq_cst: this is the load of drain_key()'s handshake with complete()'s
  // decrement (see there). A caller outside drain_key only reads a count.
  return impl_->home[impl_->home_bucket(key)].load(std::memory_order_seq_cst) & kHomeCount;
}

void Pool::drain_key(uint64_t key) noexcept {
  Impl& p = *impl_;
  for (;;) {
    // Same protocol as drain(): the futex word first (pairs with complete()'s
    // home_seq bump; acquire would do), then announce-and-recheck, which is
    // the seq_cst handshake with complete()'s bucket decrement.
    uint32_t seq = p.home_seq.load(std::memory_order_seq_cst);
    if (inflight_key(key) == 0) return;
    p.home_waiters.fetch_add(1, std::memory_order_seq_cst);
    if (inflight_key(key) != 0) sys::futex_wait(&p.home_seq, seq);
    // A stale count only costs a spurious wake; stronger than needed, kept.
    p.home_waiters.fetch_sub(1, std::memory_order_seq_cst);
  }
}

// ============================================================================
// Freeze
// ============================================================================

void Pool::freeze() noexcept {
  Impl& p = *impl_;
  p.frozen.store(true);
  if (!p.started.load() || !p.mgr_running) return;
  // The pass running now may have decided to create a worker before it saw
  // the flag; the one after it sees the flag. Then the workers being born
  // must have started (a newborn thread's own first syscalls). Polled:
  // the manager keeps no waiter count for this rare call; bounded (~1 s).
  const uint32_t pass0 = p.mgr_passes.load();
  for (int i = 0; i < 5000; ++i) {
    const uint32_t cur = p.mgr_passes.load();
    if (cur - pass0 >= 2) {
      int born = 0;
      for (auto& n : p.nodes)
        for (auto& c : n->cls) born += c.starting.load();
      if (born == 0) return;
    } else {
      p.wake_manager();
    }
    sys::futex_wait(&p.mgr_passes, cur, 200000);
  }
}

void Pool::thaw() noexcept { impl_->frozen.store(false); }

// ============================================================================
// Shutdown and fork
// ============================================================================

void Pool::shutdown() {
  Impl& p = *impl_;
  std::lock_guard<std::mutex> g(p.start_mu);
  // Default (seq_cst). stopping is read without a lock by submit() (relaxed:
  // a submit racing shutdown may still get in; its item is run or cancelled
  // like any other) and by idle workers and the manager, which are woken
  // through wake_seq/mgr_seq bumps sequenced after this store.
  bool was = p.stopping.exchange(true);
  if (!p.started.load() || !p.mgr_running) return;
  if (!was) {
    // Pending unbound work is cancelled, running unbound work interrupted;
    // bound work still runs (the kernel's exit rule).
    cancel_if([](const Work& w) { return w.cls == Class::Unbound; });
    for (auto& np : p.nodes)
      for (auto& c : np->cls) {
        // Default (seq_cst); pairs with an idle worker's wake_seq load: a
        // worker that read the old value cannot sleep (futex compare) and
        // will re-read stopping.
        c.wake_seq.fetch_add(1);
        sys::futex_wake(&c.wake_seq, INT_MAX);
      }
  }
  p.wake_manager();
  pthread_join(p.mgr, nullptr);
  p.mgr_running = false;
}

void Pool::reset_after_fork() noexcept {
  Impl& p = *impl_;
  // Only this thread exists in the child. Locks and the lock-free queues may
  // have been mid-operation in a parent thread: rebuild them in place and
  // leak the old storage rather than trust it.
  for (auto& np : p.nodes) {
    new (&np->mu) std::mutex();
    for (auto& c : np->cls) {
      c.intake.release();
      c.intake.reset(
          new detail::Intake(p.opts.queue_capacity ? std::min(p.opts.queue_capacity, 65534u) : 4096));
      c.reset_keys();
      c.dead = nullptr;  // a parent's ended workers: left
      c.ready = WorkList{};
      c.spill = WorkList{};
      c.workers = nullptr;
      c.spinners = 0;
      c.sleepers = 0;
      c.alive = 0;
      c.threads = 0;
      c.starting = 0;
      c.ready_hint = 0;
      c.inflight = 0;
    }
  }
  new (&p.start_mu) std::mutex();
  // Default (seq_cst) stores below: the fork child has one thread, nothing
  // to pair with; the ordering is irrelevant here.
  for (auto& h : p.home) h.store(0);
  p.inflight = 0;
  p.drain_waiters = 0;
  p.home_waiters = 0;
  p.deadline_items = 0;
  p.resignal = 0;
  p.next_deadline = ~0ull;
  p.mgr_running = false;
  p.started = false;
  p.stopping = false;
  p.ntids = 0;
}

// ============================================================================
// Topology and counters
// ============================================================================

unsigned Pool::num_nodes() const noexcept { return static_cast<unsigned>(impl_->nodes.size()); }
int Pool::node_of_cpu(int cpu) const noexcept { return impl_->topo.node_of(cpu); }
std::vector<int> Pool::node_cpus(unsigned node) const {
  return node < impl_->nodes.size() ? impl_->nodes[node]->cpus : std::vector<int>{};
}
unsigned Pool::cap(unsigned node, Class c) const noexcept {
  return node < impl_->nodes.size() ? impl_->nodes[node]->cls[static_cast<int>(c)].cap : 0;
}

Stats Pool::stats() const {
  const Impl& p = *impl_;
  Stats s;
  // Default (seq_cst) loads of statistics counters: no pairing; each value is
  // current on its own (iowq/pool.hpp, stats()).
  for (auto& np : p.nodes) {
    for (int k = 0; k < 2; ++k) {
      const ClassPool& c = np->cls[k];
      ClassStats& cs = k == 0 ? s.bound : s.unbound;
      cs.created += c.created.load();
      cs.alive += static_cast<uint64_t>(c.alive.load());
      cs.max_alive += c.max_alive.load();
      cs.completed += c.completed.load();
    }
  }
  s.submitted = p.submitted.load();
  s.cancel_pending = p.cancel_ok.load();
  s.cancel_running = p.cancel_running.load();
  s.deadline_cancels = p.deadline_cancels.load();
  s.signals_sent = p.signals_sent.load();
  p.queue_wait.merge_into(s.queue_wait);
  p.service.merge_into(s.service);
  s.queue_wait_p50_ns = Histogram::percentile_of(s.queue_wait, 50);
  s.queue_wait_p99_ns = Histogram::percentile_of(s.queue_wait, 99);
  s.service_p50_ns = Histogram::percentile_of(s.service, 50);
  s.service_p99_ns = Histogram::percentile_of(s.service, 99);
  return s;
}

std::vector<int> Pool::worker_tids() const {
  std::vector<int> out;
  // Default (seq_cst) loads; pair with worker_loop()'s ntids increment and
  // tids store (a slot read before its store reads 0 and is skipped).
  int n = std::min(impl_->ntids.load(), Impl::kMaxTids);
  for (int i = 0; i < n; ++i) {
    int t = impl_->tids[i].load();
    if (t > 0) out.push_back(t);
  }
  return out;
}

}  // namespace iowq
