// tests/core/debug_check_test.cpp — the IOWQ_DEBUG invariant checks fire.
//
// Contract (core/src/debug.hpp): with IOWQ_DEBUG (the asan/tsan trees, or
// -DIOWQ_DEBUG=ON) a broken invariant prints "iowq: invariant failed: ..." and
// aborts; without it the checks are compiled out and their conditions are
// never evaluated. Each death test breaks one invariant on purpose, through
// the real code path where the public API allows it (resubmitting an item in
// flight), else on an internal structure built by hand.
#include <gtest/gtest.h>

#include "../../core/src/internal.hpp"
#include "test_util.hpp"

namespace {

using iowq::Work;
using iowq::detail::ClassPool;
using iowq::detail::KeyState;
using iowq::detail::WorkList;

class DebugCheckTest : public ::testing::Test {
 protected:
  // Threads exist (pool workers): the child re-executes the test binary.
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// The failure path exists in every build and says what broke, and where.
TEST_F(DebugCheckTest, CheckFailedPrintsTheInvariantAndAborts) {
  EXPECT_DEATH(iowq::detail::check_failed("the sky is up", "sky > ground", "here.cpp", 42),
               "iowq: invariant failed: the sky is up: sky > ground \\(here.cpp:42\\)");
}

#if IOWQ_DEBUG_ON

TEST_F(DebugCheckTest, FailedCheckAborts) {
  EXPECT_DEATH(IOWQ_CHECK(1 + 1 == 3, "arithmetic holds"),
               "iowq: invariant failed: arithmetic holds: 1 \\+ 1 == 3 \\(.*debug_check_test.cpp:[0-9]+\\)");
}

TEST_F(DebugCheckTest, PassingCheckEvaluatesItsConditionOnce) {
  int n = 0;
  IOWQ_CHECK(++n == 1, "evaluated once");
  EXPECT_EQ(n, 1);
}

// A dispatch list refuses an item that is already in it.
TEST_F(DebugCheckTest, WorkListRejectsDoubleInsert) {
  Work a;
  WorkList l;
  l.push_back(&a);
  EXPECT_DEATH(l.push_back(&a), "an item enters a dispatch list only when it is in none");
  l.unlink(&a);
  EXPECT_EQ(l.size, 0u);
}

// ... and an unlink from a list the item is not in.
TEST_F(DebugCheckTest, WorkListRejectsUnlinkFromAnotherList) {
  Work a, b;
  WorkList one, two;
  one.push_back(&a);
  two.push_back(&b);
  EXPECT_DEATH(two.unlink(&a), "an item leaves only the dispatch list it is in");
}

// Class-level checks: counts against the cap, key states.
TEST_F(DebugCheckTest, ClassCheckRejectsMoreAliveWorkersThanTheCap) {
  ClassPool c;
  c.cap = 1;
  c.alive.store(2);
  EXPECT_DEATH(iowq::detail::check_class_locked(c), "listed workers <= alive <= cap");
  c.alive.store(1);
  iowq::detail::check_class_locked(c);  // consistent: no abort
}

// spinners and sleepers are two counters read one after the other: a worker
// that moves from spinning to sleeping between the reads is seen in both.
// That snapshot (one alive worker, counted idle twice) is consistent; a
// counter above alive on its own is not. (PoolRace.RandomCancelAlwaysResolves
// aborted on the sum in the TSan tree of CI.)
TEST_F(DebugCheckTest, ClassCheckToleratesAWorkerSeenSpinningAndSleeping) {
  ClassPool c;
  c.cap = 1;
  c.alive.store(1);
  c.spinners.store(1);
  c.sleepers.store(1);
  iowq::detail::check_class_locked(c);  // no abort
  c.sleepers.store(2);
  EXPECT_DEATH(iowq::detail::check_class_locked(c), "idle workers are alive");
  c.sleepers.store(0);
  c.spinners.store(-1);
  EXPECT_DEATH(iowq::detail::check_class_locked(c), "idle workers are alive");
}

TEST_F(DebugCheckTest, ClassCheckRejectsAKeyBothRunningAndQueued) {
  ClassPool c;
  Work first;
  first.hashed = true;
  first.key = 7;
  first.state.store(Work::kQueued);
  c.inflight.store(1);
  c.ready.push_back(&first);
  KeyState& ks = c.keys[7];
  ks.first = &first;
  iowq::detail::check_class_locked(c);  // consistent: queued, key idle
  ks.running = true;                    // the key would run on two workers
  EXPECT_DEATH(iowq::detail::check_class_locked(c), "invariant failed: .*key");
  c.ready.unlink(&first);
}

// Completion checks: an item completes once.
TEST_F(DebugCheckTest, CompletingTwiceIsCaught) {
  Work w;
  w.state.store(Work::kDone | Work::kReleased);
  EXPECT_DEATH(iowq::detail::check_completing(&w, 0), "an item completes once");
  w.state.store(Work::kQueued | Work::kRunning);
  iowq::detail::check_completing(&w, 0);  // a running item may complete
}

// Through the pool: submitting an item the pool still owns.
TEST_F(DebugCheckTest, ResubmittingAnItemInFlightIsCaught) {
  iowq_test::Watchdog wd(60, "ResubmittingAnItemInFlightIsCaught");
  iowq::Pool pool(iowq_test::make_opts(1, 1));
  ASSERT_EQ(pool.start(), 0);
  iowq_test::BlockingItem item;
  iowq_test::HangupOnExit hup{&item.sp};
  ASSERT_EQ(pool.submit(&item.w), 0);
  ASSERT_TRUE(item.wait_started());
  EXPECT_DEATH(pool.submit(&item.w), "an item is not submitted again while in flight");
  ASSERT_TRUE(item.release());
  EXPECT_EQ(pool.wait(&item.w), 0);
  EXPECT_EQ(item.w.result, 1);
}

#else  // !IOWQ_DEBUG_ON

// Zero cost when off: the condition is not even evaluated.
TEST_F(DebugCheckTest, ChecksAreCompiledOutWithoutIowqDebug) {
  int n = 0;
  IOWQ_CHECK(++n == 5, "never evaluated");
  EXPECT_EQ(n, 0);
}

#endif

}  // namespace
