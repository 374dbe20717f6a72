// tools/bench/peer_uring.cpp — "roundtrip_4k/io_uring_async": the kernel's own
// io-wq. IORING_OP_WRITE with IOSQE_ASYNC (always punted to an io-wq worker,
// never tried inline), io_uring_submit_and_wait(1), reap the CQE.
// Built only when CMake found liburing; if the kernel refuses io_uring (old
// kernel, seccomp, sysctl io_uring_disabled) the benchmark reports an error
// and run.sh shows the row as skipped.
#include <liburing.h>

#include "bench_util.hpp"

namespace iowq_bench {
namespace {

void bm_io_uring_async(benchmark::State& st) {
  TempFile f;
  if (!f.ok()) return st.SkipWithError("temp file");
  io_uring ring;
  int rc = io_uring_queue_init(8, &ring, 0);
  if (rc < 0) return st.SkipWithError(("io_uring_queue_init: " + std::to_string(rc)).c_str());
  run_round_trips(st, [&]() -> long {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    if (!sqe) return -EBUSY;
    io_uring_prep_write(sqe, f.fd(), f.buf(), kOpBytes, 0);
    sqe->flags |= IOSQE_ASYNC;
    int s = io_uring_submit_and_wait(&ring, 1);
    if (s < 0) return s;
    io_uring_cqe* cqe = nullptr;
    int w = io_uring_wait_cqe(&ring, &cqe);
    if (w < 0) return w;
    long res = cqe->res;
    io_uring_cqe_seen(&ring, cqe);
    return res;
  });
  io_uring_queue_exit(&ring);
}

const bool registered = [] {
  benchmark::RegisterBenchmark("roundtrip_4k/io_uring_async", bm_io_uring_async)->UseRealTime();
  return true;
}();

}  // namespace
}  // namespace iowq_bench
