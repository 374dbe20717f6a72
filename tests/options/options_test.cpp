// tests/options/options_test.cpp — the IOWQ_* options table and parser.
//
// Covers: the table itself (docs/design.md §6 names, unique flags), good values of
// every option, nonsense values of every option (exactly one "iowq: " warning,
// default kept), unknown IOWQ_* names, size and duration suffixes, overflow,
// cmd_selected, check_option_value, and that parse_config never allocates.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "iowq/pool.hpp"
#include "options.hpp"

using namespace iowq::shim;

/* ---- malloc counting: parse_config runs in a preload constructor -------- */

extern "C" void* __libc_malloc(size_t);
extern "C" void* __libc_calloc(size_t, size_t);
extern "C" void* __libc_realloc(void*, size_t);
static thread_local bool g_counting = false;
static thread_local int g_allocs = 0;
extern "C" void* malloc(size_t n) {
  if (g_counting) ++g_allocs;
  return __libc_malloc(n);
}
extern "C" void* calloc(size_t a, size_t b) {
  if (g_counting) ++g_allocs;
  return __libc_calloc(a, b);
}
extern "C" void* realloc(void* p, size_t n) {
  if (g_counting) ++g_allocs;
  return __libc_realloc(p, n);
}

namespace {

struct Parsed {
  Config cfg;
  std::vector<std::string> warnings;
  int rc = 0;
};

void collect(const char* msg, void* ctx) { static_cast<std::vector<std::string>*>(ctx)->push_back(msg); }

Parsed parse(std::vector<std::string> env) {
  std::vector<const char*> envp;
  for (const auto& e : env) envp.push_back(e.c_str());
  envp.push_back(nullptr);
  Parsed p;
  p.rc = parse_config(envp.data(), &p.cfg, collect, &p.warnings);
  return p;
}

Parsed parse1(const std::string& name, const std::string& value) { return parse({name + "=" + value}); }

bool same(const Config& a, const Config& b) {
  return a.disable == b.disable && a.route == b.route && a.mode == b.mode && a.bound_max == b.bound_max &&
         a.unbound_max == b.unbound_max && a.idle_ms == b.idle_ms && a.numa == b.numa &&
         std::memcmp(a.cpu_mask, b.cpu_mask, sizeof a.cpu_mask) == 0 && a.write_behind == b.write_behind &&
         a.wb_max_bytes == b.wb_max_bytes && a.stall_ms == b.stall_ms && a.signal == b.signal &&
         std::strcmp(a.stats, b.stats) == 0 && a.stats_json == b.stats_json && a.callsites == b.callsites &&
         a.log == b.log && std::strcmp(a.log_file, b.log_file) == 0 &&
         std::strcmp(a.only_cmds, b.only_cmds) == 0 && std::strcmp(a.skip_cmds, b.skip_cmds) == 0;
}

// Expects the value to be accepted without a warning and returns the result.
Config good(const std::string& name, const std::string& value) {
  Parsed p = parse1(name, value);
  EXPECT_EQ(p.rc, 0) << name << "=" << value;
  EXPECT_TRUE(p.warnings.empty()) << name << "=" << value << ": " << p.warnings[0];
  return p.cfg;
}

// Expects exactly one "iowq: " warning naming the variable, and the default kept.
void bad(const std::string& name, const std::string& value) {
  Parsed p = parse1(name, value);
  EXPECT_EQ(p.rc, 1) << name << "=" << value;
  ASSERT_EQ(p.warnings.size(), 1u) << name << "=" << value;
  EXPECT_EQ(p.warnings[0].rfind("iowq: " + name + "='", 0), 0u) << p.warnings[0];
  EXPECT_NE(p.warnings[0].find("; using "), std::string::npos) << p.warnings[0];
  EXPECT_TRUE(same(p.cfg, default_config())) << name << "=" << value << " changed the config";
}

}  // namespace

/* ---- The table ---------------------------------------------------------- */

