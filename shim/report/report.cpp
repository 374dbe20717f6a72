// shim/report/report.cpp — formats and writes the exit report. See report.hpp.
#include "report.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "callsites.hpp"
#include "sys/libc.hpp"

namespace iowq::shim {
namespace {

// ---- The facts both forms show -----------------------------------------------

struct Pct {
  uint64_t p50 = 0, p99 = 0;
};

struct Facts {
  uint64_t calls[kSymCount][kRanCount] = {};
  uint64_t totals[kRanCount] = {};
  uint64_t workers_created = 0, workers_max_alive = 0;
  uint64_t stall_timeouts = 0, cancel_running = 0, cancel_pending = 0;
  uint64_t wb_writes = 0, wb_bytes = 0, wb_syscalls = 0, wb_deferred_errors = 0, wb_peak = 0,
           wb_shared_off = 0, wb_sigsys_off = 0, wb_net_traps = 0, wb_space_plain = 0;
  Pct queue_wait, service, caller, file_calls;
  std::vector<Callsite> callsites;
};

uint64_t ld(const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); }

// The pool's pNN fields when it filled them, else computed from its buckets.
Pct pool_pct(uint64_t p50, uint64_t p99, const std::array<uint64_t, Histogram::kBuckets>& b) {
  uint64_t n = 0;
  for (uint64_t v : b) n += v;
  if ((p50 == 0 && p99 == 0) && n != 0)
    return {Histogram::percentile_of(b, 50), Histogram::percentile_of(b, 99)};
  return {p50, p99};
}

Facts gather(const ReportInput& in) {
  Facts f;
  if (const Counters* c = in.counters) {
    for (int s = 0; s < kSymCount; ++s)
      for (int r = 0; r < kRanCount; ++r) {
        f.calls[s][r] = ld(c->calls[s][r]);
        f.totals[r] += f.calls[s][r];
      }
    f.stall_timeouts = ld(c->stall_timeouts);
    f.cancel_running = ld(c->cancel_running);
    f.cancel_pending = ld(c->cancel_pending);
    f.wb_writes = ld(c->wb_writes);
    f.wb_bytes = ld(c->wb_bytes);
    f.wb_syscalls = ld(c->wb_syscalls);
    f.wb_deferred_errors = ld(c->wb_deferred_errors);
    f.wb_peak = ld(c->wb_peak_pending_bytes);
    f.wb_shared_off = ld(c->wb_shared_off);
    f.wb_sigsys_off = ld(c->wb_sigsys_off);
    f.wb_net_traps = ld(c->wb_net_traps);
    f.wb_space_plain = ld(c->wb_space_plain);
    f.caller = {c->caller_ns.percentile(50), c->caller_ns.percentile(99)};
    f.file_calls = {c->file_calls_ns.percentile(50), c->file_calls_ns.percentile(99)};
  }
  // The shim and the pool may both count the same cancels: never add them.
  f.cancel_running = std::max(f.cancel_running, in.pool.cancel_running);
  f.cancel_pending = std::max(f.cancel_pending, in.pool.cancel_pending);
  f.workers_created = in.pool.bound.created + in.pool.unbound.created;
  f.workers_max_alive = in.pool.bound.max_alive + in.pool.unbound.max_alive;
  f.queue_wait = pool_pct(in.pool.queue_wait_p50_ns, in.pool.queue_wait_p99_ns, in.pool.queue_wait);
  f.service = pool_pct(in.pool.service_p50_ns, in.pool.service_p99_ns, in.pool.service);
  if (in.callsites_top > 0) f.callsites = callsites_top(in.callsites_top);
  return f;
}

const char* kRanNames[kRanCount] = {"routed", "inline", "passthrough"};

bool any_calls(const Facts& f, int s) { return f.calls[s][0] + f.calls[s][1] + f.calls[s][2] != 0; }

// ---- JSON --------------------------------------------------------------------

// Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid.
size_t utf8_len(const unsigned char* p, size_t left) {
  const unsigned c = p[0];
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0)
    n = 2, cp = c & 0x1f;
  else if ((c & 0xf0) == 0xe0)
    n = 3, cp = c & 0x0f;
  else if ((c & 0xf8) == 0xf0)
    n = 4, cp = c & 0x07;
  else
    return 0;
  if (n > left) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

// A JSON string literal; bytes that are not UTF-8 become U+FFFD so the
// document always parses (program names and paths are arbitrary bytes).
void json_str(std::string& o, const char* s) {
  o += '"';
  const auto* p = reinterpret_cast<const unsigned char*>(s ? s : "");
  size_t left = strlen(reinterpret_cast<const char*>(p));
  while (left > 0) {
    const unsigned c = *p;
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
    } else {
      const size_t n = utf8_len(p, left);
      if (n == 0) {
        o += "\\ufffd";
      } else {
        o.append(reinterpret_cast<const char*>(p), n);
        p += n - 1;
        left -= n - 1;
      }
    }
    ++p;
    --left;
  }
  o += '"';
}

