// core/src/worker.cpp — worker threads and the manager thread.
//
// Workers: take an item from their class's ready list, run it (and the rest
// of its key's chain), spin briefly for more, then sleep on the class futex;
// exit after idle_ms unless last of the class.
// Manager: creates workers on demand (never on a submitter's stack), enforces
// deadlines, and re-signals workers running cancelled unbound work until the
// item completes — which is what makes a cancel immune to the race between a
// worker's flag check and its syscall entry.
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <new>
#include <utility>

#include "internal.hpp"

namespace iowq {

using detail::ClassPool;
using detail::KeyState;
using detail::kSignalled;
using detail::NodePool;
using detail::Worker;

namespace {

constexpr unsigned kIdleSpinFailLimit = 8, kIdleSpinProbe = 64;

thread_local bool tl_is_worker __attribute__((tls_model("initial-exec"))) = false;

void* worker_main(void* arg) {
  tl_is_worker = true;
  auto* w = static_cast<Worker*>(arg);
  static_cast<Pool::Impl*>(w->pool)->worker_loop(w);
  return nullptr;
}

}  // namespace

bool Pool::on_worker_thread() noexcept { return tl_is_worker; }

// ============================================================================
// Worker creation (manager thread only)
// ============================================================================

bool Pool::Impl::create_worker(ClassPool& c) noexcept {
  // Out of memory or threads (RLIMIT_NPROC, RLIMIT_AS): report it, never throw.
  Worker* w = new (std::nothrow) Worker();
  int rc = EAGAIN;
  if (w) {
    w->cls = &c;
    w->pool = this;
    w->index = worker_index.fetch_add(1);  // a unique number: atomicity only, no pairing
    // Detached, on the node's CPUs, every signal blocked; it names itself
    // (worker_loop), since an idle worker may have ended before we could.
    sys::ThreadSpec spec;
    spec.cpus = &c.node->mask;
    rc = -sys::start_thread(nullptr, worker_main, w, spec);
  }
  if (rc != 0) {
    delete w;
    // Default (seq_cst); read by manage_node() under the node lock (the
    // counts' rule at the top of worker_loop()).
    c.starting.fetch_sub(1);
    return false;
  }
  return true;
}

// ============================================================================
// Worker loop
// ============================================================================

void Pool::Impl::worker_loop(Worker* self) {
  ClassPool& c = *self->cls;
  NodePool& n = *c.node;
  self->tid = sys::gettid();
  {
    char name[16];
    snprintf(name, sizeof name, "iowq-wrk-%u", self->index);
    pthread_setname_np(pthread_self(), name);
  }
  // The cancel signal is open only while unbound work runs: the only time a
  // cancel is sent, and no other moment can a process-directed one land here.
  sigset_t cancel_set;
  sigemptyset(&cancel_set);
  sigaddset(&cancel_set, sig);
  // Default (seq_cst) counters below. tids/ntids are read by worker_tids()
  // for reporting only; created/max_alive are statistics. threads/alive/
  // starting are read by the manager to size the class and to decide that
  // shutdown is complete: alive moves before starting drops, so alive +
  // starting never undercounts a worker being born. Relaxed would suffice
  // for the statistics; the counts are kept seq_cst.
  int slot = ntids.fetch_add(1);
  if (slot < kMaxTids) tids[slot].store(self->tid);
  c.threads.fetch_add(1);
  int now_alive = c.alive.fetch_add(1) + 1;
  c.starting.fetch_sub(1);
  c.created.fetch_add(1);
  uint64_t m = c.max_alive.load();
  while (static_cast<uint64_t>(now_alive) > m && !c.max_alive.compare_exchange_weak(m, now_alive)) {
  }

  std::unique_lock<std::mutex> lk(n.mu);
  self->next = c.workers;
  if (c.workers) c.workers->prev = self;
  c.workers = self;
  for (;;) {
    Work* w = take_ready(c, self);
    if (w) {
      bool more = c.ready.size > 0 || !c.intake->empty();
      lk.unlock();
      if (more) notify(c);  // chained wake-up: someone else takes the rest
      while (w) {
        w->cpu.store(sys::current_cpu(), std::memory_order_relaxed);
        uint64_t t0 = sys::now_ns();
        queue_wait.record(t0 - w->t_submit);
        const bool open = w->cls == Class::Unbound;
        if (open) pthread_sigmask(SIG_UNBLOCK, &cancel_set, nullptr);
        w->fn(w);
        if (open) pthread_sigmask(SIG_BLOCK, &cancel_set, nullptr);
        service.record(sys::now_ns() - t0);
        c.completed.fetch_add(1, std::memory_order_relaxed);
        lk.lock();
        IOWQ_CHECK(self->cur == w && w->worker == self, "a worker completes the item it runs");
        self->cur = nullptr;
        // Under the node lock, like cancel_running_locked()'s increment and
        // the manager's re-signal scan: the lock orders them; seq_cst (the
        // default) is stronger than needed.
        if (w->flags.load() & kSignalled) {
          [[maybe_unused]] int old = resignal.fetch_sub(1);
          IOWQ_CHECK(old > 0, "the re-signal count never goes negative");
        }
        Work* nx = w->hashed ? next_in_chain(c, w) : nullptr;
        if (nx) start_running(c, self, nx);
        lk.unlock();
        complete(w, w->result);
        w = nx;
      }
      lk.lock();
      continue;
    }
    // Default (seq_cst) load; pairs with shutdown()'s exchange, which is
    // followed by a wake_seq bump that gets us here again.
    if (stopping.load()) {
      c.alive.fetch_sub(1);
      break;
    }
    lk.unlock();

    // ---- idle: bounded adaptive spin, then sleep on the class futex ----
    bool timed_out = false;
    bool spin = opts.spin_us && self->spin_fail < kIdleSpinFailLimit;
    if (!spin && ++self->spin_fail > kIdleSpinProbe) self->spin_fail = 0;
    bool found = false;
    if (spin) {
      // Pairs with notify()'s spinners load (after its fence): while we count
      // here, a submitter skips the futex wake and relies on our polling. A
      // submitter that still reads 0 only falls through to the sleeper or
      // manager path, and our poll or the fenced re-check below finds its
      // item anyway. Atomicity is what matters; seq_cst is stronger than
      // needed, kept. (The poll loop reads relaxed for the same reason.)
      c.spinners.fetch_add(1, std::memory_order_seq_cst);
      uint64_t end = sys::now_ns() + opts.spin_us * 1000ull;
      for (unsigned i = 1;; ++i) {
        if (c.ready_hint.load(std::memory_order_relaxed) || !c.intake->empty() || stopping.load()) {
          found = true;
          break;
        }
        sys::cpu_relax();
        if ((i & 31) == 0 && sys::now_ns() > end) break;
      }
      // Pairs with notify(): a submitter that read our count before this
      // decrement returned without waking anyone; that read is ordered before
      // this seq_cst RMW, hence before our fence below, so the fenced check
      // of the sleep path finds its item. Needed as seq_cst (a relaxed
      // decrement is not in the total order the argument uses).
      c.spinners.fetch_sub(1, std::memory_order_seq_cst);
      self->spin_fail = found ? 0 : self->spin_fail + 1;
    }
    if (!found) {
      // Announce, read the futex word, FENCE, re-check: the worker half of
      // the store-load handshake whose other half is notify()'s fence (see
      // there). The fence is what makes it work: without it the check below
      // may read an empty intake while the submitter reads sleepers == 0,
      // and the item waits up to idle_ms. The seq_cst on the increment and
      // on the wake_seq load (which pairs with notify()'s and shutdown()'s
      // bumps through the futex compare; it must precede the check, which
      // the fence also ensures) is stronger than needed given the fence.
      c.sleepers.fetch_add(1, std::memory_order_seq_cst);
      uint32_t seq = c.wake_seq.load(std::memory_order_seq_cst);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      // Default (seq_cst) loads of ready_hint and stopping: after the fence
      // relaxed would do.
      if (!c.ready_hint.load() && c.intake->empty() && !stopping.load()) {
        int r = sys::futex_wait(&c.wake_seq, seq, static_cast<uint64_t>(opts.idle_ms) * 1000000ull);
        timed_out = r == -ETIMEDOUT;
      }
      // Pairs with notify()'s sleepers load: a submitter that read our count
      // only bumped wake_seq, so we must still look at the queue, which the
      // locked take_ready() below does. The seq_cst orders this decrement
      // after the futex_wait returned; whether relaxed would do is not argued
      // here, so it stays.
      c.sleepers.fetch_sub(1, std::memory_order_seq_cst);
    }
    lk.lock();
    if (timed_out && c.ready.size == 0 && c.intake->empty() && c.alive.load() > 1) {
      c.alive.fetch_sub(1);  // decided under the lock: the last one stays
      break;
    }
  }
  // Leave the class list under the lock; shutdown() learns of the exit
  // through `threads`, the last pool memory this thread touches.
  if (self->prev)
    self->prev->next = self->next;
  else
    c.workers = self->next;
  if (self->next) self->next->prev = self->prev;
  // The manager deletes it: a worker never calls malloc or free. Its first
  // would give the thread a glibc arena (128 MiB mapped, half of it unmapped
  // a moment later, while the program may be reading its own size:
  // docs/design.md §4 "Malloc arenas").
  self->next = c.dead;
  c.dead = self;
  lk.unlock();
  // Default (seq_cst) bump; pairs with manager_loop()'s mgr_seq load: the
  // manager rescans (may create a replacement, or see shutdown progress).
  mgr_seq.fetch_add(1);
  // Pairs with the manager's threads load when stopping: once it reads 0,
  // every access of this thread to the pool happened before (release here,
  // acquire there is what is needed), so shutdown() may return and the Pool
  // be destroyed. seq_cst is stronger than needed, kept.
  c.threads.fetch_sub(1, std::memory_order_seq_cst);
}

// ============================================================================
// Manager
// ============================================================================

void Pool::Impl::free_workers(Worker* w) noexcept {
  while (w) delete std::exchange(w, w->next);
}

void Pool::Impl::manage_node(NodePool& n, uint64_t now, uint64_t* next_wake) {
  std::vector<Work*> expired;
  int create[2] = {0, 0};
  bool spilled[2] = {false, false};
  bool frozen_back[2] = {false, false};
  Worker* dead[2] = {nullptr, nullptr};
  {
    std::lock_guard<std::mutex> g(n.mu);
    for (int k = 0; k < 2; ++k) {
      ClassPool& c = n.cls[k];
      dead[k] = std::exchange(c.dead, nullptr);
      drain_intake(c);
      spilled[k] = c.spill.head != nullptr;
      // Deadlines (unbound only): pending items expire, running ones are
      // interrupted like a cancel.
      // Default (seq_cst) counter loads in this block (deadline_items,
      // resignal, spinners, sleepers, alive, starting, stopping): heuristics
      // read under the node lock; a stale value is made good by the next
      // scan, which every change that matters triggers with wake_manager().
      if (k == 1 && deadline_items.load() > 0) {
        std::vector<Work*> hits;
        auto scan = [&](Work* w) {
          if (w->deadline_ns) {
            if (w->deadline_ns <= now)
              hits.push_back(w);
            else
              *next_wake = std::min(*next_wake, w->deadline_ns);
          }
        };
        try {  // nothing changes until the memory is there
          for (Work* w = c.ready.head; w; w = w->next) scan(w);
          for (auto& kv : c.keys)
            for (Work* w = kv.second.waiting.head; w; w = w->next) scan(w);
          for (Work* w = c.spill.head; w; w = w->next) scan(w);
          expired.reserve(expired.size() + hits.size());
        } catch (const std::bad_alloc&) {
          hits.clear();
          *next_wake = std::min(*next_wake, now + 1000000);  // out of memory: again in 1 ms
        }
        for (Work* w : hits) {
          // Flags first: whoever sees the item leave the queue sees why.
          w->flags.fetch_or(Work::kCancel | Work::kTimedOut);
          unlink_pending(c, w);
          expired.push_back(w);
        }
        for (Worker* wk = c.workers; wk; wk = wk->next) {
          Work* w = wk->cur;
          if (!w || !w->deadline_ns || (w->flags.load() & Work::kCancel)) continue;
          if (w->deadline_ns <= now) {
            if (cancel_running_locked(wk, w, Work::kTimedOut)) deadline_cancels.fetch_add(1);
          } else {
            *next_wake = std::min(*next_wake, w->deadline_ns);
          }
        }
      }
      // Re-signal running cancelled unbound work until it completes. Sent
      // under n.mu, so the worker cannot have moved on to another item.
      if (k == 1 && resignal.load() > 0)
        for (Worker* wk = c.workers; wk; wk = wk->next)
          if (wk->cur && (wk->cur->flags.load() & kSignalled)) signal_worker(wk);
      // Create workers for runnable items no idle worker will take; items
      // queued behind a busy key are not runnable and get none.
      if (!stopping.load() || c.ready.size) {
        // A worker being born takes a ready item too: without counting it, a
        // second pass before it ran created another one for the same item.
        int idle = c.spinners.load() + c.sleepers.load();
        int need = static_cast<int>(c.ready.size) - idle - c.starting.load();
        int room = static_cast<int>(c.cap) - c.alive.load() - c.starting.load();
        create[k] = std::max(0, std::min(need, room));
        if (frozen.load() && create[k] > 0) {
          create[k] = 0;
          frozen_back[k] = true;  // no thread: the submitters run it
        }
        c.starting.fetch_add(create[k]);
      }
    }
  }
  for (Worker* w : dead) free_workers(w);
  for (Work* w : expired) {
    deadline_cancels.fetch_add(1);
    complete(w, -ECANCELED);
  }
  for (int k = 0; k < 2; ++k) {
    ClassPool& c = n.cls[k];
    bool failed = false;
    for (int i = 0; i < create[k]; ++i) failed |= !create_worker(c);
    // No worker can be created for queued work: hand it back to its
    // submitters rather than let it wait for a thread that never comes —
    // when no worker of the class exists, or (unbound) the ones that exist
    // may block forever. Items stuck in the spill list (no memory for their
    // key) go back the same way.
    if (spilled[k] || frozen_back[k] || (failed && (c.alive.load() + c.starting.load() == 0 || k == 1)))
      hand_back(c);
  }
}

void Pool::Impl::manager_loop() {
  uint64_t backoff = 50000;  // re-signal interval, ns; doubles to 5 ms
  for (;;) {
    // Pairs with wake_manager() and the worker-exit bump: read before the
    // scan, so a bump during the scan makes futex_wait below return at once
    // instead of sleeping past the news. Acquire would do; kept seq_cst.
    uint32_t seq = mgr_seq.load(std::memory_order_seq_cst);
    uint64_t now = sys::now_ns();
    uint64_t next_wake = ~0ull;
    // Default (seq_cst) store, load and CAS of next_deadline: only the value
    // matters (submit() lowers it and then wakes us); relaxed would do.
    next_deadline.store(~0ull);
    for (auto& n : nodes) manage_node(*n, now, &next_wake);
    mgr_passes.fetch_add(1);  // freeze() polls it
    if (next_wake != ~0ull) {
      uint64_t cur = next_deadline.load();
      while (next_wake < cur && !next_deadline.compare_exchange_weak(cur, next_wake)) {
      }
    }
    if (resignal.load() > 0) {
      next_wake = std::min(next_wake, now + backoff);
      backoff = std::min<uint64_t>(backoff * 2, 5000000);
    } else {
      backoff = 50000;
    }
    // Default (seq_cst) loads: threads pairs with each worker's final
    // decrement (see there); inflight pairs with complete()'s decrement
    // (shutdown waits for bound work to finish).
    if (stopping.load()) {
      int alive = 0;
      for (auto& n : nodes)
        for (auto& c : n->cls) alive += c.threads.load() + c.starting.load();
      if (alive == 0 && inflight.load() == 0) {
        for (auto& n : nodes)
          for (auto& c : n->cls) free_workers(std::exchange(c.dead, nullptr));  // every worker is gone
        break;
      }
      for (auto& n : nodes)
        for (auto& c : n->cls) {
          // Pairs with an idle worker's wake_seq load (futex compare).
          c.wake_seq.fetch_add(1);
          sys::futex_wake(&c.wake_seq, INT_MAX);
        }
      // A worker's exit is seen through `alive`; poll it rather than trust a wake.
      next_wake = std::min(next_wake, now + 2000000);
    }
    uint64_t timeout = 0;
    if (next_wake != ~0ull) timeout = next_wake > now ? next_wake - now : 1000;
    sys::futex_wait(&mgr_seq, seq, timeout);
  }
}

}  // namespace iowq
