// shim/options/options.cpp — the IOWQ_* options table and its allocation-free parser.
//
// See options.hpp for the contract. Everything below runs in an LD_PRELOAD
// constructor, so it uses no heap, no stdio, no getenv and no locale: strings
// are built with the small bounded writer `Out`, and the only libc calls are
// strlen/memcmp/memcpy and glibc's SIGRTMIN/SIGRTMAX accessors.
#include "options.hpp"

#include <csignal>
#include <cstddef>
#include <cstring>

namespace iowq::shim {

/* ---- The table ---------------------------------------------------------- */

namespace {
constexpr uint64_t kMaxDurationMs = 86400000;  // 24 h: keeps ms * 1e6 far from overflow
constexpr uint64_t kMaxSize = 1ull << 40;      // 1T of pending write-behind data
constexpr unsigned kMaxNumaNodes = 64;
constexpr unsigned kMaxCpus = 1024;                // 16 x 64 bits in Config::cpu_mask
constexpr size_t kStrCap = sizeof(Config::stats);  // every string field has this size
}  // namespace

#define IOWQ_F(m) offsetof(Config, m)
using K = OptionKind;

// Order is docs/design.md §6's order; it is also the order of --help and the README.
// def is parsed at start (default_config()): the one place each default lives.
const OptionDef kOptions[] = {
    {"IOWQ_DISABLE", "disable", "BOOL", "off", nullptr,
     "pass every call straight through (the library stays loaded but does nothing)", K::Bool, "1",
     IOWQ_F(disable), 0, 1},
    {"IOWQ_ROUTE", "route", "LIST", "file,socket", nullptr,
     "fd kinds routed to the pools: comma list of file, socket, pipe, tty, chr; or all, none", K::Route,
     nullptr, IOWQ_F(route), 0, 0},
    {"IOWQ_MODE", "mode", "auto|pool", "auto", nullptr,
     "auto: run every call in the caller (it waits either way; write-behind and stall deadlines "
     "still apply); pool: every routed call goes to the pool",
     K::Mode, nullptr, IOWQ_F(mode), 0, 0},
    {"IOWQ_BOUND_MAX", "bound-max", "N", "", "4 x CPUs of node",
     "bound workers (regular files, block devices) per NUMA node, 1..4096", K::Count, nullptr,
     IOWQ_F(bound_max), 1, 4096},
    {"IOWQ_UNBOUND_MAX", "unbound-max", "N", "", "RLIMIT_NPROC soft limit (clamped to 4096)",
     "unbound workers (sockets, pipes, ttys) per NUMA node, 1..4096 (pool mode; a call the "
     "class cannot take at once runs in the caller)",
     K::Count, nullptr, IOWQ_F(unbound_max), 1, 4096},
    {"IOWQ_IDLE_MS", "idle", "MS", "5000", nullptr,
     "milliseconds an idle worker waits for work before it exits (the last one of its class stays)", K::Count,
     nullptr, IOWQ_F(idle_ms), 0, kMaxDurationMs},
    {"IOWQ_NUMA", "numa", "auto|off|N", "auto", nullptr,
     "one pool per NUMA node (auto), a single pool (off), or N fake nodes made by splitting "
     "the CPUs, 1..64 (for testing)",
     K::Numa, nullptr, IOWQ_F(numa), 0, 0},
    {"IOWQ_CPUS", "cpus", "LIST", "", "all allowed", "CPUs the workers may run on, e.g. 0-3,6", K::Cpus,
     nullptr, IOWQ_F(cpu_mask), 0, 0},
    {"IOWQ_WRITE_BEHIND", "write-behind", "BOOL", "off", nullptr,
     "regular-file writes return once the data is copied; the pool writes them in order and "
     "errors surface at the next sync point",
     K::Bool, "1", IOWQ_F(write_behind), 0, 1},
    {"IOWQ_WB_MAX_BYTES", "wb-max", "SIZE", "64M", nullptr,
     "pending write-behind bytes before writers wait; K, M, G suffixes (powers of 1024)", K::Size, nullptr,
     IOWQ_F(wb_max_bytes), 1, kMaxSize},
    {"IOWQ_STALL_MS", "stall", "DURATION", "0", "none",
     "a socket or pipe call making no progress this long fails with ETIMEDOUT; "
     "milliseconds, or a number with suffix ms, s or m",
     K::Duration, nullptr, IOWQ_F(stall_ms), 0, kMaxDurationMs},
    {"IOWQ_SIGNAL", "signal", "SIG", "SIGRTMIN+3", nullptr,
     "signal that interrupts a worker to cancel its call: SIGRTMIN..SIGRTMAX (e.g. SIGRTMIN+3), "
     "SIGUSR1 or SIGUSR2",
     K::Signal, nullptr, IOWQ_F(signal), 0, 0},
    {"IOWQ_STATS", "stats", "FILE", "", "none",
     "write a report at exit to stderr or to FILE (%p in FILE becomes the pid)", K::Stats, "stderr",
     IOWQ_F(stats), 0, 0},
    {"IOWQ_STATS_FORMAT", "stats-format", "text|json", "text", nullptr, "format of the report",
     K::StatsFormat, nullptr, IOWQ_F(stats_json), 0, 0},
    {"IOWQ_CALLSITES", "callsites", "N", "0", nullptr,
     "list the N call sites that blocked longest in the report, 0..64", K::Count, nullptr, IOWQ_F(callsites),
     0, 64},
    {"IOWQ_LOG", "log", "LEVEL", "warn", nullptr, "diagnostics level: off, error, warn, info, debug",
     K::LogLevel, nullptr, IOWQ_F(log), 0, 0},
    {"IOWQ_LOG_FILE", "log-file", "FILE", "stderr", nullptr, "where diagnostics go", K::Path, nullptr,
     IOWQ_F(log_file), 0, 0},
    {"IOWQ_ONLY_CMDS", "only", "LIST", "", "none",
     "comma list of program names iowq acts in; other programs run untouched", K::CmdList, nullptr,
     IOWQ_F(only_cmds), 0, 0},
    {"IOWQ_SKIP_CMDS", "skip", "LIST", "", "none", "comma list of program names iowq leaves alone",
     K::CmdList, nullptr, IOWQ_F(skip_cmds), 0, 0},
};
const size_t kNumOptions = sizeof(kOptions) / sizeof(kOptions[0]);
#undef IOWQ_F

const FlagAlias kFlagAliases[] = {
    {"json", "IOWQ_STATS_FORMAT", "json", "same as --stats-format=json"},
};
const size_t kNumFlagAliases = sizeof(kFlagAliases) / sizeof(kFlagAliases[0]);

/* ---- Bounded text helpers ----------------------------------------------- */

namespace {

// Appends into a caller buffer, truncating, always NUL-terminated.
struct Out {
  char* buf;
  size_t cap;
  size_t len = 0;

