// tests/core/pool_cancel_test.cpp — cancel, cancel_if, cancel_all, deadlines.
//
// Contract (iowq/work.hpp CancelResult, pool.hpp cancel*):
//   * pending work: cancel -> Ok, completed at once with -ECANCELED, fn never
//     runs (also when it waits in a busy key's chain, or has a done callback);
//   * running unbound work: cancel -> Running, its worker is signalled, the
//     blocked syscall fails with EINTR and fn (which retries EINTR unless
//     cancelled()) returns -EINTR;
//   * running bound work: cancel -> Running, only marked, never interrupted;
//   * never submitted or finished: NotFound;
//   * deadline_ns on unbound work cancels it (pending or running) and sets
//     timed_out().
// A pending item is made by filling the class: cap 1 and a blocker item.
#include <gtest/gtest.h>

#include "test_util.hpp"

namespace {

using iowq::CancelResult;
using iowq::Class;
using iowq::Work;
using namespace iowq_test;

// A Work that records whether its fn ran and in which order.
struct Marked {
  Work w;
  std::atomic<int> ran{0};
  std::atomic<int>* order = nullptr;  // shared counter, if set
  int ran_at = -1;
  int tag = 0;
  explicit Marked(Class c = Class::Bound, bool hashed = false, uint64_t key = 0) {
    w.fn = &Marked::run;
    w.ctx = this;
    w.cls = c;
    w.hashed = hashed;
    w.key = key;
  }
  static void run(Work* w) {
    auto* m = static_cast<Marked*>(w->ctx);
    if (m->order) m->ran_at = m->order->fetch_add(1);
    m->ran.store(1);
    w->result = 7;
  }
};

void cancel_pending_case(Class c) {
  SCOPED_TRACE(c == Class::Bound ? "bound" : "unbound");
  Watchdog wd(30, "PoolCancel pending");
  BlockingItem blocker(c);
  Marked victim(c);
  iowq::Pool pool(make_opts(1, 1));
  HangupOnExit guard{&blocker.sp};
  ASSERT_EQ(pool.start(), 0);
  ASSERT_EQ(pool.submit(&blocker.w), 0);
  ASSERT_TRUE(blocker.wait_started());
  ASSERT_EQ(pool.submit(&victim.w), 0);
  EXPECT_EQ(pool.cancel(&victim.w), CancelResult::Ok);
  EXPECT_TRUE(victim.w.finished()) << "Ok means completed by the cancel itself";
  EXPECT_EQ(pool.wait(&victim.w), 0);
  EXPECT_EQ(victim.w.result, -ECANCELED);
  EXPECT_TRUE(victim.w.cancelled());
  EXPECT_FALSE(victim.w.timed_out());
  EXPECT_EQ(pool.cancel(&victim.w), CancelResult::NotFound);
  // The blocker is untouched by a cancel of another item.
  EXPECT_EQ(blocker.eintrs.load(), 0);
  ASSERT_TRUE(blocker.release());
  ASSERT_EQ(pool.wait(&blocker.w), 0);
  EXPECT_EQ(blocker.w.result, 1);
  pool.drain();
  EXPECT_EQ(victim.ran.load(), 0) << "a cancelled pending item ran";
  iowq::Stats st = pool.stats();
  EXPECT_EQ(st.cancel_pending, 1u);
  EXPECT_EQ(st.cancel_running, 0u);
}

TEST(PoolCancel, PendingBoundIsCompletedWithEcanceled) { cancel_pending_case(Class::Bound); }
TEST(PoolCancel, PendingUnboundIsCompletedWithEcanceled) { cancel_pending_case(Class::Unbound); }

// A pending item can also wait in a busy key's chain rather than in the
// class queue; cancel must find it there and leave the rest of the chain in
// order.
TEST(PoolCancel, PendingInKeyChain) {
  Watchdog wd(30, "PoolCancel.PendingInKeyChain");
  const uint64_t key = 42;
  std::atomic<int> order{0};
  BlockingItem blocker(Class::Bound, true, key);
  Marked v1(Class::Bound, true, key), v2(Class::Bound, true, key), v3(Class::Bound, true, key);
  for (Marked* m : {&v1, &v2, &v3}) m->order = &order;
  iowq::Pool pool(make_opts(4, 4));
  HangupOnExit guard{&blocker.sp};
  ASSERT_EQ(pool.start(), 0);
  ASSERT_EQ(pool.submit(&blocker.w), 0);
  ASSERT_TRUE(blocker.wait_started());
  for (Marked* m : {&v1, &v2, &v3}) ASSERT_EQ(pool.submit(&m->w), 0);
  EXPECT_EQ(pool.inflight_key(key), 4u);
  EXPECT_EQ(pool.cancel(&v2.w), CancelResult::Ok);
  EXPECT_TRUE(v2.w.finished());
  EXPECT_EQ(v2.w.result, -ECANCELED);
  EXPECT_EQ(pool.inflight_key(key), 3u);
  ASSERT_TRUE(blocker.release());
  for (Marked* m : {&v1, &v3}) {
    ASSERT_EQ(pool.wait(&m->w), 0);
    EXPECT_EQ(m->w.result, 7);
  }
  EXPECT_EQ(v1.ran_at, 0);
  EXPECT_EQ(v3.ran_at, 1);
  EXPECT_EQ(v2.ran.load(), 0);
  EXPECT_EQ(pool.inflight_key(key), 0u);
}

// With a done callback, a cancelled pending item is handed back through it,
// exactly once, with -ECANCELED.
TEST(PoolCancel, PendingWithDoneCallback) {
  Watchdog wd(30, "PoolCancel.PendingWithDoneCallback");
  static std::atomic<int> done_calls{0};
  static std::atomic<int64_t> done_result{0};
  done_calls = 0;
  BlockingItem blocker(Class::Bound);
  Marked victim(Class::Bound);
  victim.w.done = [](Work* w) {
    done_result.store(w->result);
    done_calls.fetch_add(1);
  };
  iowq::Pool pool(make_opts(1, 1));
  HangupOnExit guard{&blocker.sp};
  ASSERT_EQ(pool.start(), 0);
  ASSERT_EQ(pool.submit(&blocker.w), 0);
  ASSERT_TRUE(blocker.wait_started());
  ASSERT_EQ(pool.submit(&victim.w), 0);
  EXPECT_EQ(pool.cancel(&victim.w), CancelResult::Ok);
  EXPECT_TRUE(poll_until([] { return done_calls.load() == 1; }, 5000));
  EXPECT_EQ(done_result.load(), -ECANCELED);
  ASSERT_TRUE(blocker.release());
  ASSERT_EQ(pool.wait(&blocker.w), 0);
  pool.drain();
  EXPECT_EQ(done_calls.load(), 1);
  EXPECT_EQ(victim.ran.load(), 0);
}

TEST(PoolCancel, RunningUnboundIsInterrupted) {
  Watchdog wd(30, "PoolCancel.RunningUnboundIsInterrupted");
  BlockingItem b(Class::Unbound);
  BlockingItem after(Class::Unbound);
  iowq::Pool pool(make_opts(1, 1));
  HangupOnExit guard{&b.sp, &after.sp};
  ASSERT_EQ(pool.start(), 0);
  ASSERT_EQ(pool.submit(&b.w), 0);
  ASSERT_TRUE(b.wait_started());
  const uint64_t t0 = now_ns();
  EXPECT_EQ(pool.cancel(&b.w), CancelResult::Running);
  ASSERT_EQ(pool.wait(&b.w), 0);
  const uint64_t took = now_ns() - t0;
  EXPECT_EQ(b.w.result, -EINTR);
  EXPECT_TRUE(b.w.cancelled());
  EXPECT_FALSE(b.w.timed_out());
  EXPECT_GE(b.eintrs.load(), 1);
  EXPECT_LT(took, 5000000000ull) << "cancel took " << took << " ns";
  EXPECT_EQ(pool.cancel(&b.w), CancelResult::NotFound);
  iowq::Stats st = pool.stats();
  EXPECT_EQ(st.cancel_running, 1u);
  EXPECT_GE(st.signals_sent, 1u);
  // The same worker (cap 1) then runs a normal item: a late cancel signal
  // meant for the earlier item is retried away by the EINTR contract.
  ASSERT_EQ(pool.submit(&after.w), 0);
  ASSERT_TRUE(after.wait_started());
  ASSERT_TRUE(after.release());
  ASSERT_EQ(pool.wait(&after.w), 0);
  EXPECT_EQ(after.w.result, 1);
  EXPECT_FALSE(after.w.cancelled());
}

TEST(PoolCancel, RunningBoundIsNotInterrupted) {
  Watchdog wd(30, "PoolCancel.RunningBoundIsNotInterrupted");
  BlockingItem b(Class::Bound);
  iowq::Pool pool(make_opts(1, 1));
  HangupOnExit guard{&b.sp};
  ASSERT_EQ(pool.start(), 0);
  ASSERT_EQ(pool.submit(&b.w), 0);
  ASSERT_TRUE(b.wait_started());
  const uint64_t sig0 = pool.stats().signals_sent;
  EXPECT_EQ(pool.cancel(&b.w), CancelResult::Running);
  EXPECT_TRUE(b.w.cancelled()) << "running bound work is marked";
  // Observation window only: an interrupting signal would surface as EINTR.
  EXPECT_FALSE(poll_until([&] { return b.eintrs.load() != 0 || b.returned.load() != 0; }, 100));
  EXPECT_EQ(pool.stats().signals_sent, sig0) << "bound work was signalled";
  ASSERT_TRUE(b.release());
  ASSERT_EQ(pool.wait(&b.w), 0);
  EXPECT_EQ(b.w.result, 1) << "bound work must complete normally";
  EXPECT_EQ(b.eintrs.load(), 0);
}

TEST(PoolCancel, UnknownOrFinishedIsNotFound) {
  iowq::Pool pool(make_opts(1, 1));
  Marked never;
  EXPECT_EQ(pool.cancel(&never.w), CancelResult::NotFound) << "before start";
  ASSERT_EQ(pool.start(), 0);
  EXPECT_EQ(pool.cancel(&never.w), CancelResult::NotFound);
  Marked m;
  ASSERT_EQ(pool.submit(&m.w), 0);
  ASSERT_EQ(pool.wait(&m.w), 0);
  EXPECT_EQ(m.w.result, 7);
  EXPECT_EQ(pool.cancel(&m.w), CancelResult::NotFound);
  EXPECT_FALSE(m.w.cancelled()) << "a NotFound cancel must not mark the item";
  iowq::Stats st = pool.stats();
  EXPECT_EQ(st.cancel_pending + st.cancel_running, 0u);
}

bool is_marked(const Work& w) { return w.fn == &Marked::run; }

TEST(PoolCancel, CancelIfByContext) {
  Watchdog wd(30, "PoolCancel.CancelIfByContext");
  constexpr int kN = 12;
  BlockingItem blocker(Class::Bound);
  std::vector<std::unique_ptr<Marked>> items;
  for (int i = 0; i < kN; ++i) {
    items.push_back(std::make_unique<Marked>(Class::Bound));
    items.back()->tag = i % 2;  // tag 1 gets cancelled
  }
  iowq::Pool pool(make_opts(1, 1));
  HangupOnExit guard{&blocker.sp};
  ASSERT_EQ(pool.start(), 0);
  ASSERT_EQ(pool.submit(&blocker.w), 0);
  ASSERT_TRUE(blocker.wait_started());
  for (auto& m : items) ASSERT_EQ(pool.submit(&m->w), 0);
  size_t n = pool.cancel_if(
      [](const Work& w) { return is_marked(w) && static_cast<const Marked*>(w.ctx)->tag == 1; });
  EXPECT_EQ(n, size_t(kN / 2));
  EXPECT_EQ(pool.cancel_if([](const Work&) { return false; }), 0u);
  ASSERT_TRUE(blocker.release());
  for (auto& m : items) {
    ASSERT_EQ(pool.wait(&m->w), 0);
    if (m->tag == 1) {
      EXPECT_EQ(m->w.result, -ECANCELED);
      EXPECT_EQ(m->ran.load(), 0);
    } else {
      EXPECT_EQ(m->w.result, 7);
      EXPECT_FALSE(m->w.cancelled());
    }
  }
  ASSERT_EQ(pool.wait(&blocker.w), 0);
  EXPECT_EQ(blocker.w.result, 1);
  EXPECT_EQ(pool.stats().cancel_pending, uint64_t(kN / 2));
}

TEST(PoolCancel, CancelAll) {
  Watchdog wd(30, "PoolCancel.CancelAll");
  BlockingItem bb(Class::Bound), ub(Class::Unbound);
  Marked pb[3], pu[3] = {Marked(Class::Unbound), Marked(Class::Unbound), Marked(Class::Unbound)};
  iowq::Pool pool(make_opts(1, 1));
  HangupOnExit guard{&bb.sp, &ub.sp};
  ASSERT_EQ(pool.start(), 0);
  ASSERT_EQ(pool.submit(&bb.w), 0);
  ASSERT_EQ(pool.submit(&ub.w), 0);
  ASSERT_TRUE(bb.wait_started());
  ASSERT_TRUE(ub.wait_started());
  for (Marked& m : pb) ASSERT_EQ(pool.submit(&m.w), 0);
  for (Marked& m : pu) ASSERT_EQ(pool.submit(&m.w), 0);
  EXPECT_EQ(pool.cancel_all(), 8u) << "2 running + 6 pending";
  // Running unbound: interrupted. Pending: cancelled. Running bound: marked.
  ASSERT_EQ(pool.wait(&ub.w), 0);
  EXPECT_EQ(ub.w.result, -EINTR);
  for (Marked* m : {&pb[0], &pb[1], &pb[2], &pu[0], &pu[1], &pu[2]}) {
    EXPECT_TRUE(m->w.finished());
    EXPECT_EQ(m->w.result, -ECANCELED);
  }
  EXPECT_TRUE(bb.w.cancelled());
  EXPECT_FALSE(bb.w.finished());
  ASSERT_TRUE(bb.release());
  ASSERT_EQ(pool.wait(&bb.w), 0);
  EXPECT_EQ(bb.w.result, 1);
  EXPECT_EQ(bb.eintrs.load(), 0);
  pool.drain();
  for (Marked* m : {&pb[0], &pb[1], &pb[2], &pu[0], &pu[1], &pu[2]}) EXPECT_EQ(m->ran.load(), 0);
  EXPECT_EQ(pool.cancel_all(), 0u);
  iowq::Stats st = pool.stats();
  EXPECT_EQ(st.cancel_pending, 6u);
  EXPECT_EQ(st.cancel_running, 2u);
}

TEST(PoolCancel, DeadlineInterruptsRunningUnbound) {
  Watchdog wd(30, "PoolCancel.DeadlineInterruptsRunningUnbound");
  BlockingItem b(Class::Unbound);
  iowq::Pool pool(make_opts(1, 1));
  HangupOnExit guard{&b.sp};
  ASSERT_EQ(pool.start(), 0);
  const uint64_t t0 = now_ns();
  b.w.deadline_ns = t0 + 50000000ull;  // +50 ms
  ASSERT_EQ(pool.submit(&b.w), 0);
  ASSERT_EQ(pool.wait(&b.w), 0);
  const uint64_t t1 = now_ns();
  EXPECT_TRUE(b.w.timed_out());
  EXPECT_TRUE(b.w.cancelled());
  EXPECT_EQ(b.w.result, -EINTR);
  EXPECT_EQ(b.started.load(), 1);
  EXPECT_GE(t1, b.w.deadline_ns) << "cancelled before its deadline";
  EXPECT_LT(t1 - t0, 3000000000ull) << "deadline of 50 ms took " << (t1 - t0) / 1000000 << " ms";
  EXPECT_GE(pool.stats().deadline_cancels, 1u);
}

TEST(PoolCancel, DeadlineCancelsPendingUnbound) {
  Watchdog wd(30, "PoolCancel.DeadlineCancelsPendingUnbound");
  BlockingItem blocker(Class::Unbound);
  Marked victim(Class::Unbound);
  iowq::Pool pool(make_opts(1, 1));
  HangupOnExit guard{&blocker.sp};
  ASSERT_EQ(pool.start(), 0);
  ASSERT_EQ(pool.submit(&blocker.w), 0);
  ASSERT_TRUE(blocker.wait_started());
  const uint64_t t0 = now_ns();
  victim.w.deadline_ns = t0 + 50000000ull;
  ASSERT_EQ(pool.submit(&victim.w), 0);
  ASSERT_EQ(pool.wait(&victim.w), 0);  // while the blocker still blocks
  const uint64_t t1 = now_ns();
  EXPECT_EQ(victim.w.result, -ECANCELED);
  EXPECT_TRUE(victim.w.timed_out());
  EXPECT_EQ(victim.ran.load(), 0);
  EXPECT_GE(t1, victim.w.deadline_ns);
  EXPECT_LT(t1 - t0, 3000000000ull);
  EXPECT_FALSE(blocker.w.cancelled());
  ASSERT_TRUE(blocker.release());
  ASSERT_EQ(pool.wait(&blocker.w), 0);
  EXPECT_EQ(blocker.w.result, 1);
}

TEST(PoolCancel, FarDeadlineDoesNotFire) {
  Watchdog wd(30, "PoolCancel.FarDeadlineDoesNotFire");
  BlockingItem b(Class::Unbound);
  iowq::Pool pool(make_opts(1, 1));
  HangupOnExit guard{&b.sp};
  ASSERT_EQ(pool.start(), 0);
  b.w.deadline_ns = now_ns() + 20000000000ull;  // +20 s
  ASSERT_EQ(pool.submit(&b.w), 0);
  ASSERT_TRUE(b.wait_started());
  ASSERT_TRUE(b.release());
  ASSERT_EQ(pool.wait(&b.w), 0);
  EXPECT_EQ(b.w.result, 1);
  EXPECT_FALSE(b.w.timed_out());
  EXPECT_FALSE(b.w.cancelled());
  EXPECT_EQ(pool.stats().deadline_cancels, 0u);
}

}  // namespace
