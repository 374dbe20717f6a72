// tests/core/pool_order_test.cpp — hashed work: per-key exclusivity and order.
//
// Contract (iowq/work.hpp, pool.hpp): items with the same 64-bit key run one
// at a time, in submission order; keys compare exactly (keys that differ only
// in high bits are different keys); unhashed work is not ordered. A full
// intake makes submit() return -EAGAIN, after which the caller retries.
//
// Load: 4 submitting threads x 25,600 preallocated items over 64 keys (1 in 8
// unhashed), completed through `done` callbacks, with a small intake so the
// -EAGAIN path is exercised. Checked inside fn: a per-key "running" counter
// never exceeds 1 and per (key, submitter) the sequence numbers arrive in
// order. Run on one node and on two fake nodes (submitters pinned to both, so
// a key is submitted from two nodes at once and must follow its key).
#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "test_util.hpp"

namespace {

using iowq::Class;
using iowq::Work;
using namespace iowq_test;

constexpr int kThreads = 4;
constexpr int kKeys = 64;
constexpr int kPerThread = 25600;   // 4 x 25,600 = 102,400 items
constexpr unsigned kSpinInFn = 50;  // widens the window for overlap

struct Shared;

struct Item {
  Work w;
  Shared* sh = nullptr;
  uint16_t thread = 0;
  uint16_t key = 0;  // index into Shared::keys
  uint32_t seq = 0;  // 1-based per (key, thread); 0 for unhashed
};

struct Shared {
  uint64_t keys[kKeys];
  std::atomic<int> running[kKeys];
  std::atomic<uint32_t> last_seq[kKeys][kThreads];
  std::atomic<uint64_t> exclusivity_violations{0};
  std::atomic<uint64_t> order_violations{0};
  std::atomic<uint64_t> wrong_key{0};
  std::atomic<uint64_t> bad_result{0};
  std::atomic<uint64_t> ran_hashed{0};
  std::atomic<uint64_t> ran_unhashed{0};
  std::atomic<uint64_t> done[kThreads];
  std::atomic<uint64_t> eagain{0};
  std::atomic<uint64_t> submit_errors{0};