TEST(OptionsTable, HasExactlyTheDesignNamesInOrder) {
  const char* design[] = {"IOWQ_DISABLE",      "IOWQ_ROUTE",        "IOWQ_MODE",      "IOWQ_BOUND_MAX",
                          "IOWQ_UNBOUND_MAX",  "IOWQ_IDLE_MS",      "IOWQ_NUMA",      "IOWQ_CPUS",
                          "IOWQ_WRITE_BEHIND", "IOWQ_WB_MAX_BYTES", "IOWQ_STALL_MS",  "IOWQ_SIGNAL",
                          "IOWQ_STATS",        "IOWQ_STATS_FORMAT", "IOWQ_CALLSITES", "IOWQ_LOG",
                          "IOWQ_LOG_FILE",     "IOWQ_ONLY_CMDS",    "IOWQ_SKIP_CMDS"};
  ASSERT_EQ(kNumOptions, sizeof design / sizeof design[0]);
  for (size_t i = 0; i < kNumOptions; ++i) EXPECT_STREQ(kOptions[i].env, design[i]);
}

TEST(OptionsTable, RowsAreCompleteAndFlagsUnique) {
  for (size_t i = 0; i < kNumOptions; ++i) {
    const OptionDef& o = kOptions[i];
    ASSERT_TRUE(o.env && o.flag && o.metavar && o.def && o.doc) << i;
    EXPECT_GT(std::strlen(o.doc), 10u) << o.env;
    EXPECT_EQ(find_option_by_env(o.env), &o);
    EXPECT_EQ(find_option_by_flag(o.flag), &o);
    for (size_t j = 0; j < i; ++j) EXPECT_STRNE(kOptions[j].flag, o.flag);
    // A flag usable without =VALUE must have an implicit value the parser accepts.
    char msg[128];
    if (o.implicit) {
      EXPECT_EQ(check_option_value(o, o.implicit, msg, sizeof msg), 0) << o.env;
    }
  }
  for (size_t a = 0; a < kNumFlagAliases; ++a) {
    const OptionDef* o = find_option_by_env(kFlagAliases[a].env);
    ASSERT_NE(o, nullptr);
    char msg[128];
    EXPECT_EQ(check_option_value(*o, kFlagAliases[a].value, msg, sizeof msg), 0);
    EXPECT_EQ(find_option_by_flag(kFlagAliases[a].flag), nullptr);
  }
}

// Defaults the shim hands to the pool are the pool's own (the note is what
// people read; the pool computes the value).
TEST(OptionsDefaults, AgreeWithThePool) {
  const Config d = default_config();
  EXPECT_EQ(d.idle_ms, iowq::Options{}.idle_ms);
  EXPECT_EQ(d.signal, iowq::Options::default_cancel_signal());
  EXPECT_EQ(d.bound_max, 0u);  // unset: the pool's 4 x CPUs of node
  EXPECT_EQ(d.unbound_max, 0u);
  const OptionDef* unbound = find_option_by_env("IOWQ_UNBOUND_MAX");
  ASSERT_NE(unbound, nullptr);
  EXPECT_NE(std::string(unbound->note).find("RLIMIT_NPROC"), std::string::npos);
}

TEST(OptionsDefaults, ShownAsBefore) {
  const std::map<std::string, std::string> shown = {{"IOWQ_BOUND_MAX", "4 x CPUs of node"},
                                                    {"IOWQ_STALL_MS", "0 (none)"},
                                                    {"IOWQ_STATS", "none"},
                                                    {"IOWQ_MODE", "auto"},
                                                    {"IOWQ_WB_MAX_BYTES", "64M"},
                                                    {"IOWQ_LOG_FILE", "stderr"}};
  for (const auto& [env, text] : shown) {
    char buf[64];
    default_text(*find_option_by_env(env.c_str()), buf, sizeof buf);
    EXPECT_EQ(text, buf) << env;
  }
}

