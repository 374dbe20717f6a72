// tools/bench/core_bench.cpp — iowq-bench-core: one 4 KiB page-cache write,
// submit -> complete as seen by the caller, for every system side by side.
//
// Benchmarks are named "roundtrip_4k/<system>". This file holds the systems
// that need nothing beyond glibc and iowq_core: direct, iowq_pool,
// iowq_pool_nospin, mutex_condvar, glibc_aio. peer_uring.cpp and peer_uv.cpp
// add io_uring_async and libuv when CMake found those libraries. Shared loop,
// counters and temp file: bench_util.hpp. run.sh turns the JSON output into
// ratios against `direct`.
#include <aio.h>
#include <errno.h>
#include <sys/stat.h>

#include "bench_util.hpp"
#include "iowq/pool.hpp"
#include "iowq/work.hpp"
#include "mutex_pool.hpp"

namespace iowq_bench {
namespace {

// ---- direct: pwrite in the caller ------------------------------------------
void bm_direct(benchmark::State& st) {
  TempFile f;
  if (!f.ok()) return st.SkipWithError("temp file");
  run_round_trips(st, [&] { return long(pwrite(f.fd(), f.buf(), kOpBytes, 0)); });
}

// ---- iowq::Pool: bound, hashed by the file's inode --------------------------
struct PwriteCtx {
  int fd;
  const char* buf;
};

void pwrite_work(iowq::Work* w) {
  auto* c = static_cast<PwriteCtx*>(w->ctx);
  ssize_t r = pwrite(c->fd, c->buf, kOpBytes, 0);
  w->result = r < 0 ? -errno : r;
}

void bm_iowq_pool(benchmark::State& st, unsigned spin_us) {
  TempFile f;
  if (!f.ok()) return st.SkipWithError("temp file");
  struct stat sb;
  fstat(f.fd(), &sb);
  iowq::Options opts;
  opts.spin_us = spin_us;
  iowq::Pool pool(opts);
  if (pool.start() != 0) return st.SkipWithError("Pool::start failed");

  PwriteCtx ctx{f.fd(), f.buf()};
  iowq::Work w;
  w.fn = pwrite_work;
  w.ctx = &ctx;
  w.cls = iowq::Class::Bound;
  w.hashed = true;
  w.key = (uint64_t(sb.st_dev) << 40) ^ uint64_t(sb.st_ino);

  long fallbacks = 0;  // submits the pool refused (ran inline): must stay 0
  auto op = [&]() -> long {
    w.rearm();
    if (pool.submit(&w) != 0) {
      ++fallbacks;
      pwrite_work(&w);
      return long(w.result);
    }
    pool.wait(&w);
    return long(w.result);
  };
  for (int i = 0; i < 16; ++i) op();  // first worker is created lazily: keep it out of the numbers
  run_round_trips(st, op);
  st.counters["fallbacks"] = double(fallbacks);
  pool.shutdown();
}

// ---- mutex + condvar single-worker pool -------------------------------------
long pwrite_job(void* arg) {
  auto* f = static_cast<TempFile*>(arg);
  return long(pwrite(f->fd(), f->buf(), kOpBytes, 0));
}

void bm_mutex_condvar(benchmark::State& st) {
  TempFile f;
  if (!f.ok()) return st.SkipWithError("temp file");
  MutexPool pool;
  run_round_trips(st, [&] { return pool.run(pwrite_job, &f); });
}

// ---- glibc POSIX AIO: aio_write + aio_suspend --------------------------------
void bm_glibc_aio(benchmark::State& st) {
  TempFile f;
  if (!f.ok()) return st.SkipWithError("temp file");
  run_round_trips(st, [&]() -> long {
    aiocb cb;
    std::memset(&cb, 0, sizeof cb);
    cb.aio_fildes = f.fd();
    cb.aio_buf = f.buf();
    cb.aio_nbytes = kOpBytes;
    cb.aio_offset = 0;
    if (aio_write(&cb) != 0) return -errno;
    const aiocb* list[1] = {&cb};
    int e;
    for (int spins = 0; (e = aio_error(&cb)) == EINPROGRESS && spins < 1000000; ++spins)
      aio_suspend(list, 1, nullptr);
    if (e != 0) return -e;
    return long(aio_return(&cb));
  });
}

const bool registered = [] {
  benchmark::RegisterBenchmark("roundtrip_4k/direct", bm_direct)->UseRealTime();
  benchmark::RegisterBenchmark("roundtrip_4k/iowq_pool", bm_iowq_pool, iowq::Options{}.spin_us)
      ->UseRealTime();
  benchmark::RegisterBenchmark("roundtrip_4k/iowq_pool_nospin", bm_iowq_pool, 0u)->UseRealTime();
  benchmark::RegisterBenchmark("roundtrip_4k/mutex_condvar", bm_mutex_condvar)->UseRealTime();
  benchmark::RegisterBenchmark("roundtrip_4k/glibc_aio", bm_glibc_aio)->UseRealTime();
  return true;
}();

}  // namespace
}  // namespace iowq_bench

BENCHMARK_MAIN();
