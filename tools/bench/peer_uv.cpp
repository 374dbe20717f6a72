// tools/bench/peer_uv.cpp — "roundtrip_4k/libuv": uv_fs_write on the default
// loop (runs on libuv's threadpool), then uv_run until the request completed.
// Built only when CMake found libuv.
#include <uv.h>

#include "bench_util.hpp"

namespace iowq_bench {
namespace {

void on_write(uv_fs_t*) {}

void bm_libuv(benchmark::State& st) {
  TempFile f;
  if (!f.ok()) return st.SkipWithError("temp file");
  uv_loop_t* loop = uv_default_loop();
  run_round_trips(st, [&]() -> long {
    uv_fs_t req;
    uv_buf_t b = uv_buf_init(f.buf(), unsigned(kOpBytes));
    int rc = uv_fs_write(loop, &req, f.fd(), &b, 1, 0, on_write);
    if (rc < 0) return rc;
    uv_run(loop, UV_RUN_DEFAULT);  // returns once the request is done
    long res = long(req.result);
    uv_fs_req_cleanup(&req);
    return res;
  });
}

const bool registered = [] {
  benchmark::RegisterBenchmark("roundtrip_4k/libuv", bm_libuv)->UseRealTime();
  return true;
}();

}  // namespace
}  // namespace iowq_bench
