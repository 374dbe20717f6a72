// tests/core/test_util.hpp — shared helpers for the core GoogleTest suite.
//
// What is here: a clock, a bounded poll loop (the only way tests wait for a
// condition: no fixed sleeps as synchronisation), a watchdog that aborts a
// hung test with a message, an RAII socketpair plus a "blocking item" whose fn
// waits in recv() following the EINTR contract of iowq/work.hpp, CPU pinning,
// and /proc readers. Everything shared between threads is std::atomic so the
// suite stays clean under ThreadSanitizer.
#pragma once

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "iowq/pool.hpp"

namespace iowq_test {

// ---- Time and polling -------------------------------------------------------

inline uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// Polls `pred` every ~100 us until it holds or `timeout_ms` passed. Returns the
// final value of pred. This is how tests wait for asynchronous state.
template <class Pred>
bool poll_until(Pred pred, unsigned timeout_ms = 5000) {
  const uint64_t end = now_ns() + uint64_t(timeout_ms) * 1000000ull;
  for (;;) {
    if (pred()) return true;
    if (now_ns() > end) return pred();
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

// Busy work that the compiler cannot drop (one `pause` per step).
inline void spin(unsigned n) {
  for (unsigned i = 0; i < n; ++i) asm volatile("pause" ::: "memory");
}

// ---- Watchdog ---------------------------------------------------------------

// Aborts the process with a message if it is still armed after `seconds`. A
// hung pool would otherwise only show up as a CTest timeout with no context.
class Watchdog {
 public:
  Watchdog(unsigned seconds, std::string what) : what_(std::move(what)) {
    th_ = std::thread([this, seconds] {
      std::unique_lock<std::mutex> lk(mu_);
      if (!cv_.wait_for(lk, std::chrono::seconds(seconds), [this] { return stop_; })) {
        std::fprintf(stderr, "WATCHDOG: %s did not finish within %u s (progress %ld); aborting\n",
                     what_.c_str(), seconds, progress_.load());
        std::fflush(stderr);
        std::abort();
      }
    });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    th_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  // A progress mark printed if the watchdog fires (e.g. the iteration).
  void progress(long v) { progress_.store(v, std::memory_order_relaxed); }

 private:
  std::string what_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::atomic<long> progress_{-1};
  std::thread th_;
};

// ---- Socketpair and blocking items -----------------------------------------

// An AF_UNIX stream pair. reader() is where items block in recv(); writes to
// the other end release them one byte each; hangup() releases every reader
// for good (recv returns 0), which is also done on destruction so a failed
// test never leaves a worker blocked forever.
class SocketPair {
 public:
  SocketPair() {
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd_) != 0) fd_[0] = fd_[1] = -1;
  }
  ~SocketPair() {
    hangup();
    if (fd_[1] >= 0) ::close(fd_[1]);
    if (fd_[0] >= 0) ::close(fd_[0]);
  }
  SocketPair(const SocketPair&) = delete;
  SocketPair& operator=(const SocketPair&) = delete;
  bool ok() const { return fd_[0] >= 0; }
  int reader() const { return fd_[0]; }
  int writer() const { return fd_[1]; }
  // Sends n bytes; each releases one recv() of one byte.
  bool send_bytes(size_t n = 1) {
    const char buf[64] = {};
    while (n > 0) {
      size_t chunk = n < sizeof buf ? n : sizeof buf;
      ssize_t r = ::send(fd_[1], buf, chunk, MSG_NOSIGNAL);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      n -= size_t(r);
    }
    return true;
  }
  void hangup() {
    if (fd_[1] >= 0) ::shutdown(fd_[1], SHUT_WR);
  }

 private:
  int fd_[2];
};

// recv() of one byte following the work.hpp contract: on EINTR, retry unless
// the item was cancelled. Counts EINTRs seen in *eintrs. Returns the byte
// count (1, or 0 on hangup) or -errno. The retry count is bounded so a
// signal storm cannot spin forever.
inline int64_t recv_one(iowq::Work* w, int fd, std::atomic<int>* eintrs = nullptr) {
  char c;
  for (int i = 0; i < 10000000; ++i) {
    ssize_t r = ::recv(fd, &c, 1, 0);
    if (r >= 0) return r;
    int e = errno;
    if (e != EINTR) return -e;
    if (eintrs) eintrs->fetch_add(1, std::memory_order_relaxed);
    if (w->cancelled()) return -EINTR;
  }
  return -EINTR;
}

// A Work whose fn blocks in recv() on its own socketpair until released.
// Records when it started and returned, its worker's tid and EINTRs seen.
struct BlockingItem {
  iowq::Work w;
  SocketPair sp;
  std::atomic<int> started{0};
  std::atomic<int> returned{0};
  std::atomic<int> eintrs{0};
  std::atomic<int> tid{0};

  explicit BlockingItem(iowq::Class c = iowq::Class::Bound, bool hashed = false, uint64_t key = 0) {
    w.fn = &BlockingItem::run;
    w.ctx = this;
    w.cls = c;
    w.hashed = hashed;
    w.key = key;
  }
  static void run(iowq::Work* w) {
    auto* b = static_cast<BlockingItem*>(w->ctx);
    b->tid.store(int(::gettid()), std::memory_order_relaxed);
    b->started.store(1, std::memory_order_release);
    w->result = recv_one(w, b->sp.reader(), &b->eintrs);
    b->returned.store(1, std::memory_order_release);
  }
  bool wait_started(unsigned timeout_ms = 5000) {
    return poll_until([this] { return started.load(std::memory_order_acquire) != 0; }, timeout_ms);
  }
  bool release() { return sp.send_bytes(1); }
};

// Declared after the Pool in a test: on scope exit (also after a failed
// ASSERT) hangs up every listed socketpair before the Pool's destructor runs,
// so bound work blocked in recv() can finish and shutdown() cannot hang.
class HangupOnExit {
 public:
  HangupOnExit(std::initializer_list<SocketPair*> l) : v_(l) {}
  void add(SocketPair* s) { v_.push_back(s); }
  ~HangupOnExit() {
    for (SocketPair* s : v_) s->hangup();
  }

 private:
  std::vector<SocketPair*> v_;
};

// ---- Pool options -----------------------------------------------------------

inline iowq::Options make_opts(unsigned bound_max, unsigned unbound_max, int numa_nodes = 0) {
  iowq::Options o;
  o.bound_max = bound_max;
  o.unbound_max = unbound_max;
  o.numa_nodes = numa_nodes;
  return o;
}

// ---- CPUs, threads, /proc ---------------------------------------------------

inline bool pin_to_cpu(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  return pthread_setaffinity_np(pthread_self(), sizeof s, &s) == 0;
}

// CPUs the calling thread may run on.
inline std::vector<int> thread_cpus() {
  std::vector<int> out;
  cpu_set_t s;
  CPU_ZERO(&s);
  if (sched_getaffinity(0, sizeof s, &s) != 0) return out;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &s)) out.push_back(c);
  return out;
}

// /proc/self/task/<tid>/comm without the newline ("" if unreadable).
inline std::string thread_comm(int tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/comm");
  std::string s;
  std::getline(f, s);
  return s;
}

inline bool is_worker_name(const std::string& s) {
  const std::string p = "iowq-wrk-";
  if (s.size() <= p.size() || s.compare(0, p.size(), p) != 0) return false;
  for (size_t i = p.size(); i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

}  // namespace iowq_test
