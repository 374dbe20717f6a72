// tests/report/callsites_test.cpp — call-site attribution: distinct call
// sites get distinct entries with the right counts and the test's own
// function names; inside a shared library built like the shim, the
// library's frames are skipped and no libunwind name leaks into the program;
// and the cost of one record (printed, bounded).
#include "callsites.hpp"
#include "noipa.hpp"

#include <dlfcn.h>
#include <execinfo.h>
#include <gtest/gtest.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "report.hpp"
#include "report_test_util.hpp"

using namespace iowq::shim;

extern "C" {
void fake_shim_init(unsigned depth);
void fake_shim_blocking_call(uint64_t ns);
void fake_shim_deep_call(int levels, uint64_t ns);
int fake_shim_report(const char* dest, unsigned top);
}

// Not static, not inlined, not cloned: -rdynamic exports them under these
// names so dladdr can name the frames. The asm after each call keeps it from
// being a tail call, which would drop the frame.
__attribute__((IOWQ_NOIPA)) void blocking_site_a(uint64_t ns) {
  callsites_record(ns);
  asm volatile("" ::: "memory");
}
__attribute__((IOWQ_NOIPA)) void blocking_site_b(uint64_t ns) {
  callsites_record(ns);
  asm volatile("" ::: "memory");
}
__attribute__((IOWQ_NOIPA)) void recurse_then_block(int depth, int site, uint64_t ns) {
  if (depth > 0)
    recurse_then_block(depth - 1, site, ns);
  else if (site == 0)
    blocking_site_a(ns);
  else
    blocking_site_b(ns);
  asm volatile("" ::: "memory");
}
__attribute__((IOWQ_NOIPA)) void host_call_site(uint64_t ns) {
  fake_shim_blocking_call(ns);
  asm volatile("" ::: "memory");
}
__attribute__((IOWQ_NOIPA)) void host_deep_call_site(uint64_t ns) {
  fake_shim_deep_call(10, ns);
  asm volatile("" ::: "memory");
}
__attribute__((IOWQ_NOIPA)) void deep_stack(int levels, uint64_t ns) {
  if (levels > 0)
    deep_stack(levels - 1, ns);
  else
    blocking_site_b(ns);
  asm volatile("" ::: "memory");
}

namespace {

// Loop bounds the compiler cannot see, so it does not unroll a loop into
// several call sites (each a distinct stack).
volatile int k2 = 2, k3 = 3, k4 = 4, k5 = 5;

bool contains(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

std::string join(const std::vector<std::string>& v) {
  std::string o;
  for (const auto& s : v) o += "  " + s + "\n";
  return o;
}

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

}  // namespace

TEST(CallsitesTest, TwoSitesTwoEntriesWithNames) {
  callsites_init(8);
  ASSERT_TRUE(callsites_enabled()) << "libunwind.so.8 could not be loaded";
  callsites_reset();
  for (int i = 0; i < k3; ++i) recurse_then_block(3, 0, 100);
  for (int i = 0; i < k5; ++i) recurse_then_block(3, 1, 1000);

  const std::vector<Callsite> top = callsites_top(10);
  ASSERT_EQ(top.size(), 2u);
  // Ordered by time blocked: site b (5 x 1000 ns) first.
  EXPECT_EQ(top[0].count, 5u);
  EXPECT_EQ(top[0].blocked_ns, 5000u);
  EXPECT_EQ(top[1].count, 3u);
  EXPECT_EQ(top[1].blocked_ns, 300u);
  for (int e = 0; e < 2; ++e) {
    const auto& fr = top[e].frames;
    ASSERT_EQ(fr.size(), 8u) << join(fr);
    // Innermost first: the site (callsites_record itself is skipped), then
    // the four recursion levels (depth 3, 2, 1, 0).
    EXPECT_TRUE(
        contains(fr[0], e == 0 ? "blocking_site_b(unsigned long)+0x" : "blocking_site_a(unsigned long)+0x"))
        << join(fr);
    EXPECT_TRUE(contains(fr[0], "(report_test)")) << join(fr);
    for (int k = 1; k <= 4; ++k)
      EXPECT_TRUE(contains(fr[k], "recurse_then_block(int, int, unsigned long)+0x")) << join(fr);
    EXPECT_FALSE(contains(fr[5], "recurse_then_block")) << join(fr);
  }
  // Same stacks, shallower: only top n.
  EXPECT_EQ(callsites_top(1).size(), 1u);
}

TEST(CallsitesTest, ReportListsCallsites) {
  callsites_init(8);
  ASSERT_TRUE(callsites_enabled());
  callsites_reset();
  for (int i = 0; i < k2; ++i) recurse_then_block(3, 1, 7);
  TempDir dir;
  ReportInput in;
  in.pid = 9;
  in.callsites_top = 5;
  const std::string path = dir.path + "/cs.json";
  ASSERT_EQ(write_report(in, path.c_str(), true), 0);
  const CheckResult r = run_checker(path, "--callsites");
  if (r.status == 77) GTEST_SKIP() << "python3 not available";
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.values.at("callsites.0.count"), "2");
  EXPECT_EQ(r.values.at("callsites.0.blocked_ns"), "14");
  EXPECT_TRUE(contains(r.values.at("callsites.0.frames.0"), "blocking_site_b")) << r.output;
  EXPECT_EQ(r.values.count("callsites.1.count"), 0u);

