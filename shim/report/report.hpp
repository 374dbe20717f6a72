// shim/report/report.hpp — the report the shim writes at process exit (IOWQ_STATS).
//
// Contract: write_report() formats one report — JSON exactly as docs/design.md §7 and
// briefs/report_format.md, or a text form with the same facts for people,
// whose first line is "iowq report: pid N (program)" — and writes it to
// `dest`: "stderr" (fd 2), or a path in which "%p" becomes the pid and "%%"
// a "%". The file is opened O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, mode 0644.
// All I/O uses raw syscalls (sys::open/write/close in libc.hpp) because
// the shim interposes write() and open(). Returns 0 or -errno. It allocates,
// so call it from exit (destructor/atexit), never from a signal handler.
//
// Sources: per-symbol and write-behind numbers and the caller latency come
// from `counters`; workers, queue-wait and service latencies from `pool`.
// "workers.max_alive" is bound.max_alive + unbound.max_alive (the classes peak
// independently, so this is an upper bound of the true peak). The cancel
// counts are the larger of the shim's and the pool's view of the same events.
#pragma once

#include <string>
#include <vector>

#include "counters.hpp"
#include "iowq/stats.hpp"

namespace iowq::shim {

struct ReportInput {
  int pid = 0;
  const char* program = "";
  const char* mode = "auto";  // "auto" | "pool"
  bool write_behind = false;
  const Counters* counters = nullptr;
  iowq::Stats pool{};
  std::vector<int> worker_tids;
  unsigned callsites_top = 0;  // 0 = no "callsites" key
};

int write_report(const ReportInput& in, const char* dest, bool json);

// The pieces, for tests and tools.
std::string format_report_json(const ReportInput& in);
std::string format_report_text(const ReportInput& in);
// "%p" -> pid, "%%" -> "%"; any other '%' is kept as is.
std::string expand_report_path(const char* pattern, int pid);

}  // namespace iowq::shim
