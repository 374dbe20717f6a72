// shim/writebehind/wb_signals.cpp — a signal whose default action ends the process
// first has the pending write-behind data written (docs/design.md §5 "Signals and
// exits lose nothing").
//
// When write-behind first has data pending, the shim takes every signal of
// kFatal whose disposition is then SIG_DFL: its handler writes everything
// out, puts SIG_DFL back and raises the signal again, so the process ends
// with the same signal and status (core dump included). A program handler
// with SA_RESETHAND gets a wrapper that, like the kernel's reset, leaves
// SIG_DFL behind — the shim's handler with it — before it calls the
// program's. The program keeps seeing its own dispositions: sigaction/signal
// (and a raw rt_sigaction the net traps) on a taken signal are answered from
// the saved view. Signals the program handles or ignores are never touched.
//
// The kernel is the truth. A disposition set behind the shim's back (a raw
// rt_sigaction while the net is disarmed, or libc's own internal sigaction
// in sysv_signal, sigset, sigignore, siginterrupt) replaces the shim's handler
// in the kernel: every answer first reads what the kernel holds, and
// anything but one of the shim's handlers is the program's (re-adopted: taken
// again when it is SIG_DFL or has SA_RESETHAND).
#include <errno.h>
#include <signal.h>
#include <string.h>

#include <atomic>

#include "net.hpp"
#include "process/state.hpp"
#include "sys/libc.hpp"
#include "writebehind.hpp"

namespace iowq::shim {
namespace {

constexpr int kFatal[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGILL,  SIGABRT, SIGFPE,  SIGSEGV,   SIGBUS, SIGPIPE,
                          SIGALRM, SIGTERM, SIGUSR1, SIGUSR2, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF};
void* const kDfl = reinterpret_cast<void*>(SIG_DFL);
void* const kIgn = reinterpret_cast<void*>(SIG_IGN);

bool fatal(int sig) noexcept {
  for (int s : kFatal)
    if (s == sig) return sig != g.sig;
  return false;
}

std::atomic<bool> g_armed{false};     // takeover done (or under way)
std::atomic<uint32_t> g_sig_lock{0};  // owner tid; guards the views and the kernel's actions
// The program's action (kernel form) for a signal whose kernel action is
// one of the shim's handlers; meaningless otherwise.
sys::KSigaction g_view[65];

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

void fatal_handler(int sig, siginfo_t* si, void*) {
  int e = errno;
  // Default first: the signal raised below (and any other) ends the process.
  struct sigaction d = {};
  d.sa_handler = SIG_DFL;
  sigemptyset(&d.sa_mask);
  real::sigaction(sig, &d, nullptr);
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

// The program's SIG_DFL (kernel form) becomes the view; the shim's handler goes in.
void take(int sig, const sys::KSigaction& dfl) noexcept {
  g_view[sig] = dfl;
  install(sig);
}

void reset_handler(int sig, siginfo_t* si, void* uc);

bool ours(const sys::KSigaction& k) noexcept {
  return k.handler == reinterpret_cast<void*>(fatal_handler) ||
         k.handler == reinterpret_cast<void*>(reset_handler);
}

// `k` is what the kernel holds for `sig`, not one of the shim's handlers:
// the program's. Takes a SIG_DFL; wraps a handler with SA_RESETHAND (the
// kernel would reset it to SIG_DFL behind the shim's back).
void adopt(int sig, const sys::KSigaction& k) noexcept {
  if (k.handler == kDfl) {
    take(sig, k);
  } else if (k.handler != kIgn && (k.flags & SA_RESETHAND)) {
    g_view[sig] = k;
    sys::KSigaction w = k;
    w.handler = reinterpret_cast<void*>(reset_handler);
    w.flags = (k.flags & ~static_cast<unsigned long>(SA_RESETHAND)) | SA_SIGINFO;
    net_ksigaction(sig, &w, nullptr);
  }
}

// The program's SA_RESETHAND handler: SIG_DFL from now on, as the kernel's
// reset (the handler only; flags and mask stay), taken by the shim; then
// the program's handler runs. A delivery that finds the reset done (another
// thread's came first, or the program has set another action since) is one
// the kernel would have given SIG_DFL: it ends the process, data written.
void reset_handler(int sig, siginfo_t* si, void* uc) {
  const int e = errno;
  sys::KSigaction a, k;
  {
    SigLock l;
    if (sys::rt_sigaction(sig, nullptr, &k) != 0 || k.handler != reinterpret_cast<void*>(reset_handler)) {
      a.handler = kDfl;
    } else {
      a = g_view[sig];
      sys::KSigaction d = a;
      d.handler = kDfl;
      take(sig, d);
    }
  }
  errno = e;
  if (a.handler == kDfl)
    fatal_handler(sig, si, uc);
  else if (a.flags & SA_SIGINFO)
    reinterpret_cast<void (*)(int, siginfo_t*, void*)>(a.handler)(sig, si, uc);
  else
    reinterpret_cast<void (*)(int)>(a.handler)(sig);
}

}  // namespace

void wb_arm_fatal_signals() noexcept {
  if (g_armed.load(std::memory_order_relaxed)) return;
  SigLock l;
  if (g_armed.exchange(true)) return;
  for (int sig : kFatal) {
    if (sig == g.sig) continue;
    sys::KSigaction k;
    if (sys::rt_sigaction(sig, nullptr, &k) == 0) adopt(sig, k);
  }
}

void wb_signals_after_fork() noexcept {
  // That thread is gone: the lock is free. What it was changing, the kernel
  // (copied before the memory) tells at the next answer.
  if (g_sig_lock.load(std::memory_order_relaxed)) g_sig_lock.store(0, std::memory_order_relaxed);
}

bool wb_sig_owned(int sig) noexcept {
  return sig > 0 && sig < 64 && g_armed.load(std::memory_order_relaxed) && fatal(sig);
}

int64_t wb_ksigaction(int sig, const sys::KSigaction* act, sys::KSigaction* old) noexcept {
  SigLock l;
  sys::KSigaction k;
  int64_t r = sys::rt_sigaction(sig, nullptr, &k);
  if (r < 0) return r;
  const sys::KSigaction prev = ours(k) ? g_view[sig] : k;
  if (act && act->handler == kDfl) {
    take(sig, net_kernel_form(*act));  // never SIG_DFL in the kernel without the shim's handler
  } else if (act) {
    r = net_ksigaction(sig, act, nullptr);
    if (r < 0) return r;
    if (sys::rt_sigaction(sig, nullptr, &k) == 0 && !ours(k)) adopt(sig, k);
  } else if (!ours(k)) {
    adopt(sig, k);
  }
  if (old) *old = prev;
  return 0;
}

int wb_sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept {
  return libc_sigaction(wb_ksigaction, sig, act, old);
}

}  // namespace iowq::shim