  const std::string text = format_report_text(in);
  EXPECT_TRUE(contains(text, "2 calls, 14 ns blocked")) << text;
  EXPECT_TRUE(contains(text, "blocking_site_b(unsigned long)+0x")) << text;
}

// Threads racing to claim and bump the same entries lose nothing.
TEST(CallsitesTest, ConcurrentRecordsAllCounted) {
  callsites_init(8);
  ASSERT_TRUE(callsites_enabled());
  callsites_reset();
  constexpr int kThreads = 4, kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < kEach; ++i) recurse_then_block(1 + (i & 1), t & 1, 3);
    });
  for (auto& th : threads) th.join();
  uint64_t total = 0, ns = 0;
  const auto top = callsites_top(100);
  for (const auto& c : top) {
    total += c.count;
    ns += c.blocked_ns;
    EXPECT_NE(c.frames.at(0), "[other]");
  }
  EXPECT_EQ(total, uint64_t(kThreads) * kEach);
  EXPECT_EQ(ns, 3 * uint64_t(kThreads) * kEach);
  EXPECT_EQ(top.size(), 4u);  // {site a, site b} x {recursion 1, 2}
}

// The shim's situation: iowq_report linked into a shared library that exports
// only its entry points. Its frames are skipped, the host's are named.
TEST(CallsitesTest, SharedLibrarySkipsItsOwnFrames) {
  fake_shim_init(6);
  for (int i = 0; i < k4; ++i) host_call_site(250);
  TempDir dir;
  const std::string path = dir.path + "/shim.json";
  ASSERT_EQ(fake_shim_report(path.c_str(), 3), 0);
  const CheckResult r = run_checker(path, "--callsites");
  if (r.status == 77) GTEST_SKIP() << "python3 not available";
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.values.at("callsites.0.count"), "4") << r.output;
  EXPECT_EQ(r.values.at("callsites.0.blocked_ns"), "1000");
  EXPECT_TRUE(contains(r.values.at("callsites.0.frames.0"), "host_call_site(unsigned long)+0x")) << r.output;
  EXPECT_EQ(r.values.count("callsites.0.frames.5"), 1u) << r.output;
  EXPECT_EQ(r.values.count("callsites.0.frames.6"), 0u) << r.output;
}

// More shim frames than first expected: still skipped, still full depth.
TEST(CallsitesTest, SharedLibraryDeepShimFrames) {
  fake_shim_init(6);
  for (int i = 0; i < k3; ++i) host_deep_call_site(10);
  TempDir dir;
  const std::string path = dir.path + "/deep.json";
  ASSERT_EQ(fake_shim_report(path.c_str(), 3), 0);
  const CheckResult r = run_checker(path, "--callsites");
  if (r.status == 77) GTEST_SKIP() << "python3 not available";
  ASSERT_EQ(r.status, 0) << r.output;
  // The first call learns how many frames to drop; all three agree.
  EXPECT_EQ(r.values.at("callsites.0.count"), "3") << r.output;
  EXPECT_TRUE(contains(r.values.at("callsites.0.frames.0"), "host_deep_call_site(unsigned long)+0x"))
      << r.output;
  EXPECT_EQ(r.values.count("callsites.0.frames.5"), 1u) << r.output;
  EXPECT_EQ(r.values.count("callsites.1.count"), 0u) << r.output;
}

