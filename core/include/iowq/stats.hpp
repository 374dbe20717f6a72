// iowq/stats.hpp — counters a Pool keeps for reports.
//
// Histogram: log2 buckets of nanoseconds, lock-free (relaxed atomic adds),
// safe to record from any thread including a signal handler. Percentiles are
// estimated by linear interpolation inside the bucket that holds them.
//
// Thread safety: every Histogram member may be called concurrently. Memory
// ordering: relaxed throughout. No other data is published through a
// bucket, so a reader needs only each bucket's own value; a read concurrent
// with record() may see a total that is one sample behind in any bucket.
// reset() concurrent with record() may lose that sample. Stats and
// ClassStats are plain values (a copy taken by Pool::stats()).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace iowq {

class Histogram {
 public:
  static constexpr int kBuckets = 64;  // bucket i holds [2^(i-1), 2^i) ns
  void record(uint64_t ns) noexcept;
  uint64_t count() const noexcept;
  // p in [0, 100]. 0 when empty.
  uint64_t percentile(double p) const noexcept;
  void merge_into(std::array<uint64_t, kBuckets>& out) const noexcept;
  void reset() noexcept;
  static uint64_t percentile_of(const std::array<uint64_t, kBuckets>& b, double p) noexcept;

 private:
  std::array<std::atomic<uint64_t>, kBuckets> b_{};
};

struct ClassStats {
  uint64_t created = 0;    // workers ever created
  uint64_t alive = 0;      // workers alive now
  uint64_t max_alive = 0;  // most alive at once
  uint64_t completed = 0;  // items completed by a worker
};

struct Stats {
  ClassStats bound, unbound;  // summed over nodes
  uint64_t submitted = 0;
  uint64_t cancel_pending = 0;    // cancels that found pending work (Ok)
  uint64_t cancel_running = 0;    // cancels that found running work (Running)
  uint64_t deadline_cancels = 0;  // items cancelled by their deadline
  uint64_t signals_sent = 0;      // cancel signals sent to workers
  uint64_t queue_wait_p50_ns = 0, queue_wait_p99_ns = 0;
  uint64_t service_p50_ns = 0, service_p99_ns = 0;
  std::array<uint64_t, Histogram::kBuckets> queue_wait{}, service{};
};

}  // namespace iowq
