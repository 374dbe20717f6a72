// tests/core/pool_parallel_test.cpp — cross-key parallelism, same-key seriality.
//
// Contract (iowq/work.hpp): "Exact 64-bit comparison: distinct keys never
// serialize each other"; items with the same key run one at a time. Shown
// with items that block in recv() on a socketpair: two items of different keys
// must both be observed running before either is released; an item of the
// same key must not start while the first blocks, even though the pool has
// free workers (proved by running an unrelated item to completion meanwhile).
#include <gtest/gtest.h>

#include "test_util.hpp"

namespace {

using iowq::CancelResult;
using iowq::Class;
using iowq::Work;
using namespace iowq_test;

// Submits a and b, requires both to be running at the same time, releases
// them and checks both completed normally.
void expect_concurrent(iowq::Pool& pool, BlockingItem& a, BlockingItem& b) {
  ASSERT_EQ(pool.submit(&a.w), 0);
  ASSERT_EQ(pool.submit(&b.w), 0);
  bool both = poll_until([&] { return a.started.load() && b.started.load(); }, 5000);
  EXPECT_TRUE(both) << "key " << std::hex << a.w.key << " and key " << b.w.key
                    << " did not run in parallel (started: " << a.started.load() << ", " << b.started.load()
                    << ")";
  EXPECT_FALSE(a.returned.load());
  EXPECT_FALSE(b.returned.load());
  ASSERT_TRUE(a.release());
  ASSERT_TRUE(b.release());
  ASSERT_EQ(pool.wait(&a.w), 0);
  ASSERT_EQ(pool.wait(&b.w), 0);
  EXPECT_EQ(a.w.result, 1);
  EXPECT_EQ(b.w.result, 1);
  if (both) {
    EXPECT_NE(a.tid.load(), b.tid.load());
  }
}

struct KeyPair {
  uint64_t a, b;
  const char* what;
};

const KeyPair kPairs[] = {
    {0x1234, 0x1234 | (1ull << 63), "differ only in bit 63"},
    {0x1234, 0x1234 | (1ull << 32), "differ only in bit 32"},
    {0x0, 0x1ull << 62, "zero and bit 62"},
    {0xffffffffull, 0xffffffffull | (0xffull << 56), "differ only in the top byte"},
    {1, 2, "small neighbours"},
};

TEST(PoolParallel, DistinctKeysRunInParallelBound) {
  Watchdog wd(60, "PoolParallel.DistinctKeysRunInParallelBound");
  iowq::Pool pool(make_opts(2, 2));
  ASSERT_EQ(pool.start(), 0);
  ASSERT_GE(pool.cap(0, Class::Bound), 2u);
  for (const KeyPair& p : kPairs) {
    SCOPED_TRACE(p.what);
    BlockingItem a(Class::Bound, true, p.a), b(Class::Bound, true, p.b);
    HangupOnExit guard{&a.sp, &b.sp};
    expect_concurrent(pool, a, b);
    if (HasFatalFailure()) return;
  }
}

TEST(PoolParallel, DistinctKeysRunInParallelUnbound) {
  Watchdog wd(60, "PoolParallel.DistinctKeysRunInParallelUnbound");
  iowq::Pool pool(make_opts(2, 2));
  ASSERT_EQ(pool.start(), 0);
  for (const KeyPair& p : kPairs) {
    SCOPED_TRACE(p.what);
    BlockingItem a(Class::Unbound, true, p.a), b(Class::Unbound, true, p.b);
    HangupOnExit guard{&a.sp, &b.sp};
    expect_concurrent(pool, a, b);
    if (HasFatalFailure()) return;
  }
}

TEST(PoolParallel, UnhashedAndHashedRunInParallel) {
  Watchdog wd(30, "PoolParallel.UnhashedAndHashedRunInParallel");
  iowq::Pool pool(make_opts(3, 2));
  ASSERT_EQ(pool.start(), 0);
  {
    // Two unhashed items with the same key value: the key is ignored.
    BlockingItem a(Class::Bound, false, 7), b(Class::Bound, false, 7);
    HangupOnExit guard{&a.sp, &b.sp};
    expect_concurrent(pool, a, b);
  }
  {
    // Hashed key 7 and unhashed "7" do not serialize either.
    BlockingItem a(Class::Bound, true, 7), b(Class::Bound, false, 7);
    HangupOnExit guard{&a.sp, &b.sp};
    expect_concurrent(pool, a, b);
  }
}

// Runs one quick item to completion: proof that the pool had a free worker.
void run_quick(iowq::Pool& pool, Class c) {
  Work q;
  q.cls = c;
  q.fn = [](Work* w) { w->result = 99; };
  ASSERT_EQ(pool.submit(&q), 0);
  ASSERT_EQ(pool.wait(&q), 0);
  EXPECT_EQ(q.result, 99);
}

void same_key_serial(Class c) {
  Watchdog wd(30, "PoolParallel same key");
  const uint64_t key = 0xabcdef0123456789ull;
  BlockingItem first(c, true, key), second(c, true, key);
  iowq::Pool pool(make_opts(4, 4));
  HangupOnExit guard{&first.sp, &second.sp};
  ASSERT_EQ(pool.start(), 0);
  ASSERT_EQ(pool.submit(&first.w), 0);
  ASSERT_TRUE(first.wait_started());
  ASSERT_EQ(pool.submit(&second.w), 0);
  EXPECT_EQ(pool.inflight_key(key), 2u);
  // Free workers exist (cap 4): unrelated work, even of the key with its
  // top bit flipped, completes while `second` must keep waiting.
  run_quick(pool, c);
  {
    Work q;
    q.cls = c;
    q.hashed = true;
    q.key = key ^ (1ull << 63);
    q.fn = [](Work* w) { w->result = 5; };
    ASSERT_EQ(pool.submit(&q), 0);
    ASSERT_EQ(pool.wait(&q), 0);
    EXPECT_EQ(q.result, 5);
  }
  EXPECT_FALSE(second.started.load()) << "same key ran while its earlier item was running";
  // `second` already waits in the key's chain: releasing its byte first must
  // not let it run before `first`.
  ASSERT_TRUE(second.release());
  // Observation window only: a wrongly started `second` would return now.
  EXPECT_FALSE(poll_until([&] { return second.started.load() != 0; }, 50));
  ASSERT_TRUE(first.release());
  ASSERT_EQ(pool.wait(&first.w), 0);
  ASSERT_EQ(pool.wait(&second.w), 0);
  EXPECT_EQ(first.w.result, 1);
  EXPECT_EQ(second.w.result, 1);
  EXPECT_EQ(pool.inflight_key(key), 0u);
}

TEST(PoolParallel, SameKeyNeverRunsInParallelBound) { same_key_serial(Class::Bound); }
TEST(PoolParallel, SameKeyNeverRunsInParallelUnbound) { same_key_serial(Class::Unbound); }

// With a cap of 2, a third blocking item of a third key waits for a worker.
TEST(PoolParallel, ThirdKeyWaitsForCap) {
  Watchdog wd(30, "PoolParallel.ThirdKeyWaitsForCap");
  BlockingItem a(Class::Bound, true, 1), b(Class::Bound, true, 2), c(Class::Bound, true, 3);
  iowq::Pool pool(make_opts(2, 2));
  HangupOnExit guard{&a.sp, &b.sp, &c.sp};
  ASSERT_EQ(pool.start(), 0);
  ASSERT_EQ(pool.submit(&a.w), 0);
  ASSERT_EQ(pool.submit(&b.w), 0);
  ASSERT_TRUE(a.wait_started());
  ASSERT_TRUE(b.wait_started());
  ASSERT_EQ(pool.submit(&c.w), 0);
  EXPECT_FALSE(poll_until([&] { return c.started.load() != 0; }, 50)) << "cap 2 exceeded";
  ASSERT_TRUE(a.release());
  ASSERT_TRUE(c.wait_started());
  ASSERT_TRUE(b.release());
  ASSERT_TRUE(c.release());
  for (BlockingItem* x : {&a, &b, &c}) {
    ASSERT_EQ(pool.wait(&x->w), 0);
    EXPECT_EQ(x->w.result, 1);
  }
  EXPECT_LE(pool.stats().bound.max_alive, 2u);
}

}  // namespace
