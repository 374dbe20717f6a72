// shim/signals/signals.cpp — the cancel signal, taken over lazily (see signals.hpp).
#include "signals.hpp"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <ucontext.h>

#include <atomic>

#include "process/state.hpp"
#include "route/stall.hpp"
#include "sys/libc.hpp"
#include "writebehind/net.hpp"
#include "writebehind/writebehind.hpp"

#define IOWQ_EXPORT extern "C" __attribute__((visibility("default")))

namespace iowq::shim {
namespace {

void* const kDfl = reinterpret_cast<void*>(SIG_DFL);
void* const kIgn = reinterpret_cast<void*>(SIG_IGN);

// The program's disposition, as the kernel would hold it.
using AppAction = sys::KSigaction;

std::atomic<int> g_state{0};  // 0 the program's, 1 being taken, 2 the shim's
constinit AppAction g_app{};  // SIG_DFL; under g_lock once taken
std::atomic<bool> g_lock{false};
// What libc's sigaction adds to an action (SA_RESTORER and its restorer on
// x86-64), learnt from the shim's own install: the program reads it back.
unsigned long g_libc_flags = 0;
void* g_libc_restorer = nullptr;
thread_local bool tl_in_call __attribute__((tls_model("initial-exec"))) = false;

// Short critical sections with every signal blocked (a handler on this
// thread may call sigaction).
struct Locked {
  sys::SigMask old;
  Locked() noexcept {
    sys::block_all_signals(&old, true);  // SIGSYS open: the write-behind net's traps
    while (g_lock.exchange(true, std::memory_order_acquire)) sys::cpu_relax();
  }
  ~Locked() {
    g_lock.store(false, std::memory_order_release);
    sys::restore_signals(old);
  }
};

#if defined(__x86_64__) || defined(__aarch64__)
constexpr bool kCanUndoRestart = true;
#else
constexpr bool kCanUndoRestart = false;  // no SA_RESTART for the program either
#endif

// A worker's cancelled call must end with EINTR. With SA_RESTART the kernel
// has rewound the thread to its syscall instruction to run it again (or the
// signal came just before it): step over it with -EINTR as its result.
void undo_restart(void* ucv) noexcept {
  auto* uc = static_cast<ucontext_t*>(ucv);
#if defined(__x86_64__)
  auto* ip = reinterpret_cast<const unsigned char*>(uc->uc_mcontext.gregs[REG_RIP]);
  if (ip[0] == 0x0f && ip[1] == 0x05) {  // syscall
    uc->uc_mcontext.gregs[REG_RAX] = -EINTR;
    uc->uc_mcontext.gregs[REG_RIP] += 2;
  }
#elif defined(__aarch64__)
  auto* pc = reinterpret_cast<const uint32_t*>(uc->uc_mcontext.pc);
  if (*pc == 0xd4000001u) {  // svc #0
    uc->uc_mcontext.regs[0] = static_cast<unsigned long>(-EINTR);
    uc->uc_mcontext.pc += 4;
  }
#else
  (void)uc;
#endif
}

void cancel_handler(int sig, siginfo_t* si, void* uc);

// Installs the shim's handler shaped by the program's action: its mask and
// the flags that change what the kernel does around the handler.
void install_locked(const AppAction& a) noexcept {
  struct sigaction sa = {};
  sa.sa_sigaction = cancel_handler;
  const bool has_handler = a.handler != kDfl && a.handler != kIgn;
  sa.sa_flags = SA_SIGINFO;
  if (has_handler)
    sa.sa_flags |= static_cast<int>(a.flags & (SA_RESTART | SA_ONSTACK | SA_NODEFER));
  else
    sa.sa_flags |= SA_RESTART;  // ignored or fatal: no call of the program is interrupted
  if (!kCanUndoRestart) sa.sa_flags &= ~SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (has_handler) memcpy(&sa.sa_mask, &a.mask, sizeof a.mask);
  real::sigaction(g.sig, &sa, nullptr);
}

AppAction app_from_user(const struct sigaction& in) noexcept {
  AppAction a;
  a.handler = reinterpret_cast<void*>(in.sa_handler);
  a.flags = static_cast<unsigned long>(static_cast<unsigned>(in.sa_flags)) | g_libc_flags;
  a.restorer = g_libc_flags ? g_libc_restorer : nullptr;
  memcpy(&a.mask, &in.sa_mask, sizeof a.mask);
  return a;
}

void cancel_handler(int sig, siginfo_t* si, void* uc) {
  const int saved_errno = errno;
  if (tl.worker || iowq::Pool::on_worker_thread()) {  // also before its first item ran
    if (si && si->si_code == SI_TKILL && si->si_pid == g.pid) {
      // The pool's cancel: the worker's call must see EINTR.
      if (tl_in_call) undo_restart(uc);
      ++tl.cancel_sigs;  // worker_fn: a call cut short by a signal not for its item goes on
    } else {
      // Sent to the process, taken here because every program thread blocks
      // it: queue it to the process again for the program's sigwait,
      // signalfd or threads, and keep it out of this worker until its
      // call ends (else it comes straight back here).
      siginfo_t info = *si;
      if (info.si_code >= 0 || info.si_code == SI_TKILL)
        info.si_code = SI_QUEUE;  // kernel rule for re-sending
      sys::rt_sigqueueinfo(g.pid, sig, &info);
      sigaddset(&static_cast<ucontext_t*>(uc)->uc_sigmask, sig);
    }
    errno = saved_errno;
    return;
  }
  // A wake of the pool for a wait this thread was unwound out of.
  if (si && si->si_code == SI_TKILL && si->si_pid == g.pid && iowq::Pool::take_stray_wake()) {
    errno = saved_errno;
    return;
  }
  bool in_call = false;
  if (stall_signal_ours(&in_call)) {
    // A stall deadline interrupting this thread's own call: it must end
    // with EINTR whatever SA_RESTART says (route.cpp decides what follows).
    // Outside that call (a late re-send) nothing is undone.
    if (in_call) undo_restart(uc);
    errno = saved_errno;
    return;
  }
  if (stall_unblocked_here()) {
    // The program blocks the signal on this thread; only the stall deadline
    // opened it for the call. Pending it is, as without the shim: queued
    // again where it was sent (the process for sigwait/signalfd/another
    // thread, or this thread) and kept out of this thread until the call
    // ends (the disarm blocks it again). The kernel lets only the main
    // thread re-send a kernel/kill code (as for a worker, above).
    siginfo_t info = *si;
    const int tid = static_cast<int>(sys::gettid());
    if ((info.si_code >= 0 || info.si_code == SI_TKILL) && tid != g.pid) info.si_code = SI_QUEUE;
    if (si->si_code == SI_TKILL)
      sys::rt_tgsigqueueinfo(g.pid, tid, sig, &info);
    else
      sys::rt_sigqueueinfo(g.pid, sig, &info);
    sigaddset(&static_cast<ucontext_t*>(uc)->uc_sigmask, sig);
    errno = saved_errno;
    return;
  }
  AppAction a;
  if (tl.sandboxed) {
    a = g_app;  // seccomp: no syscall of the shim's own (the lock masks signals)
  } else {
    Locked l;
    a = g_app;
    if (a.handler != kDfl && a.handler != kIgn && (a.flags & SA_RESETHAND)) {
      g_app.handler = kDfl;
      g_app.flags &= ~static_cast<unsigned long>(SA_SIGINFO | SA_RESETHAND);
      install_locked(g_app);
    }
  }
  if (a.handler == kIgn) return;
  if (a.handler == kDfl) {
    // A real-time signal's default action terminates the process.
    struct sigaction d = {};
    d.sa_handler = SIG_DFL;
    real::sigaction(sig, &d, nullptr);
    sys::tgkill(sys::getpid(), sys::gettid(), sig);
    errno = saved_errno;
    return;
  }
  errno = saved_errno;
  if (a.flags & SA_SIGINFO)
    reinterpret_cast<void (*)(int, siginfo_t*, void*)>(a.handler)(sig, si, uc);
  else
    reinterpret_cast<void (*)(int)>(a.handler)(sig);
}

}  // namespace

bool cancel_signal_take() noexcept {
  int s = g_state.load(std::memory_order_acquire);
  if (s == 2) {
    cancel_signal_resync();
    return true;
  }
  if (s == 0 && g_state.compare_exchange_strong(s, 1)) {
    {
      Locked l;
      // The kernel's view now is the program's, however it got there (libc,
      // raw rt_sigaction, SIG_IGN inherited across exec).
      sys::KSigaction k;
      if (sys::rt_sigaction(g.sig, nullptr, &k) == 0) g_app = k;
      install_locked(g_app);
      sys::KSigaction mine;
      if (sys::rt_sigaction(g.sig, nullptr, &mine) == 0) {
        g_libc_flags =
            mine.flags & ~static_cast<unsigned long>(SA_SIGINFO | SA_RESTART | SA_ONSTACK | SA_NODEFER);
        g_libc_restorer = mine.restorer;
      }
    }
    g_state.store(2, std::memory_order_release);
    return true;
  }
  for (int i = 0; i < 100000; ++i) {  // another thread is taking it
    if (g_state.load(std::memory_order_acquire) == 2) return true;
    sys::cpu_relax();
  }
  return false;
}

void cancel_signal_after_fork() noexcept {
  // Stores only on a change: a fork child that writes nothing copies no page.
  if (g_lock.load(std::memory_order_relaxed)) g_lock.store(false, std::memory_order_relaxed);
  int s = g_state.load(std::memory_order_relaxed);
  if (s == 0 || tl.sandboxed) return;
  // fork copies the dispositions (copy_sighand) before the memory (copy_mm):
  // a parent thread between its install and its store of 2, or between its
  // store of 1 and its install, leaves the child's g_state wrong either way.
  // g_app is written before the install, so it is complete when the kernel
  // has the shim's handler; otherwise the next take re-reads it.
  sys::KSigaction k;
  if (sys::rt_sigaction(g.sig, nullptr, &k) != 0) return;
  int want = k.handler == reinterpret_cast<void*>(cancel_handler) ? 2 : 0;
  if (s != want) g_state.store(want, std::memory_order_relaxed);
}

void cancel_signal_exec(bool before) noexcept {
  if (g_state.load(std::memory_order_acquire) != 2) return;
  Locked l;
  if (g_app.handler != kIgn) return;  // exec resets a handler to SIG_DFL either way
  // A vfork child may have set its own disposition (straight through, see
  // sigaction below): only the shim's inherited handler stands for g_app.
  sys::KSigaction k;
  if (sys::rt_sigaction(g.sig, nullptr, &k) == 0 && k.handler != reinterpret_cast<void*>(cancel_handler))
    return;
  if (before) {
    struct sigaction ign = {};
    ign.sa_handler = SIG_IGN;
    real::sigaction(g.sig, &ign, nullptr);  // a cancel meanwhile is re-sent by the pool
  } else {
    install_locked(g_app);
  }
}

void cancel_signal_in_call(bool in) noexcept { tl_in_call = in; }

namespace {
// Under the lock: the kernel holds something else than the shim's handler,
// so the program set it behind the shim's back: it is the program's.
void resync_locked() noexcept {
  sys::KSigaction k;
  if (sys::rt_sigaction(g.sig, nullptr, &k) != 0 || k.handler == reinterpret_cast<void*>(cancel_handler))
    return;
  g_app = k;
  install_locked(g_app);
}

// The program's disposition becomes `act` (when set); returns the previous one.
AppAction swap_app(const AppAction* act) noexcept {
  Locked l;
  resync_locked();
  AppAction prev = g_app;
  if (act) {
    g_app = *act;
    install_locked(g_app);
  }
  return prev;
}
}  // namespace

// A program's raw rt_sigaction on the signal once the shim owns it replaces
// the shim's handler behind its back: the kernel's action is then the
// program's (read back by sigaction as without the shim, and deciding what
// a signal does to a waiting call), and the shim's handler goes back in
// before the pool signals a worker (a program SIG_DFL there would end the
// process, a handler would run on the worker).
void cancel_signal_resync() noexcept {
  // A vfork child has its own dispositions but the parent's memory.
  if (g_state.load(std::memory_order_acquire) != 2 || tl.sandboxed || in_vfork_child()) return;
  // The usual case, the shim's handler in place, takes no lock (whose signal
  // mask costs two more system calls): the call before each pooled call.
  sys::KSigaction k;
  if (sys::rt_sigaction(g.sig, nullptr, &k) != 0 || k.handler == reinterpret_cast<void*>(cancel_handler))
    return;
  Locked l;
  resync_locked();
}

bool cancel_signal_owned(int sig) noexcept {
  return sig == g.sig && g.sig != 0 && g_state.load(std::memory_order_acquire) == 2 && !in_vfork_child();
}

int64_t cancel_ksigaction(const sys::KSigaction* act, sys::KSigaction* old) noexcept {
  AppAction a;
  if (act) {
    a = *act;
    a.mask &= ~((uint64_t{1} << (SIGKILL - 1)) | (uint64_t{1} << (SIGSTOP - 1)));  // as the kernel stores it
  }
  AppAction prev = swap_app(act ? &a : nullptr);
  if (old) *old = prev;
  return 0;
}

Disposition program_disposition(int sig) noexcept {
  void* handler = kDfl;
  unsigned long flags = 0;
  if (sig == g.sig && g_state.load(std::memory_order_acquire) == 2) {
    cancel_signal_resync();
    Locked l;
    handler = g_app.handler;
    flags = g_app.flags;
  } else {
    sys::KSigaction k;
    if (sys::rt_sigaction(sig, nullptr, &k) != 0) return Disposition::kNoHandler;
    handler = k.handler;
    flags = k.flags;
  }
  if (handler == kDfl || handler == kIgn) return Disposition::kNoHandler;
  return (flags & SA_RESTART) ? Disposition::kHandlerRestart : Disposition::kHandlerNoRestart;
}

}  // namespace iowq::shim

