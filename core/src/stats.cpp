// core/src/stats.cpp — lock-free log2 histogram.
#include "iowq/stats.hpp"

namespace iowq {
namespace {
int bucket_of(uint64_t ns) noexcept {
  return ns == 0                                           ? 0
         : 64 - __builtin_clzll(ns) >= Histogram::kBuckets ? Histogram::kBuckets - 1
                                                           : 64 - __builtin_clzll(ns);
}
}  // namespace

void Histogram::record(uint64_t ns) noexcept {
  b_[static_cast<size_t>(bucket_of(ns))].fetch_add(1, std::memory_order_relaxed);
}

uint64_t Histogram::count() const noexcept {
  uint64_t n = 0;
  for (auto& b : b_) n += b.load(std::memory_order_relaxed);
  return n;
}

void Histogram::merge_into(std::array<uint64_t, kBuckets>& out) const noexcept {
  for (size_t i = 0; i < out.size(); ++i) out[i] += b_[i].load(std::memory_order_relaxed);
}

void Histogram::reset() noexcept {
  for (auto& b : b_) b.store(0, std::memory_order_relaxed);
}

uint64_t Histogram::percentile(double p) const noexcept {
  std::array<uint64_t, kBuckets> a{};
  merge_into(a);
  return percentile_of(a, p);
}

// Bucket i >= 1 covers [2^(i-1), 2^i); interpolate linearly inside it.
uint64_t Histogram::percentile_of(const std::array<uint64_t, kBuckets>& b, double p) noexcept {
  uint64_t total = 0;
  for (auto v : b) total += v;
  if (total == 0) return 0;
  if (p < 0) p = 0;
  if (p > 100) p = 100;
  double rank = p / 100.0 * static_cast<double>(total);
  double seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    if (b[static_cast<size_t>(i)] == 0) continue;
    double next = seen + static_cast<double>(b[static_cast<size_t>(i)]);
    if (rank <= next) {
      if (i == 0) return 0;
      double lo = static_cast<double>(1ull << (i - 1)), hi = lo * 2;
      double frac = (rank - seen) / static_cast<double>(b[static_cast<size_t>(i)]);
      return static_cast<uint64_t>(lo + (hi - lo) * frac);
    }
    seen = next;
  }
  return 1ull << (kBuckets - 2);
}

}  // namespace iowq