void json_num(std::string& o, const char* key, uint64_t v, bool comma = true) {
  if (comma) o += ", ";
  json_str(o, key);
  o += ": ";
  o += std::to_string(v);
}

void json_pct(std::string& o, const char* key, const Pct& p, bool comma) {
  if (comma) o += ", ";
  json_str(o, key);
  o += ": {";
  json_num(o, "p50", p.p50, false);
  json_num(o, "p99", p.p99);
  o += '}';
}

void json_class(std::string& o, const char* key, const ClassStats& c) {
  o += ", ";
  json_str(o, key);
  o += ": {";
  json_num(o, "created", c.created, false);
  json_num(o, "max_alive", c.max_alive);
  o += '}';
}

// ---- Text --------------------------------------------------------------------

__attribute__((format(printf, 2, 3))) void tprintf(std::string& o, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  const int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) o.append(buf, std::min(static_cast<size_t>(n), sizeof buf - 1));
}

// ---- Output ------------------------------------------------------------------

int write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const int64_t n = sys::write(fd, s.data() + off, s.size() - off);
    if (n < 0) {
      if (n == -EINTR) continue;
      return static_cast<int>(n);
    }
    if (n == 0) return -EIO;
    off += static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

std::string format_report_json(const ReportInput& in) {
  const Facts f = gather(in);
  std::string o = "{";
  json_num(o, "iowq_stats", 1, false);
  json_num(o, "pid", static_cast<uint64_t>(in.pid));
  o += ", \"program\": ";
  json_str(o, in.program);
  o += ", \"mode\": ";
  json_str(o, in.mode);

  o += ",\n \"totals\": {";
  for (int r = 0; r < kRanCount; ++r) json_num(o, kRanNames[r], f.totals[r], r != 0);
  o += "},\n \"calls\": {";
  bool first = true;
  for (int s = 0; s < kSymCount; ++s) {
    if (!any_calls(f, s)) continue;
    if (!first) o += ",";
    first = false;
    o += "\n  ";
    json_str(o, kSymNames[s]);
    o += ": {";
    for (int r = 0; r < kRanCount; ++r) json_num(o, kRanNames[r], f.calls[s][r], r != 0);
    o += '}';
  }
  o += "},\n \"workers\": {";
  json_num(o, "created", f.workers_created, false);
  json_num(o, "max_alive", f.workers_max_alive);
  json_class(o, "bound", in.pool.bound);
  json_class(o, "unbound", in.pool.unbound);
  o += "},\n \"cancel\": {";
  json_num(o, "stall_timeouts", f.stall_timeouts, false);
  json_num(o, "running", f.cancel_running);
  json_num(o, "pending", f.cancel_pending);
  o += "},\n \"write_behind\": {\"enabled\": ";
  o += in.write_behind ? "true" : "false";
  json_num(o, "writes", f.wb_writes);
  json_num(o, "bytes", f.wb_bytes);
  json_num(o, "syscalls", f.wb_syscalls);
  json_num(o, "deferred_errors", f.wb_deferred_errors);
  json_num(o, "peak_pending_bytes", f.wb_peak);
  json_num(o, "off_shared_memory", f.wb_shared_off);
  json_num(o, "off_sigsys_blocked", f.wb_sigsys_off);
  json_num(o, "net_traps", f.wb_net_traps);
  json_num(o, "plain_for_room", f.wb_space_plain);
  o += "},\n \"latency_ns\": {";
  json_pct(o, "queue_wait", f.queue_wait, false);
  json_pct(o, "service", f.service, true);
  json_pct(o, "caller", f.caller, true);
  json_pct(o, "file_calls", f.file_calls, true);
  o += "},\n \"worker_tids\": [";
  for (size_t i = 0; i < in.worker_tids.size(); ++i) {
    if (i) o += ", ";
    o += std::to_string(in.worker_tids[i]);
  }
  o += ']';
  if (in.callsites_top > 0) {
    o += ",\n \"callsites\": [";
    for (size_t i = 0; i < f.callsites.size(); ++i) {
      const Callsite& c = f.callsites[i];
      o += i ? ",\n  {" : "\n  {";
      json_num(o, "count", c.count, false);
      json_num(o, "blocked_ns", c.blocked_ns);
      o += ", \"frames\": [";
      for (size_t k = 0; k < c.frames.size(); ++k) {
        if (k) o += ", ";
        json_str(o, c.frames[k].c_str());
      }
      o += "]}";
    }
    o += ']';
  }
  o += "}\n";
  return o;
}

