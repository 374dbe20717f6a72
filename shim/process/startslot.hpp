// shim/process/startslot.hpp — a start routine and its argument on their way
// to a new thread, in a fixed table instead of malloc'ed memory.
//
// A thread's first malloc or free gives it a glibc arena: 128 MiB mapped and
// the unaligned 64 MiB of it unmapped a moment later. Done on a thread the
// program would never have malloc on (its own threads that never call
// malloc, the shim's threads), the program sees its address space grow and
// shrink under it: a limit it set from /proc/self/statm in between leaves it
// room it would not have had (conformance class wb-rlimit-as-thread-room,
// tests/contract/vm_steady.c; docs/design.md §4 "Malloc arenas"). So the
// new thread only reads a slot here.
#pragma once

#include <atomic>

namespace iowq::shim::process {

using AnyFn = void (*)();

struct StartSlot {
  std::atomic<bool> busy{false};
  bool heap = false;  // malloc'ed: every slot of the table was taken
  bool flag = false;  // the creator's own bit
  AnyFn fn = nullptr;
  void* arg = nullptr;
};

// A free slot filled with fn, arg and flag; when the table is full (more
// than 64 threads being born at once) a malloc'ed one; nullptr when even
// that fails.
StartSlot* start_slot_take(AnyFn fn, void* arg, bool flag = false) noexcept;

// What the new thread reads, first thing; the slot is free again. A
// malloc'ed slot is freed when may_free (a sandboxed thread leaves it: its
// free could map memory, a system call its filter may deny).
struct StartCopy {
  AnyFn fn;
  void* arg;
  bool flag;
};
StartCopy start_slot_read(StartSlot* s, bool may_free = true) noexcept;

// The thread was not made: the creator gives the slot back.
void start_slot_drop(StartSlot* s) noexcept;

template <typename F>
AnyFn any_fn(F* f) noexcept {
  return reinterpret_cast<AnyFn>(f);
}
template <typename F>
F* fn_as(AnyFn f) noexcept {
  return reinterpret_cast<F*>(f);
}

}  // namespace iowq::shim::process
