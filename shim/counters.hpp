// shim/counters.hpp — the shim's live counters, bumped by the interposers and
// read once by the exit report (report.hpp).
//
// Contract: one global instance, g_counters, in static storage (zero before
// any constructor runs, so calls made before the shim is initialised can
// count too). Every field is a relaxed atomic: bumping is lock-free,
// allocation-free and async-signal-safe. Readers see each field atomically
// but not the whole set as one snapshot, which is fine for a report.
#pragma once

#include <atomic>
#include <cstdint>

#include "iowq/stats.hpp"

namespace iowq::shim {

// Every interposed I/O entry point. Order is the report's order.
enum class Sym : uint8_t {
  Write, Read, Pwrite, Pread, Pwrite64, Pread64, Writev, Readv, Pwritev, Preadv,
  Pwritev2, Preadv2, Send, Sendto, Sendmsg, Recv, Recvfrom, Recvmsg, ReadChk, PreadChk, Pread64Chk,
  RecvChk, RecvfromChk, kCount
};
constexpr int kSymCount = static_cast<int>(Sym::kCount);

// The libc symbol name of each Sym ("write", ..., "__recvfrom_chk").
extern const char* const kSymNames[];

// Routed: executed by a pool worker. Inline: handled by the shim in the
// calling thread (auto mode decided it would not block). Passthrough: the
// shim did not handle it (fd kind not routed, O_NONBLOCK, disabled, nested).
enum class Route : uint8_t { Routed, Inline, Passthrough };
constexpr int kRouteCount = 3;

struct Counters {
  std::atomic<uint64_t> calls[kSymCount][kRouteCount];
  std::atomic<uint64_t> stall_timeouts, cancel_running, cancel_pending;
  std::atomic<uint64_t> wb_writes, wb_bytes, wb_syscalls, wb_deferred_errors, wb_pending_bytes,
      wb_peak_pending_bytes;
  iowq::Histogram caller_ns;  // caller-observed latency of routed calls
};

extern Counters g_counters;

inline void count(Sym s, Route r) noexcept {
  g_counters.calls[static_cast<int>(s)][static_cast<int>(r)].fetch_add(1, std::memory_order_relaxed);
}

// Zero every counter (e.g. in a fork child, whose report is its own).
void reset_counters(Counters& c) noexcept;

}  // namespace iowq::shim
