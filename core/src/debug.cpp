// core/src/debug.cpp — the failure path of IOWQ_CHECK, and the checks of the
// pool's dispatch state that need more than one expression (see debug.hpp).
#include "debug.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "internal.hpp"
#include "iowq/sys.hpp"

namespace iowq::detail {

void check_failed(const char* what, const char* expr, const char* file, int line) noexcept {
  // No stdio, no allocation: the check may fire in submit() inside a signal
  // handler, or with the pool's lock held.
  char num[16];
  int n = 0;
  unsigned v = line > 0 ? static_cast<unsigned>(line) : 0;
  do num[sizeof num - 1 - n++] = static_cast<char>('0' + v % 10);
  while ((v /= 10) && n < 15);
  const char* parts[] = {"iowq: invariant failed: ", what, ": ", expr, " (", file, ":",
                         num + sizeof num - n,       ")\n"};
  size_t lens[] = {0, 0, 0, 0, 0, 0, 0, static_cast<size_t>(n), 0};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; ++i) {
    size_t len = lens[i] ? lens[i] : strlen(parts[i]);
    sys::write_all(2, parts[i], len);
  }
  abort();
}

}  // namespace iowq::detail

namespace iowq {

namespace detail {

#if IOWQ_DEBUG_ON
namespace {
// Walks at most this many list entries or keys per check, so a debug build of
// a test with thousands of queued items stays linear-ish; the O(1) list checks
// run on every operation regardless.
constexpr size_t kCheckWalk = 128;
}  // namespace
#endif

void check_class_locked([[maybe_unused]] const ClassPool& c) noexcept {
#if IOWQ_DEBUG_ON
  IOWQ_CHECK(c.ready.size + c.spill.size <= static_cast<size_t>(c.inflight.load(std::memory_order_relaxed)),
             "queued items are counted in the class's in-flight count");
  // Ready list: pending items; a hashed one is its key's first, key idle.
  if (c.ready.size <= kCheckWalk) {
    size_t n = 0;
    const Work* last = nullptr;
    for (const Work* w = c.ready.head; w; w = w->next, ++n) {
      IOWQ_CHECK(n < c.ready.size && w->prev == last, "ready list links agree with its size");
      uint32_t st = w->state.load(std::memory_order_relaxed);
      IOWQ_CHECK((st & Work::kQueued) && !(st & Work::kRunning), "ready items are pending");
      if (w->hashed) {
        auto it = c.keys.find(w->key);
        IOWQ_CHECK(it != c.keys.end() && it->second.first == w && !it->second.running,
                   "a hashed ready item is its key's first and the key is idle");
      }
      last = w;
    }
    IOWQ_CHECK(n == c.ready.size && c.ready.tail == last, "ready list links agree with its size");
  }
  for (const Work* w = c.spill.head; w && c.spill.size <= kCheckWalk; w = w->next)
    IOWQ_CHECK(w->hashed && (w->flags.load(std::memory_order_relaxed) & kSpilled),
               "spilled items are hashed and flagged kSpilled");
  // Key states: a key is either waiting to start (first in ready) or running
  // on one worker, never both, never neither (it is erased then).
  if (c.keys.size() <= kCheckWalk) {
    size_t budget = kCheckWalk;  // waiting items looked at, over all keys
    for (const auto& kv : c.keys) {
      const KeyState& ks = kv.second;
      IOWQ_CHECK(ks.running != (ks.first != nullptr),
                 "a key state is either running or has a first item, not both");
      IOWQ_CHECK(!ks.first || (ks.first->key == kv.first && ks.first->hashed),
                 "a key's first item has that key");
      size_t n = 0;
      for (const Work* w = ks.waiting.head; w && budget; w = w->next, ++n, --budget)
        IOWQ_CHECK(n < ks.waiting.size && w->hashed && w->key == kv.first,
                   "a key's waiting list holds only that key's items");
    }
  }
  // Workers: each runs at most one item, that item knows it, a hashed one
  // has its key marked running, and no two workers run the same key.
  // Idle and listed workers are counted in `alive`, which never exceeds the
  // cap. (alive only drops under this lock; idle counts are read first.)
  // Each idle counter is checked on its own: read one after the other, a
  // worker moving from spinning to sleeping between the reads is in both,
  // so their sum may exceed alive by design.
  int spinners = c.spinners.load(std::memory_order_relaxed);
  int sleepers = c.sleepers.load(std::memory_order_relaxed);
  int listed = 0;
  for (const Worker* wk = c.workers; wk; wk = wk->next, ++listed) {
    const Work* w = wk->cur;
    if (!w) continue;
    IOWQ_CHECK(w->worker == wk && (w->state.load(std::memory_order_relaxed) & Work::kRunning),
               "a worker's current item is running on that worker");
    if (!w->hashed) continue;
    auto it = c.keys.find(w->key);
    IOWQ_CHECK(it != c.keys.end() && it->second.running, "a running hashed item's key is running");
    if (listed < static_cast<int>(kCheckWalk))
      for (const Worker* o = wk->next; o; o = o->next)
        IOWQ_CHECK(!o->cur || !o->cur->hashed || o->cur->key != w->key, "a key runs on one worker at a time");
  }
  int alive = c.alive.load(std::memory_order_relaxed);
  IOWQ_CHECK(spinners >= 0 && sleepers >= 0 && spinners <= alive && sleepers <= alive,
             "idle workers are alive: each idle count is between 0 and alive (under the node lock)");
  IOWQ_CHECK(listed <= alive && alive <= static_cast<int>(c.cap),
             "listed workers <= alive <= cap (under the node lock)");
  IOWQ_CHECK(c.starting.load(std::memory_order_relaxed) >= 0, "starting count is not negative");
#endif
}

void check_completing([[maybe_unused]] const Work* w, [[maybe_unused]] int64_t result) noexcept {
#if IOWQ_DEBUG_ON
  uint32_t st = w->state.load(std::memory_order_relaxed);
  uint32_t f = w->flags.load(std::memory_order_relaxed);
  IOWQ_CHECK(!(st & (Work::kDone | Work::kReleased)), "an item completes once");
  IOWQ_CHECK(!(f & kSpilled), "a completing item is in no dispatch list");
  // running -> done keeps kQueued until released; pending -> cancelled or
  // handed back was unlinked first (kQueued cleared).
  if (st & Work::kRunning) {
    IOWQ_CHECK(st & Work::kQueued, "a running item stays owned by the pool until it completes");
  } else {
    IOWQ_CHECK(!(st & Work::kQueued), "a pending item completes only after it was unlinked");
    IOWQ_CHECK(
        ((f & Work::kCancel) && result == -ECANCELED) || ((f & Work::kHandedBack) && result == -EAGAIN),
        "an item completed without running was cancelled (-ECANCELED) or handed back (-EAGAIN)");
  }
  IOWQ_CHECK(!(f & Work::kTimedOut) || (f & Work::kCancel), "timed out implies cancelled");
  IOWQ_CHECK(!(f & kSignalled) || ((f & Work::kCancel) && w->cls == Class::Unbound),
             "only cancelled unbound work is signalled");
  IOWQ_CHECK(!(f & Work::kHandedBack) || !(f & Work::kCancel), "a handed-back item was not cancelled");
#endif
}

}  // namespace detail

}  // namespace iowq
