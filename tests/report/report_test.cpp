// tests/report/report_test.cpp — the exit report: JSON shape (checked by
// check_report.py), "%p" expansion, the text form showing the same numbers,
// the "stderr" destination, and -errno for destinations that cannot be written.
#include "report.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "report_test_util.hpp"

using namespace iowq::shim;

namespace {

// A report with distinct numbers everywhere, so a mix-up shows.
struct Sample {
  Counters c{};
  ReportInput in;
  Sample() {
    auto set = [&](Sym s, Ran r, uint64_t v) { c.calls[int(s)][int(r)].store(v); };
    set(Sym::Write, Ran::Pool, 7);
    set(Sym::Write, Ran::Inline, 11);
    set(Sym::Write, Ran::Passthrough, 2);
    set(Sym::Read, Ran::Pool, 3);
    set(Sym::RecvChk, Ran::Passthrough, 5);
    c.stall_timeouts = 13;
    c.cancel_running = 17;  // pool says 1: the larger wins
    c.cancel_pending = 0;   // pool says 19
    c.wb_writes = 23;
    c.wb_bytes = 29000;
    c.wb_syscalls = 31;
    c.wb_deferred_errors = 37;
    c.wb_peak_pending_bytes = 41000;
    for (int i = 0; i < 100; ++i) c.caller_ns.record(1000 + 10 * i);
    in.pid = 4242;
    in.program = "we\"ird\xff prog";
    in.mode = "pool";
    in.write_behind = true;
    in.counters = &c;
    in.pool.bound = {43, 0, 47, 0};
    in.pool.unbound = {53, 0, 59, 0};
    in.pool.cancel_running = 1;
    in.pool.cancel_pending = 19;
    in.pool.queue_wait_p50_ns = 61;
    in.pool.queue_wait_p99_ns = 67;
    in.pool.service[12] = 100;  // no service_pNN fields: computed from the buckets
    in.worker_tids = {101, 102, 103};
  }
};

void expect_sample_values(const std::map<std::string, std::string>& m, const Sample& s) {
  auto at = [&](const char* k) {
    auto it = m.find(k);
    return it == m.end() ? std::string("<missing ") + k + ">" : it->second;
  };
  EXPECT_EQ(at("iowq_stats"), "1");
  EXPECT_EQ(at("pid"), "4242");
  EXPECT_EQ(at("program"), "we\"ird\xef\xbf\xbd prog");  // invalid byte -> U+FFFD
  EXPECT_EQ(at("mode"), "pool");
  EXPECT_EQ(at("totals.routed"), "10");
  EXPECT_EQ(at("totals.inline"), "11");
  EXPECT_EQ(at("totals.passthrough"), "7");
  EXPECT_EQ(at("calls.write.routed"), "7");
  EXPECT_EQ(at("calls.write.inline"), "11");
  EXPECT_EQ(at("calls.write.passthrough"), "2");
  EXPECT_EQ(at("calls.read.routed"), "3");
  EXPECT_EQ(at("calls.__recv_chk.passthrough"), "5");
  EXPECT_EQ(m.count("calls.pwrite.routed"), 0u) << "symbols never called are left out";
  EXPECT_EQ(at("workers.created"), "96");
  EXPECT_EQ(at("workers.max_alive"), "106");
  EXPECT_EQ(at("workers.bound.created"), "43");
  EXPECT_EQ(at("workers.bound.max_alive"), "47");
  EXPECT_EQ(at("workers.unbound.created"), "53");
  EXPECT_EQ(at("workers.unbound.max_alive"), "59");
  EXPECT_EQ(at("cancel.stall_timeouts"), "13");
  EXPECT_EQ(at("cancel.running"), "17");
  EXPECT_EQ(at("cancel.pending"), "19");
  EXPECT_EQ(at("write_behind.enabled"), "true");
  EXPECT_EQ(at("write_behind.writes"), "23");
  EXPECT_EQ(at("write_behind.bytes"), "29000");
  EXPECT_EQ(at("write_behind.syscalls"), "31");
  EXPECT_EQ(at("write_behind.deferred_errors"), "37");
  EXPECT_EQ(at("write_behind.peak_pending_bytes"), "41000");
  EXPECT_EQ(at("latency_ns.queue_wait.p50"), "61");
  EXPECT_EQ(at("latency_ns.queue_wait.p99"), "67");
  const uint64_t sp50 = iowq::Histogram::percentile_of(s.in.pool.service, 50);
  EXPECT_NE(sp50, 0u);
  EXPECT_EQ(at("latency_ns.service.p50"), std::to_string(sp50));
  const uint64_t cp99 = s.c.caller_ns.percentile(99);
  EXPECT_NE(cp99, 0u);
  EXPECT_EQ(at("latency_ns.caller.p50"), std::to_string(s.c.caller_ns.percentile(50)));
  EXPECT_EQ(at("latency_ns.caller.p99"), std::to_string(cp99));
  EXPECT_EQ(at("worker_tids.0"), "101");
  EXPECT_EQ(at("worker_tids.2"), "103");
}

}  // namespace

TEST(ReportTest, JsonHasEveryKeyAndTheNumbers) {
  TempDir dir;
  Sample s;
  const std::string path = dir.path + "/r.json";
  ASSERT_EQ(write_report(s.in, path.c_str(), true), 0);
  const CheckResult r = run_checker(path, "--no-callsites");
  if (r.status == 77) GTEST_SKIP() << "python3 not available";
  ASSERT_EQ(r.status, 0) << r.output;
  expect_sample_values(r.values, s);
}

