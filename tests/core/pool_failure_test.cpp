// tests/core/pool_failure_test.cpp — the pool under resource failure: no
// worker can be created (work is handed back to its submitters, keys in
// order), and std::bad_alloc never escapes (a cancel that cannot allocate a
// key's state still works; spilled items keep their key's order).
// The replaced global new/delete below use malloc/free on purpose.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cstdlib>
#include <new>
#include <vector>

#include "test_util.hpp"

using namespace iowq;
using namespace iowq_test;

// ---- allocation failure injection: only on the thread that asks for it ----
namespace {
thread_local bool tl_fail_alloc = false;
}  // namespace

void* operator new(std::size_t n) {
  if (tl_fail_alloc) throw std::bad_alloc();
  void* p = std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return tl_fail_alloc ? nullptr : std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

struct Rec {
  std::atomic<int> ran{0};
  std::atomic<int>* order = nullptr;  // next sequence number, shared
  std::atomic<int> seq{-1};
};

void rec_fn(Work* w) {
  auto* r = static_cast<Rec*>(w->ctx);
  r->ran.fetch_add(1);
  w->result = 7;
}

// Records the order in which done callbacks are called.
void rec_done(Work* w) {
  auto* r = static_cast<Rec*>(w->ctx);
  r->seq.store(r->order->fetch_add(1));
}

long vm_size_kb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmSize:", 0) == 0) return std::strtol(line.c_str() + 7, nullptr, 10);
  return -1;
}

// Runs `body` in a forked child with a 20 s alarm; returns its exit status.
template <class F>
int in_child(F body) {
  pid_t pid = fork();
  if (pid == 0) {
    alarm(20);
    _exit(body());
  }
  int st = 0;
  if (pid < 0 || waitpid(pid, &st, 0) != pid) return -1;
  if (WIFSIGNALED(st)) return 1000 + WTERMSIG(st);
  return WEXITSTATUS(st);
}

}  // namespace

// With RLIMIT_AS too low for a thread stack, no worker can start: waited
// items complete without running (-EAGAIN, handed_back()), callback items of
// one key are handed back in submission order, and nothing hangs.
TEST(PoolFailure, NoWorkerCanStartHandsWorkBack) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "sanitizer runtimes map memory of their own: no tight RLIMIT_AS (runs in the plain build)";
#endif
  int rc = in_child([]() -> int {
    Pool pool(make_opts(2, 2, 0));
    if (pool.start() != 0) return 2;
    long kb = vm_size_kb();
    if (kb <= 0) return 3;
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = static_cast<rlim_t>(kb + 160) * 1024;  // no room for a 256 KiB stack
    if (setrlimit(RLIMIT_AS, &rl) != 0) return 4;
    std::atomic<int> order{0};
    Rec waited[3], cb[4], unb;
    Work ww[3], wc[4], wu;
    for (int i = 0; i < 3; ++i) {
      ww[i].fn = rec_fn;
      ww[i].ctx = &waited[i];
      ww[i].hashed = true;
      ww[i].key = 11 + i % 2;
    }
    for (int i = 0; i < 4; ++i) {
      cb[i].order = &order;
      wc[i].fn = rec_fn;
      wc[i].done = rec_done;
      wc[i].ctx = &cb[i];
      wc[i].hashed = true;
      wc[i].key = 99;
    }
    wu.fn = rec_fn;
    wu.ctx = &unb;
    wu.cls = Class::Unbound;
    for (auto& w : wc)
      if (pool.submit(&w) != 0) return 5;
    for (auto& w : ww)
      if (pool.submit(&w) != 0) return 5;
    if (pool.submit(&wu) != 0) return 5;
    for (auto& w : ww) pool.wait(&w);
    pool.wait(&wu);
    for (int i = 0; i < 3; ++i)
      if (!ww[i].handed_back() || ww[i].result != -EAGAIN || waited[i].ran.load()) return 10 + i;
    if (!wu.handed_back() || wu.result != -EAGAIN || unb.ran.load()) return 20;
    // rec_done bumps the shared counter before it stores the record's seq:
    // wait for the records, not the counter.
    auto all_done = [&] {
      for (auto& c : cb)
        if (c.seq.load() < 0) return false;
      return true;
    };
    if (!poll_until(all_done, 10000) || order.load() != 4) return 30;
    for (int i = 0; i < 4; ++i)
      if (cb[i].seq.load() != i || cb[i].ran.load()) return 40 + i;
    pool.drain();
    return 0;
  });
  EXPECT_EQ(rc, 0) << "child failed at check " << rc << " (>= 1000: killed by signal rc - 1000)";
}

