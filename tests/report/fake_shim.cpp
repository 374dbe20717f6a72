// tests/report/fake_shim.cpp — a shared library built like libiowq.so
// (iowq_report linked in, hidden visibility, version script `local: *;`), so
// the tests can check what such a library exports and that call-site capture
// skips every frame inside it.
#include <unistd.h>

#include <cstdint>

#include "callsites.hpp"
#include "noipa.hpp"
#include "report.hpp"

using namespace iowq::shim;

namespace {
// Two frames of "shim" between the host's call and callsites_record, as an
// interposer -> routing -> wait chain would have.
__attribute__((IOWQ_NOIPA)) void fake_route(uint64_t ns) {
  callsites_record(ns);
  asm volatile("" ::: "memory");  // not a tail call: keep this frame
}
}  // namespace

extern "C" {

__attribute__((visibility("default"))) void fake_shim_init(unsigned depth) {
  callsites_init(depth);
  callsites_reset();  // each test starts from an empty table
}

__attribute__((visibility("default"), IOWQ_NOIPA)) void fake_shim_blocking_call(uint64_t ns) {
  fake_route(ns);
  asm volatile("" ::: "memory");
}

// `levels` more frames of "shim" (more than callsites_record expects at first).
__attribute__((visibility("default"), IOWQ_NOIPA)) void fake_shim_deep_call(int levels, uint64_t ns) {
  if (levels > 0)
    fake_shim_deep_call(levels - 1, ns);
  else
    fake_route(ns);
  asm volatile("" ::: "memory");
}

__attribute__((visibility("default"))) int fake_shim_report(const char* dest, unsigned top) {
  ReportInput in;
  in.pid = static_cast<int>(getpid());
  in.program = "fake_shim";
  in.counters = &g_counters;
  in.callsites_top = top;
  return write_report(in, dest, true);
}

}  // extern "C"
