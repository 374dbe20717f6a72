// tests/core/stats_test.cpp — Histogram percentiles and Pool counters.
//
// Contract (iowq/stats.hpp): bucket i of the histogram holds [2^(i-1), 2^i)
// ns; a percentile lies inside the bucket that holds it, estimated by linear
// interpolation; 0 when empty; recording is lock-free from any thread.
// Stats counters after a known workload are exact: submitted, completed per
// class, cancels by kind, workers created/alive/max_alive within the caps,
// and worker_tids() lists every worker created.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "test_util.hpp"

namespace {

using iowq::CancelResult;
using iowq::Class;
using iowq::Histogram;
using iowq::Work;
using namespace iowq_test;

// ---- Histogram --------------------------------------------------------------

TEST(Histogram, EmptyIsZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(0), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.percentile(100), 0u);
  std::array<uint64_t, Histogram::kBuckets> b{};
  EXPECT_EQ(Histogram::percentile_of(b, 99), 0u);
}

TEST(Histogram, SingleValueStaysInItsBucket) {
  Histogram h;
  for (int i = 0; i < 1000; ++i) h.record(4096);  // bucket [4096, 8192)
  EXPECT_EQ(h.count(), 1000u);
  for (double p : {0.0, 1.0, 50.0, 99.0, 100.0}) {
    uint64_t v = h.percentile(p);
    EXPECT_GE(v, 4096u) << "p" << p;
    EXPECT_LE(v, 8192u) << "p" << p;
  }
  std::array<uint64_t, Histogram::kBuckets> b{};
  h.merge_into(b);
  EXPECT_EQ(b[13], 1000u) << "4096 = 2^12 belongs to bucket 13 = [2^12, 2^13)";
  EXPECT_EQ(std::accumulate(b.begin(), b.end(), uint64_t(0)), 1000u);
}

TEST(Histogram, BucketBoundaries) {
  Histogram h;
  h.record(0);
  h.record(1);
  h.record(2);
  h.record(3);
  h.record(1023);
  h.record(1024);
  std::array<uint64_t, Histogram::kBuckets> b{};
  h.merge_into(b);
  EXPECT_EQ(b[0], 1u) << "0";
  EXPECT_EQ(b[1], 1u) << "[1, 2)";
  EXPECT_EQ(b[2], 2u) << "[2, 4)";
  EXPECT_EQ(b[10], 1u) << "[512, 1024)";
  EXPECT_EQ(b[11], 1u) << "[1024, 2048)";
}

TEST(Histogram, UniformDataPercentiles) {
  Histogram h;
  for (uint64_t v = 1; v <= 1000; ++v) h.record(v);
  EXPECT_EQ(h.count(), 1000u);
  const uint64_t p50 = h.percentile(50), p90 = h.percentile(90), p99 = h.percentile(99);
  // Inside the right bucket...
  EXPECT_GE(p50, 256u);
  EXPECT_LE(p50, 512u);
  EXPECT_GE(p90, 512u);
  EXPECT_LE(p90, 1024u);
  EXPECT_GE(p99, 512u);
  EXPECT_LE(p99, 1024u);
  // ...and interpolated, not just a bucket edge (true values 500, 900, 990).
  EXPECT_NEAR(double(p50), 500.0, 50.0);
  EXPECT_NEAR(double(p90), 900.0, 90.0);
  EXPECT_NEAR(double(p99), 990.0, 99.0);
  // Monotone in p.
  uint64_t prev = 0;
  for (double p = 0; p <= 100; p += 0.5) {
    uint64_t v = h.percentile(p);
    EXPECT_GE(v, prev) << "p" << p;
    prev = v;
  }
  EXPECT_LE(h.percentile(100), 1024u);
  EXPECT_LE(h.percentile(0), 2u);
}