// Every option's effective value, as IOWQ_LOG=info prints it, parses back to
// the same configuration (defaults and a changed value of each option).
TEST(OptionsDescribe, ValuesParseBack) {
  const std::vector<std::vector<std::string>> envs = {
      {},
      {"IOWQ_DISABLE=1", "IOWQ_ROUTE=pipe,chr,file", "IOWQ_MODE=pool", "IOWQ_BOUND_MAX=3",
       "IOWQ_UNBOUND_MAX=4096", "IOWQ_IDLE_MS=0", "IOWQ_NUMA=2", "IOWQ_CPUS=0-3,6,8-9",
       "IOWQ_WRITE_BEHIND=yes", "IOWQ_WB_MAX_BYTES=1536K", "IOWQ_STALL_MS=2s", "IOWQ_SIGNAL=SIGUSR2",
       "IOWQ_STATS=/tmp/r.%p.json", "IOWQ_STATS_FORMAT=json", "IOWQ_CALLSITES=8", "IOWQ_LOG=debug",
       "IOWQ_LOG_FILE=/tmp/log", "IOWQ_ONLY_CMDS=dd,cp", "IOWQ_SKIP_CMDS=sh"},
      {"IOWQ_ROUTE=none", "IOWQ_NUMA=off", "IOWQ_SIGNAL=SIGRTMAX", "IOWQ_WB_MAX_BYTES=12345",
       "IOWQ_STATS=stderr", "IOWQ_CPUS=1023"},
  };
  for (const auto& env : envs) {
    Parsed p = parse(env);
    ASSERT_EQ(p.rc, 0);
    std::vector<std::string> back;
    for (size_t i = 0; i < kNumOptions; ++i) {
      char v[1100];
      format_value(kOptions[i], p.cfg, v, sizeof v);
      back.push_back(std::string(kOptions[i].env) + "=" + v);
    }
    Parsed q = parse(back);
    EXPECT_EQ(q.rc, 0);
    EXPECT_TRUE(same(q.cfg, p.cfg)) << (env.empty() ? "defaults" : env[0]);
  }
}

void collect_lines(const char* msg, void* ctx) {
  bool was = g_counting;  // the test's own vector may allocate; describe_config may not
  g_counting = false;
  static_cast<std::vector<std::string>*>(ctx)->push_back(msg);
  g_counting = was;
}

TEST(OptionsDescribe, EveryOptionOnceInShortLines) {
  std::vector<std::string> lines;
  g_counting = true;
  g_allocs = 0;
  describe_config(default_config(), collect_lines, &lines);
  g_counting = false;
  int allocs = g_allocs;
  EXPECT_EQ(allocs, 0);
  ASSERT_FALSE(lines.empty());
  EXPECT_LE(lines.size(), 6u);
  std::string all;
  for (const auto& l : lines) {
    EXPECT_LE(l.size(), 100u) << l;
    all += l + " ";
  }
  for (size_t i = 0; i < kNumOptions; ++i) {
    std::string word = std::string(kOptions[i].env) + "=";
    size_t at = all.find(word);
    EXPECT_NE(at, std::string::npos) << word;
    EXPECT_EQ(all.find(word, at + 1), std::string::npos) << word << " twice";
  }
  EXPECT_NE(all.find("IOWQ_MODE=auto "), std::string::npos) << all;
  EXPECT_NE(all.find("IOWQ_BOUND_MAX=(4 x CPUs of node) "), std::string::npos) << all;
  EXPECT_NE(all.find("IOWQ_WB_MAX_BYTES=64M "), std::string::npos) << all;
}

/* ---- Defaults and generic rules ----------------------------------------- */

// One source for each default: the table's def is a value in the option's own
// syntax, and the configuration without environment is exactly what parsing
// every def gives (no second copy in Config's initialisers or elsewhere).
TEST(OptionsDefaults, EachDefaultIsAValueTheParserTakes) {
  Parsed none = parse({});
  for (size_t i = 0; i < kNumOptions; ++i) {
    const OptionDef& o = kOptions[i];
    Parsed p = parse1(o.env, o.def);
    EXPECT_EQ(p.rc, 0) << o.env << "='" << o.def << "'";
    EXPECT_TRUE(p.warnings.empty()) << o.env << "='" << o.def << "'";
    EXPECT_TRUE(same(p.cfg, none.cfg)) << o.env << "='" << o.def << "' is not the default";
  }
}

TEST(OptionsParse, DefaultsWithoutEnvironment) {
  Config c;
  EXPECT_EQ(parse_config(nullptr, &c, collect, nullptr), 0);
  EXPECT_TRUE(same(c, default_config()));
  Parsed p = parse({"PATH=/bin", "HOME=/root", "IOWQ", "IOWQX=1", "iowq_mode=pool"});
  EXPECT_EQ(p.rc, 0);
  EXPECT_TRUE(p.warnings.empty());
  EXPECT_TRUE(same(p.cfg, default_config()));
}

