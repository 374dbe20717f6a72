// shim/report/callsites.hpp — "which call sites blocked most": a fixed table of call
// stacks with how often and how long each blocked, for the exit report.
//
// Contract:
//  - callsites_init(depth) once, at shim init, from ordinary (non-signal)
//    context: it dlopen()s libunwind.so.8 RTLD_LOCAL (so none of libunwind's
//    names, `backtrace` and `_Unwind_*` included, enter the program's global
//    scope) and preallocates the table. If libunwind cannot be loaded it warns
//    once ("iowq: ...") and recording stays a no-op.
//  - callsites_record(ns) from any thread, also inside a signal handler: no
//    malloc, no locks of ours. It captures up to `depth` frames of the caller,
//    skipping the frames of the object this code is linked into when that
//    object is a shared library (the shim: interposers, routing), else just
//    its own frame, and adds 1 / `ns` to that stack's entry. When the table
//    is full the sample goes to an "other" entry. libunwind itself reads
//    unwind tables through dl_iterate_phdr on a cold PC, and may call
//    read/open/mincore through the PLT: call this with the shim's re-entry
//    guard held so those pass straight through.
//  - callsites_top(n) at exit (allocates): the n stacks that blocked longest,
//    frames symbolized "func+0xoff (lib.so)" (dladdr + demangling) or
//    "lib.so+0xoff" when no symbol is visible. The "other" entry, if any,
//    comes last with the single frame "[other]".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace iowq::shim {

constexpr unsigned kCallsiteMaxDepth = 32;
constexpr unsigned kCallsiteEntries = 4096;

void callsites_init(unsigned depth);
bool callsites_enabled() noexcept;
void callsites_record(uint64_t blocked_ns) noexcept;

struct Callsite {
  uint64_t count = 0, blocked_ns = 0;
  std::vector<std::string> frames;
};
std::vector<Callsite> callsites_top(unsigned n);

// Forget every entry (a fork child reports only its own calls). Not safe
// against concurrent callsites_record.
void callsites_reset() noexcept;

// Writes "func+0xoff (lib)" of the first caller frame outside the shim into
// out (NUL-terminated). False when call sites are off or none was found.
// Allocates: not for signal handlers.
bool callsites_caller(char* out, size_t n);

}  // namespace iowq::shim