TEST(Histogram, TwoClusters) {
  Histogram h;
  for (int i = 0; i < 90; ++i) h.record(100);      // [64, 128)
  for (int i = 0; i < 10; ++i) h.record(1000000);  // [2^19, 2^20)
  EXPECT_GE(h.percentile(50), 64u);
  EXPECT_LE(h.percentile(50), 128u);
  EXPECT_GE(h.percentile(95), 524288u);
  EXPECT_LE(h.percentile(95), 1048576u);
}

TEST(Histogram, MergeResetAndExtremes) {
  Histogram h;
  for (uint64_t v = 1; v <= 5000; v += 7) h.record(v * 13);
  std::array<uint64_t, Histogram::kBuckets> b{};
  h.merge_into(b);
  EXPECT_EQ(std::accumulate(b.begin(), b.end(), uint64_t(0)), h.count());
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9})
    EXPECT_EQ(Histogram::percentile_of(b, p), h.percentile(p)) << "p" << p;
  // merge_into adds.
  h.merge_into(b);
  EXPECT_EQ(std::accumulate(b.begin(), b.end(), uint64_t(0)), 2 * h.count());
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  // Huge values land in the last bucket instead of overflowing.
  h.record(1ull << 62);
  h.record(~0ull);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_GE(h.percentile(100), 1ull << 62);
  std::array<uint64_t, Histogram::kBuckets> c{};
  h.merge_into(c);
  EXPECT_EQ(c[Histogram::kBuckets - 1], 2u);
}

TEST(Histogram, ConcurrentRecordLosesNothing) {
  Histogram h;
  constexpr int kThreads = 4, kPer = 50000;
  std::vector<std::thread> th;
  for (int t = 0; t < kThreads; ++t)
    th.emplace_back([&h, t] {
      for (int i = 0; i < kPer; ++i) h.record(uint64_t(i * (t + 1)));
    });
  for (auto& x : th) x.join();
  EXPECT_EQ(h.count(), uint64_t(kThreads) * kPer);
}

// ---- Pool counters -----------------------------------------------------------

void quick_fn(Work* w) {
  spin(100);
  w->result = 1;
}

