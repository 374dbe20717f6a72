// shim/report/counters.cpp — the global counter instance and the symbol name table.
#include "counters.hpp"

namespace iowq::shim {

const char* const kSymNames[] = {
    "write",
    "read",
    "pwrite",
    "pread",
    "pwrite64",
    "pread64",
    "writev",
    "readv",
    "pwritev",
    "preadv",
    "pwritev2",
    "preadv2",
    "send",
    "sendto",
    "sendmsg",
    "recv",
    "recvfrom",
    "recvmsg",
    "__read_chk",
    "__pread_chk",
    "__pread64_chk",
    "__recv_chk",
    "__recvfrom_chk",
    "connect",
    "accept",
    "accept4",
    "sendmmsg",
    "recvmmsg",
    "fsync",
    "fdatasync",
    "sync_file_range",
    "fallocate",
    "posix_fallocate",
    "copy_file_range",
    "sendfile",
    "splice",
    "tee",
};
static_assert(sizeof(kSymNames) / sizeof(kSymNames[0]) == kSymCount, "one name per Sym");

// Constant-initialised (atomics and Histogram have constexpr constructors), so
// it is usable before any constructor of the shim runs.
constinit Counters g_counters{};

CallBlock g_call_blocks[kCallBlocks];
constinit thread_local CallBlock* tl_calls __attribute__((tls_model("initial-exec"))) = nullptr;
static std::atomic<int> g_call_blocks_used{0};

CallBlock* claim_call_block() noexcept {
  int i = g_call_blocks_used.fetch_add(1, std::memory_order_relaxed);
  tl_calls = &g_call_blocks[i < kCallBlocks - 1 ? i : kCallBlocks - 1];
  return tl_calls;
}

// Blocks [0, n) have been handed out; the rest were never written. Touching
// those would fault in their (zero) pages for nothing: ~280 KB in a fork child.
static int call_blocks_in_use() noexcept {
  int n = g_call_blocks_used.load(std::memory_order_relaxed);
  return n < kCallBlocks ? n : kCallBlocks;
}

void fold_call_blocks(Counters& c) noexcept {
  for (int i = 0, n = call_blocks_in_use(); i < n; ++i) {
    CallBlock& b = g_call_blocks[i];
    for (int s = 0; s < kSymCount; ++s)
      for (int r = 0; r < kRanCount; ++r) {
        uint64_t v = b.calls[s][r].exchange(0, std::memory_order_relaxed);
        if (v) c.calls[s][r].fetch_add(v, std::memory_order_relaxed);
      }
  }
}

// Stores zero only where a count is not zero already: in a fork child every
// store to a page still shared with the parent costs a page copy.
static void clear(std::atomic<uint64_t>& a) noexcept {
  if (a.load(std::memory_order_relaxed)) a.store(0, std::memory_order_relaxed);
}

void reset_counters(Counters& c) noexcept {
  for (int i = 0, n = call_blocks_in_use(); i < n; ++i)
    for (auto& s : g_call_blocks[i].calls)
      for (auto& r : s) clear(r);
  for (auto& s : c.calls)
    for (auto& r : s) clear(r);
  for (auto* a : {&c.stall_timeouts, &c.cancel_running, &c.cancel_pending, &c.wb_writes, &c.wb_bytes,
                  &c.wb_syscalls, &c.wb_deferred_errors, &c.wb_pending_bytes, &c.wb_peak_pending_bytes,
                  &c.wb_shared_off, &c.wb_sigsys_off, &c.wb_net_traps, &c.wb_space_plain})
    clear(*a);
  if (c.caller_ns.count()) c.caller_ns.reset();
  if (c.file_calls_ns.count()) c.file_calls_ns.reset();
}

}  // namespace iowq::shim