TEST(OptionsParse, EmptyValueMeansUnset) {
  for (size_t i = 0; i < kNumOptions; ++i) {
    Parsed p = parse1(kOptions[i].env, "");
    EXPECT_EQ(p.rc, 0) << kOptions[i].env;
    EXPECT_TRUE(p.warnings.empty());
    EXPECT_TRUE(same(p.cfg, default_config()));
  }
}

TEST(OptionsParse, FirstOccurrenceWinsLikeGetenv) {
  Parsed p = parse({"IOWQ_MODE=pool", "IOWQ_MODE=auto"});
  EXPECT_EQ(p.cfg.mode, Mode::Pool);
  p = parse({"IOWQ_MODE=", "IOWQ_MODE=pool"});
  EXPECT_EQ(p.cfg.mode, Mode::Auto);
  EXPECT_TRUE(p.warnings.empty());
}

TEST(OptionsParse, NullWarnFunctionStillCounts) {
  const char* envp[] = {"IOWQ_MODE=fast", "IOWQ_NOPE=1", nullptr};
  Config c;
  EXPECT_EQ(parse_config(envp, &c, nullptr, nullptr), 2);
  EXPECT_EQ(c.mode, Mode::Auto);
}

TEST(OptionsParse, WarningTextIsExact) {
  Parsed p = parse1("IOWQ_MODE", "fast");
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_EQ(p.warnings[0], "iowq: IOWQ_MODE='fast' is not one of auto, pool; using auto");
  p = parse1("IOWQ_BOUND_MAX", "lots");
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_EQ(p.warnings[0], "iowq: IOWQ_BOUND_MAX='lots' is not a whole number; using 4 x CPUs of node");
}

TEST(OptionsParse, HugeOrControlValuesAreShownTruncated) {
  std::string v(5000, 'x');
  v[3] = '\n';
  Parsed p = parse1("IOWQ_MODE", v);
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_LT(p.warnings[0].size(), 200u);
  EXPECT_EQ(p.warnings[0].find('\n'), std::string::npos);
  EXPECT_NE(p.warnings[0].find("xxx?xxx"), std::string::npos);
  EXPECT_NE(p.warnings[0].find("...'"), std::string::npos);
}

TEST(OptionsParse, CountsEveryInvalidEntry) {
  Parsed p = parse(
      {"IOWQ_MODE=fast", "IOWQ_ROUTE=disk", "IOWQ_WRITE_BEHIND=1", "IOWQ_MODEE=pool", "IOWQ_CALLSITES=65"});
  EXPECT_EQ(p.rc, 4);
  EXPECT_EQ(p.warnings.size(), 4u);
  EXPECT_TRUE(p.cfg.write_behind);
  EXPECT_EQ(p.cfg.mode, Mode::Auto);
  EXPECT_EQ(p.cfg.callsites, 0u);
}

TEST(OptionsParse, DoesNotAllocate) {
  std::string long_path = "/tmp/" + std::string(900, 'p');
  std::vector<std::string> env = {
      "IOWQ_DISABLE=no",        "IOWQ_ROUTE=all",          "IOWQ_MODE=pool",        "IOWQ_CPUS=0-3,6",
      "IOWQ_SIGNAL=SIGRTMIN+3", "IOWQ_STATS=" + long_path, "IOWQ_WB_MAX_BYTES=12G", "IOWQ_STALL_MS=2s",
      "IOWQ_MODEE=pool",        "IOWQ_NUMA=banana",        "IOWQ_LOG=loud"};
  std::vector<const char*> envp;
  for (auto& e : env) envp.push_back(e.c_str());
  envp.push_back(nullptr);
  Config c;
  int warnings = 0;
  g_allocs = 0;
  g_counting = true;
  int rc = parse_config(
      envp.data(), &c, [](const char*, void* n) { ++*static_cast<int*>(n); }, &warnings);
  g_counting = false;
  EXPECT_EQ(g_allocs, 0);
  EXPECT_EQ(rc, 3);
  EXPECT_EQ(warnings, 3);
}