  Shared() {
    // Keys 0..31 small; 32..47 = 0..15 with bit 63 set; 48..63 = 16..31 with
    // bit 40 set. Exact comparison keeps all 64 distinct.
    for (int i = 0; i < 32; ++i) keys[i] = 0x100 + uint64_t(i) * 7;
    for (int i = 0; i < 16; ++i) keys[32 + i] = keys[i] | (1ull << 63);
    for (int i = 0; i < 16; ++i) keys[48 + i] = keys[16 + i] | (1ull << 40);
    for (auto& r : running) r.store(0);
    for (auto& k : last_seq)
      for (auto& t : k) t.store(0);
    for (auto& d : done) d.store(0);
  }
};

void item_fn(Work* w) {
  auto* it = static_cast<Item*>(w->ctx);
  Shared& sh = *it->sh;
  if (w->hashed) {
    if (w->key != sh.keys[it->key]) sh.wrong_key.fetch_add(1);
    if (sh.running[it->key].fetch_add(1, std::memory_order_acq_rel) != 0)
      sh.exclusivity_violations.fetch_add(1);
    uint32_t prev = sh.last_seq[it->key][it->thread].load(std::memory_order_relaxed);
    if (prev + 1 != it->seq) sh.order_violations.fetch_add(1);
    sh.last_seq[it->key][it->thread].store(it->seq, std::memory_order_relaxed);
    spin(kSpinInFn);
    sh.running[it->key].fetch_sub(1, std::memory_order_acq_rel);
    sh.ran_hashed.fetch_add(1, std::memory_order_relaxed);
  } else {
    spin(kSpinInFn);
    sh.ran_unhashed.fetch_add(1, std::memory_order_relaxed);
  }
  w->result = int64_t(it->seq) + 1000;
}

// The pool's last access to the item; ownership returns to the test here.
void item_done(Work* w) {
  auto* it = static_cast<Item*>(w->ctx);
  if (w->result != int64_t(it->seq) + 1000) it->sh->bad_result.fetch_add(1);
  it->sh->done[it->thread].fetch_add(1, std::memory_order_release);
}

void submitter(iowq::Pool& pool, Shared& sh, Item* items, int t, int pin_cpu) {
  if (pin_cpu >= 0) pin_to_cpu(pin_cpu);
  uint64_t submitted = 0;
  for (int i = 0; i < kPerThread; ++i) {
    Item& it = items[i];
    for (int attempt = 0;; ++attempt) {
      int r = pool.submit(&it.w);
      if (r == 0) break;
      if (r != -EAGAIN || attempt > 1000000) {
        sh.submit_errors.fetch_add(1);
        return;
      }
      sh.eagain.fetch_add(1, std::memory_order_relaxed);
      // Intake full: wait for one of our own items to complete, if we have
      // any in flight; otherwise another thread filled it, just yield.
      uint64_t seen = sh.done[t].load(std::memory_order_acquire);
      if (submitted > seen) {
        poll_until([&] { return sh.done[t].load(std::memory_order_acquire) > seen; }, 10000);
      } else {
        sched_yield();
      }
    }
    ++submitted;
  }
}

void run_order_load(int numa_nodes) {
  Watchdog wd(90, "PoolOrder load");
  auto sh = std::make_unique<Shared>();
  std::vector<std::unique_ptr<Item[]>> items;
  uint32_t next_seq[kKeys][kThreads] = {};
  uint64_t expected_hashed = 0, expected_unhashed = 0;
  for (int t = 0; t < kThreads; ++t) {
    items.emplace_back(new Item[kPerThread]);
    std::mt19937 rng(1234u + unsigned(t));
    for (int i = 0; i < kPerThread; ++i) {
      Item& it = items[t][i];
      it.sh = sh.get();
      it.thread = uint16_t(t);
      it.key = uint16_t(rng() % kKeys);
      it.w.fn = item_fn;
      it.w.done = item_done;
      it.w.ctx = &it;
      // A key keeps one class; every 4th key is unbound so both classes
      // are checked for hashing.
      it.w.cls = (it.key % 4 == 3) ? Class::Unbound : Class::Bound;
      if (rng() % 8 == 0) {
        it.w.hashed = false;
        it.w.key = sh->keys[it.key];  // a key on unhashed work must not matter
        ++expected_unhashed;
      } else {
        it.w.hashed = true;
        it.w.key = sh->keys[it.key];
        it.seq = ++next_seq[it.key][t];
        ++expected_hashed;
      }
    }
  }

  iowq::Options o = make_opts(4, 4, numa_nodes);
  o.queue_capacity = 256;  // small: exercise -EAGAIN and retry
  iowq::Pool pool(o);
  ASSERT_EQ(pool.start(), 0);
  std::vector<int> cpus = thread_cpus();

  std::vector<std::thread> th;
  for (int t = 0; t < kThreads; ++t) {
    int pin = numa_nodes >= 2 && cpus.size() >= 2 ? cpus[size_t(t) % cpus.size()] : -1;
    th.emplace_back(submitter, std::ref(pool), std::ref(*sh), items[t].get(), t, pin);
  }
  for (auto& x : th) x.join();
  ASSERT_EQ(sh->submit_errors.load(), 0u) << "submit() failed with something other than -EAGAIN";

  pool.drain();
  const uint64_t total = uint64_t(kThreads) * kPerThread;
  auto all_done = [&] {
    uint64_t s = 0;
    for (auto& d : sh->done) s += d.load(std::memory_order_acquire);
    return s;
  };
  // drain() returned: every item completed; `done` is the last access, so
  // allow it a moment to have been called for the very last ones.
  EXPECT_TRUE(poll_until([&] { return all_done() == total; }, 10000))
      << "done callbacks: " << all_done() << " of " << total;

  EXPECT_EQ(sh->exclusivity_violations.load(), 0u) << "two items of one key ran at once";
  EXPECT_EQ(sh->order_violations.load(), 0u) << "a key's items ran out of submission order";
  EXPECT_EQ(sh->wrong_key.load(), 0u);
  EXPECT_EQ(sh->bad_result.load(), 0u);
  EXPECT_EQ(sh->ran_hashed.load(), expected_hashed);
  EXPECT_EQ(sh->ran_unhashed.load(), expected_unhashed);
  for (int k = 0; k < kKeys; ++k)
    for (int t = 0; t < kThreads; ++t)
      EXPECT_EQ(sh->last_seq[k][t].load(), next_seq[k][t]) << "key " << k << " thread " << t;
  iowq::Stats st = pool.stats();
  EXPECT_LE(st.bound.max_alive, 4u * pool.num_nodes());
  EXPECT_LE(st.unbound.max_alive, 4u * pool.num_nodes());
  std::printf("[ info ] %llu items, %llu -EAGAIN retries, nodes=%u\n", (unsigned long long)total,
              (unsigned long long)sh->eagain.load(), pool.num_nodes());
}

TEST(PoolOrder, PerKeyOrderAndExclusivityOneNode) { run_order_load(0); }

TEST(PoolOrder, PerKeyOrderAndExclusivityTwoFakeNodes) {
  if (thread_cpus().size() < 2) GTEST_SKIP() << "needs 2 CPUs to submit from two nodes";
  run_order_load(2);
}

// Same key, strictly serial: a chain submitted by one thread runs in order
// even when the pool has many idle workers.
TEST(PoolOrder, SingleKeyChainRunsInOrder) {
  Watchdog wd(30, "PoolOrder.SingleKeyChainRunsInOrder");
  constexpr int kN = 2000;
  struct Ctx {
    std::atomic<int> next{0};
    std::atomic<int> bad{0};
    std::atomic<int> running{0};
  } ctx;
  struct Seq {
    Work w;
    Ctx* c;
    int i;
  };
  auto items = std::make_unique<Seq[]>(kN);
  for (int i = 0; i < kN; ++i) {
    items[i].c = &ctx;
    items[i].i = i;
    items[i].w.ctx = &items[i];
    items[i].w.hashed = true;
    items[i].w.key = 0xdeadbeefcafef00dull;
    items[i].w.fn = [](Work* w) {
      auto* s = static_cast<Seq*>(w->ctx);
      if (s->c->running.fetch_add(1) != 0) s->c->bad.fetch_add(1);
      if (s->c->next.load() != s->i) s->c->bad.fetch_add(1);
      s->c->next.store(s->i + 1);
      s->c->running.fetch_sub(1);
      w->result = s->i;
    };
  }
  iowq::Pool pool(make_opts(8, 8));
  ASSERT_EQ(pool.start(), 0);
  for (int i = 0; i < kN; ++i) ASSERT_EQ(pool.submit(&items[i].w), 0) << i;
  for (int i = 0; i < kN; ++i) {
    ASSERT_EQ(pool.wait(&items[i].w), 0);
    EXPECT_EQ(items[i].w.result, i);
  }
  EXPECT_EQ(ctx.bad.load(), 0);
  EXPECT_EQ(ctx.next.load(), kN);
  EXPECT_EQ(pool.inflight_key(0xdeadbeefcafef00dull), 0u);
}

}  // namespace
