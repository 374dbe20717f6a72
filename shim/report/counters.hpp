// shim/report/counters.hpp — the shim's live counters, bumped by the interposers and
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
  Write,
  Read,
  Pwrite,
  Pread,
  Pwrite64,
  Pread64,
  Writev,
  Readv,
  Pwritev,
  Preadv,
  Pwritev2,
  Preadv2,
  Send,
  Sendto,
  Sendmsg,
  Recv,
  Recvfrom,
  Recvmsg,
  ReadChk,
  PreadChk,
  Pread64Chk,
  RecvChk,
  RecvfromChk,
  Connect,
  Accept,
  Accept4,
  Sendmmsg,
  Recvmmsg,
  // The blocking file calls (docs/design.md §4), bound work keyed by the file.
  Fsync,
  Fdatasync,
  SyncFileRange,
  Fallocate,
  PosixFallocate,
  CopyFileRange,
  Sendfile,
  Splice,
  Tee,
  kCount
};
constexpr int kSymCount = static_cast<int>(Sym::kCount);

// The libc symbol name of each Sym ("write", ..., "__recvfrom_chk").
extern const char* const kSymNames[];

// Where a call ran. Pool: executed by a pool worker (or taken by
// write-behind, whose pool worker writes it); reported as "routed", the
// report's fixed name. Inline: handled by the shim in the calling thread.
// Passthrough: the shim did not handle it (fd kind not routed, O_NONBLOCK,
// disabled, nested, arguments libc rejects).
enum class Ran : uint8_t { Pool, Inline, Passthrough };
constexpr int kRanCount = 3;

struct Counters {
  std::atomic<uint64_t> calls[kSymCount][kRanCount];
  std::atomic<uint64_t> stall_timeouts, cancel_running, cancel_pending;
  std::atomic<uint64_t> wb_writes, wb_bytes, wb_syscalls, wb_deferred_errors, wb_pending_bytes,
      wb_peak_pending_bytes, wb_shared_off, wb_sigsys_off, wb_net_traps, wb_space_plain;
  iowq::Histogram caller_ns;      // caller-observed latency of calls run on the pool
  iowq::Histogram file_calls_ns;  // caller-observed latency of the blocking file calls
};

extern Counters g_counters;

// Per-thread call counts: a shared counter line bounced between cores costs
// more than the whole passthrough path, so each thread bumps its own block
// (claimed once, kept after the thread exits; threads past kCallBlocks share
// the last one). fold_call_blocks() adds them into g_counters for the report.
struct CallBlock {
  std::atomic<uint64_t> calls[kSymCount][kRanCount];
};
constexpr int kCallBlocks = 512;
extern CallBlock g_call_blocks[kCallBlocks];
extern constinit thread_local CallBlock* tl_calls __attribute__((tls_model("initial-exec")));
CallBlock* claim_call_block() noexcept;
void fold_call_blocks(Counters& c) noexcept;

inline void count(Sym s, Ran r) noexcept {
  CallBlock* b = tl_calls;
  if (__builtin_expect(b == nullptr, 0)) b = claim_call_block();
  auto& c = b->calls[static_cast<int>(s)][static_cast<int>(r)];
  // A thread's own block has one writer: a plain increment (a signal handler
  // interrupting it on the same thread may lose one count). The shared
  // overflow block needs the locked add.
  if (__builtin_expect(b == &g_call_blocks[kCallBlocks - 1], 0))
    c.fetch_add(1, std::memory_order_relaxed);
  else
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// Zero every counter (e.g. in a fork child, whose report is its own).
void reset_counters(Counters& c) noexcept;

}  // namespace iowq::shim