/* ---- Unknown names ------------------------------------------------------ */

TEST(OptionsUnknown, TypoWarnsWithSuggestion) {
  Parsed p = parse1("IOWQ_MODEE", "pool");
  EXPECT_EQ(p.rc, 1);
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_EQ(p.warnings[0], "iowq: IOWQ_MODEE is not an iowq variable (did you mean IOWQ_MODE?); ignored");
  EXPECT_EQ(p.cfg.mode, Mode::Auto);
  p = parse1("IOWQ_Write_Behind", "1");
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_NE(p.warnings[0].find("did you mean IOWQ_WRITE_BEHIND?"), std::string::npos);
  EXPECT_FALSE(p.cfg.write_behind);
}

TEST(OptionsUnknown, FarNameWarnsWithoutSuggestion) {
  Parsed p = parse({"IOWQ_TURBO=1", "IOWQ_=1"});
  ASSERT_EQ(p.warnings.size(), 2u);
  EXPECT_EQ(p.warnings[0], "iowq: IOWQ_TURBO is not an iowq variable; ignored");
  EXPECT_EQ(p.warnings[1].rfind("iowq: IOWQ_ is not an iowq variable", 0), 0u);
}

TEST(OptionsUnknown, DoubleUnderscoreIsReservedAndSilent) {
  Parsed p = parse({"IOWQ__INTERNAL=1", "IOWQ__=x"});
  EXPECT_EQ(p.rc, 0);
  EXPECT_TRUE(p.warnings.empty());
}

/* ---- Good values of every option ---------------------------------------- */

TEST(OptionsGood, Booleans) {
  for (const char* v : {"1", "yes", "YES", "on", "On", "true", "TRUE"}) {
    EXPECT_TRUE(good("IOWQ_DISABLE", v).disable) << v;
    EXPECT_TRUE(good("IOWQ_WRITE_BEHIND", v).write_behind) << v;
  }
  for (const char* v : {"0", "no", "No", "off", "OFF", "false", "False"}) {
    EXPECT_FALSE(good("IOWQ_DISABLE", v).disable) << v;
    EXPECT_FALSE(good("IOWQ_WRITE_BEHIND", v).write_behind) << v;
  }
}

TEST(OptionsGood, Route) {
  EXPECT_EQ(good("IOWQ_ROUTE", "file").route, unsigned(kRouteFile));
  EXPECT_EQ(good("IOWQ_ROUTE", "file,socket,pipe").route, unsigned(kRouteFile | kRouteSocket | kRoutePipe));
  EXPECT_EQ(good("IOWQ_ROUTE", "TTY,chr").route, unsigned(kRouteTty | kRouteChr));
  EXPECT_EQ(good("IOWQ_ROUTE", "all").route, unsigned(kRouteAll));
  EXPECT_EQ(good("IOWQ_ROUTE", "none").route, 0u);
  EXPECT_EQ(good("IOWQ_ROUTE", "socket,socket").route, unsigned(kRouteSocket));
}

TEST(OptionsGood, ModeLogFormat) {
  EXPECT_EQ(good("IOWQ_MODE", "pool").mode, Mode::Pool);
  EXPECT_EQ(good("IOWQ_MODE", "AUTO").mode, Mode::Auto);
  EXPECT_TRUE(good("IOWQ_STATS_FORMAT", "json").stats_json);
  EXPECT_FALSE(good("IOWQ_STATS_FORMAT", "Text").stats_json);
  EXPECT_EQ(good("IOWQ_LOG", "off").log, LogLevel::Off);
  EXPECT_EQ(good("IOWQ_LOG", "error").log, LogLevel::Error);
  EXPECT_EQ(good("IOWQ_LOG", "warn").log, LogLevel::Warn);
  EXPECT_EQ(good("IOWQ_LOG", "info").log, LogLevel::Info);
  EXPECT_EQ(good("IOWQ_LOG", "DEBUG").log, LogLevel::Debug);
}

