// tests/core/pool_race_test.cpp — randomized submit/cancel races on unbound work.
//
// Contract (iowq/pool.hpp cancel): a cancel is never lost to the race between
// "worker checks the flag" and "worker enters the syscall"; every cancel
// resolves to Ok (pending: -ECANCELED, fn never ran), Running (fn runs and
// finishes; a blocked recv is interrupted) or NotFound (already completed).
//
// Each of >= 10,000 iterations (the same count under TSan/ASan, so each one
// is cheap) submits one unbound item, spins a random time, cancels it and
// waits for it. Item kinds rotate: recv on a socketpair that never gets data
// (only a cancel can finish it, so NotFound is impossible), a short busy op
// (any outcome), and recv with a deadline of a few microseconds racing the
// explicit cancel. A watchdog aborts with the iteration if anything hangs.
#include <gtest/gtest.h>

#include <random>

#include "test_util.hpp"

namespace {

using iowq::CancelResult;
using iowq::Class;
using iowq::Work;
using namespace iowq_test;

constexpr int kIterations = 10000;

enum Mode { kRecv = 0, kBusy = 1, kRecvDeadline = 2 };

struct Ctx {
  int fd = -1;
  int mode = kRecv;
  unsigned busy = 0;
  std::atomic<int> started{0};
  std::atomic<int> eintrs{0};
};

void race_fn(Work* w) {
  auto* c = static_cast<Ctx*>(w->ctx);
  c->started.store(1, std::memory_order_release);
  if (c->mode == kBusy) {
    spin(c->busy);
    w->result = 42;
  } else {
    w->result = recv_one(w, c->fd, &c->eintrs);
  }
}

const char* name(CancelResult r) {
  switch (r) {
    case CancelResult::Ok: return "Ok";
    case CancelResult::Running: return "Running";
    case CancelResult::NotFound: return "NotFound";
  }
  return "?";
}

TEST(PoolRace, RandomCancelAlwaysResolves) {
  Watchdog wd(60, "PoolRace.RandomCancelAlwaysResolves");
  SocketPair sp;
  ASSERT_TRUE(sp.ok());
  Ctx ctx;
  ctx.fd = sp.reader();
  Work w;
  w.fn = race_fn;
  w.ctx = &ctx;
  w.cls = Class::Unbound;
  iowq::Pool pool(make_opts(2, 2));
  HangupOnExit guard{&sp};
  ASSERT_EQ(pool.start(), 0);

  const unsigned seed = 20240611u;
  std::mt19937 rng(seed);
  uint64_t outcomes[3][3] = {};  // [mode][CancelResult]
  int failures = 0;
  for (int i = 0; i < kIterations && failures < 10; ++i) {
    wd.progress(i);
    const int mode = i % 3;
    w.rearm();
    ctx.mode = mode;
    ctx.busy = rng() % 400;
    ctx.started.store(0);
    w.deadline_ns = mode == kRecvDeadline ? now_ns() + rng() % 200000 : 0;
    int sr = pool.submit(&w);
    ASSERT_EQ(sr, 0) << "iteration " << i;
    // Random delay before the cancel: 1 in 4 immediate, the rest up to
    // ~100 us, covering pending, just-picked-up, in-fn and in-syscall.
    unsigned r = rng();
    if (r % 4 != 0) spin((r >> 2) % 1500);
    const CancelResult cr = pool.cancel(&w);
    if (mode != kBusy && cr == CancelResult::NotFound && !w.finished() && !w.timed_out()) {
      // Only a cancel or a deadline can finish a recv item: neither did (an
      // item its deadline took out of the queue may still be completing).
      ADD_FAILURE() << "iteration " << i << " mode " << mode
                    << ": cancel returned NotFound for an item still in the pool";
      ++failures;
      sp.send_bytes(1);  // unblock it so the run can go on
    }
    ASSERT_EQ(pool.wait(&w), 0) << "iteration " << i;
    outcomes[mode][int(cr)]++;
    const bool started = ctx.started.load(std::memory_order_acquire) != 0;
    const int64_t res = w.result;
    auto fail = [&](const char* why) {
      ADD_FAILURE() << "iteration " << i << " mode " << mode << " cancel=" << name(cr)
                    << " started=" << started << " result=" << res << " timed_out=" << w.timed_out() << ": "
                    << why;
      ++failures;
    };
    if (cr == CancelResult::Ok) {
      if (res != -ECANCELED) fail("Ok but result is not -ECANCELED");
      if (started) fail("Ok but fn ran");
      if (!w.cancelled()) fail("Ok but not marked cancelled");
    }
    if (cr == CancelResult::Running) {
      if (!started) fail("Running but fn never ran");
      if (!w.cancelled()) fail("Running but not marked cancelled");
    }
    switch (mode) {
      case kRecv:
        if (cr == CancelResult::Running && res != -EINTR) fail("interrupted recv must give -EINTR");
        if (w.timed_out()) fail("timed out without a deadline");
        break;
      case kBusy:
        if (cr != CancelResult::Ok && res != 42) fail("busy op must complete with 42");
        if (cr == CancelResult::NotFound && !started) fail("NotFound but fn never ran");
        break;
      case kRecvDeadline:
        if (started && res != -EINTR) fail("a started recv must end with -EINTR");
        if (!started && res != -ECANCELED) fail("an unstarted item must end with -ECANCELED");
        if (cr == CancelResult::NotFound && !w.timed_out())
          fail("NotFound although only the deadline could have completed it");
        break;
    }
  }
  std::printf(
      "[ info ] seed %u; outcomes Ok/Running/NotFound: recv %llu/%llu/%llu, "
      "busy %llu/%llu/%llu, deadline %llu/%llu/%llu\n",
      seed, (unsigned long long)outcomes[0][0], (unsigned long long)outcomes[0][1],
      (unsigned long long)outcomes[0][2], (unsigned long long)outcomes[1][0],
      (unsigned long long)outcomes[1][1], (unsigned long long)outcomes[1][2],
      (unsigned long long)outcomes[2][0], (unsigned long long)outcomes[2][1],
      (unsigned long long)outcomes[2][2]);
  EXPECT_EQ(failures, 0);
  uint64_t total = 0;
  for (auto& m : outcomes)
    for (uint64_t n : m) total += n;
  EXPECT_EQ(total, uint64_t(kIterations));
  // No byte was ever sent (unless a failure above), so nothing may be left
  // to read: every recv ended by a cancel.
  char c;
  EXPECT_EQ(::recv(sp.reader(), &c, 1, MSG_DONTWAIT), -1);
}

// Two threads cancel the same item at once: at most one Ok, and whatever the
// pair of results, the item completes exactly once.
TEST(PoolRace, ConcurrentCancelsOfOneItem) {
  Watchdog wd(60, "PoolRace.ConcurrentCancelsOfOneItem");
  constexpr int kRounds = 2000;
  SocketPair sp;
  Ctx ctx;
  ctx.fd = sp.reader();
  Work w;
  w.fn = race_fn;
  w.ctx = &ctx;
  w.cls = Class::Unbound;
  iowq::Pool pool(make_opts(1, 1));
  HangupOnExit guard{&sp};
  ASSERT_EQ(pool.start(), 0);
  // A helper thread waits for round `go` and cancels once per round.
  std::atomic<int> go{-1}, helper_done{-1};
  std::atomic<int> helper_result{0};
  std::atomic<bool> stop{false};
  std::thread helper([&] {
    for (int round = 0; round < kRounds; ++round) {
      for (long n = 0; go.load(std::memory_order_acquire) != round; ++n) {
        if (stop.load() || n > 200000000) return;  // bounded
        if ((n & 1023) == 1023) sched_yield();
      }
      helper_result.store(int(pool.cancel(&w)), std::memory_order_relaxed);
      helper_done.store(round, std::memory_order_release);
    }
  });
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop.store(true);
      t.join();
    }
  } joiner{stop, helper};
  int bad = 0;
  for (int round = 0; round < kRounds && bad < 10; ++round) {
    wd.progress(round);
    w.rearm();
    ctx.mode = kRecv;
    ctx.started.store(0);
    ASSERT_EQ(pool.submit(&w), 0);
    go.store(round, std::memory_order_release);
    CancelResult mine = pool.cancel(&w);
    ASSERT_TRUE(poll_until([&] { return helper_done.load(std::memory_order_acquire) == round; }, 10000));
    auto theirs = CancelResult(helper_result.load(std::memory_order_relaxed));
    ASSERT_EQ(pool.wait(&w), 0);
    int oks = (mine == CancelResult::Ok) + (theirs == CancelResult::Ok);
    int running = (mine == CancelResult::Running) + (theirs == CancelResult::Running);
    if (oks > 1 || (oks == 1 && running == 1) ||
        (mine == CancelResult::NotFound && theirs == CancelResult::NotFound)) {
      ADD_FAILURE() << "round " << round << ": " << name(mine) << " + " << name(theirs);
      ++bad;
    }
    if (oks == 1 && w.result != -ECANCELED) {
      ADD_FAILURE() << "round " << round << ": Ok but result " << w.result;
      ++bad;
    }
    if (oks == 0 && w.result != -EINTR) {
      ADD_FAILURE() << "round " << round << ": Running but result " << w.result;
      ++bad;
    }
  }
  EXPECT_EQ(bad, 0);
}

}  // namespace