using namespace iowq::shim;

// ============================================================================
// The program's sigaction/signal on the cancel signal, once the shim owns it
// ============================================================================

// A vfork child (in_vfork_child(), process/state.hpp) shares the parent's
// memory but has its own dispositions: the saved views (write-behind's, the
// cancel signal's) are the parent's, and a change made there would be the
// parent's too (docs/design.md "vfork and posix_spawn children ... pass
// straight through").

IOWQ_EXPORT int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  if (!real::sigaction) real::resolve();
  bool mine = sig == g.sig && g.sig != 0 && g_state.load(std::memory_order_acquire) == 2;
  if (!tl.depth && (mine || wb_sig_owned(sig)) && in_vfork_child()) {
    // The child's own table only; the cancel signal still reads as the program set it.
    if (!mine) return real::sigaction(sig, act, old);
    AppAction prev;
    {
      Locked l;
      prev = g_app;
    }
    if (act && real::sigaction(sig, act, nullptr) != 0) return -1;
    if (old) sys::from_kernel(prev, old);
    return 0;
  }
  if (!tl.depth && wb_sig_owned(sig)) return wb_sigaction(sig, act, old);  // write-behind's fatal signals
  if (!mine || tl.depth) return real::sigaction(sig, act, old);
  AppAction a;
  if (act) a = app_from_user(*act);
  AppAction prev = swap_app(act ? &a : nullptr);
  if (old) sys::from_kernel(prev, old);
  return 0;
}