TEST(OptionsGood, Counts) {
  EXPECT_EQ(good("IOWQ_BOUND_MAX", "1").bound_max, 1u);
  EXPECT_EQ(good("IOWQ_BOUND_MAX", "4096").bound_max, 4096u);
  EXPECT_EQ(good("IOWQ_UNBOUND_MAX", "007").unbound_max, 7u);
  EXPECT_EQ(good("IOWQ_IDLE_MS", "0").idle_ms, 0u);
  EXPECT_EQ(good("IOWQ_IDLE_MS", "250").idle_ms, 250u);
  EXPECT_EQ(good("IOWQ_CALLSITES", "0").callsites, 0u);
  EXPECT_EQ(good("IOWQ_CALLSITES", "64").callsites, 64u);
}

TEST(OptionsGood, Numa) {
  EXPECT_EQ(good("IOWQ_NUMA", "auto").numa, -1);
  EXPECT_EQ(good("IOWQ_NUMA", "off").numa, 0);
  EXPECT_EQ(good("IOWQ_NUMA", "1").numa, 1);
  EXPECT_EQ(good("IOWQ_NUMA", "64").numa, 64);
}

TEST(OptionsGood, Cpus) {
  Config c = good("IOWQ_CPUS", "0-3,6");
  EXPECT_EQ(c.cpu_mask[0], 0x4full);
  for (int i = 1; i < 16; ++i) EXPECT_EQ(c.cpu_mask[i], 0u);
  c = good("IOWQ_CPUS", "1023,64");
  EXPECT_EQ(c.cpu_mask[15], 1ull << 63);
  EXPECT_EQ(c.cpu_mask[1], 1ull);
  c = good("IOWQ_CPUS", "0-1023");
  for (int i = 0; i < 16; ++i) EXPECT_EQ(c.cpu_mask[i], ~0ull);
  c = good("IOWQ_CPUS", "5-5");
  EXPECT_EQ(c.cpu_mask[0], 1ull << 5);
}

TEST(OptionsGood, SizeSuffixesArePowersOf1024) {
  EXPECT_EQ(good("IOWQ_WB_MAX_BYTES", "1").wb_max_bytes, 1u);
  EXPECT_EQ(good("IOWQ_WB_MAX_BYTES", "4096").wb_max_bytes, 4096u);
  EXPECT_EQ(good("IOWQ_WB_MAX_BYTES", "1K").wb_max_bytes, 1024u);
  EXPECT_EQ(good("IOWQ_WB_MAX_BYTES", "1k").wb_max_bytes, 1024u);
  EXPECT_EQ(good("IOWQ_WB_MAX_BYTES", "2KiB").wb_max_bytes, 2048u);
  EXPECT_EQ(good("IOWQ_WB_MAX_BYTES", "64M").wb_max_bytes, 64ull << 20);
  EXPECT_EQ(good("IOWQ_WB_MAX_BYTES", "3mb").wb_max_bytes, 3ull << 20);
  EXPECT_EQ(good("IOWQ_WB_MAX_BYTES", "1G").wb_max_bytes, 1ull << 30);
  EXPECT_EQ(good("IOWQ_WB_MAX_BYTES", "1T").wb_max_bytes, 1ull << 40);
  EXPECT_EQ(good("IOWQ_WB_MAX_BYTES", "100B").wb_max_bytes, 100u);
}

TEST(OptionsGood, DurationSuffixes) {
  EXPECT_EQ(good("IOWQ_STALL_MS", "0").stall_ms, 0u);
  EXPECT_EQ(good("IOWQ_STALL_MS", "250").stall_ms, 250u);
  EXPECT_EQ(good("IOWQ_STALL_MS", "250ms").stall_ms, 250u);
  EXPECT_EQ(good("IOWQ_STALL_MS", "2s").stall_ms, 2000u);
  EXPECT_EQ(good("IOWQ_STALL_MS", "3S").stall_ms, 3000u);
  EXPECT_EQ(good("IOWQ_STALL_MS", "1m").stall_ms, 60000u);
  EXPECT_EQ(good("IOWQ_STALL_MS", "1440m").stall_ms, 86400000u);
}

