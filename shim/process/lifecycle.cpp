// shim/process/lifecycle.cpp — the shim's life in a process: constructor, options,
// logging, starting the pool, fork, and the report at exit. (The fd hooks that
// keep the fd cache honest: interpose/fdcalls.cpp; the program's threads:
// threads.cpp; the cancel signal: signals/signals.cpp.)
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <unwind.h>

#include <new>

#include "report/callsites.hpp"
#include "report/report.hpp"
#include "route/fdtable.hpp"
#include "route/stall.hpp"
#include "seccomp.hpp"
#include "signals/signals.hpp"
#include "state.hpp"
#include "sys/libc.hpp"
#include "writebehind/writebehind.hpp"

#define IOWQ_EXPORT extern "C" __attribute__((visibility("default")))

extern char** environ;

namespace iowq::shim {

// constinit: a dynamic initialiser would run after iowq_init (priority 101)
// and wipe the state it set up.
constinit Shim g;
constinit thread_local ThreadCtx tl __attribute__((tls_model("initial-exec")));

namespace {

// ============================================================================
// Logging: raw writes, one line each; IOWQ_LOG_FILE is opened per line
// (O_APPEND|O_CLOEXEC) so the shim holds no fd in steady state.
// ============================================================================

void emit(const char* line, size_t n) noexcept {
  if (g.cfg.log_file[0]) {
    int fd = static_cast<int>(sys::open(g.cfg.log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (fd >= 0) {
      sys::write(fd, line, n);
      sys::close(fd);
      return;
    }
  }
  sys::write(2, line, n);
}

// Option warnings and the IOWQ_LOG=info lines go through log_line too.
void warn_cb(const char* msg, void*) noexcept { log_line(LogLevel::Warn, "%s", msg); }
void info_cb(const char* msg, void*) noexcept { log_line(LogLevel::Info, "iowq:   %s", msg); }

// IOWQ_STATS=stderr, but programs (coreutils' close_stdout) close fd 2 on the
// way out: keep a close-on-exec copy taken at that moment for the report.
int g_saved_stderr = -1;
bool stats_to_stderr() noexcept { return strcmp(g.cfg.stats, "stderr") == 0; }
}  // namespace

bool in_vfork_child() noexcept { return g.pid != 0 && sys::getpid() != g.pid; }

void keep_stderr(int fd) noexcept {
  if (fd == 2 && g_saved_stderr < 0 && stats_to_stderr())
    g_saved_stderr = static_cast<int>(sys::fcntl(2, F_DUPFD_CLOEXEC, 100));
}

namespace {

// ============================================================================
// fork: the child gets fresh, empty pools; write-behind data is flushed first.
// ============================================================================

void atfork_prepare() {
  g.forker = pthread_self();  // here: the child calls nothing (a page fault each)
  if (g.active.load(std::memory_order_relaxed) && !tl.sandboxed) wb_sync_all();
}
void atfork_parent() {}
void atfork_child() {
  g.pid = sys::getpid();
  g.main_thread = g.forker;  // on g.pid's page
  cancel_signal_after_fork();
  if (g_saved_stderr >= 0) {
    sys::close(g_saved_stderr);
    g_saved_stderr = -1;
  }
  if (g.pool) g.pool->reset_after_fork();
  // Default (seq_cst): the fork child has one thread, nothing to pair with.
  if (g.pool_state.load() != 0) g.pool_state.store(0);  // no store: no page copy
  // The child's report is its own. Without a report nothing reads the
  // counters: leave their pages alone (a read of them faults in every child).
  if (g.cfg.stats[0]) reset_counters(g_counters);
  if (g.cfg.callsites) callsites_reset();
  wb_after_fork_child();
}

iowq::Pool* make_pool() {
  iowq::Options o;
  o.bound_max = g.cfg.bound_max;
  o.unbound_max = g.cfg.unbound_max;
  o.idle_ms = g.cfg.idle_ms;
  o.numa_nodes = g.cfg.numa;
  for (int c = 0; c < 1024; ++c)
    if (g.cfg.cpu_mask[c / 64] & (1ull << (c % 64))) o.cpus.push_back(c);
  // In auto mode the pool serves write-behind's chunks (at most
  // IOWQ_WB_MAX_BYTES / chunk size, 256 by default, each queued once) and
  // the few calls that wait for their own item: 4,096 intake slots per class
  // cost ~1.2 M instructions and ~128 page faults at start-up, paid by every
  // short-lived write-behind process. A full intake is never wrong: submit
  // says -EAGAIN and the caller runs the call itself.
  if (g.cfg.mode != Mode::Pool) o.queue_capacity = 512;
  o.cancel_signal = g.sig;
  o.install_cancel_handler = false;
  o.before_cancel_signal = cancel_signal_resync;
  return new iowq::Pool(o);
}

// ============================================================================
// Report at exit
// ============================================================================

std::atomic<bool> g_report_written{false};

void write_exit_report() {
  if (!g.cfg.stats[0] || g_report_written.exchange(true)) return;
  bool restored = false;
  if (stats_to_stderr() && g_saved_stderr >= 0 && sys::fcntl(2, F_GETFD, 0) == -EBADF) {
    sys::dup2(g_saved_stderr, 2);
    restored = true;
  }
  ReportInput in;
  in.pid = g.pid;
  in.program = g.program;
  in.mode = g.cfg.mode == Mode::Pool ? "pool" : "auto";
  in.write_behind = g.cfg.write_behind;
  fold_call_blocks(g_counters);
  in.counters = &g_counters;
  if (g.pool) {
    in.pool = g.pool->stats();
    in.worker_tids = g.pool->worker_tids();
  }
  in.callsites_top = g.cfg.callsites;
  write_report(in, g.cfg.stats, g.cfg.stats_json);
  if (restored) sys::close(2);
}

}  // namespace

void log_line(LogLevel level, const char* fmt, ...) noexcept {
  if (static_cast<int>(level) > static_cast<int>(g.cfg.log) || g.cfg.log == LogLevel::Off) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  size_t len = static_cast<size_t>(n) < sizeof buf - 1 ? static_cast<size_t>(n) : sizeof buf - 2;
  buf[len++] = '\n';
  emit(buf, len);
}

void write_exit_report_now() noexcept {
  Nest nest;
  write_exit_report();
}

bool ensure_pool() noexcept {
  int s = g.pool_state.load(std::memory_order_acquire);
  // A thread under a sandbox the shim did not see is caught at its first
  // hand-off (seccomp.cpp): the pool's threads are not under it.
  if (s == 2) return __builtin_expect(tl.seccomp_checked, 1) || seccomp_may_hand_off(false);
  if (s != 0) return false;  // starting elsewhere (run inline meanwhile) or failed
  if (g.sealed.load(std::memory_order_relaxed)) return false;  // no thread under a TSYNC filter
  if (!g.pool_state.compare_exchange_strong(s, 1)) return false;
  seccomp_may_hand_off(true);
  Nest nest;  // the pool's threads are the shim's (no write-behind net on them)
  // Built on first need: a process that never needs the pool pays for
  // neither its memory nor its topology probe.
  int rc = -ENOMEM;
  try {  // std::bad_alloc never reaches the host: the calls run inline
    if (!g.pool) g.pool = make_pool();
    rc = g.pool->start();
  } catch (const std::bad_alloc&) {
  }
  g.pool_state.store(rc == 0 ? 2 : -1, std::memory_order_release);
  if (rc != 0) log_line(LogLevel::Warn, "iowq: cannot start the pool (%s); calls run inline", strerror(-rc));
  return rc == 0;
}

// ============================================================================
// Constructor and destructor
// ============================================================================

// libiowq.so carries its own copy of the unwinder (-static-libgcc: no
// libgcc_s.so to load in every process). A pthread_cancel is unwound by
// libgcc_s, which glibc loads then, and it calls our frames' personality,
// whose _Unwind_Set* are our copy's: that copy's register-size table is
// filled on its first own unwind, so take one (one frame) before anything
// can be cancelled inside the shim.
static _Unwind_Reason_Code stop_at_first(struct _Unwind_Context*, void*) { return _URC_END_OF_STACK; }
static void unwinder_init() noexcept { _Unwind_Backtrace(stop_at_first, nullptr); }

__attribute__((constructor(101))) static void iowq_init() {
  Nest nest;  // anything called from here passes straight through
  real::resolve();
  unwinder_init();
  g.pid = sys::getpid();
  g.main_thread = pthread_self();
  const char* const* envp = getauxval(AT_SECURE) ? nullptr : environ;
  // The first pass learns IOWQ_LOG and IOWQ_LOG_FILE; only when it found bad
  // entries does a second one report them, where and if the user asked.
  if (parse_config(envp, &g.cfg, nullptr, nullptr) > 0) {
    Config again;
    parse_config(envp, &again, warn_cb, nullptr);
  }
  g.program = program_invocation_short_name ? program_invocation_short_name : "";
  if (g.cfg.log >= LogLevel::Info) {
    log_line(LogLevel::Info, "iowq: iowq %s in pid %d (%s); effective options:", kVersion, g.pid, g.program);
    describe_config(g.cfg, info_cb, nullptr);
  }
  if (g.cfg.disable || !cmd_selected(g.cfg, g.program)) return;
  g.sig = g.cfg.signal ? g.cfg.signal : iowq::Options::default_cancel_signal();
  g.stall_ns = g.cfg.stall_ms * 1000000ull;
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
  if (g.cfg.callsites) callsites_init(g.cfg.callsites > 8 ? g.cfg.callsites : 8);
  wb_init();
  // Modes that always need the pool start it here, outside any signal handler.
  // (auto mode with a stall timeout needs only the stall thread: sockets wait in the caller.)
  if (g.cfg.mode == Mode::Pool || g.cfg.write_behind) ensure_pool();
  if (g.cfg.stall_ms) stall_start();
  g.active.store(true, std::memory_order_release);
}

__attribute__((destructor(101))) static void iowq_fini() {
  if (!g.active.load()) return;
  wb_exit();  // later writes (other threads, later destructors) run synchronously
  Nest nest;
  write_exit_report();
}

}  // namespace iowq::shim