// A frozen pool (a seccomp filter is about to cover its threads) starts no
// thread: with one that kills the process on clone in place, queued work is
// handed back to its submitters.
TEST(PoolFailure, FrozenPoolStartsNoThread) {
  int rc = in_child([]() -> int {
    Pool pool(make_opts(2, 2, 0));
    if (pool.start() != 0) return 2;
    Rec first;
    Work w0;
    w0.fn = rec_fn;
    w0.ctx = &first;
    if (pool.submit(&w0) != 0) return 3;
    pool.wait(&w0);  // a bound worker exists, idle
    if (first.ran.load() != 1) return 4;
    pool.freeze();
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    };
    struct sock_fprog prog = {static_cast<unsigned short>(sizeof f / sizeof f[0]), f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 77;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0) return 77;
    // Three unbound items (no unbound worker exists) and two bound ones
    // (one idle worker may take one): none may start a thread.
    Rec ru[3], rb[2];
    Work wu[3], wb[2];
    for (int i = 0; i < 3; ++i) {
      wu[i].fn = rec_fn;
      wu[i].ctx = &ru[i];
      wu[i].cls = Class::Unbound;
      if (pool.submit(&wu[i]) != 0) return 5;
    }
    for (int i = 0; i < 2; ++i) {
      wb[i].fn = rec_fn;
      wb[i].ctx = &rb[i];
      if (pool.submit(&wb[i]) != 0) return 5;
    }
    for (auto& w : wu) pool.wait(&w);
    for (auto& w : wb) pool.wait(&w);
    for (int i = 0; i < 3; ++i)
      if (!wu[i].handed_back() || ru[i].ran.load()) return 10 + i;
    for (int i = 0; i < 2; ++i)
      if (!wb[i].handed_back() && rb[i].ran.load() != 1) return 20 + i;  // handed back or run
    return 0;
  });
  if (rc == 77) GTEST_SKIP() << "seccomp TSYNC filters not permitted here";
  EXPECT_EQ(rc, 0) << "child failed at check " << rc << " (>= 1000: killed by signal rc - 1000)";
}

// More keys at once than a class's fixed key block holds
// (KeyArena::kBlock, 128 KiB: about 2,000 key states): past it the key
// states come from the heap, on the manager (a worker, which never calls
// malloc, spills the item and the manager places it). No item is handed
// back, every one runs.
TEST(PoolFailure, KeysPastTheFixedBlockAllRun) {
  Watchdog wd(60, "KeysPastTheFixedBlockAllRun");
  Options o = make_opts(1, 1, 0);
  o.queue_capacity = 8192;
  Pool pool(o);
  ASSERT_EQ(pool.start(), 0);
  BlockingItem blocker;
  HangupOnExit hu{&blocker.sp};
  ASSERT_EQ(pool.submit(&blocker.w), 0);
  ASSERT_TRUE(blocker.wait_started());
  constexpr int kN = 6000;  // the only worker is busy: all queued at once
  std::vector<Rec> r(kN);
  std::vector<Work> w(kN);
  for (int i = 0; i < kN; ++i) {
    w[i].fn = rec_fn;
    w[i].ctx = &r[i];
    w[i].hashed = true;
    w[i].key = 1000 + static_cast<uint64_t>(i);
    ASSERT_EQ(pool.submit(&w[i]), 0) << "item " << i;
  }
  ASSERT_TRUE(blocker.release());
  int handed_back = 0, ran = 0;
  for (int i = 0; i < kN; ++i) {
    pool.wait(&w[i]);
    handed_back += w[i].handed_back();
    ran += r[i].ran.load() == 1 && w[i].result == 7;
  }
  EXPECT_EQ(handed_back, 0);
  EXPECT_EQ(ran, kN);
}

// cancel() is noexcept and drains the intake, which allocates a key's state:
// out of memory there, the item is kept aside (spilled), the cancel still
// finds it, and the key's other items keep their order once memory is back.
TEST(PoolFailure, BadAllocInCancelIsContained) {
  Watchdog wd(60, "BadAllocInCancelIsContained");
  Pool pool(make_opts(1, 1, 0));
  ASSERT_EQ(pool.start(), 0);
  BlockingItem blocker;
  HangupOnExit hu{&blocker.sp};
  ASSERT_EQ(pool.submit(&blocker.w), 0);
  ASSERT_TRUE(blocker.wait_started());
  // The only worker is busy and the cap is reached: nothing else drains the
  // intake until the cancel below does.
  std::atomic<int> order{0};
  Rec r[3];
  Work w[3];
  for (int i = 0; i < 3; ++i) {
    r[i].order = &order;
    w[i].fn = rec_fn;
    w[i].done = i == 1 ? nullptr : rec_done;
    w[i].ctx = &r[i];
    w[i].hashed = true;
    w[i].key = 0x5157;
  }
  ASSERT_EQ(pool.submit(&w[0]), 0);
  ASSERT_EQ(pool.submit(&w[1]), 0);
  ASSERT_EQ(pool.submit(&w[2]), 0);
  tl_fail_alloc = true;
  CancelResult cr = pool.cancel(&w[1]);
  tl_fail_alloc = false;
  EXPECT_EQ(cr, CancelResult::Ok);
  EXPECT_EQ(w[1].result, -ECANCELED);
  EXPECT_TRUE(w[1].finished());
  ASSERT_TRUE(blocker.release());
  pool.wait(&blocker.w);
  // rec_done bumps the counter before it stores seq: wait for both records.
  ASSERT_TRUE(poll_until([&] { return r[0].seq.load() >= 0 && r[2].seq.load() >= 0; }, 10000));
  EXPECT_EQ(order.load(), 2);
  EXPECT_EQ(r[0].seq.load(), 0);
  EXPECT_EQ(r[2].seq.load(), 1);
  EXPECT_EQ(r[0].ran.load(), 1);
  EXPECT_EQ(r[1].ran.load(), 0);
  EXPECT_EQ(r[2].ran.load(), 1);
  pool.drain();
}