TEST(OptionsGood, Signals) {
  EXPECT_EQ(good("IOWQ_SIGNAL", "SIGRTMIN+3").signal, SIGRTMIN + 3);
  EXPECT_EQ(good("IOWQ_SIGNAL", "RTMIN+3").signal, SIGRTMIN + 3);
  EXPECT_EQ(good("IOWQ_SIGNAL", "sigrtmin").signal, SIGRTMIN);
  EXPECT_EQ(good("IOWQ_SIGNAL", "SIGRTMAX").signal, SIGRTMAX);
  EXPECT_EQ(good("IOWQ_SIGNAL", "RTMAX-2").signal, SIGRTMAX - 2);
  EXPECT_EQ(good("IOWQ_SIGNAL", "SIGUSR1").signal, SIGUSR1);
  EXPECT_EQ(good("IOWQ_SIGNAL", "usr2").signal, SIGUSR2);
  EXPECT_EQ(good("IOWQ_SIGNAL", std::to_string(SIGRTMIN + 1)).signal, SIGRTMIN + 1);
  EXPECT_EQ(good("IOWQ_SIGNAL", std::to_string(SIGUSR2)).signal, SIGUSR2);
}

TEST(OptionsGood, Strings) {
  EXPECT_STREQ(good("IOWQ_STATS", "stderr").stats, "stderr");
  EXPECT_STREQ(good("IOWQ_STATS", "/tmp/iowq.%p.json").stats, "/tmp/iowq.%p.json");
  std::string max(1023, 'a');
  EXPECT_EQ(std::string(good("IOWQ_STATS", max).stats), max);
  EXPECT_STREQ(good("IOWQ_LOG_FILE", "/tmp/iowq.log").log_file, "/tmp/iowq.log");
  EXPECT_STREQ(good("IOWQ_LOG_FILE", "stderr").log_file, "");
  EXPECT_STREQ(good("IOWQ_ONLY_CMDS", "dd,cp").only_cmds, "dd,cp");
  EXPECT_STREQ(good("IOWQ_SKIP_CMDS", "sh").skip_cmds, "sh");
}

/* ---- Nonsense values of every option ------------------------------------ */

TEST(OptionsBad, EveryOptionRejectsNonsenseAndKeepsDefault) {
  const std::string too_long(1024, 'z');
  const std::map<std::string, std::vector<std::string>> nonsense = {
      {"IOWQ_DISABLE", {"2", "maybe", "yess", "-1", " 1", "1 "}},
      {"IOWQ_ROUTE", {"disk", "file,", ",file", "file,,socket", "file socket", "all!"}},
      {"IOWQ_MODE", {"fast", "pooled", "auto,pool", "1"}},
      {"IOWQ_BOUND_MAX", {"0", "-1", "4097", "+4", "4x", "lots", "1e3", "99999999999999999999999"}},
      {"IOWQ_UNBOUND_MAX", {"0", "-3", "16 ", "0x10", "18446744073709551616"}},
      {"IOWQ_IDLE_MS", {"-5", "5s", "86400001", "ten"}},
      {"IOWQ_NUMA", {"0", "65", "-1", "on", "two", "2nodes"}},
      {"IOWQ_CPUS", {"1024", "3-1", "0-", "-3", "a", "0,,1", "0-1024", "1:2", "0-3,"}},
      {"IOWQ_WRITE_BEHIND", {"enable", "10", "y"}},
      {"IOWQ_WB_MAX_BYTES",
       {"0", "-1", "1P", "2T", "64MM", "M", "1.5G", "17179869184G", "18446744073709551616"}},
      {"IOWQ_STALL_MS",
       {"-1", "1h", "1.5s", "s", "2 s", "86400001", "18446744073709551616", "99999999999999999m"}},
      {"IOWQ_SIGNAL",
       {"SIGKILL", "KILL", "9", "SIGSTOP", "19", "0", "SIGINT", "SIGRTMAX+1", "RTMIN-1", "RTMIN+",
        "SIGRTMIN+999", "999", "RTMAX-99", "SIGFOO", "-5"}},
      {"IOWQ_STATS", {too_long}},
      {"IOWQ_STATS_FORMAT", {"xml", "jsonl", "1"}},
      {"IOWQ_CALLSITES", {"65", "-1", "all", "10k"}},
      {"IOWQ_LOG", {"verbose", "trace", "3", "warning"}},
      {"IOWQ_LOG_FILE", {too_long}},
      {"IOWQ_ONLY_CMDS", {"dd,,cp", ",dd", "/bin/dd", too_long}},
      {"IOWQ_SKIP_CMDS", {"cp,", "./x", too_long}},
  };
  for (size_t i = 0; i < kNumOptions; ++i) {
    auto it = nonsense.find(kOptions[i].env);
    ASSERT_NE(it, nonsense.end()) << "no nonsense values listed for " << kOptions[i].env;
    for (const auto& v : it->second) {
      SCOPED_TRACE(std::string(kOptions[i].env) + "=" + v.substr(0, 40));
      bad(kOptions[i].env, v);
      char msg[256];
      EXPECT_EQ(check_option_value(kOptions[i], v.c_str(), msg, sizeof msg), -1);
      EXPECT_EQ(std::strncmp(msg, "is ", 3), 0) << msg;
    }
  }
}