std::string format_report_text(const ReportInput& in) {
  const Facts f = gather(in);
  std::string o;
  tprintf(o, "iowq report: pid %d (%s)\n", in.pid, in.program ? in.program : "");
  tprintf(o, "  mode %s, write-behind %s\n", in.mode ? in.mode : "", in.write_behind ? "on" : "off");
  tprintf(o, "  %-16s %12s %12s %12s\n", "calls", "routed", "inline", "passthrough");
  for (int s = 0; s < kSymCount; ++s)
    if (any_calls(f, s))
      tprintf(o, "    %-14s %12lu %12lu %12lu\n", kSymNames[s], f.calls[s][0], f.calls[s][1], f.calls[s][2]);
  tprintf(o, "    %-14s %12lu %12lu %12lu\n", "total", f.totals[0], f.totals[1], f.totals[2]);
  tprintf(o, "  %-16s %12s %12s\n", "workers", "created", "max alive");
  tprintf(o, "    %-14s %12lu %12lu\n", "all", f.workers_created, f.workers_max_alive);
  tprintf(o, "    %-14s %12lu %12lu\n", "bound", in.pool.bound.created, in.pool.bound.max_alive);
  tprintf(o, "    %-14s %12lu %12lu\n", "unbound", in.pool.unbound.created, in.pool.unbound.max_alive);
  tprintf(o, "  %-16s %12s %12s %12s\n", "cancel", "stall t/o", "running", "pending");
  tprintf(o, "    %-14s %12lu %12lu %12lu\n", "count", f.stall_timeouts, f.cancel_running, f.cancel_pending);
  tprintf(o, "  %-16s %12s %12s %12s %12s %12s\n", "write-behind", "writes", "bytes", "syscalls",
          "def. errors", "peak pending");
  tprintf(o, "    %-14s %12lu %12lu %12lu %12lu %12lu\n", in.write_behind ? "enabled" : "disabled",
          f.wb_writes, f.wb_bytes, f.wb_syscalls, f.wb_deferred_errors, f.wb_peak);
  tprintf(o, "  %-16s %12s %12s\n", "latency (ns)", "p50", "p99");
  tprintf(o, "    %-14s %12lu %12lu\n", "queue wait", f.queue_wait.p50, f.queue_wait.p99);
  tprintf(o, "    %-14s %12lu %12lu\n", "service", f.service.p50, f.service.p99);
  tprintf(o, "    %-14s %12lu %12lu\n", "caller", f.caller.p50, f.caller.p99);
  tprintf(o, "    %-14s %12lu %12lu\n", "file calls", f.file_calls.p50, f.file_calls.p99);
  o += "  worker tids     ";
  if (in.worker_tids.empty()) o += " (none)";
  for (int t : in.worker_tids) tprintf(o, " %d", t);
  o += '\n';
  if (in.callsites_top > 0) {
    tprintf(o, "  call sites, top %u by time blocked:%s\n", in.callsites_top,
            f.callsites.empty() ? " (none)" : "");
    for (size_t i = 0; i < f.callsites.size(); ++i) {
      const Callsite& c = f.callsites[i];
      tprintf(o, "    #%-3zu %lu calls, %lu ns blocked\n", i + 1, c.count, c.blocked_ns);
      for (const std::string& fr : c.frames) {
        o += "          ";
        o += fr;
        o += '\n';
      }
    }
  }
  return o;
}

std::string expand_report_path(const char* pattern, int pid) {
  std::string out;
  for (const char* p = pattern; *p; ++p) {
    if (p[0] == '%' && p[1] == 'p') {
      out += std::to_string(pid);
      ++p;
    } else if (p[0] == '%' && p[1] == '%') {
      out += '%';
      ++p;
    } else {
      out += *p;
    }
  }
  return out;
}

int write_report(const ReportInput& in, const char* dest, bool json) {
  if (dest == nullptr || *dest == '\0') return -EINVAL;
  const std::string body = json ? format_report_json(in) : format_report_text(in);
  if (strcmp(dest, "stderr") == 0) return write_all(2, body);
  const std::string path = expand_report_path(dest, in.pid);
  const int64_t fd = sys::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return static_cast<int>(fd);
  int rc = write_all(static_cast<int>(fd), body);
  const int64_t c = sys::close(static_cast<int>(fd));
  if (c < 0 && rc == 0 && c != -EINTR) rc = static_cast<int>(c);
  return rc;
}

}  // namespace iowq::shim
