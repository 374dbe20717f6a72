// tests/core/pool_caps_test.cpp — worker caps, lazy creation, idle exit,
// thread names and signal masks.
//
// Contract (iowq/pool.hpp): each class has its own cap (bound default 4 x CPUs
// of the node, unbound default_unbound_max()); workers are created lazily by a
// manager thread, up to the cap; no thread before start(), and submit()
// returns -EAGAIN on a pool that was not started; a worker idle for idle_ms
// exits unless it is the last of its class; workers are named iowq-wrk-<n>
// and block every signal except the cancel signal.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <set>

#include "test_util.hpp"

namespace {

using iowq::Class;
using iowq::Work;
using namespace iowq_test;

// Many blocking items of one class on one shared socketpair (one byte
// releases one item); counts how many run at once.
struct Load {
  static constexpr int kN = 24;
  SocketPair sp;
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::atomic<int> ran{0};
  struct Item {
    Work w;
    Load* l;
  } items[kN];

  explicit Load(Class c) {
    for (Item& it : items) {
      it.l = this;
      it.w.ctx = &it;
      it.w.cls = c;
      it.w.fn = [](Work* w) {
        Load* l = static_cast<Item*>(w->ctx)->l;
        int now = l->running.fetch_add(1) + 1;
        for (int m = l->max_running.load(); now > m && !l->max_running.compare_exchange_weak(m, now);) {
        }
        w->result = recv_one(w, l->sp.reader());
        l->running.fetch_sub(1);
        l->ran.fetch_add(1);
      };
    }
  }
};

void cap_holds(Class c, unsigned cap) {
  SCOPED_TRACE(c == Class::Bound ? "bound" : "unbound");
  Watchdog wd(30, "PoolCaps cap");
  auto load = std::make_unique<Load>(c);
  iowq::Pool pool(c == Class::Bound ? make_opts(cap, 8) : make_opts(8, cap));
  HangupOnExit guard{&load->sp};
  ASSERT_EQ(pool.cap(0, c), cap);
  ASSERT_EQ(pool.start(), 0);
  for (auto& it : load->items) ASSERT_EQ(pool.submit(&it.w), 0);
  // All `cap` workers get busy; no more may appear while everything blocks.
  ASSERT_TRUE(poll_until([&] { return load->running.load() == int(cap); }))
      << "running " << load->running.load();
  EXPECT_FALSE(poll_until([&] { return load->running.load() > int(cap); }, 50));
  // Release one at a time so the pool keeps refilling up to the cap.
  for (int i = 0; i < Load::kN; ++i) {
    ASSERT_TRUE(load->sp.send_bytes(1));
    if (i % 4 == 0) {
      iowq::Stats st = pool.stats();
      const iowq::ClassStats& cs = c == Class::Bound ? st.bound : st.unbound;
      EXPECT_LE(cs.alive, cap);
      EXPECT_LE(cs.max_alive, cap);
    }
  }
  for (auto& it : load->items) {
    ASSERT_EQ(pool.wait(&it.w), 0);
    EXPECT_EQ(it.w.result, 1);
  }
  EXPECT_LE(load->max_running.load(), int(cap));
  iowq::Stats st = pool.stats();
  const iowq::ClassStats& cs = c == Class::Bound ? st.bound : st.unbound;
  EXPECT_EQ(cs.max_alive, cap) << "the cap should have been reached";
  EXPECT_LE(cs.alive, cap);
  EXPECT_GE(cs.created, cs.max_alive);
  const iowq::ClassStats& other = c == Class::Bound ? st.unbound : st.bound;
  EXPECT_EQ(other.created, 0u) << "the other class created workers without work";
}

TEST(PoolCaps, BoundCapHoldsUnderLoad) { cap_holds(Class::Bound, 3); }
TEST(PoolCaps, UnboundCapHoldsUnderLoad) { cap_holds(Class::Unbound, 2); }

// Work::immediate: a class with cap items in flight refuses the item
// (-EBUSY) instead of queueing it behind them; with room again it is taken.
TEST(PoolCaps, ImmediateIsRefusedWhenTheClassIsFull) {
  Watchdog wd(30, "PoolCaps.ImmediateIsRefusedWhenTheClassIsFull");
  BlockingItem a(Class::Unbound), b(Class::Unbound);
  iowq::Pool pool(make_opts(2, 2));
  HangupOnExit guard{&a.sp, &b.sp};
  ASSERT_EQ(pool.start(), 0);
  ASSERT_EQ(pool.submit(&a.w), 0);
  ASSERT_EQ(pool.submit(&b.w), 0);
  Work c;
  c.cls = Class::Unbound;
  c.immediate = true;
  c.fn = [](Work* x) { x->result = 7; };
  EXPECT_EQ(pool.submit(&c), -EBUSY);
  EXPECT_FALSE(c.finished());
  Work d;  // a bound item is not affected by the unbound class being full
  d.immediate = true;
  d.fn = [](Work* x) { x->result = 8; };
  ASSERT_EQ(pool.submit(&d), 0);
  ASSERT_EQ(pool.wait(&d), 0);
  EXPECT_EQ(d.result, 8);
  ASSERT_TRUE(a.release());
  ASSERT_EQ(pool.wait(&a.w), 0);
  ASSERT_EQ(pool.submit(&c), 0) << "room again after one completed";
  ASSERT_EQ(pool.wait(&c), 0);
  EXPECT_EQ(c.result, 7);
  ASSERT_TRUE(b.release());
  ASSERT_EQ(pool.wait(&b.w), 0);
}

TEST(PoolCaps, DefaultCaps) {
  iowq::Pool pool(make_opts(0, 0));
  ASSERT_EQ(pool.num_nodes(), 1u);
  EXPECT_EQ(pool.cap(0, Class::Bound), 4u * unsigned(pool.node_cpus(0).size()));
  EXPECT_EQ(pool.cap(0, Class::Unbound), iowq::Options::default_unbound_max());
}

TEST(PoolCaps, WorkersAreCreatedLazily) {
  Watchdog wd(30, "PoolCaps.WorkersAreCreatedLazily");
  iowq::Pool pool(make_opts(2, 2));
  EXPECT_FALSE(pool.started());
  Work w;
  w.fn = [](Work* x) { x->result = 3; };
  EXPECT_EQ(pool.submit(&w), -EAGAIN) << "a pool that was not started takes no work";
  EXPECT_FALSE(w.finished());
  EXPECT_TRUE(pool.worker_tids().empty());
  ASSERT_EQ(pool.start(), 0);
  EXPECT_TRUE(pool.started());
  EXPECT_EQ(pool.start(), 0) << "start() is idempotent";
  iowq::Stats st = pool.stats();
  EXPECT_EQ(st.bound.created + st.unbound.created, 0u) << "workers before the first submit";
  EXPECT_EQ(st.bound.alive + st.unbound.alive, 0u);
  EXPECT_TRUE(pool.worker_tids().empty());
  // The item refused before start() is submittable as it is.
  ASSERT_EQ(pool.submit(&w), 0);
  ASSERT_EQ(pool.wait(&w), 0);
  EXPECT_EQ(w.result, 3);
  st = pool.stats();
  EXPECT_EQ(st.bound.created, 1u) << "one item needs one worker";
  EXPECT_EQ(st.unbound.created, 0u);
  EXPECT_EQ(pool.worker_tids().size(), 1u);
}

TEST(PoolCaps, SubmitAfterShutdownIsRefused) {
  iowq::Pool pool(make_opts(1, 1));
  ASSERT_EQ(pool.start(), 0);
  pool.shutdown();
  pool.shutdown();  // idempotent
  Work w;
  w.fn = [](Work* x) { x->result = 1; };
  EXPECT_EQ(pool.submit(&w), -EAGAIN);
}

TEST(PoolCaps, IdleWorkersExitButTheLastStays) {
  Watchdog wd(30, "PoolCaps.IdleWorkersExitButTheLastStays");
  BlockingItem items[4];
  iowq::Options o = make_opts(4, 4);
  o.idle_ms = 50;
  iowq::Pool pool(o);
  HangupOnExit guard{&items[0].sp, &items[1].sp, &items[2].sp, &items[3].sp};
  ASSERT_EQ(pool.start(), 0);
  for (auto& b : items) ASSERT_EQ(pool.submit(&b.w), 0);
  for (auto& b : items) ASSERT_TRUE(b.wait_started());
  EXPECT_EQ(pool.stats().bound.alive, 4u);
  for (auto& b : items) ASSERT_TRUE(b.release());
  for (auto& b : items) ASSERT_EQ(pool.wait(&b.w), 0);
  // Idle exit: down to one within a generous bound.
  EXPECT_TRUE(poll_until([&] { return pool.stats().bound.alive == 1; }, 5000))
      << "alive " << pool.stats().bound.alive;
  // The last one stays: watch for 4 x idle_ms.
  EXPECT_FALSE(poll_until([&] { return pool.stats().bound.alive == 0; }, 200))
      << "the last worker of the class exited";
  iowq::Stats st = pool.stats();
  EXPECT_EQ(st.bound.created, 4u);
  EXPECT_EQ(st.bound.max_alive, 4u);
  // Exited workers are gone from /proc; exactly one listed tid is alive.
  int alive = 0;
  for (int tid : pool.worker_tids())
    if (!thread_comm(tid).empty()) ++alive;
  EXPECT_EQ(alive, 1);
  // The pool still works after workers exited.
  Work w;
  w.fn = [](Work* x) { x->result = 11; };
  ASSERT_EQ(pool.submit(&w), 0);
  ASSERT_EQ(pool.wait(&w), 0);
  EXPECT_EQ(w.result, 11);
}

TEST(PoolCaps, WorkerThreadsAreNamed) {
  Watchdog wd(30, "PoolCaps.WorkerThreadsAreNamed");
  BlockingItem items[3] = {BlockingItem(Class::Bound), BlockingItem(Class::Bound),
                           BlockingItem(Class::Unbound)};
  iowq::Pool pool(make_opts(2, 2));
  HangupOnExit guard{&items[0].sp, &items[1].sp, &items[2].sp};
  ASSERT_EQ(pool.start(), 0);
  for (auto& b : items) ASSERT_EQ(pool.submit(&b.w), 0);
  for (auto& b : items) ASSERT_TRUE(b.wait_started());
  std::vector<int> tids = pool.worker_tids();
  EXPECT_EQ(tids.size(), 3u);
  std::set<std::string> names;
  for (int tid : tids) {
    std::string n = thread_comm(tid);
    EXPECT_TRUE(is_worker_name(n)) << "tid " << tid << " is named '" << n << "'";
    names.insert(n);
  }
  EXPECT_EQ(names.size(), tids.size()) << "worker names should be distinct";
  for (auto& b : items) {
    int tid = b.tid.load();
    EXPECT_NE(std::find(tids.begin(), tids.end(), tid), tids.end())
        << "fn ran on tid " << tid << " not listed by worker_tids()";
    EXPECT_NE(tid, int(::gettid()));
  }
  for (auto& b : items) ASSERT_TRUE(b.release());
  for (auto& b : items) ASSERT_EQ(pool.wait(&b.w), 0);
}

// Records the signal mask of the worker running the item.
struct MaskProbe {
  Work w;
  sigset_t set;
  std::atomic<int> rc{-1};
  explicit MaskProbe(Class c) {
    sigemptyset(&set);
    w.cls = c;
    w.ctx = this;
    w.fn = [](Work* x) {
      auto* p = static_cast<MaskProbe*>(x->ctx);
      p->rc.store(pthread_sigmask(SIG_BLOCK, nullptr, &p->set));
      x->result = 0;
    };
  }
};

// The cancel signal is open only while unbound work runs.
void check_mask(const sigset_t& set, int cancel_sig, bool cancel_open) {
  for (int sig = 1; sig <= SIGRTMAX; ++sig) {
    // Unblockable, or reserved by glibc (32, 33: never shown as blocked).
    if (sig == SIGKILL || sig == SIGSTOP || (sig >= 32 && sig < SIGRTMIN)) continue;
    bool blocked = sigismember(&set, sig) == 1;
    if (sig == cancel_sig && cancel_open)
      EXPECT_FALSE(blocked) << "the cancel signal " << sig << " is blocked in an unbound worker";
    else
      EXPECT_TRUE(blocked) << "signal " << sig << " is not blocked in a worker";
  }
}

void masks_case(int cancel_signal) {
  iowq::Options o = make_opts(1, 1);
  o.cancel_signal = cancel_signal;
  const int expect_sig = cancel_signal ? cancel_signal : iowq::Options::default_cancel_signal();
  MaskProbe pb(Class::Bound), pu(Class::Unbound);
  iowq::Pool pool(o);
  ASSERT_EQ(pool.start(), 0);
  for (MaskProbe* p : {&pb, &pu}) {
    ASSERT_EQ(pool.submit(&p->w), 0);
    ASSERT_EQ(pool.wait(&p->w), 0);
    ASSERT_EQ(p->rc.load(), 0);
    SCOPED_TRACE(p->w.cls == Class::Bound ? "bound worker" : "unbound worker");
    check_mask(p->set, expect_sig, p->w.cls == Class::Unbound);
  }
}

TEST(PoolCaps, WorkersBlockAllSignalsButTheCancelSignalForUnboundWork) {
  EXPECT_EQ(iowq::Options::default_cancel_signal(), SIGRTMIN + 3);
  masks_case(0);
}

TEST(PoolCaps, CustomCancelSignalIsTheOneLeftOpen) { masks_case(SIGRTMIN + 5); }

}  // namespace