TEST(Stats, CountersAfterKnownWorkload) {
  Watchdog wd(30, "Stats.CountersAfterKnownWorkload");
  constexpr int kBoundItems = 100;
  iowq::Pool pool(make_opts(2, 1));
  ASSERT_EQ(pool.start(), 0);
  iowq::Stats st0 = pool.stats();
  EXPECT_EQ(st0.submitted, 0u);
  EXPECT_EQ(st0.bound.completed + st0.unbound.completed, 0u);

  // 100 bound items, waited for.
  std::vector<std::unique_ptr<Work>> items;
  for (int i = 0; i < kBoundItems; ++i) {
    items.push_back(std::make_unique<Work>());
    items.back()->fn = quick_fn;
    items.back()->hashed = i % 2 == 0;
    items.back()->key = uint64_t(i % 5);
    ASSERT_EQ(pool.submit(items.back().get()), 0);
  }
  for (auto& w : items) ASSERT_EQ(pool.wait(w.get()), 0);

  // Unbound, cap 1: a running blocker and a pending victim; cancel both.
  BlockingItem blocker(Class::Unbound);
  Work victim;
  victim.fn = quick_fn;
  victim.cls = Class::Unbound;
  HangupOnExit guard{&blocker.sp};
  ASSERT_EQ(pool.submit(&blocker.w), 0);
  ASSERT_TRUE(blocker.wait_started());
  ASSERT_EQ(pool.submit(&victim), 0);
  EXPECT_EQ(pool.cancel(&victim), CancelResult::Ok);
  EXPECT_EQ(pool.cancel(&blocker.w), CancelResult::Running);
  ASSERT_EQ(pool.wait(&blocker.w), 0);
  ASSERT_EQ(pool.wait(&victim), 0);
  Work unknown;
  EXPECT_EQ(pool.cancel(&unknown), CancelResult::NotFound);

  // Counters may be published just after completion: poll briefly.
  const uint64_t want_bound = kBoundItems, want_unbound = 1;  // the victim never ran
  EXPECT_TRUE(poll_until(
      [&] {
        iowq::Stats s = pool.stats();
        return s.bound.completed == want_bound && s.unbound.completed == want_unbound;
      },
      2000));
  iowq::Stats st = pool.stats();
  EXPECT_EQ(st.submitted, uint64_t(kBoundItems) + 2);
  EXPECT_EQ(st.bound.completed, want_bound);
  EXPECT_EQ(st.unbound.completed, want_unbound) << "completed counts items run by a worker";
  EXPECT_EQ(st.cancel_pending, 1u);
  EXPECT_EQ(st.cancel_running, 1u);
  EXPECT_EQ(st.deadline_cancels, 0u);
  EXPECT_GE(st.signals_sent, 1u);

  EXPECT_GE(st.bound.created, 1u);
  EXPECT_LE(st.bound.max_alive, 2u);
  EXPECT_LE(st.bound.alive, st.bound.max_alive);
  EXPECT_LE(st.bound.max_alive, st.bound.created);
  EXPECT_EQ(st.unbound.created, 1u);
  EXPECT_EQ(st.unbound.max_alive, 1u);
  EXPECT_LE(st.unbound.alive, 1u);

  const uint64_t service_n = std::accumulate(st.service.begin(), st.service.end(), uint64_t(0));
  const uint64_t queue_n = std::accumulate(st.queue_wait.begin(), st.queue_wait.end(), uint64_t(0));
  EXPECT_GE(service_n, uint64_t(kBoundItems)) << "service time recorded per item run";
  EXPECT_LE(service_n, st.bound.completed + st.unbound.completed);
  EXPECT_GE(queue_n, uint64_t(kBoundItems));
  EXPECT_LE(queue_n, st.submitted);
  EXPECT_LE(st.service_p50_ns, st.service_p99_ns);
  EXPECT_LE(st.queue_wait_p50_ns, st.queue_wait_p99_ns);
  EXPECT_GT(st.service_p99_ns, 0u);
  EXPECT_EQ(st.service_p50_ns, Histogram::percentile_of(st.service, 50));
  EXPECT_EQ(st.service_p99_ns, Histogram::percentile_of(st.service, 99));
  EXPECT_EQ(st.queue_wait_p99_ns, Histogram::percentile_of(st.queue_wait, 99));

  std::vector<int> tids = pool.worker_tids();
  ASSERT_FALSE(tids.empty());
  EXPECT_EQ(tids.size(), st.bound.created + st.unbound.created);
  EXPECT_EQ(std::set<int>(tids.begin(), tids.end()).size(), tids.size()) << "duplicate tids";
  for (int t : tids) EXPECT_GT(t, 0);
  EXPECT_TRUE(std::find(tids.begin(), tids.end(), blocker.tid.load()) != tids.end());
}

TEST(Stats, DeadlineAndSubmittedCounts) {
  Watchdog wd(30, "Stats.DeadlineAndSubmittedCounts");
  BlockingItem b(Class::Unbound);
  iowq::Pool pool(make_opts(1, 1));
  HangupOnExit guard{&b.sp};
  ASSERT_EQ(pool.start(), 0);
  b.w.deadline_ns = now_ns() + 20000000ull;
  ASSERT_EQ(pool.submit(&b.w), 0);
  ASSERT_EQ(pool.wait(&b.w), 0);
  EXPECT_TRUE(b.w.timed_out());
  iowq::Stats st = pool.stats();
  EXPECT_EQ(st.deadline_cancels, 1u);
  EXPECT_EQ(st.submitted, 1u);
  // Running when the deadline passed: its worker was signalled. On a loaded
  // machine the worker may not have started it yet: then it expired pending.
  if (b.started.load())
    EXPECT_GE(st.signals_sent, 1u);
  else
    EXPECT_EQ(b.w.result, -ECANCELED);
  // A refused submit is not counted.
  pool.shutdown();
  Work w;
  w.fn = quick_fn;
  EXPECT_EQ(pool.submit(&w), -EAGAIN);
  EXPECT_EQ(pool.stats().submitted, 1u);
}

}  // namespace
