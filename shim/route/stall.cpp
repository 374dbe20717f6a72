// shim/route/stall.cpp — the stall thread and per-thread deadline slots (see stall.hpp).
#include "stall.hpp"

#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <climits>

#include "process/state.hpp"
#include "signals/signals.hpp"
#include "sys/libc.hpp"

namespace iowq::shim {
namespace {

// Slot states. Only the owning thread moves Claimed <-> Armed and
// Claimed -> Free; only the stall thread moves Armed -> Sending -> Armed.
enum : int { kFree = 0, kClaimed = 1, kArmed = 2, kSending = 3 };
constexpr int kSlots = 4096;
constexpr unsigned kMaxSignals = 10;  // 1 + resends at 1, 2, 4 ... 256 ms

struct Slot {
  std::atomic<int> state{kFree};
  std::atomic<int> tid{0};
  std::atomic<uint64_t> deadline{0};
  std::atomic<uint32_t>* owed = nullptr;  // the owner's tl_owed (valid while not Free)
  std::atomic<bool> fired{false};
  // Stall thread only.
  uint64_t next_sig = 0;
  unsigned sent = 0;
};

Slot g_slots[kSlots];
std::atomic<int> g_hwm{0};                 // slots ever used (scan bound)
std::atomic<uint32_t> g_seq{0};            // bumped by every arm; the thread sleeps on it
std::atomic<uint64_t> g_next_wake{~0ull};  // when the thread will next look
std::atomic<int> g_thread_pid{0};          // process whose stall thread runs (0: none)
// The pid of the process whose thread is starting the stall thread (0: none).
// A pid other than ours was inherited from a parent that forked during its
// start: stale, no thread of ours will clear it.
std::atomic<uint32_t> g_starting{0};
std::atomic<bool> g_warned{false};

constinit thread_local int tl_slot __attribute__((tls_model("initial-exec"))) = -1;
constinit thread_local int tl_tid __attribute__((tls_model("initial-exec"))) = 0;
constinit thread_local int tl_tid_pid __attribute__((tls_model("initial-exec"))) = 0;
constinit thread_local bool tl_unblocked __attribute__((tls_model("initial-exec"))) = false;
// Stall signals sent to this thread and not yet taken by its handler.
constinit thread_local std::atomic<uint32_t> tl_owed __attribute__((tls_model("initial-exec"))){0};
constinit thread_local uint32_t tl_taken __attribute__((tls_model("initial-exec"))) = 0;

// Memory ordering (who pairs with whom):
//  * A slot's fields are published by the owner's store of kArmed (stall_arm)
//    and read after the stall thread's acquire load of kArmed; the stall
//    thread hands them back by its release store of kArmed, which the
//    owner's acq_rel CAS in stall_disarm() reads.
//  * Sleep and wake-up are a store-load handshake on g_seq / g_next_wake:
//      stall_arm:  state = kArmed ; g_seq += 1 ; load g_next_wake -> wake?
//      thread:     seq = g_seq ; scan ; g_next_wake = next ; futex_wait(g_seq == seq)
//    Either the thread's scan (after its g_seq load) sees the new kArmed,
//    or its futex compare sees the bumped g_seq and returns at once, or the
//    arm's load sees the thread's g_next_wake and wakes it when the new
//    deadline comes first. All seq_cst so that no two of them miss each other.
void* stall_main(void*) {
  for (;;) {
    // Pairs with stall_arm()'s g_seq.fetch_add: a bump after this load makes
    // the futex_wait below return at once (the kernel compares with `seq`).
    uint32_t seq = g_seq.load(std::memory_order_seq_cst);
    uint64_t now = sys::now_ns(), next = ~0ull;
    int hwm = g_hwm.load(std::memory_order_acquire);
    for (int i = 0; i < hwm; ++i) {
      Slot& s = g_slots[i];
      if (s.state.load(std::memory_order_acquire) != kArmed) continue;
      uint64_t d = s.deadline.load(std::memory_order_acquire);
      if (d > now) {
        next = d < next ? d : next;
        continue;
      }
      if (s.sent >= kMaxSignals) continue;
      if (s.sent == 0 || s.next_sig <= now) {
        int st = kArmed;
        if (!s.state.compare_exchange_strong(st, kSending, std::memory_order_acq_rel)) continue;
        s.fired.store(true, std::memory_order_relaxed);
        // Pairs with stall_signal_ours()'s load of tl_owed in the target
        // thread's handler: the count is stored before the tgkill syscall
        // that raises the signal, so the handler it runs finds it. seq_cst is
        // stronger than needed (the syscall orders it), kept.
        // A disposition the program set behind the shim's back would get
        // this signal: the shim's handler goes back first.
        cancel_signal_resync();
        s.owed->fetch_add(1, std::memory_order_seq_cst);
        if (sys::tgkill(g.pid, s.tid.load(std::memory_order_relaxed), g.sig) != 0)
          s.owed->fetch_sub(1, std::memory_order_relaxed);
        s.next_sig = now + (1000000ull << s.sent);
        ++s.sent;
        s.state.store(kArmed, std::memory_order_release);
      }
      if (s.sent < kMaxSignals) next = s.next_sig < next ? s.next_sig : next;
    }
    // Store-load handshake with stall_arm() (see the block above): this
    // store, then the kernel's compare of g_seq in futex_wait, against the
    // arm's g_seq bump, then its load of g_next_wake.
    g_next_wake.store(next, std::memory_order_seq_cst);
    uint64_t after = sys::now_ns();
    if (next == ~0ull)
      sys::futex_wait(&g_seq, seq);
    else if (next > after)
      sys::futex_wait(&g_seq, seq, next - after);
  }
  return nullptr;
}

bool ensure_thread() noexcept {
  const auto me = static_cast<uint32_t>(g.pid);
  // Default (seq_cst) operations on g_starting, g_hwm, g_next_wake and
  // g_warned below: one starter per process at a time (the CAS), no thread
  // running yet to pair with; the stall thread reads them only after
  // pthread_create. A thread arming while another one starts the thread
  // waits for that start (pthread_create: bounded) rather than run its call
  // without a deadline. The starter blocks every signal: no handler of its
  // can wait for its own start or leave it (siglongjmp) with the lock held.
  sys::SigMask old;
  for (;;) {
    if (g_thread_pid.load(std::memory_order_acquire) == g.pid) return true;
    uint32_t cur = g_starting.load();
    if (cur == me) {
      sys::futex_wait(&g_starting, me);  // woken by the starter's store below
      continue;
    }
    sys::block_all_signals(&old);
    if (!g_starting.compare_exchange_strong(cur, me)) {  // cur: 0, or stale from a parent
      sys::restore_signals(old);
      continue;
    }
    // A start that ended between our two loads above: its g_starting.store(0),
    // which our CAS read, comes after its g_thread_pid store.
    if (g_thread_pid.load(std::memory_order_acquire) != g.pid) break;
    g_starting.store(0);
    sys::futex_wake(&g_starting, INT_MAX);
    sys::restore_signals(old);
    return true;
  }
  // A forked child has no stall thread: its slots belong to the parent's threads.
  for (auto& s : g_slots) s.state.store(kFree, std::memory_order_relaxed);
  g_hwm.store(0);
  g_next_wake.store(~0ull);
  sys::ThreadSpec spec;
  spec.name = "iowq-stall";
  spec.stack_size = 64 * 1024;
  int rc = sys::start_thread(nullptr, stall_main, nullptr, spec);
  if (rc == 0) {
    g_thread_pid.store(g.pid, std::memory_order_release);
  } else if (!g_warned.exchange(true)) {
    log_line(LogLevel::Warn, "iowq: cannot start the stall thread; calls wait without a stall timeout");
  }
  g_starting.store(0);
  sys::futex_wake(&g_starting, INT_MAX);
  sys::restore_signals(old);
  return rc == 0;
}

}  // namespace

void stall_start() noexcept { ensure_thread(); }

bool stall_arm(uint64_t deadline_ns) noexcept {
  if (!cancel_signal_take() || !ensure_thread()) return false;  // the signal must be the shim's
  if (tl_tid_pid != g.pid) {
    tl_tid = sys::gettid();
    tl_tid_pid = g.pid;
    tl_slot = -1;
  }
  int i = tl_slot;
  int expect = kFree;
  if (i < 0 || !g_slots[i].state.compare_exchange_strong(expect, kClaimed, std::memory_order_acq_rel)) {
    i = -1;
    for (int k = 0; k < kSlots; ++k) {
      expect = kFree;
      if (g_slots[k].state.compare_exchange_strong(expect, kClaimed, std::memory_order_acq_rel)) {
        i = k;
        break;
      }
    }
    if (i < 0) return false;
    // Raised before the slot is armed; pairs with stall_main()'s acquire
    // load of g_hwm (a scan that read it too early is redone: g_seq below).
    int h = g_hwm.load();
    while (h < i + 1 && !g_hwm.compare_exchange_weak(h, i + 1)) {
    }
    tl_slot = i;
  }
  Slot& s = g_slots[i];
  s.tid.store(tl_tid, std::memory_order_relaxed);
  s.owed = &tl_owed;
  s.fired.store(false, std::memory_order_relaxed);
  s.sent = 0;
  s.next_sig = 0;
  s.deadline.store(deadline_ns, std::memory_order_relaxed);
  // The signal must be able to reach this thread for the call's duration.
  uint64_t cur = 0, bit = 1ull << (g.sig - 1);
  tl_unblocked = false;
  if (sys::thread_sigmask(SIG_BLOCK, nullptr, &cur) == 0 && (cur & bit)) {
    // Set first: a copy the program sent to the process, pending, is
    // delivered here as the unblock returns, and the handler must see that
    // the program blocks it on this thread (it queues it back), not run the
    // program's default action (the process died of it).
    tl_unblocked = true;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    sys::thread_sigmask(SIG_UNBLOCK, &bit, nullptr);
  }
  // Publishes the slot (pairs with stall_main()'s acquire load of state),
  // then the store-load handshake with stall_main(): bump g_seq (pairs with
  // its g_seq load before the scan), load g_next_wake (pairs with its store
  // before it sleeps); wake it only when this deadline comes first.
  s.state.store(kArmed, std::memory_order_seq_cst);
  g_seq.fetch_add(1, std::memory_order_seq_cst);
  if (deadline_ns < g_next_wake.load(std::memory_order_seq_cst)) sys::futex_wake(&g_seq, 1);
  return true;
}

bool stall_disarm() noexcept {
  int i = tl_slot;
  if (i < 0) return false;
  Slot& s = g_slots[i];
  int st = s.state.load(std::memory_order_acquire);
  if (st != kArmed && st != kSending) return false;
  for (;;) {
    st = kArmed;
    if (s.state.compare_exchange_weak(st, kClaimed, std::memory_order_acq_rel)) break;
    sys::sched_yield();  // the stall thread is sending: a few instructions
  }
  bool fired = s.fired.load(std::memory_order_relaxed);
  s.state.store(kFree, std::memory_order_release);
  if (tl_unblocked) {
    uint64_t bit = 1ull << (g.sig - 1);
    sys::thread_sigmask(SIG_BLOCK, &bit, nullptr);
    tl_unblocked = false;
  }
  return fired;
}

bool stall_signal_ours(bool* in_call) noexcept {
  uint32_t n = tl_owed.load(std::memory_order_relaxed);
  while (n > 0) {
    if (tl_owed.compare_exchange_weak(n, n - 1, std::memory_order_relaxed)) {
      ++tl_taken;
      if (in_call) {
        // The slot may have been freed and taken by another thread since.
        const Slot* sl = tl_slot >= 0 ? &g_slots[tl_slot] : nullptr;
        *in_call = sl && sl->state.load(std::memory_order_relaxed) >= kArmed &&
                   sl->tid.load(std::memory_order_relaxed) == tl_tid;
      }
      return true;
    }
  }
  return false;
}

uint32_t stall_signals_taken() noexcept { return tl_taken; }

bool stall_unblocked_here() noexcept { return tl_unblocked; }

void stall_abandon() noexcept {
  tl_unblocked = false;  // siglongjmp restored the program's mask
  stall_disarm();
}

}  // namespace iowq::shim
