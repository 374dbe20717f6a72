// tools/bench/bench_util.hpp — shared pieces of iowq-bench-core.
//
// Contract: every round-trip benchmark writes 4 KiB with pwrite at offset 0 of
// a pre-sized temp file (page cache, no fdatasync), one op = submit ->
// completion as seen by the calling thread. Each benchmark
//   * times every op with clock_gettime(CLOCK_MONOTONIC) into a Recorder,
//   * measures process CPU (all threads, getrusage(RUSAGE_SELF)) around the
//     loop, because spinning workers burn CPU the caller's cpu_time misses,
//   * publishes the counters p50_ns, p99_ns and proc_cpu_ns_per_op.
// The temp file lives in $IOWQ_BENCH_DIR, else $TMPDIR, else /tmp.
#pragma once

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace iowq_bench {

constexpr size_t kOpBytes = 4096;

inline uint64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

inline uint64_t proc_cpu_ns() noexcept {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return uint64_t(t.tv_sec) * 1000000000u + uint64_t(t.tv_usec) * 1000u; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

// A pre-sized temp file (unlinked at once: only the fd keeps it) and an
// aligned 4 KiB buffer to write from.
class TempFile {
 public:
  TempFile() {
    const char* dir = std::getenv("IOWQ_BENCH_DIR");
    if (!dir || !*dir) dir = std::getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    std::string path = std::string(dir) + "/iowq-bench-core.XXXXXX";
    fd_ = mkstemp(path.data());
    if (fd_ < 0) return;
    unlink(path.c_str());
    if (ftruncate(fd_, 1 << 20) != 0) {
      close(fd_);
      fd_ = -1;
      return;
    }
    std::memset(buf_, 'x', sizeof buf_);
    // Fault the page into the page cache once so every op is the same.
    if (pwrite(fd_, buf_, kOpBytes, 0) != ssize_t(kOpBytes)) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~TempFile() {
    if (fd_ >= 0) close(fd_);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  bool ok() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }
  char* buf() noexcept { return buf_; }

 private:
  int fd_ = -1;
  alignas(4096) char buf_[kOpBytes];
};

// Per-op latency samples plus process CPU over the measured loop.
class Recorder {
 public:
  explicit Recorder(benchmark::State& st) : st_(st) {
    samples_.reserve(1 << 16);
    cpu0_ = proc_cpu_ns();
  }
  void add(uint64_t ns) { samples_.push_back(ns); }

  // Call once, after the loop: computes percentiles and sets the counters.
  void publish() {
    uint64_t cpu = proc_cpu_ns() - cpu0_;
    size_t n = samples_.size();
    if (n == 0) return;
    std::sort(samples_.begin(), samples_.end());
    auto pct = [&](double p) { return double(samples_[std::min(n - 1, size_t(p * double(n - 1) + 0.5))]); };
    st_.counters["p50_ns"] = pct(0.50);
    st_.counters["p99_ns"] = pct(0.99);
    st_.counters["proc_cpu_ns_per_op"] = double(cpu) / double(n);
  }

 private:
  benchmark::State& st_;
  std::vector<uint64_t> samples_;
  uint64_t cpu0_;
};

// The loop every system shares: `op()` returns the byte count (or <0).
template <class Op>
void run_round_trips(benchmark::State& st, Op&& op) {
  Recorder rec(st);
  for (auto _ : st) {
    uint64_t t0 = now_ns();
    long r = op();
    uint64_t t1 = now_ns();
    if (r != long(kOpBytes)) {
      st.SkipWithError(("op returned " + std::to_string(r)).c_str());
      break;
    }
    rec.add(t1 - t0);
  }
  rec.publish();
  st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(kOpBytes));
}

}  // namespace iowq_bench