TEST(OptionsBad, BadValueDoesNotDisturbOtherOptions) {
  Parsed p = parse({"IOWQ_MODE=pool", "IOWQ_SIGNAL=SIGKILL", "IOWQ_STALL_MS=100"});
  EXPECT_EQ(p.rc, 1);
  EXPECT_EQ(p.cfg.mode, Mode::Pool);
  EXPECT_EQ(p.cfg.signal, default_config().signal);  // the default kept
  EXPECT_EQ(p.cfg.stall_ms, 100u);
}

/* ---- check_option_value ------------------------------------------------- */

TEST(OptionsCheck, ReportsReasonWithoutPrefix) {
  char msg[128];
  const OptionDef* mode = find_option_by_env("IOWQ_MODE");
  ASSERT_NE(mode, nullptr);
  EXPECT_EQ(check_option_value(*mode, "pool", msg, sizeof msg), 0);
  EXPECT_EQ(check_option_value(*mode, "", msg, sizeof msg), 0);
  EXPECT_EQ(check_option_value(*mode, "fast", msg, sizeof msg), -1);
  EXPECT_STREQ(msg, "is not one of auto, pool");
  char tiny[8];
  EXPECT_EQ(check_option_value(*mode, "fast", tiny, sizeof tiny), -1);
  EXPECT_STREQ(tiny, "is not ");
  EXPECT_EQ(check_option_value(*mode, "fast", nullptr, 0), -1);
}

/* ---- cmd_selected -------------------------------------------------------- */

TEST(OptionsCmds, NoListsSelectEverything) {
  Config c = default_config();
  EXPECT_TRUE(cmd_selected(c, "/usr/bin/dd"));
  EXPECT_TRUE(cmd_selected(c, nullptr));
}

TEST(OptionsCmds, OnlyListMatchesExactBasename) {
  Config c = good("IOWQ_ONLY_CMDS", "dd,cp");
  EXPECT_TRUE(cmd_selected(c, "dd"));
  EXPECT_TRUE(cmd_selected(c, "/usr/bin/dd"));
  EXPECT_TRUE(cmd_selected(c, "./cp"));
  EXPECT_FALSE(cmd_selected(c, "cat"));
  EXPECT_FALSE(cmd_selected(c, "ddx"));
  EXPECT_FALSE(cmd_selected(c, "d"));
  EXPECT_FALSE(cmd_selected(c, "DD"));
  EXPECT_FALSE(cmd_selected(c, "/usr/dd/"));
  EXPECT_FALSE(cmd_selected(c, nullptr));
}

TEST(OptionsCmds, SkipListWinsOverOnlyList) {
  Parsed p = parse({"IOWQ_ONLY_CMDS=dd,cat", "IOWQ_SKIP_CMDS=cat,sh"});
  EXPECT_TRUE(cmd_selected(p.cfg, "/bin/dd"));
  EXPECT_FALSE(cmd_selected(p.cfg, "/bin/cat"));
  EXPECT_FALSE(cmd_selected(p.cfg, "sh"));
  Config skip = good("IOWQ_SKIP_CMDS", "sh");
  EXPECT_FALSE(cmd_selected(skip, "/bin/sh"));
  EXPECT_TRUE(cmd_selected(skip, "/bin/bash"));
  EXPECT_TRUE(cmd_selected(skip, "shx"));
}
