// shim/options/options.hpp — the one table of IOWQ_* options, and its parser.
//
// Every user-visible setting of iowq is one row of kOptions (docs/design.md §6): the
// environment variable, the iowq-run flag, a metavar, the default, and a
// one-line doc. The shim's parser, `iowq-run --help`, the launcher's strict
// validation, the README options table and the IOWQ_LOG=info start-up lines
// are all generated from that one array, so they cannot drift apart.
//
// Defaults have one source: each row's `def`, a value in the option's own
// syntax that is parsed like one from the environment (default_config()).
// Config's members have no initialisers of their own. A default the shim does
// not fix (bound workers per node: the pool computes it) has an empty `def`
// and says in `note` how it is computed.
//
// Contract of parse_config():
//   * Sets *out to default_config(), then applies the IOWQ_* entries of the
//     given envp (null envp = defaults only).
//   * Never allocates and calls no getenv/locale/stdio: it runs inside an
//     LD_PRELOAD constructor, possibly before libc is fully initialised.
//   * "The host program is never broken": an invalid value, or an IOWQ_* name
//     that is not in the table (a typo such as IOWQ_MODEE), produces exactly
//     one call of `warn` with a message starting "iowq: ", and the default of
//     that option is kept. Names starting "IOWQ__" (two underscores) are
//     reserved for iowq's own internal use and are ignored silently.
//   * An empty value (IOWQ_MODE=) means "not set": default, no warning.
//   * If a variable appears twice in envp the first one wins, as with getenv.
//
// Value syntax (all keywords case-insensitive):
//   bool      1/0 yes/no on/off true/false
//   count     decimal digits only: no sign, no junk, no overflow, in range
//   size      count with optional K/M/G/T suffix (powers of 1024), optional B/iB
//   duration  count of ms, or with suffix ms, s, m
//   route     comma list of file,socket,pipe,tty,chr, or all / none
//   cpus      comma list of CPUs and ranges, "0-3,6", CPUs below 1024
//   signal    number or name (SIG prefix optional): RTMIN, RTMIN+n, RTMAX-n,
//             RTMAX, USR1, USR2; must be a real-time signal or SIGUSR1/SIGUSR2
//
// Thread safety: everything here is reentrant; kOptions is immutable.
#pragma once

#include <cstddef>
#include <cstdint>