TEST(ReportTest, EmptyReportIsValid) {
  TempDir dir;
  ReportInput in;  // no counters, empty pool stats
  in.pid = 1;
  const std::string path = dir.path + "/empty.json";
  ASSERT_EQ(write_report(in, path.c_str(), true), 0);
  const CheckResult r = run_checker(path, "--no-callsites");
  if (r.status == 77) GTEST_SKIP() << "python3 not available";
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.values.at("totals.routed"), "0");
  EXPECT_EQ(r.values.at("write_behind.enabled"), "false");
}

TEST(ReportTest, PathExpansion) {
  EXPECT_EQ(expand_report_path("a.%p.%%.%x%", 42), "a.42.%.%x%");
  EXPECT_EQ(expand_report_path("%p%p", 7), "77");
  EXPECT_EQ(expand_report_path("%%p", 7), "%p");

  TempDir dir;
  Sample s;
  const std::string pattern = dir.path + "/stats.%p.%%.json";
  ASSERT_EQ(write_report(s.in, pattern.c_str(), true), 0);
  const std::string expect = dir.path + "/stats.4242.%.json";
  ASSERT_EQ(access(expect.c_str(), R_OK), 0) << expect;
  const CheckResult r = run_checker(expect, "--no-callsites");
  if (r.status == 77) GTEST_SKIP() << "python3 not available";
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.values.at("pid"), "4242");
}

TEST(ReportTest, FileIsTruncatedAndMode0644) {
  TempDir dir;
  const std::string path = dir.path + "/t.txt";
  write_file(path, std::string(100000, '\x07'));
  Sample s;
  const mode_t old = umask(0);
  const int rc = write_report(s.in, (dir.path + "/new.txt").c_str(), false);
  umask(old);
  ASSERT_EQ(rc, 0);
  struct stat st {};
  ASSERT_EQ(stat((dir.path + "/new.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  ASSERT_EQ(write_report(s.in, path.c_str(), false), 0);
  const std::string text = read_file(path);
  EXPECT_EQ(text.find('\x07'), std::string::npos) << "old contents not truncated";
  EXPECT_EQ(text, format_report_text(s.in));
}

TEST(ReportTest, TextShowsTheSameNumbers) {
  Sample s;
  const std::string t = format_report_text(s.in);
  EXPECT_EQ(t.rfind("iowq report: pid 4242 (we\"ird\xff prog)\n", 0), 0u) << t;
  // Each row: label then its numbers, whitespace-separated.
  auto row = [&](const std::string& label) -> std::string {
    std::istringstream is(t);
    std::string line;
    while (std::getline(is, line)) {
      std::istringstream ls(line);
      std::string first;
      ls >> first;
      if (first == label) {
        std::string rest, w;
        while (ls >> w) rest += (rest.empty() ? "" : " ") + w;
        return rest;
      }
    }
    return "<no row " + label + ">";
  };
  EXPECT_EQ(row("write"), "7 11 2");
  EXPECT_EQ(row("read"), "3 0 0");
  EXPECT_EQ(row("__recv_chk"), "0 0 5");
  EXPECT_EQ(row("pwrite"), "<no row pwrite>");
  EXPECT_EQ(row("total"), "10 11 7");
  EXPECT_EQ(row("all"), "96 106");
  EXPECT_EQ(row("bound"), "43 47");
  EXPECT_EQ(row("unbound"), "53 59");
  EXPECT_EQ(row("enabled"), "23 29000 31 37 41000");
  EXPECT_EQ(row("count"), "13 17 19");
  EXPECT_EQ(row("queue"), "wait 61 67");
  EXPECT_EQ(row("service"), std::to_string(iowq::Histogram::percentile_of(s.in.pool.service, 50)) + " " +
                                std::to_string(iowq::Histogram::percentile_of(s.in.pool.service, 99)));
  EXPECT_EQ(row("caller"), std::to_string(s.c.caller_ns.percentile(50)) + " " +
                               std::to_string(s.c.caller_ns.percentile(99)));
  EXPECT_EQ(row("worker"), "tids 101 102 103");
  EXPECT_NE(t.find("mode pool, write-behind on"), std::string::npos) << t;
}

TEST(ReportTest, StderrDestination) {
  TempDir dir;
  Sample s;
  const std::string path = dir.path + "/stderr.json";
  {
    StderrTo redirect(path);
    ASSERT_EQ(write_report(s.in, "stderr", true), 0);
  }
  const CheckResult r = run_checker(path, "--no-callsites");
  if (r.status == 77) GTEST_SKIP() << "python3 not available";
  ASSERT_EQ(r.status, 0) << r.output << "\n---\n" << read_file(path);
  expect_sample_values(r.values, s);

  const std::string tpath = dir.path + "/stderr.txt";
  {
    StderrTo redirect(tpath);
    ASSERT_EQ(write_report(s.in, "stderr", false), 0);
  }
  EXPECT_EQ(read_file(tpath), format_report_text(s.in));
}

TEST(ReportTest, UnwritableDestinationReturnsErrno) {
  TempDir dir;
  Sample s;
  EXPECT_EQ(write_report(s.in, (dir.path + "/no/such/dir/%p.json").c_str(), true), -ENOENT);
  EXPECT_EQ(write_report(s.in, dir.path.c_str(), true), -EISDIR);
  EXPECT_EQ(write_report(s.in, "", true), -EINVAL);
  EXPECT_EQ(write_report(s.in, nullptr, false), -EINVAL);
  // A full device: the write, not the open, fails.
  if (access("/dev/full", W_OK) == 0) {
    EXPECT_EQ(write_report(s.in, "/dev/full", false), -ENOSPC);
  }
  if (geteuid() != 0) {
    const std::string ro = dir.path + "/ro";
    ASSERT_EQ(mkdir(ro.c_str(), 0500), 0);
    EXPECT_EQ(write_report(s.in, (ro + "/x").c_str(), true), -EACCES);
  }
}
