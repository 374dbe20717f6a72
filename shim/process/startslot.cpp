// shim/process/startslot.cpp — see startslot.hpp.
#include "startslot.hpp"

#include <stdlib.h>

#include <new>

namespace iowq::shim::process {

namespace {
constexpr int kSlots = 64;
constinit StartSlot g_slots[kSlots];
}  // namespace

StartSlot* start_slot_take(AnyFn fn, void* arg, bool flag) noexcept {
  StartSlot* s = nullptr;
  for (StartSlot& t : g_slots) {
    bool free_slot = false;
    if (!t.busy.load(std::memory_order_relaxed) &&
        t.busy.compare_exchange_strong(free_slot, true, std::memory_order_acquire)) {
      s = &t;
      break;
    }
  }
  if (!s) {
    void* m = malloc(sizeof(StartSlot));
    if (!m) return nullptr;
    s = new (m) StartSlot();
    s->heap = true;
  }
  s->fn = fn;
  s->arg = arg;
  s->flag = flag;
  return s;
}

StartCopy start_slot_read(StartSlot* s, bool may_free) noexcept {
  const StartCopy c{s->fn, s->arg, s->flag};
  if (!s->heap) {
    s->busy.store(false, std::memory_order_release);
  } else if (may_free) {
    free(s);
  }
  return c;
}

void start_slot_drop(StartSlot* s) noexcept { start_slot_read(s, true); }

}  // namespace iowq::shim::process
