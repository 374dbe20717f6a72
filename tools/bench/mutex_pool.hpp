// tools/bench/mutex_pool.hpp — the textbook thread pool, as a comparison peer.
//
// One worker, one std::mutex, a FIFO of jobs, one condition variable for
// "work queued" and one for "job done". The caller of run() queues a job and
// sleeps on the done condvar until the worker finished it: two cross-thread
// wake-ups per op and no spinning — what most hand-written pools do.
// Thread safety: run() may be called from any thread; the destructor joins.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace iowq_bench {

class MutexPool {
 public:
  struct Job {
    long (*fn)(void*) = nullptr;
    void* arg = nullptr;
    long result = 0;
    bool done = false;
  };

  MutexPool() : worker_([this] { loop(); }) {}
  ~MutexPool() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
    }
    work_cv_.notify_one();
    worker_.join();
  }
  MutexPool(const MutexPool&) = delete;
  MutexPool& operator=(const MutexPool&) = delete;

  // Runs fn(arg) on the worker and returns its result.
  long run(long (*fn)(void*), void* arg) {
    Job j;
    j.fn = fn;
    j.arg = arg;
    std::unique_lock<std::mutex> lk(m_);
    q_.push_back(&j);
    work_cv_.notify_one();
    done_cv_.wait(lk, [&] { return j.done; });
    return j.result;
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lk(m_);
    for (;;) {
      work_cv_.wait(lk, [&] { return stop_ || !q_.empty(); });
      if (q_.empty()) return;  // stop_ and nothing left
      Job* j = q_.front();
      q_.pop_front();
      lk.unlock();
      long r = j->fn(j->arg);
      lk.lock();
      j->result = r;
      j->done = true;
      done_cv_.notify_all();
    }
  }

  std::mutex m_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<Job*> q_;
  bool stop_ = false;
  std::thread worker_;  // last: starts after the members it uses exist
};

}  // namespace iowq_bench