// siginterrupt(sig, 1) was called (glibc's own record, _sigintr, which its
// signal() reads, is private): signal() installs handlers without SA_RESTART.
static std::atomic<uint64_t> g_sigintr{0};

static int bsd_flags(int sig) noexcept {
  const bool intr = sig > 0 && sig <= 64 && (g_sigintr.load(std::memory_order_relaxed) >> (sig - 1)) & 1;
  return intr ? 0 : SA_RESTART;  // BSD semantics, as glibc's signal()
}

IOWQ_EXPORT sighandler_t signal(int sig, sighandler_t h) {
  if (!tl.depth && wb_sig_owned(sig) &&
      !in_vfork_child()) {  // write-behind's fatal signals: the program's view
    struct sigaction act = {}, old = {};
    act.sa_handler = h;
    sigemptyset(&act.sa_mask);
    sigaddset(&act.sa_mask, sig);
    act.sa_flags = bsd_flags(sig);
    if (wb_sigaction(sig, &act, &old) != 0) return SIG_ERR;
    return old.sa_handler;
  }
  // Not owned: libc's own signal() (it honours siginterrupt()), except under
  // the write-behind net (its handlers need the shim's restorer).
  if (!net_on() && (sig != g.sig || g.sig == 0 || tl.depth || g_state.load(std::memory_order_acquire) != 2)) {
    static sighandler_t (*real_signal)(int, sighandler_t) =
        reinterpret_cast<sighandler_t (*)(int, sighandler_t)>(real::next("signal"));
    return real_signal(sig, h);
  }
  struct sigaction act = {}, old = {};
  act.sa_handler = h;
  sigemptyset(&act.sa_mask);
  sigaddset(&act.sa_mask, sig);
  act.sa_flags = bsd_flags(sig);
  if (sigaction(sig, &act, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}

// ============================================================================
// glibc's other ways to set a disposition — sysv_signal (what signal() is in
// strict ISO C), bsd_signal, ssignal, sigset, sigignore, siginterrupt — call
// its internal sigaction, which no interposer sees: on a signal the shim has
// taken they returned the shim's handler and replaced it behind its back.
// Rebuilt here on the shim's sigaction, as glibc writes them (sysdeps/posix).
// ============================================================================

IOWQ_EXPORT sighandler_t bsd_signal(int sig, sighandler_t h) { return signal(sig, h); }
IOWQ_EXPORT sighandler_t ssignal(int sig, sighandler_t h) { return signal(sig, h); }

static bool bad_signal(int sig, sighandler_t h) noexcept {
  if (h != SIG_ERR && sig >= 1 && sig < NSIG) return false;
  errno = EINVAL;
  return true;
}

static sighandler_t sysv(int sig, sighandler_t h) {
  if (bad_signal(sig, h)) return SIG_ERR;
  struct sigaction act = {}, old = {};
  act.sa_handler = h;
  sigemptyset(&act.sa_mask);
  act.sa_flags = SA_RESETHAND | SA_NODEFER | SA_INTERRUPT;
  if (sigaction(sig, &act, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}
IOWQ_EXPORT sighandler_t sysv_signal(int sig, sighandler_t h) { return sysv(sig, h); }
IOWQ_EXPORT sighandler_t __sysv_signal(int sig, sighandler_t h) { return sysv(sig, h); }

IOWQ_EXPORT sighandler_t sigset(int sig, sighandler_t disp) {
  if (bad_signal(sig, disp)) return SIG_ERR;
  sigset_t set, oset;
  sigemptyset(&set);
  sigaddset(&set, sig);
  struct sigaction act = {}, old = {};
  if (disp == SIG_HOLD) {
    if (sigprocmask(SIG_BLOCK, &set, &oset) < 0) return SIG_ERR;
    if (sigismember(&oset, sig)) return SIG_HOLD;
    if (sigaction(sig, nullptr, &old) < 0) return SIG_ERR;
    return old.sa_handler;
  }
  act.sa_handler = disp;
  sigemptyset(&act.sa_mask);
  if (sigaction(sig, &act, &old) < 0) return SIG_ERR;
  if (sigprocmask(SIG_UNBLOCK, &set, &oset) < 0) return SIG_ERR;
  return sigismember(&oset, sig) ? SIG_HOLD : old.sa_handler;
}

IOWQ_EXPORT int sigignore(int sig) {
  struct sigaction act = {};
  act.sa_handler = SIG_IGN;
  sigemptyset(&act.sa_mask);
  return sigaction(sig, &act, nullptr);
}

IOWQ_EXPORT int siginterrupt(int sig, int interrupt) {
  if (bad_signal(sig, SIG_DFL)) return -1;
  using fn_t = int(int, int);
  static fn_t* real_ = nullptr;
  const uint64_t bit = uint64_t{1} << (sig - 1);
  int r;
  if (!net_on() && (tl.depth || (!wb_sig_owned(sig) && !cancel_signal_owned(sig)))) {
    r = real::next_fn(real_, "siginterrupt")(sig, interrupt);  // libc's record too, for its signal()
  } else {
    struct sigaction a;
    r = sigaction(sig, nullptr, &a);
    if (r == 0) {
      if (interrupt)
        a.sa_flags &= ~SA_RESTART;
      else
        a.sa_flags |= SA_RESTART;
      r = sigaction(sig, &a, nullptr);
    }
  }
  if (r == 0) {
    if (interrupt)
      g_sigintr.fetch_or(bit, std::memory_order_relaxed);
    else
      g_sigintr.fetch_and(~bit, std::memory_order_relaxed);
  }
  return r;
}

// Under the write-behind net SIGSYS stays open in the real mask (a trap with
// SIGSYS blocked would kill the process); the program's bit is virtual
// (net.hpp).
using mask_fn = int(int, const sigset_t*, sigset_t*);
static int set_mask(mask_fn*& slot, const char* name, int how, const sigset_t* set, sigset_t* old) {
  return net_sigmask(real::next_fn(slot, name), how, set, old);
}

IOWQ_EXPORT int sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  static mask_fn* real_ = nullptr;
  return set_mask(real_, "sigprocmask", how, set, old);
}

IOWQ_EXPORT int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  static mask_fn* real_ = nullptr;
  return set_mask(real_, "pthread_sigmask", how, set, old);
}

// ============================================================================
// sigtimedwait / sigwaitinfo on the cancel signal
// ============================================================================
// Once the shim owns the signal, threads of its own use have it open: a pool
// worker running an unbound call, a program thread waiting for one (the
// signal is its wake), a call under a stall deadline. One of them may take a
// copy the program sent to the process after the kernel had woken a waiting
// sigtimedwait for it; it queues the copy to the process again, but that
// wait has ended with EINTR, which plain it cannot without a handler of the
// program (tests/contract/sigwait_churn.c: 40 to 220 in 30,000 rounds). So
// while no signal open on the thread has a program handler, EINTR waits
// again, until the timeout. (glibc's sigwait retries EINTR itself.)
using swait_fn = int(const sigset_t*, siginfo_t*, const struct timespec*);

static bool program_handler_may_run(const sigset_t* set) noexcept {
  uint64_t blocked = 0;
  if (sys::thread_sigmask(SIG_BLOCK, nullptr, &blocked) != 0) return true;
  for (int sig = 1; sig < 65; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP || sig == 32 || sig == 33) continue;  // glibc's own
    if (((blocked >> (sig - 1)) & 1) || sigismember(set, sig) == 1) continue;
    struct sigaction a;
    if (sigaction(sig, nullptr, &a) != 0) return true;  // the program's view (cancel, write-behind, SIGSYS)
    if (a.sa_handler != SIG_DFL && a.sa_handler != SIG_IGN) return true;
  }
  return false;
}

static int wait_signal(swait_fn* rf, const sigset_t* set, siginfo_t* info, const struct timespec* ts) {
  if (!set || tl.depth || !cancel_signal_owned(g.sig) || sigismember(set, g.sig) != 1)
    return rf(set, info, ts);
  if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)) return rf(set, info, ts);
  const uint64_t end = ts ? sys::now_ns() + static_cast<uint64_t>(ts->tv_sec) * 1000000000ull +
                                static_cast<uint64_t>(ts->tv_nsec)
                          : 0;
  struct timespec left;
  const struct timespec* t = ts;
  for (;;) {
    const int r = rf(set, info, t);
    if (r >= 0 || errno != EINTR || program_handler_may_run(set)) return r;
    if (ts) {
      const uint64_t now = sys::now_ns();
      if (now >= end) {
        errno = EAGAIN;  // the timeout, as the plain wait ends
        return -1;
      }
      left.tv_sec = static_cast<time_t>((end - now) / 1000000000ull);
      left.tv_nsec = static_cast<long>((end - now) % 1000000000ull);
      t = &left;
    }
  }
}

IOWQ_EXPORT int sigtimedwait(const sigset_t* set, siginfo_t* info, const struct timespec* ts) {
  static swait_fn* real_ = nullptr;
  return wait_signal(real::next_fn(real_, "sigtimedwait"), set, info, ts);
}

IOWQ_EXPORT int sigwaitinfo(const sigset_t* set, siginfo_t* info) {
  static swait_fn* real_ = nullptr;
  return wait_signal(real::next_fn(real_, "sigtimedwait"), set, info, nullptr);
}
