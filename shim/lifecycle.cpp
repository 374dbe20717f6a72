// shim/lifecycle.cpp — the shim's life in a process: constructor, options,
// logging, starting the pool, fork, the fd hooks that keep fdtable honest,
// and the report at exit. (The cancel signal: signals.cpp.)
#include <dirent.h>
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
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <unwind.h>

#include <new>

#include "callsites.hpp"
#include "fdtable.hpp"
#include "libc.hpp"
#include "report.hpp"
#include "stall.hpp"
#include "state.hpp"
#include "writebehind.hpp"

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
void keep_stderr(int fd) noexcept {
  if (fd == 2 && g_saved_stderr < 0 && stats_to_stderr())
    g_saved_stderr = static_cast<int>(sys::fcntl(2, F_DUPFD_CLOEXEC, 100));
}

// ============================================================================
// fork: the child gets fresh, empty pools; write-behind data is flushed first.
// ============================================================================

void atfork_prepare() {
  if (g.active.load(std::memory_order_relaxed) && !tl.sandboxed) wb_sync_all();
}
void atfork_parent() {}
void atfork_child() {
  g.pid = sys::getpid();
  if (g_saved_stderr >= 0) {
    sys::close(g_saved_stderr);
    g_saved_stderr = -1;
  }
  if (g.pool) g.pool->reset_after_fork();
  if (g.pool_state.load() != 0) g.pool_state.store(0);  // no store: no page copy
  reset_counters(g_counters);
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
  o.cancel_signal = g.sig;
  o.install_cancel_handler = false;
  return new iowq::Pool(o);
}

// ============================================================================
// Report at exit
// ============================================================================

void write_exit_report() {
  if (!g.cfg.stats[0]) return;
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

bool ensure_pool() noexcept {
  int s = g.pool_state.load(std::memory_order_acquire);
  if (s == 2) return true;
  if (s != 0) return false;  // starting elsewhere (run inline meanwhile) or failed
  if (!g.pool_state.compare_exchange_strong(s, 1)) return false;
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

using namespace iowq::shim;

// ============================================================================
// fd lifecycle: what makes the fd cache trustworthy
// ============================================================================

IOWQ_EXPORT int close(int fd) {
  if (g.active.load(std::memory_order_relaxed) && !tl.sandboxed) {
    int err = wb_sync_fd(fd);
    fd_forget(fd);
    keep_stderr(fd);
    int r = real::close(fd);
    if (err) {
      errno = -err;
      return -1;
    }
    return r;
  }
  fd_forget(fd);
  return real::close(fd);
}

IOWQ_EXPORT int close_range(unsigned lo, unsigned hi, int flags) {
  if (g.active.load(std::memory_order_relaxed)) {
    if (!tl.sandboxed) wb_sync_all();
    fd_forget_range(lo, hi);
  }
  if (!real::close_range) {
    int64_t r = sys::close_range(lo, hi, flags);
    if (r < 0) {
      errno = static_cast<int>(-r);
      return -1;
    }
    return static_cast<int>(r);
  }
  return real::close_range(lo, hi, flags);
}

// glibc's closefrom closes with an internal close_range.
IOWQ_EXPORT void closefrom(int lo) {
  static void (*real_closefrom)(int) = reinterpret_cast<void (*)(int)>(real::next("closefrom"));
  if (g.active.load(std::memory_order_relaxed)) {
    if (!tl.sandboxed) wb_sync_all();
    if (lo >= 0) fd_forget_range(static_cast<unsigned>(lo), ~0u);
  }
  if (real_closefrom)
    real_closefrom(lo);
  else
    sys::close_range(static_cast<unsigned>(lo), ~0u, 0);
}

IOWQ_EXPORT int dup2(int oldfd, int newfd) {
  if (g.active.load(std::memory_order_relaxed) && !tl.sandboxed) {
    wb_wait_fd(oldfd);
    if (oldfd != newfd) wb_wait_fd(newfd);
  }
  int r = real::dup2(oldfd, newfd);
  if (r >= 0) fd_forget(r);
  return r;
}

IOWQ_EXPORT int dup3(int oldfd, int newfd, int flags) {
  if (g.active.load(std::memory_order_relaxed) && !tl.sandboxed) {
    wb_wait_fd(oldfd);
    wb_wait_fd(newfd);
  }
  int r = real::dup3(oldfd, newfd, flags);
  if (r >= 0) fd_forget(r);
  return r;
}

static bool lock_cmd(int cmd) noexcept {
  return cmd == F_SETLK || cmd == F_SETLKW || cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW;
}

// fcntl cannot return an I/O error: it waits and leaves a deferred error
// pending. A lock taken or released tells the other holders: everything
// pending lands first.
static int fcntl_common(int fd, int cmd, long arg) {
  if (g.active.load(std::memory_order_relaxed) && !tl.sandboxed && wb_pending()) {
    if (lock_cmd(cmd))
      wb_sync_all();
    else
      wb_wait_fd(fd);
  }
  int r = real::fcntl(fd, cmd, arg);
  if (r >= 0) {
    if (cmd == F_SETFL) fd_forget(fd);
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) fd_forget(r);
  }
  return r;
}

IOWQ_EXPORT int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  long arg = va_arg(ap, long);
  va_end(ap);
  return fcntl_common(fd, cmd, arg);
}

IOWQ_EXPORT int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  long arg = va_arg(ap, long);
  va_end(ap);
  return fcntl_common(fd, cmd, arg);
}