  Out(char* b, size_t c) : buf(b), cap(c) {
    if (cap) buf[0] = '\0';
  }
  void ch(char c) {
    if (cap && len + 1 < cap) {
      buf[len++] = c;
      buf[len] = '\0';
    }
  }
  void put(const char* s) {
    while (s && *s) ch(*s++);
  }
  void num(uint64_t v) {
    char tmp[24];
    int n = 0;
    do {
      tmp[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v);
    while (n) ch(tmp[--n]);
  }
  // A user-supplied value: at most 64 bytes, control bytes shown as '?'.
  void value(const char* s) {
    size_t i = 0;
    for (; s[i] && i < 64; ++i) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      ch(c < 0x20 || c == 0x7f ? '?' : s[i]);
    }
    if (s[i]) put("...");
  }
};

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Case-insensitive comparison of [s, s+n) with the keyword kw.
bool word_eq(const char* s, size_t n, const char* kw) {
  size_t i = 0;
  for (; i < n && kw[i]; ++i)
    if (lower(s[i]) != kw[i]) return false;
  return i == n && kw[i] == '\0';
}
bool word_eq(const char* s, const char* kw) { return word_eq(s, strlen(s), kw); }

// Case-insensitive prefix test; advances *s past the prefix on success.
bool eat_prefix(const char** s, const char* kw) {
  size_t n = strlen(kw);
  for (size_t i = 0; i < n; ++i)
    if (lower((*s)[i]) != kw[i]) return false;  // also stops at the NUL
  *s += n;
  return true;
}

// Reads a run of decimal digits into *out and advances *s past it.
enum class Num { None, Ok, Overflow };
Num read_num(const char** s, uint64_t* out) {
  const char* p = *s;
  if (!is_digit(*p)) return Num::None;
  uint64_t v = 0;
  bool overflow = false;
  for (; is_digit(*p); ++p) {
    unsigned d = static_cast<unsigned>(*p - '0');
    if (v > (UINT64_MAX - d) / 10)
      overflow = true;
    else
      v = v * 10 + d;
  }
  *s = p;
  *out = v;
  return overflow ? Num::Overflow : Num::Ok;
}
bool read_u64(const char** s, uint64_t* out) { return read_num(s, out) == Num::Ok; }

// Calls fn(token, len) for each comma-separated token; false if any is empty
// or fn rejects it.
template <class Fn>
bool for_each_token(const char* s, Fn fn) {
  for (;;) {
    const char* comma = strchr(s, ',');
    size_t n = comma ? static_cast<size_t>(comma - s) : strlen(s);
    if (n == 0 || !fn(s, n)) return false;
    if (!comma) return true;
    s = comma + 1;
  }
}

/* ---- Value parsers, one per kind ---------------------------------------- */
// Each returns true and stores the value, or false and writes a reason
// phrased as a predicate on the value ("is not ...").

bool parse_bool(const char* v, bool* out, Out& why) {
  static const char* const kTrue[] = {"1", "yes", "on", "true"};
  static const char* const kFalse[] = {"0", "no", "off", "false"};
  for (const char* t : kTrue)
    if (word_eq(v, t)) return *out = true, true;
  for (const char* f : kFalse)
    if (word_eq(v, f)) return *out = false, true;
  why.put("is not a boolean (1/0, yes/no, on/off, true/false)");
  return false;
}

void out_of_range(const OptionDef& o, Out& why, const char* unit) {
  why.put("is out of range ");
  why.num(o.min);
  why.put("..");
  why.num(o.max);
  why.put(unit);
}

bool parse_count(const OptionDef& o, const char* v, uint64_t* out, Out& why) {
  const char* p = v;
  uint64_t n = 0;
  Num r = read_num(&p, &n);
  if (r == Num::None || *p != '\0') {
    why.put("is not a whole number");
    return false;
  }
  if (r == Num::Overflow || n < o.min || n > o.max) {
    out_of_range(o, why, "");
    return false;
  }
  *out = n;
  return true;
}

bool parse_size(const OptionDef& o, const char* v, uint64_t* out, Out& why) {
  const char* p = v;
  uint64_t n = 0;
  Num r = read_num(&p, &n);
  unsigned shift = 0;
  if (r != Num::None) {
    switch (lower(*p)) {
      case 'k':
        shift = 10;
        ++p;
        break;
      case 'm':
        shift = 20;
        ++p;
        break;
      case 'g':
        shift = 30;
        ++p;
        break;
      case 't':
        shift = 40;
        ++p;
        break;
      default: break;
    }
    if (shift && lower(p[0]) == 'i' && lower(p[1]) == 'b')
      p += 2;
    else if (lower(*p) == 'b')
      ++p;
  }
  if (r == Num::None || *p != '\0') {
    why.put("is not a size (a number of bytes with optional suffix K, M, G or T)");
    return false;
  }
  if (r == Num::Overflow || (shift && n > (UINT64_MAX >> shift)) || (n << shift) < o.min ||
      (n << shift) > o.max) {
    out_of_range(o, why, " bytes");
    return false;
  }
  *out = n << shift;
  return true;
}

bool parse_duration(const OptionDef& o, const char* v, uint64_t* out, Out& why) {
  const char* p = v;
  uint64_t n = 0;
  Num r = read_num(&p, &n);
  uint64_t mul = 1;
  bool ok = r != Num::None;
  if (ok && *p) {
    if (word_eq(p, "ms"))
      mul = 1;
    else if (word_eq(p, "s"))
      mul = 1000;
    else if (word_eq(p, "m"))
      mul = 60000;
    else
      ok = false;
  }
  if (!ok) {
    why.put("is not a duration (milliseconds, or a number with suffix ms, s or m)");
    return false;
  }
  if (r == Num::Overflow || n > o.max / mul) {
    out_of_range(o, why, " ms");
    return false;
  }
  *out = n * mul;
  return true;
}

bool parse_route(const char* v, unsigned* out, Out& why) {
  static const struct {
    const char* name;
    unsigned bits;
  } kKinds[] = {
      {"file", kRouteFile}, {"socket", kRouteSocket}, {"pipe", kRoutePipe}, {"tty", kRouteTty},
      {"chr", kRouteChr},   {"all", kRouteAll},       {"none", 0},
  };
  unsigned bits = 0;
  bool ok = for_each_token(v, [&](const char* t, size_t n) {
    for (const auto& k : kKinds)
      if (word_eq(t, n, k.name)) return bits |= k.bits, true;
    return false;
  });
  if (!ok) {
    why.put("is not a comma list of file, socket, pipe, tty, chr (or all, none)");
    return false;
  }
  *out = bits;
  return true;
}

bool parse_numa(const char* v, int* out, Out& why) {
  uint64_t n;
  const char* p = v;
  if (word_eq(v, "auto")) return *out = -1, true;
  if (word_eq(v, "off")) return *out = 0, true;
  if (read_u64(&p, &n) && *p == '\0' && n >= 1 && n <= kMaxNumaNodes) return *out = static_cast<int>(n), true;
  why.put("is not auto, off or a node count 1..64");
  return false;
}

bool parse_cpus(const char* v, uint64_t (&mask)[16], Out& why) {
  uint64_t m[16] = {};
  bool ok = for_each_token(v, [&](const char* t, size_t n) {
    const char* p = t;
    const char* end = t + n;
    uint64_t lo, hi;
    if (!read_u64(&p, &lo)) return false;
    hi = lo;
    if (p < end && *p == '-') {
      ++p;
      if (!read_u64(&p, &hi)) return false;
    }
    if (p != end || lo > hi || hi >= kMaxCpus) return false;
    for (uint64_t c = lo; c <= hi; ++c) m[c / 64] |= 1ull << (c % 64);
    return true;
  });
  if (!ok) {
    why.put("is not a CPU list like 0-3,6 (CPUs 0..1023)");
    return false;
  }
  memcpy(mask, m, sizeof m);
  return true;
}

bool parse_signal(const char* v, int* out, Out& why) {
  const int rtmin = SIGRTMIN, rtmax = SIGRTMAX;
  const char* p = v;
  uint64_t n = 0;
  long sig = -1;
  if (is_digit(*p)) {
    if (read_u64(&p, &n) && *p == '\0' && n < 1024) sig = static_cast<long>(n);
  } else {
    eat_prefix(&p, "sig");
    if (word_eq(p, "usr1")) {
      sig = SIGUSR1;
    } else if (word_eq(p, "usr2")) {
      sig = SIGUSR2;
    } else if (eat_prefix(&p, "rtmin")) {
      if (*p == '\0')
        sig = rtmin;
      else if (*p == '+' && (++p, read_u64(&p, &n)) && *p == '\0' && n < 1024)
        sig = rtmin + static_cast<long>(n);
    } else if (eat_prefix(&p, "rtmax")) {
      if (*p == '\0')
        sig = rtmax;
      else if (*p == '-' && (++p, read_u64(&p, &n)) && *p == '\0' && n < 1024)
        sig = rtmax - static_cast<long>(n);
    }
  }
  if (sig == SIGUSR1 || sig == SIGUSR2 || (sig >= rtmin && sig <= rtmax)) {
    *out = static_cast<int>(sig);
    return true;
  }
  why.put("is not a real-time signal (SIGRTMIN..SIGRTMAX, e.g. SIGRTMIN+3), SIGUSR1 or SIGUSR2");
  return false;
}

bool parse_string(const char* v, char (&dst)[kStrCap], Out& why) {
  size_t n = strlen(v);
  if (n >= kStrCap) {
    why.put("is longer than 1023 bytes");
    return false;
  }
  memcpy(dst, v, n + 1);
  return true;
}

bool parse_cmd_list(const char* v, char (&dst)[kStrCap], Out& why) {
  bool ok = for_each_token(v, [](const char* t, size_t n) { return memchr(t, '/', n) == nullptr; });
  if (!ok) {
    why.put("is not a comma list of program names (no '/', no empty names)");
    return false;
  }
  return parse_string(v, dst, why);
}

// One keyword out of a list; the list is also the error message.
template <class T, size_t N>
bool parse_keyword(const char* v, const char* const (&names)[N], const T (&values)[N], T* out, Out& why) {
  for (size_t i = 0; i < N; ++i)
    if (word_eq(v, names[i])) return *out = values[i], true;
  why.put("is not one of ");
  for (size_t i = 0; i < N; ++i) {
    if (i) why.put(", ");
    why.put(names[i]);
  }
  return false;
}

// Parses v for row o and, only when valid, stores it into *c.
bool apply(const OptionDef& o, const char* v, Config* c, Out& why) {
  char* field = reinterpret_cast<char*>(c) + o.field;
  switch (o.kind) {
    case K::Bool: return parse_bool(v, reinterpret_cast<bool*>(field), why);
    case K::Count: {
      uint64_t n;
      if (!parse_count(o, v, &n, why)) return false;
      *reinterpret_cast<unsigned*>(field) = static_cast<unsigned>(n);
      return true;
    }
    case K::Size: return parse_size(o, v, reinterpret_cast<uint64_t*>(field), why);
    case K::Duration: return parse_duration(o, v, reinterpret_cast<uint64_t*>(field), why);
    case K::Route: return parse_route(v, &c->route, why);
    case K::Mode: {
      static const char* const names[] = {"auto", "pool"};
      static const Mode values[] = {Mode::Auto, Mode::Pool};
      return parse_keyword(v, names, values, &c->mode, why);
    }
    case K::Numa: return parse_numa(v, &c->numa, why);
    case K::Cpus: return parse_cpus(v, c->cpu_mask, why);
    case K::Signal: return parse_signal(v, &c->signal, why);
    case K::Stats: return parse_string(v, c->stats, why);
    case K::StatsFormat: {
      static const char* const names[] = {"text", "json"};
      static const bool values[] = {false, true};
      return parse_keyword(v, names, values, &c->stats_json, why);
    }
    case K::LogLevel: {
      static const char* const names[] = {"off", "error", "warn", "info", "debug"};
      static const LogLevel values[] = {LogLevel::Off, LogLevel::Error, LogLevel::Warn, LogLevel::Info,
                                        LogLevel::Debug};
      return parse_keyword(v, names, values, &c->log, why);
    }
    case K::Path:
      if (word_eq(v, "stderr")) return field[0] = '\0', true;
      return parse_string(v, *reinterpret_cast<char(*)[kStrCap]>(field), why);
    case K::CmdList: return parse_cmd_list(v, *reinterpret_cast<char(*)[kStrCap]>(field), why);
  }
  why.put("has an unknown kind");  // unreachable: every kind is handled above
  return false;
}

/* ---- Unknown-name suggestions ------------------------------------------- */

// Case-insensitive edit distance, capped: names longer than 47 bytes get 99.
unsigned edit_distance(const char* a, size_t na, const char* b) {
  size_t nb = strlen(b);
  if (na > 47 || nb > 47) return 99;
  unsigned row[48];
  for (size_t j = 0; j <= nb; ++j) row[j] = static_cast<unsigned>(j);
  for (size_t i = 1; i <= na; ++i) {
    unsigned diag = row[0];
    row[0] = static_cast<unsigned>(i);
    for (size_t j = 1; j <= nb; ++j) {
      unsigned up = row[j];
      unsigned sub = diag + (lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1);
      unsigned best = sub < up + 1 ? sub : up + 1;
      row[j] = best < row[j - 1] + 1 ? best : row[j - 1] + 1;
      diag = up;
    }
  }
  return row[nb];
}

const OptionDef* closest_option(const char* name, size_t n) {
  const OptionDef* best = nullptr;
  unsigned best_d = 3;  // suggest only within two edits
  for (size_t i = 0; i < kNumOptions; ++i) {
    unsigned d = edit_distance(name, n, kOptions[i].env);
    if (d < best_d) best_d = d, best = &kOptions[i];
  }
  return best;
}

bool name_eq(const char* s, size_t n, const char* name) {
  return strlen(name) == n && memcmp(s, name, n) == 0;
}

}  // namespace

/* ---- Public entry points ------------------------------------------------ */

#ifndef IOWQ_VERSION
#define IOWQ_VERSION "unknown"
#endif
const char kVersion[] = IOWQ_VERSION;

Config default_config() noexcept {
  Config c = {};
  char why_buf[8];
  for (size_t i = 0; i < kNumOptions; ++i) {
    Out why(why_buf, sizeof why_buf);
    if (kOptions[i].def[0]) apply(kOptions[i], kOptions[i].def, &c, why);  // tests check each one parses
  }
  return c;
}

void default_text(const OptionDef& o, char* buf, size_t len) noexcept {
  Out out(buf, len);
  out.put(o.def);
  if (o.note && o.def[0]) {
    out.put(" (");
    out.put(o.note);
    out.put(")");
  } else if (o.note) {
    out.put(o.note);
  }
}

void format_value(const OptionDef& o, const Config& c, char* buf, size_t len) noexcept {
  Out out(buf, len);
  const char* field = reinterpret_cast<const char*>(&c) + o.field;
  switch (o.kind) {
    case K::Bool: out.put(*reinterpret_cast<const bool*>(field) ? "on" : "off"); return;
    case K::Count: {
      unsigned n = *reinterpret_cast<const unsigned*>(field);
      if (n || o.def[0]) out.num(n);  // 0 of a default not fixed here: unset
      return;
    }
    case K::Size: {
      uint64_t n = *reinterpret_cast<const uint64_t*>(field);
      static const char kSuffix[] = {'T', 'G', 'M', 'K'};
      for (unsigned i = 0, shift = 40; i < 4; ++i, shift -= 10)
        if (n && n % (1ull << shift) == 0) {
          out.num(n >> shift);
          out.ch(kSuffix[i]);
          return;
        }
      out.num(n);
      return;
    }
    case K::Duration: {
      uint64_t ms = *reinterpret_cast<const uint64_t*>(field);
      out.num(ms);
      if (ms) out.put("ms");
      return;
    }
    case K::Route: {
      static const struct {
        const char* name;
        unsigned bit;
      } kKinds[] = {{"file", kRouteFile},
                    {"socket", kRouteSocket},
                    {"pipe", kRoutePipe},
                    {"tty", kRouteTty},
                    {"chr", kRouteChr}};
      if (c.route == 0) return out.put("none");
      bool first = true;
      for (const auto& k : kKinds)
        if (c.route & k.bit) {
          if (!first) out.ch(',');
          out.put(k.name);
          first = false;
        }
      return;
    }
    case K::Mode: return out.put(c.mode == Mode::Pool ? "pool" : "auto");
    case K::Numa:
      if (c.numa < 0) return out.put("auto");
      if (c.numa == 0) return out.put("off");
      return out.num(static_cast<uint64_t>(c.numa));
    case K::Cpus: {
      bool first = true;
      for (unsigned cpu = 0; cpu < kMaxCpus;) {
        if (!(c.cpu_mask[cpu / 64] & (1ull << (cpu % 64)))) {
          ++cpu;
          continue;
        }
        unsigned end = cpu;
        while (end + 1 < kMaxCpus && (c.cpu_mask[(end + 1) / 64] & (1ull << ((end + 1) % 64)))) ++end;
        if (!first) out.ch(',');
        out.num(cpu);
        if (end > cpu) {
          out.ch('-');
          out.num(end);
        }
        first = false;
        cpu = end + 1;
      }
      return;
    }
    case K::Signal: {
      const int sig = c.signal, rtmin = SIGRTMIN, rtmax = SIGRTMAX;
      if (sig == SIGUSR1) return out.put("SIGUSR1");
      if (sig == SIGUSR2) return out.put("SIGUSR2");
      if (sig >= rtmin && sig <= rtmax) {
        out.put("SIGRTMIN");
        if (sig > rtmin) {
          out.ch('+');
          out.num(static_cast<uint64_t>(sig - rtmin));
        }
        return;
      }
      if (sig > 0) out.num(static_cast<uint64_t>(sig));
      return;
    }
    case K::StatsFormat: return out.put(c.stats_json ? "json" : "text");
    case K::LogLevel: {
      static const char* const kNames[] = {"off", "error", "warn", "info", "debug"};
      return out.put(kNames[static_cast<unsigned>(c.log) < 5 ? static_cast<unsigned>(c.log) : 2]);
    }
    case K::Path: return out.put(field[0] ? field : "stderr");
    case K::Stats:
    case K::CmdList: return out.put(field);
  }
}

void describe_config(const Config& c, WarnFn line, void* ctx) noexcept {
  constexpr size_t kWidth = 100;
  char buf[kWidth + 1100];  // one word may be a 1023-byte path
  Out out(buf, sizeof buf);
  char value[1100];
  for (size_t i = 0; i < kNumOptions; ++i) {
    const OptionDef& o = kOptions[i];
    format_value(o, c, value, sizeof value);
    size_t word = strlen(o.env) + 1 + (value[0] ? strlen(value) : (o.note ? strlen(o.note) + 2 : 0));
    if (out.len && out.len + 1 + word > kWidth) {
      if (line) line(buf, ctx);
      out = Out(buf, sizeof buf);
    }
    if (out.len) out.ch(' ');
    out.put(o.env);
    out.ch('=');
    if (value[0]) {
      out.put(value);
    } else if (o.note) {
      out.ch('(');
      out.put(o.note);
      out.ch(')');
    }
  }
  if (out.len && line) line(buf, ctx);
}

const OptionDef* find_option_by_env(const char* env) {
  for (size_t i = 0; i < kNumOptions; ++i)
    if (strcmp(kOptions[i].env, env) == 0) return &kOptions[i];
  return nullptr;
}

const OptionDef* find_option_by_flag(const char* flag) {
  for (size_t i = 0; i < kNumOptions; ++i)
    if (strcmp(kOptions[i].flag, flag) == 0) return &kOptions[i];
  return nullptr;
}

int check_option_value(const OptionDef& o, const char* value, char* msg, size_t msglen) {
  Out why(msg, msglen);
  if (!value || !*value) return 0;
  Config scratch;  // ~4 KiB on the stack; the launcher is not in a constructor
  return apply(o, value, &scratch, why) ? 0 : -1;
}

int parse_config(const char* const* envp, Config* out, WarnFn warn, void* ctx) {
  *out = default_config();
  int bad = 0;
  bool seen[sizeof(kOptions) / sizeof(kOptions[0])] = {};
  char line[512];
  char why_buf[256];
  for (size_t e = 0; envp && envp[e]; ++e) {
    const char* entry = envp[e];
    if (strncmp(entry, "IOWQ_", 5) != 0) continue;
    const char* eq = strchr(entry, '=');
    if (!eq) continue;
    size_t name_len = static_cast<size_t>(eq - entry);
    const char* value = eq + 1;
    if (name_len > 5 && entry[5] == '_') continue;  // IOWQ__*: reserved, internal

    size_t row = kNumOptions;
    for (size_t i = 0; i < kNumOptions; ++i)
      if (name_eq(entry, name_len, kOptions[i].env)) row = i;

    Out msg(line, sizeof line);
    if (row == kNumOptions) {
      ++bad;
      msg.put("iowq: ");
      for (size_t i = 0; i < name_len && i < 64; ++i) msg.ch(entry[i]);
      msg.put(" is not an iowq variable");
      if (const OptionDef* near = closest_option(entry, name_len)) {
        msg.put(" (did you mean ");
        msg.put(near->env);
        msg.put("?)");
      }
      msg.put("; ignored");
      if (warn) warn(line, ctx);
      continue;
    }
    if (seen[row]) continue;  // the first one wins, as with getenv
    seen[row] = true;
    if (*value == '\0') continue;  // empty = not set

    const OptionDef& o = kOptions[row];
    Out why(why_buf, sizeof why_buf);
    if (apply(o, value, out, why)) continue;
    ++bad;
    msg.put("iowq: ");
    msg.put(o.env);
    msg.put("='");
    msg.value(value);
    msg.put("' ");
    msg.put(why_buf);
    msg.put("; using ");
    char def_buf[64];
    default_text(o, def_buf, sizeof def_buf);
    msg.put(def_buf);
    if (warn) warn(line, ctx);
  }
  return bad;
}

bool cmd_selected(const Config& c, const char* prog_name) {
  const char* base = prog_name ? prog_name : "";
  if (const char* slash = strrchr(base, '/')) base = slash + 1;
  size_t n = strlen(base);
  auto listed = [&](const char* list) {
    for (const char* s = list; *s;) {
      const char* comma = strchr(s, ',');
      size_t len = comma ? static_cast<size_t>(comma - s) : strlen(s);
      if (len == n && memcmp(s, base, n) == 0) return true;
      if (!comma) break;
      s = comma + 1;
    }
    return false;
  };
  if (c.only_cmds[0] && !listed(c.only_cmds)) return false;
  return !listed(c.skip_cmds);
}

}  // namespace iowq::shim
