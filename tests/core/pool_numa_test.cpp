// tests/core/pool_numa_test.cpp — per-node pools on a fake two-node topology.
//
// Contract (iowq/pool.hpp): Options.numa_nodes = N > 0 splits the allowed
// CPUs into N fake nodes; work is queued on the node of the CPU that submits
// it (Work::node), a node's workers only run on that node's CPUs, hashed work
// follows its key while earlier items of the key are in flight, and
// Options.cpus restricts workers further. The CPU sets are taken from
// node_cpus(), not assumed. Needs 2 CPUs (skipped with a reason otherwise).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "test_util.hpp"

namespace {

using iowq::Class;
using iowq::Work;
using namespace iowq_test;

// Records where its worker runs and which CPUs it may run on.
struct Probe {
  Work w;
  std::atomic<int> cpu{-1};
  std::atomic<int> started{0};
  std::vector<int> mask;  // written in fn, read after wait()
  explicit Probe(Class c = Class::Bound, bool hashed = false, uint64_t key = 0) {
    w.cls = c;
    w.hashed = hashed;
    w.key = key;
    w.ctx = this;
    w.fn = [](Work* x) {
      auto* p = static_cast<Probe*>(x->ctx);
      p->cpu.store(sched_getcpu());
      p->mask = thread_cpus();
      p->started.store(1);
      x->result = 1;
    };
  }
};

bool contains(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

bool subset(const std::vector<int>& a, const std::vector<int>& b) {
  for (int x : a)
    if (!contains(b, x)) return false;
  return !a.empty();
}

// Runs `f` on a thread pinned to `cpu`; returns false if pinning failed.
template <class F>
bool on_cpu(int cpu, F f) {
  bool pinned = false;
  std::thread t([&] {
    pinned = pin_to_cpu(cpu) && sched_getcpu() == cpu;
    if (pinned) f();
  });
  t.join();
  return pinned;
}

std::string str(const std::vector<int>& v) {
  std::string s = "{";
  for (int x : v) s += std::to_string(x) + " ";
  return s + "}";
}

#define REQUIRE_TWO_CPUS()      \
  if (thread_cpus().size() < 2) \
  GTEST_SKIP() << "needs at least 2 allowed CPUs for two fake nodes (have " << thread_cpus().size() << ")"

TEST(PoolNuma, FakeTwoNodeTopology) {
  REQUIRE_TWO_CPUS();
  iowq::Pool pool(make_opts(2, 2, 2));
  ASSERT_EQ(pool.num_nodes(), 2u);
  std::vector<int> n0 = pool.node_cpus(0), n1 = pool.node_cpus(1);
  EXPECT_FALSE(n0.empty());
  EXPECT_FALSE(n1.empty());
  std::set<int> all(n0.begin(), n0.end());
  for (int c : n1) EXPECT_TRUE(all.insert(c).second) << "cpu " << c << " in both nodes";
  std::vector<int> allowed = thread_cpus();
  EXPECT_EQ(std::vector<int>(all.begin(), all.end()), allowed)
      << "the fake nodes should split the allowed CPUs";
  for (int c : n0) EXPECT_EQ(pool.node_of_cpu(c), 0);
  for (int c : n1) EXPECT_EQ(pool.node_of_cpu(c), 1);
  EXPECT_EQ(pool.cap(0, Class::Bound), 2u);
  EXPECT_EQ(pool.cap(1, Class::Bound), 2u);
}

TEST(PoolNuma, RealTopologyCoversAllowedCpus) {
  iowq::Pool pool;  // numa_nodes = -1
  ASSERT_GE(pool.num_nodes(), 1u);
  for (int c : thread_cpus()) {
    int n = pool.node_of_cpu(c);
    ASSERT_GE(n, 0) << "cpu " << c;
    ASSERT_LT(unsigned(n), pool.num_nodes());
    EXPECT_TRUE(contains(pool.node_cpus(unsigned(n)), c));
  }
}

TEST(PoolNuma, WorkRunsOnTheSubmittingCpusNode) {
  REQUIRE_TWO_CPUS();
  Watchdog wd(30, "PoolNuma.WorkRunsOnTheSubmittingCpusNode");
  iowq::Pool pool(make_opts(2, 2, 2));
  ASSERT_EQ(pool.start(), 0);
  ASSERT_EQ(pool.num_nodes(), 2u);
  for (unsigned node = 0; node < 2; ++node) {
    const std::vector<int> cpus = pool.node_cpus(node);
    ASSERT_FALSE(cpus.empty());
    for (Class c : {Class::Bound, Class::Unbound}) {
      SCOPED_TRACE("node " + std::to_string(node) + (c == Class::Bound ? " bound" : " unbound"));
      Probe p(c);
      int sr = -1, wr = -1;
      ASSERT_TRUE(on_cpu(cpus.front(), [&] {
        sr = pool.submit(&p.w);
        if (sr == 0) wr = pool.wait(&p.w);
      }));
      ASSERT_EQ(sr, 0);
      ASSERT_EQ(wr, 0);
      EXPECT_EQ(p.w.node, node) << "queued on the wrong node";
      EXPECT_TRUE(contains(cpus, p.cpu.load()))
          << "ran on cpu " << p.cpu.load() << ", node cpus " << str(cpus);
      EXPECT_TRUE(contains(cpus, p.w.cpu.load())) << "Work::cpu " << p.w.cpu.load();
      EXPECT_TRUE(subset(p.mask, cpus))
          << "worker affinity " << str(p.mask) << " not within node cpus " << str(cpus);
    }
  }
  iowq::Stats st = pool.stats();
  EXPECT_EQ(st.bound.created, 2u) << "one bound worker per node";
  EXPECT_EQ(st.unbound.created, 2u) << "one unbound worker per node";
}

TEST(PoolNuma, HashedWorkFollowsItsKeyAcrossNodes) {
  REQUIRE_TWO_CPUS();
  Watchdog wd(30, "PoolNuma.HashedWorkFollowsItsKeyAcrossNodes");
  const uint64_t key = 0x77ull << 56;
  BlockingItem first(Class::Bound, true, key);
  Probe second(Class::Bound, true, key);
  iowq::Pool pool(make_opts(2, 2, 2));
  HangupOnExit guard{&first.sp};
  ASSERT_EQ(pool.start(), 0);
  const std::vector<int> n0 = pool.node_cpus(0), n1 = pool.node_cpus(1);
  ASSERT_FALSE(n0.empty());
  ASSERT_FALSE(n1.empty());
  int sr = -1;
  ASSERT_TRUE(on_cpu(n0.front(), [&] { sr = pool.submit(&first.w); }));
  ASSERT_EQ(sr, 0);
  ASSERT_TRUE(first.wait_started());
  ASSERT_TRUE(on_cpu(n1.front(), [&] { sr = pool.submit(&second.w); }));
  ASSERT_EQ(sr, 0);
  EXPECT_FALSE(poll_until([&] { return second.started.load() != 0; }, 50))
      << "the key ran on two nodes at once";
  ASSERT_TRUE(first.release());
  ASSERT_EQ(pool.wait(&first.w), 0);
  ASSERT_EQ(pool.wait(&second.w), 0);
  EXPECT_EQ(first.w.node, 0u);
  EXPECT_EQ(second.w.node, 0u) << "hashed work must follow its key while the key is in flight";
  EXPECT_TRUE(contains(n0, second.cpu.load()));
  // Once the key is idle, new work of the key goes to the submitter's node.
  Probe third(Class::Bound, true, key);
  int wr = -1;
  ASSERT_TRUE(on_cpu(n1.front(), [&] {
    sr = pool.submit(&third.w);
    if (sr == 0) wr = pool.wait(&third.w);
  }));
  ASSERT_EQ(sr, 0);
  ASSERT_EQ(wr, 0);
  EXPECT_EQ(third.w.node, 1u);
  EXPECT_TRUE(contains(n1, third.cpu.load()));
}

TEST(PoolNuma, OptionCpusRestrictsWorkers) {
  REQUIRE_TWO_CPUS();
  Watchdog wd(30, "PoolNuma.OptionCpusRestrictsWorkers");
  const std::vector<int> allowed = thread_cpus();
  const int only = allowed.back();
  iowq::Options o = make_opts(2, 2, 0);
  o.cpus = {only};
  iowq::Pool pool(o);
  ASSERT_EQ(pool.start(), 0);
  for (Class c : {Class::Bound, Class::Unbound}) {
    SCOPED_TRACE(c == Class::Bound ? "bound" : "unbound");
    Probe p(c);
    int sr = -1, wr = -1;
    // Submit from another CPU: the restriction, not the submitter, decides.
    ASSERT_TRUE(on_cpu(allowed.front(), [&] {
      sr = pool.submit(&p.w);
      if (sr == 0) wr = pool.wait(&p.w);
    }));
    ASSERT_EQ(sr, 0);
    ASSERT_EQ(wr, 0);
    EXPECT_EQ(p.cpu.load(), only);
    EXPECT_EQ(p.mask, std::vector<int>{only}) << "worker affinity " << str(p.mask);
  }
}

}  // namespace