namespace iowq::shim {

// fd kinds the shim may route (IOWQ_ROUTE).
enum RouteBits : unsigned {
  kRouteFile = 1,    // regular files and block devices (bound)
  kRouteSocket = 2,  // sockets (unbound)
  kRoutePipe = 4,    // pipes and FIFOs (unbound)
  kRouteTty = 8,     // terminals (unbound)
  kRouteChr = 16,    // other character devices (unbound)
  kRouteAll = 31,
};

enum class Mode : uint8_t { Auto, Pool };
enum class LogLevel : uint8_t { Off, Error, Warn, Info, Debug };

// The parsed configuration. Trivially copyable, no heap: the shim keeps one
// in static storage. Config{} is all zero, not the defaults: those come from
// the table only (default_config(), parse_config()). The members' {} keep it
// constant-initialised: the shim's state must not be re-initialised by a
// dynamic initialiser running after the shim's constructor.
struct Config {
  bool disable{};
  unsigned route{};  // RouteBits
  Mode mode{};
  unsigned bound_max{};    // 0 = the pool's default (4 x CPUs of node)
  unsigned unbound_max{};  // 0 = the pool's default (RLIMIT_NPROC, clamped)
  unsigned idle_ms{};
  int numa{};               // -1 auto, 0 off, N = N fake nodes
  uint64_t cpu_mask[16]{};  // IOWQ_CPUS as a bitset of up to 1024 CPUs; all zero = not set
  bool write_behind{};
  uint64_t wb_max_bytes{};  // bytes
  uint64_t stall_ms{};      // 0 = no stall timeout
  int signal{};             // the cancel signal's number
  char stats[1024]{};       // "" none, "stderr", or a path (may contain %p)
  bool stats_json{};        // IOWQ_STATS_FORMAT=json
  unsigned callsites{};     // 0..64
  LogLevel log{};
  char log_file[1024]{};   // "" = stderr ("stderr" is stored as "")
  char only_cmds[1024]{};  // comma lists of program names
  char skip_cmds[1024]{};
};

// The configuration without any IOWQ_* variable: every row's def parsed.
Config default_config() noexcept;

// iowq's version ("0.1.0"), the project version of the build.
extern const char kVersion[];

// Receives one complete warning line (no trailing newline). ctx is passed through.
using WarnFn = void (*)(const char* msg, void* ctx);

// Sets *out to default_config() and parses every IOWQ_* entry of envp into it.
// Returns the number of invalid entries (bad values plus unknown names); each
// one was reported by exactly one warn() call (warn may be null).
int parse_config(const char* const* envp, Config* out, WarnFn warn, void* ctx);

// True if the shim should act in the program: prog_name's basename (text after
// the last '/') is in IOWQ_ONLY_CMDS (when that list is set) and not in
// IOWQ_SKIP_CMDS. Exact, case-sensitive match. A null prog_name counts as "".
bool cmd_selected(const Config& c, const char* prog_name);

// ---- The table ------------------------------------------------------------

enum class OptionKind : uint8_t {
  Bool,
  Count,
  Size,
  Duration,
  Route,
  Mode,
  Numa,
  Cpus,
  Signal,
  Stats,
  StatsFormat,
  LogLevel,
  Path,
  CmdList,
};

struct OptionDef {
  const char* env;      // "IOWQ_MODE"
  const char* flag;     // iowq-run long option without dashes: "mode"
  const char* metavar;  // "auto|pool"
  const char* def;      // default, in the option's own syntax: "auto"; "" = not fixed here
  const char* note;     // how an unfixed default is computed, or what a fixed one means; or null
  const char* doc;      // one line, no trailing period
  OptionKind kind;
  const char* implicit;  // value when the flag is given without =VALUE; null = value required
  // Internal to the parser: where the value lands in Config, and the range
  // accepted for Count/Size/Duration kinds.
  size_t field;
  uint64_t min, max;
};

extern const OptionDef kOptions[];
extern const size_t kNumOptions;

// Extra iowq-run flags that are shorthands for one option value
// (`--json` = `--stats-format=json`). They take no value.
struct FlagAlias {
  const char* flag;   // "json"
  const char* env;    // "IOWQ_STATS_FORMAT"
  const char* value;  // "json"
  const char* doc;
};

extern const FlagAlias kFlagAliases[];
extern const size_t kNumFlagAliases;

// Row lookup by environment name or by flag; null when there is none.
const OptionDef* find_option_by_env(const char* env);
const OptionDef* find_option_by_flag(const char* flag);

// Validates one value exactly as parse_config would. Returns 0 when valid
// (the empty value is valid: it means "default"). Otherwise returns -1 and
// writes into msg (always NUL-terminated when msglen > 0) the reason as a
// predicate on the value, e.g. "is not one of auto, pool", so callers can say
// "IOWQ_MODE='fast' is not one of auto, pool" or "--mode='fast' is not ...".
int check_option_value(const OptionDef& o, const char* value, char* msg, size_t msglen);

// The default as shown to people: def, "def (note)", or the note alone when
// def is empty ("4 x CPUs of node"). Always NUL-terminated when len > 0.
void default_text(const OptionDef& o, char* buf, size_t len) noexcept;

// The value of row o in c, written in the option's own syntax (it parses back
// to the same value), or "" for a default not fixed here that is still unset.
void format_value(const OptionDef& o, const Config& c, char* buf, size_t len) noexcept;

// Every option's effective value as "IOWQ_X=value" words (an unset computed
// default as "IOWQ_X=(note)"), packed into lines of at most ~100 bytes, each
// passed to `line` without a prefix or newline. Allocation-free.
void describe_config(const Config& c, WarnFn line, void* ctx) noexcept;

}  // namespace iowq::shim