// No libunwind name may reach the program: `backtrace` stays glibc's,
// `_Unwind_RaiseException` stays libgcc_s's, `unw_*` stays invisible.
TEST(CallsitesTest, NoLibunwindSymbolsLeak) {
  fake_shim_init(8);
  callsites_init(8);
  ASSERT_TRUE(callsites_enabled());
  EXPECT_EQ(dlsym(RTLD_DEFAULT, "unw_backtrace"), nullptr);
  void* libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
  ASSERT_NE(libc, nullptr);
  EXPECT_EQ(dlsym(RTLD_DEFAULT, "backtrace"), dlsym(libc, "backtrace"));
  dlclose(libc);
  void* raise = dlsym(RTLD_DEFAULT, "_Unwind_RaiseException");
  Dl_info info{};
  ASSERT_NE(raise, nullptr);
  ASSERT_NE(dladdr(raise, &info), 0);
  EXPECT_TRUE(contains(info.dli_fname, "libgcc_s")) << info.dli_fname;
  void* frames[4];
  EXPECT_GT(backtrace(frames, 4), 0);

  // What the library exports and needs, as nm sees it.
  FILE* p = popen("nm -D '" FAKE_SHIM_PATH "' 2>&1", "r");
  ASSERT_NE(p, nullptr);
  char line[512];
  std::vector<std::string> defined;
  int lines = 0;
  while (fgets(line, sizeof line, p) != nullptr) {
    ++lines;
    std::string s(line);
    EXPECT_FALSE(contains(s, "unw_") || contains(s, "_ULx86") || contains(s, "_Ux86") ||
                 contains(s, " backtrace"))
        << s;
    // "<addr> T name": defined symbols have an address.
    if (s.size() > 19 && s[0] != ' ') defined.push_back(s.substr(19, s.size() - 20));
  }
  ASSERT_EQ(pclose(p), 0);
  ASSERT_GT(lines, 0);
  std::sort(defined.begin(), defined.end());
  EXPECT_EQ(defined, (std::vector<std::string>{"fake_shim_blocking_call", "fake_shim_deep_call",
                                               "fake_shim_init", "fake_shim_report"}));
}

// Warm cost of one record at depth 8 (target < 200 ns), from a shallow stack
// and from 40 frames deep. The bound asserted is loose (shared CI machines);
// the measured values are printed for the log.
double record_cost_ns(int stack_levels) {
  constexpr int kBatches = 30, kPerBatch = 2000;
  for (int i = 0; i < 100; ++i) deep_stack(stack_levels, 1);  // warm the unwind caches
  std::vector<double> per_call;
  for (int b = 0; b < kBatches; ++b) {
    const uint64_t t0 = now_ns();
    for (int i = 0; i < kPerBatch; ++i) deep_stack(stack_levels, 1);
    per_call.push_back(double(now_ns() - t0) / kPerBatch);
  }
  std::sort(per_call.begin(), per_call.end());
  printf("callsites_record depth 8, %d frames deeper: best %.0f ns, median %.0f ns per call\n", stack_levels,
         per_call.front(), per_call[kBatches / 2]);
  return per_call.front();
}

TEST(CallsitesTest, RecordCost) {
  callsites_init(8);
  ASSERT_TRUE(callsites_enabled());
  callsites_reset();
  const double shallow = record_cost_ns(0), deep = record_cost_ns(40);
  RecordProperty("record_ns_shallow", int(shallow));
  RecordProperty("record_ns_deep", int(deep));
  EXPECT_LT(shallow, 2000.0);
  EXPECT_LT(deep, 2000.0);
  uint64_t total = 0;
  for (const auto& c : callsites_top(10)) total += c.count;
  EXPECT_EQ(total, uint64_t(2 * (100 + 30 * 2000)));
}
