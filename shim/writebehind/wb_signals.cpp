// shim/writebehind/wb_signals.cpp — a signal whose default action ends the process
// first has the pending write-behind data written (docs/design.md §5 "Signals and
// exits lose nothing").
//
// When write-behind first has data pending, the shim takes every signal of
// kFatal whose disposition is then SIG_DFL: its handler writes everything
// out, puts SIG_DFL back and raises the signal again, so the process ends
// with the same signal and status (core dump included). The program keeps
// seeing SIG_DFL: sigaction/signal on a taken signal are answered from the
// saved view; a program handler replaces the shim's; setting SIG_DFL again
// keeps the shim's. Signals the program handles or ignores are never touched.
#include <errno.h>
#include <signal.h>
#include <string.h>

#include <atomic>

#include "process/state.hpp"
#include "sys/libc.hpp"
#include "writebehind.hpp"

namespace iowq::shim {
namespace {

constexpr int kFatal[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGILL,  SIGABRT, SIGFPE,  SIGSEGV,   SIGBUS, SIGPIPE,
                          SIGALRM, SIGTERM, SIGUSR1, SIGUSR2, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF};

bool fatal(int sig) noexcept {
  for (int s : kFatal)
    if (s == sig) return sig != g.sig;
  return false;
}

std::atomic<uint64_t> g_owned{0};     // bit per signal: the shim's handler is in place
std::atomic<bool> g_armed{false};     // takeover done (or under way)
std::atomic<uint32_t> g_sig_lock{0};  // owner tid; guards takeover vs the program's sigaction
struct sigaction g_view[65];          // what the program sees for an owned signal

struct SigLock {
  bool held = false;
  SigLock() noexcept {
    uint32_t me = static_cast<uint32_t>(sys::gettid());
    if (g_sig_lock.load(std::memory_order_relaxed) == me) return;  // nested (handler): already ours
    for (unsigned i = 0;; ++i) {
      uint32_t expect = 0;
      if (g_sig_lock.compare_exchange_weak(expect, me, std::memory_order_acquire)) break;
      if ((i & 63) == 63) sys::sched_yield();
    }
    held = true;
  }
  ~SigLock() {
    if (held) g_sig_lock.store(0, std::memory_order_release);
  }
};

bool owned(int sig) noexcept { return g_owned.load(std::memory_order_acquire) & (uint64_t{1} << sig); }

void fatal_handler(int sig, siginfo_t* si, void*) {
  int e = errno;
  // Default first: the signal raised below (and any other) ends the process.
  struct sigaction d = {};
  d.sa_handler = SIG_DFL;
  sigemptyset(&d.sa_mask);
  real::sigaction(sig, &d, nullptr);
  // Default (seq_cst), stronger than needed: the bit is read by owned()'s
  // acquire load; nothing else is published with it.
  g_owned.fetch_and(~(uint64_t{1} << sig));
  wb_exit();
  bool fault = (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL) && si && si->si_code > 0;
  // A fault re-executes the instruction on return and ends the process the
  // default way; any other signal is raised again (blocked here: it is
  // delivered, with SIG_DFL, when this handler returns).
  if (!fault) sys::tgkill(sys::getpid(), sys::gettid(), sig);
  errno = e;
}

void install(int sig) noexcept {
  struct sigaction a = {};
  a.sa_sigaction = fatal_handler;
  a.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&a.sa_mask);
  real::sigaction(sig, &a, nullptr);
}

}  // namespace

void wb_arm_fatal_signals() noexcept {
  if (g_armed.load(std::memory_order_relaxed)) return;
  SigLock l;
  if (g_armed.exchange(true)) return;
  for (int sig : kFatal) {
    if (sig == g.sig) continue;
    struct sigaction old;
    if (real::sigaction(sig, nullptr, &old) != 0) continue;
    if (old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO)) continue;
    g_view[sig] = old;
    install(sig);
    g_owned.fetch_or(uint64_t{1} << sig, std::memory_order_release);
  }
}

bool wb_sig_owned(int sig) noexcept {
  return sig > 0 && sig < 64 && g_armed.load(std::memory_order_relaxed) && fatal(sig);
}

int wb_sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept {
  SigLock l;
  if (!owned(sig)) {
    struct sigaction prev;
    int r = real::sigaction(sig, act, &prev);
    if (r != 0) return r;
    if (old) *old = prev;
    // The program puts SIG_DFL back: the shim takes the signal again.
    if (act && act->sa_handler == SIG_DFL && !(act->sa_flags & SA_SIGINFO)) {
      g_view[sig] = *act;
      install(sig);
      g_owned.fetch_or(uint64_t{1} << sig, std::memory_order_release);
    }
    return 0;
  }
  if (old) *old = g_view[sig];
  if (act) {
    if (act->sa_handler == SIG_DFL && !(act->sa_flags & SA_SIGINFO)) {
      g_view[sig] = *act;
    } else {
      g_owned.fetch_and(~(uint64_t{1} << sig), std::memory_order_release);
      if (real::sigaction(sig, act, nullptr) != 0) {
        install(sig);
        g_owned.fetch_or(uint64_t{1} << sig, std::memory_order_release);
        return -1;
      }
    }
  }
  return 0;
}

}  // namespace iowq::shim