IOWQ_EXPORT int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (req == FIONBIO) fd_forget(fd);
  if (g.active.load(std::memory_order_relaxed) && !tl.sandboxed && wb_pending()) wb_wait_fd(fd);  // FIEMAP...
  return real::ioctl(fd, req, arg);
}

// libc closes these fds internally, where the close() above never sees it.
IOWQ_EXPORT int fclose(FILE* f) {
  if (!real::fclose) real::resolve();
  int err = 0;
  if (f && g.active.load(std::memory_order_relaxed) && !tl.sandboxed) {
    int fd = fileno(f);
    if (fd >= 0) {
      err = wb_sync_fd(fd);  // fclose can fail with an I/O error: it reports
      fd_forget(fd);
      keep_stderr(fd);
    }
  }
  int r = real::fclose(f);
  if (err) {
    errno = -err;
    return EOF;
  }
  return r;
}

IOWQ_EXPORT int closedir(DIR* d) {
  static int (*real_closedir)(DIR*) = reinterpret_cast<int (*)(DIR*)>(real::next("closedir"));
  // closedir(NULL) is libc's to answer (EINVAL). The declaration says
  // nonnull, so hide the pointer from the optimiser before testing it.
  DIR* p = d;
  __asm__("" : "+r"(p));
  if (p) fd_forget(dirfd(p));
  return real_closedir(d);
}

IOWQ_EXPORT int pclose(FILE* f) {
  static int (*real_pclose)(FILE*) = reinterpret_cast<int (*)(FILE*)>(real::next("pclose"));
  if (f) fd_forget(fileno(f));
  return real_pclose(f);
}

// ============================================================================
// Sandboxed threads: after seccomp is set on a thread (strict mode allows
// only read, write, _exit and sigreturn; a filter, whatever the program
// chose), the shim must not issue a syscall of its own there — so every
// call of that thread passes straight through, as a nested call does.
// (The syscall(SYS_seccomp) route is not interposed: the shim's own raw
// syscalls go through libc's syscall function, and a filter inherited from
// the parent cannot be seen.)
// ============================================================================

IOWQ_EXPORT int prctl(int option, ...) {
  static int (*real_prctl)(int, ...) = reinterpret_cast<int (*)(int, ...)>(real::next("prctl"));
  va_list ap;
  va_start(ap, option);
  unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
  unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
  va_end(ap);
  if (option == PR_SET_SECCOMP && !tl.sandboxed) {
    // Marked first: once the call succeeds, nothing else may run here.
    tl.sandboxed = true;
    ++tl.depth;
    int r = real_prctl(option, a2, a3, a4, a5);
    if (r != 0) {
      int e = errno;
      --tl.depth;
      tl.sandboxed = false;
      errno = e;
    }
    return r;
  }
  return real_prctl(option, a2, a3, a4, a5);
}

// ============================================================================
// main's pthread_exit: glibc ends the process (exit(0)) when the last thread
// it counts ends, and it counts the shim's threads too, which never end.
// Once main has called pthread_exit, a watcher thread of the shim's looks at
// the process's threads every 50 ms and calls exit(0) when none is the
// program's any more (the shim's are named "iowq-*"; zombies do not count).
// ============================================================================

namespace {

bool program_thread_left(int self) noexcept {
  int64_t dfd = sys::open_ro("/proc/self/task", O_DIRECTORY);
  if (dfd < 0) return true;  // cannot tell: keep the process
  bool left = false;
  alignas(8) char buf[4096];
  for (int64_t n; !left && (n = sys::getdents64(static_cast<int>(dfd), buf, sizeof buf)) > 0;) {
    for (int64_t off = 0; off < n && !left;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      off += d->d_reclen;
      int tid = atoi(d->d_name);
      if (tid <= 0 || tid == self) continue;
      char path[64], st[512];
      snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
      int64_t fd = sys::open_ro(path, 0);
      if (fd < 0) continue;  // gone meanwhile
      int64_t r = sys::read(static_cast<int>(fd), st, sizeof st - 1);
      sys::close(static_cast<int>(fd));
      if (r <= 0) continue;
      st[r] = '\0';
      const char* open = strchr(st, '(');
      const char* close = strrchr(st, ')');
      if (!open || !close || close[1] != ' ') continue;
      const char state = close[2];
      if (state == 'Z' || state == 'X') continue;
      if (strncmp(open + 1, "iowq-", 5) == 0) continue;
      left = true;
    }
  }
  sys::close(static_cast<int>(dfd));
  return left;
}

void* exit_watch(void*) {
  pthread_setname_np(pthread_self(), "iowq-exit");
  const int self = sys::gettid();
  for (;;) {
    struct timespec ts = {0, 50 * 1000 * 1000};
    clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
    if (!program_thread_left(self)) exit(0);  // what glibc's last thread does
  }
  return nullptr;
}

std::atomic<bool> g_exit_watch{false};

}  // namespace

IOWQ_EXPORT __attribute__((noreturn)) void pthread_exit(void* ret) {
  static void (*real_exit)(void*) = reinterpret_cast<void (*)(void*)>(real::next("pthread_exit"));
  if (g.active.load(std::memory_order_relaxed) && !tl.depth && !tl.sandboxed && sys::gettid() == g.pid &&
      !g_exit_watch.exchange(true)) {
    // Whatever threads the shim has now or starts later (pool, stall thread).
    Nest nest;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 64 * 1024);
    pthread_t t;
    if (pthread_create(&t, &at, exit_watch, nullptr) != 0) g_exit_watch.store(false);
    pthread_attr_destroy(&at);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  real_exit(ret);
  __builtin_unreachable();
}
