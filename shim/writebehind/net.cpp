// shim/writebehind/net.cpp — the net under the interposers (docs/design.md §5 "The net").
//
// Syscall user dispatch (prctl PR_SET_SYSCALL_USER_DISPATCH, Linux 5.11+):
// on each program thread, every system call issued outside libiowq.so's text
// traps with SIGSYS (si_code SYS_USER_DISPATCH) while the selector byte says
// BLOCK. One process-wide byte, armed (BLOCK) while write-behind has chunks
// in flight and ALLOW otherwise: arming and disarming are one store, done
// under a small lock that reads the in-flight count, so the last store always
// matches it. The handler (SA_NODEFER: a trap inside a program handler that
// runs nested in ours still traps) decides what the call could observe,
// waits for that, then runs the call from the shim's text and puts the
// result in RAX. A few calls cannot run inside a handler (rt_sigreturn,
// clone, fork, exec): they wait until nothing is pending and re-execute
// untrapped (RIP rewound over the 2-byte syscall instruction; a re-arm
// meanwhile traps them again).
#include "net.hpp"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include "process/state.hpp"
#include "report/counters.hpp"
#include "signals/signals.hpp"
#include "sys/libc.hpp"
#include "writebehind.hpp"

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#endif
#ifndef SYS_USER_DISPATCH
#define SYS_USER_DISPATCH 2
#endif

namespace iowq::shim {
namespace {

constexpr char kAllow = 0, kBlock = 1;
constexpr uint64_t kSigsysBit = uint64_t{1} << (SIGSYS - 1);
constexpr unsigned long kSaRestorer = 0x04000000;

bool g_on = false;
volatile char g_selector = kAllow;  // read by the kernel at every syscall
std::atomic<uint32_t> g_sel_lock{0};
uintptr_t g_text_lo = 0, g_text_len = 0;
thread_local bool tl_enabled __attribute__((tls_model("initial-exec"))) = false;
// The task whose thread-local block this is: a clone() child made without
// CLONE_SETTLS runs on its creator's, and must not touch it (see the handler).
thread_local int tl_owner __attribute__((tls_model("initial-exec"))) = 0;
// The net was taken off this thread inside an append (see the handler).
thread_local bool tl_resume __attribute__((tls_model("initial-exec"))) = false;
// SIGSYS in this thread's mask as the program sees it: under the net the
// real mask keeps it open (a trap with SIGSYS blocked kills the process).
thread_local bool tl_sys_blocked __attribute__((tls_model("initial-exec"))) = false;
// This thread left the net for good (a SIGSYS it blocks arrived, or it
// blocked SIGSYS once write-behind was off for good): its real mask is the
// program's, SIGSYS included.
thread_local bool tl_out __attribute__((tls_model("initial-exec"))) = false;

// A vfork child that set its own mask (its pid): it runs on its parent's
// thread-local block, so it keeps no bit there (net_sigmask, net_exec_begin).
std::atomic<int> g_vfork_masked{0};

// The program's SIGSYS disposition (the kernel holds the net's).
sys::KSigaction g_app_sys = {reinterpret_cast<void*>(SIG_DFL), 0, nullptr, 0};
std::atomic<uint32_t> g_app_lock{0};

void spin(std::atomic<uint32_t>& l) noexcept {
  for (unsigned i = 0; l.exchange(1, std::memory_order_acquire); ++i)
    if ((i & 63) == 63) sys::sched_yield();
}
void unspin(std::atomic<uint32_t>& l) noexcept { l.store(0, std::memory_order_release); }

int64_t prctl_dispatch(bool on) noexcept {
#ifdef IOWQ_PROFILE_NO_NET
  // Profiling builds only (CMake IOWQ_PROFILE_NO_NET): valgrind's own system
  // calls would trap. Everything else of the net runs; nothing traps.
  (void)on;
  return 0;
#endif
  if (!on) return sys::syscall6(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, 0, 0, 0, 0, 0);
  return sys::syscall6(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, 1, static_cast<long>(g_text_lo),
                       static_cast<long>(g_text_len), reinterpret_cast<long>(&g_selector), 0);
}

// The executable segment of the object holding this function: libiowq.so
// (shim, core, and the statically linked C++ runtime).
int find_text(struct dl_phdr_info* info, size_t, void*) {
  const auto self = reinterpret_cast<uintptr_t>(&find_text);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    uintptr_t lo = info->dlpi_addr + ph.p_vaddr, hi = lo + ph.p_memsz;
    if (self >= lo && self < hi) {
      g_text_lo = lo;
      g_text_len = hi - lo;
      return 1;
    }
  }
  return 0;
}

void sigsys_handler(int sig, siginfo_t* si, void* ucv);

sys::KSigaction our_action() noexcept {
  return {reinterpret_cast<void*>(sigsys_handler), SA_SIGINFO | SA_NODEFER | kSaRestorer, sys::restorer(), 0};
}

// The kernel's action for `sig` as the program asked, made safe under the
// net: the shim's restorer, SIGSYS out of the mask.
sys::KSigaction kernel_action(const sys::KSigaction& a) noexcept {
  sys::KSigaction k = a;
  k.flags |= kSaRestorer;
  k.restorer = sys::restorer();
  k.mask &= ~kSigsysBit;
  return k;
}

void reclaim_sigsys() noexcept;

// rt_sigaction as the program sees it (SIGSYS virtualised). -errno.
int64_t ksigaction(int sig, const sys::KSigaction* act, sys::KSigaction* old) noexcept {
  if (sig != SIGSYS) {
    sys::KSigaction k;
    if (act) k = kernel_action(*act);
    return sys::rt_sigaction(sig, act ? &k : nullptr, old);
  }
  reclaim_sigsys();  // a set behind the shim's back since the last arming is the program's
  sys::SigMask m;
  sys::block_all_signals(&m, true);
  spin(g_app_lock);
  if (old) *old = g_app_sys;
  if (act) g_app_sys = *act;
  unspin(g_app_lock);
  sys::restore_signals(m);
  return 0;
}

// A program (or libc) set SIGSYS with a call no interposer saw while the net
// was disarmed: take its action as the program's and put the net's back.
void reclaim_sigsys() noexcept {
  sys::KSigaction k;
  if (sys::rt_sigaction(SIGSYS, nullptr, &k) != 0 || k.handler == reinterpret_cast<void*>(sigsys_handler))
    return;
  spin(g_app_lock);
  g_app_sys = k;
  unspin(g_app_lock);
  sys::KSigaction ours = our_action();
  sys::rt_sigaction(SIGSYS, &ours, nullptr);
}

// SIGSYS's default action, pending data written first: the process ends
// when the handler returns.
void die_default() noexcept {
  if (!tl.depth && !tl.sandboxed) wb_exit();  // a fatal signal writes first
  sys::KSigaction d = {reinterpret_cast<void*>(SIG_DFL), kSaRestorer, sys::restorer(), 0};
  sys::rt_sigaction(SIGSYS, &d, nullptr);
  sys::tgkill(sys::getpid(), sys::gettid(), SIGSYS);
}

// A SIGSYS that is not a net trap (seccomp SECCOMP_RET_TRAP, kill): the
// program's handler, or its default action.
void forward(int sig, siginfo_t* si, void* uc) noexcept {
  spin(g_app_lock);
  sys::KSigaction a = g_app_sys;
  if ((a.flags & SA_RESETHAND) && a.handler != reinterpret_cast<void*>(SIG_IGN))
    g_app_sys.handler = reinterpret_cast<void*>(SIG_DFL);
  unspin(g_app_lock);
  const bool forced = si && si->si_code > 0;  // the kernel's: ignored or not, it ends the process
  if (a.handler == reinterpret_cast<void*>(SIG_IGN) && !forced) return;
  if (a.handler == reinterpret_cast<void*>(SIG_DFL) || a.handler == reinterpret_cast<void*>(SIG_IGN)) {
    die_default();
    return;
  }
  uint64_t block = a.mask & ~kSigsysBit;
  sys::thread_sigmask(SIG_BLOCK, &block, nullptr);  // the program's sa_mask; sigreturn restores
  if (a.flags & SA_SIGINFO)
    reinterpret_cast<void (*)(int, siginfo_t*, void*)>(a.handler)(sig, si, uc);
  else
    reinterpret_cast<void (*)(int)>(a.handler)(sig);
}

// ---- what a trapped call could observe -------------------------------------

enum class Wait : uint8_t { None, File, All, Idle };

bool is_file(long fd) noexcept {
  return fd >= 0 && fd <= INT32_MAX && fd_info(static_cast<int>(fd)).kind == FdKind::File;
}

// Calls that observe no file and tell no other process anything run at
// once; reads and writes on a regular file wait for that file (as their
// interposers do); calls that cannot run inside a handler wait until
// nothing is pending and run again untrapped; everything else waits for
// every pending write. Without `fds_known` (a task whose fd table may not be
// the one the shim's cache describes) a read of any fd counts as a file's.
Wait classify(long nr, const long* a, bool fds_known = true) noexcept {
  switch (nr) {
    // identity, time, scheduling, memory of this process, signals of this thread
    case SYS_getpid:
    case SYS_getppid:
    case SYS_gettid:
    case SYS_getuid:
    case SYS_geteuid:
    case SYS_getgid:
    case SYS_getegid:
    case SYS_getresuid:
    case SYS_getresgid:
    case SYS_getpgrp:
    case SYS_getpgid:
    case SYS_getsid:
    case SYS_clock_gettime:
    case SYS_clock_getres:
    case SYS_gettimeofday:
    case SYS_time:
    case SYS_nanosleep:
    case SYS_clock_nanosleep:
    case SYS_sched_yield:
    case SYS_sched_getaffinity:
    case SYS_getcpu:
    case SYS_brk:
    case SYS_munmap:
    case SYS_mprotect:
    case SYS_madvise:
    case SYS_mremap:
    case SYS_rt_sigpending:
    case SYS_rt_sigtimedwait:
    case SYS_rt_sigsuspend:
    case SYS_sigaltstack:
    case SYS_getrandom:
    case SYS_set_robust_list:
    case SYS_get_robust_list:
    case SYS_rseq:
    case SYS_set_tid_address:
    case SYS_arch_prctl:
    case SYS_getrusage:
    case SYS_uname:
    case SYS_sysinfo:
    case SYS_times:
    case SYS_getrlimit:
    case SYS_getcwd:
    case SYS_umask:
    case SYS_membarrier:
    // waiting for others (nobody learns anything from it)
    case SYS_poll:
    case SYS_ppoll:
    case SYS_select:
    case SYS_pselect6:
    case SYS_epoll_wait:
    case SYS_epoll_pwait:
    case SYS_epoll_pwait2: return Wait::None;
    case SYS_prlimit64: return a[2] == 0 ? Wait::None : Wait::All;
    case SYS_futex: return (a[1] & FUTEX_PRIVATE_FLAG) ? Wait::None : Wait::All;
    case SYS_mmap: return ((a[3] & MAP_ANONYMOUS) && !(a[3] & MAP_SHARED)) ? Wait::None : Wait::All;
    // reads: a regular file's own data; a pipe or socket read tells nothing
    case SYS_read:
    case SYS_pread64:
    case SYS_readv:
    case SYS_preadv:
    case SYS_preadv2:
    case SYS_recvfrom:
    case SYS_recvmsg:
    case SYS_recvmmsg: return !fds_known || is_file(a[0]) ? Wait::File : Wait::None;
    case SYS_write:
    case SYS_pwrite64:
    case SYS_writev:
    case SYS_pwritev:
    case SYS_pwritev2:
    case SYS_lseek:
    case SYS_fstat:
    case SYS_fsync:
    case SYS_fdatasync: return is_file(a[0]) ? Wait::File : Wait::All;
    case SYS_rt_sigreturn:
    case SYS_clone:
    case SYS_clone3:
    case SYS_fork:
    case SYS_vfork:
    case SYS_execve:
    case SYS_execveat: return Wait::Idle;
    default: return Wait::All;
  }
}

void wait_idle() noexcept {
  Nest nest;
  while (wb_inflight()) wb_sync_all();
}

// The program's SIGSYS bit after a mask change `how` with `set` (nullptr:
// a read); false with an invalid `how` (the call fails).
bool sys_bit_after(int how, bool in_set, bool has_set, bool* bit) noexcept {
  if (!has_set) return true;
  if (how == SIG_BLOCK)
    *bit = *bit || in_set;
  else if (how == SIG_UNBLOCK)
    *bit = *bit && !in_set;
  else if (how == SIG_SETMASK)
    *bit = in_set;
  else
    return false;
  return true;
}

// rt_sigprocmask on the interrupted thread's mask (the ucontext's, which
// sigreturn puts back): run against it, SIGSYS kept open. The program's
// SIGSYS bit stays as it is: a raw call made while the net is disarmed is
// not seen either (sigsetjmp/siglongjmp's own calls among them), and one
// way for both is more exact than a bit that depends on the timing.
int64_t emulate_sigprocmask(ucontext_t* uc, const long* a) noexcept {
  uint64_t cur, now;
  memcpy(&cur, &uc->uc_sigmask, sizeof cur);
  sys::thread_sigmask(SIG_SETMASK, &cur, nullptr);
  int64_t r = sys::syscall6(SYS_rt_sigprocmask, a[0], a[1], a[2], a[3], 0, 0);
  sys::thread_sigmask(SIG_BLOCK, nullptr, &now);
  now &= ~kSigsysBit;
  sys::thread_sigmask(SIG_SETMASK, &now, nullptr);
  memcpy(&uc->uc_sigmask, &now, sizeof now);
  return r;
}

// A trapped raw rt_sigaction: the virtualised signals (write-behind's fatal
// ones, the cancel signal) read and set the program's view, as its libc
// sigaction does; from inside the shim, the kernel's.
int64_t emulate_sigaction(const long* a, bool inside) noexcept {
  if (a[3] != 8) return -EINVAL;
  sys::KSigaction act, old;
  if (a[1] && sys::vm_read(g.pid, &act, reinterpret_cast<const void*>(a[1]), sizeof act) != sizeof act)
    return -EFAULT;
  if (a[2]) {  // the old action's memory must be writable: let the kernel check it
    int64_t r = sys::syscall6(SYS_rt_sigaction, a[0], 0, a[2], 8, 0, 0);
    if (r < 0) return r;
  }
  const int sig = static_cast<int>(a[0]);
  int64_t r;
  if (!inside && wb_sig_owned(sig))
    r = wb_ksigaction(sig, a[1] ? &act : nullptr, a[2] ? &old : nullptr);
  else if (!inside && cancel_signal_owned(sig))
    r = cancel_ksigaction(a[1] ? &act : nullptr, a[2] ? &old : nullptr);
  else
    r = ksigaction(sig, a[1] ? &act : nullptr, a[2] ? &old : nullptr);
  if (r == 0 && a[2]) memcpy(reinterpret_cast<void*>(a[2]), &old, sizeof old);
  return r;
}

// ---- the interposers' own read/write calls ----------------------------------
//
// An interposer that passes a read or write through has already waited for
// what it needed; its libc call would still trap while the net is armed (a
// signal round trip per call: dd bs=64 from /dev/zero ran 3x slower than
// plain). While armed, real::read & co. are raw calls from the shim's text
// instead (after the cancellation point libc's call would have been).
struct Libc {
  ssize_t (*read)(int, void*, size_t);
  ssize_t (*write)(int, const void*, size_t);
  ssize_t (*pread64)(int, void*, size_t, off_t);
  ssize_t (*pwrite64)(int, const void*, size_t, off_t);
  ssize_t (*readv)(int, const struct iovec*, int);
  ssize_t (*writev)(int, const struct iovec*, int);
};
Libc g_libc;

inline bool armed() noexcept { return g_selector == kBlock; }
ssize_t raw_ret(int64_t r) noexcept {
  if (r < 0) {
    errno = static_cast<int>(-r);
    return -1;
  }
  return r;
}
ssize_t net_read(int fd, void* b, size_t n) {
  if (!armed()) return g_libc.read(fd, b, n);
  testcancel();
  return raw_ret(sys::read(fd, b, n));
}
ssize_t net_write(int fd, const void* b, size_t n) {
  if (!armed()) return g_libc.write(fd, b, n);
  testcancel();
  return raw_ret(sys::write(fd, b, n));
}
ssize_t net_pread(int fd, void* b, size_t n, off_t o) {
  if (!armed()) return g_libc.pread64(fd, b, n, o);
  testcancel();
  return raw_ret(sys::pread(fd, b, n, o));
}
ssize_t net_pwrite(int fd, const void* b, size_t n, off_t o) {
  if (!armed()) return g_libc.pwrite64(fd, b, n, o);
  testcancel();
  return raw_ret(sys::pwrite(fd, b, n, o));
}
ssize_t net_readv(int fd, const struct iovec* v, int n) {
  if (!armed()) return g_libc.readv(fd, v, n);
  testcancel();
  return raw_ret(sys::readv(fd, v, n));
}
ssize_t net_writev(int fd, const struct iovec* v, int n) {
  if (!armed()) return g_libc.writev(fd, v, n);
  testcancel();
  return raw_ret(sys::writev(fd, v, n));
}

// A trap in a task running on another task's thread-local block (a clone()
// child without CLONE_SETTLS): the shim's per-thread state and errno are its
// creator's, so nothing here touches them. A call that observes nothing runs
// at once; any other waits until nothing at all is in flight (everything
// queued before it landed: a superset of what it could observe) and runs
// from our text, or, for the calls that cannot run in a handler, again
// untrapped.
void borrowed_tls_trap(long nr, const long* a, ucontext_t* uc) noexcept {
  greg_t* r = uc->uc_mcontext.gregs;
  const Wait w = classify(nr, a, false);  // a clone() child may have its own fd table
  while (w != Wait::None && wb_inflight()) {
    wb_hurry();
    sys::sched_yield();
  }
  if (w == Wait::Idle) {
    r[REG_RAX] = nr;
    r[REG_RIP] -= 2;
  } else if (nr == SYS_rt_sigprocmask) {
    r[REG_RAX] = emulate_sigprocmask(uc, a);
  } else if (nr == SYS_rt_sigaction) {
    r[REG_RAX] = emulate_sigaction(a, true);  // the kernel's: its signal table may be its own
  } else {
    r[REG_RAX] = sys::syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
  }
}

// This thread out of the net for good: blocking SIGSYS is safe from now on.
void leave_net() noexcept {
  tl_out = true;
  tl_resume = false;
  if (tl_enabled) prctl_dispatch(false);
  tl_enabled = false;
}

// A SIGSYS the program blocks on this thread reached the net's handler (the
// real mask keeps it open): plain, it would stay pending for sigwait*,
// signalfd, sigpending. Write-behind goes off for good, this thread leaves
// the net, the interrupted context gets SIGSYS blocked for real, and the
// signal is queued again with its siginfo: pending now, as plain. A
// process-directed one may land on another thread with SIGSYS open: its
// handler runs, or that thread does the same (once per thread at most).
void held(int sig, siginfo_t* si, ucontext_t* uc) noexcept {
  if (si->si_code > 0) {  // the kernel's (seccomp): blocked, it ends the process
    die_default();
    return;
  }
  const int saved_errno = errno;
  // Pending data lands first unless this thread is inside the shim (a lock
  // it holds may be what the data waits for; docs/design.md §5).
  const bool inside =
      tl.depth != 0 || tl.worker || tl.sandboxed || wb_in_append() || iowq::Pool::on_worker_thread();
  {
    Nest nest;
    wb_off_sigsys(!inside);
  }
  leave_net();
  sys::thread_sigmask(SIG_BLOCK, &kSigsysBit, nullptr);  // SA_NODEFER: open in here until now
  sigaddset(&uc->uc_sigmask, SIGSYS);
  const long pid = sys::getpid(), tid = sys::gettid();
  const long info = reinterpret_cast<long>(si);
  if (si->si_code == SI_TKILL) {
    sys::syscall6(SYS_rt_tgsigqueueinfo, pid, tid, sig, info, 0, 0);
  } else if (sys::syscall6(SYS_rt_sigqueueinfo, pid, sig, info, 0, 0, 0) == -EPERM) {
    // kill()'s si_code (>= 0) is accepted from the main thread only (the
    // kernel compares the target with the caller's thread id): the same
    // signal from this process, its sender and uid now ours.
    sys::syscall6(SYS_kill, pid, sig, 0, 0, 0, 0);
  }
  errno = saved_errno;
}

void sigsys_handler(int sig, siginfo_t* si, void* ucv) {
  if (!si || si->si_code != SYS_USER_DISPATCH) {
    if (si && tl_sys_blocked && tl_owner == sys::gettid())
      held(sig, si, static_cast<ucontext_t*>(ucv));
    else
      forward(sig, si, ucv);
    return;
  }
  auto* uc = static_cast<ucontext_t*>(ucv);
  greg_t* r = uc->uc_mcontext.gregs;
  const long nr = si->si_syscall;
  const long a[6] = {r[REG_RDI], r[REG_RSI], r[REG_RDX], r[REG_R10], r[REG_R8], r[REG_R9]};
  g_counters.wb_net_traps.fetch_add(1, std::memory_order_relaxed);
  if (__builtin_expect(tl_owner != sys::gettid(), 0)) {
    borrowed_tls_trap(nr, a, uc);
    return;
  }
  const int saved_errno = errno;
  // Inside the shim (its own libc calls), on a sandboxed thread, in an
  // append: the call runs as it is, no wait.
  const bool inside =
      tl.depth != 0 || tl.worker || tl.sandboxed || wb_in_append() || iowq::Pool::on_worker_thread();
  Wait w = classify(nr, a);
  if (w == Wait::Idle) {
    // Runs again, untrapped, once nothing is pending (trapped again if
    // data became pending meanwhile). Inside an append (a handler installed
    // behind the shim's back returning into it) the workers wait for this
    // thread's file lock: the net goes off on this thread until the append
    // ends instead.
    if (wb_in_append()) {
      if (net_thread_pause()) tl_resume = true;
    } else {
      wait_idle();
    }
    r[REG_RAX] = nr;
    r[REG_RIP] -= 2;
    errno = saved_errno;
    return;
  }
  int64_t res;
  if (nr == SYS_rt_sigprocmask) {
    res = emulate_sigprocmask(uc, a);
  } else if (nr == SYS_rt_sigaction) {
    res = emulate_sigaction(a, inside);
  } else {
    int64_t err = 0;
    if (!inside && w != Wait::None) {
      Nest nest;
      if (nr == SYS_exit_group)
        wb_exit();
      else if (w == Wait::File && nr != SYS_lseek && nr != SYS_fstat)
        err = wb_sync_fd(static_cast<int>(a[0]));  // a call that can report the file's deferred error
      else if (w == Wait::File)
        wb_wait_fd(static_cast<int>(a[0]));
      else
        wb_sync_all();
    }
    if (err && nr != SYS_fsync && nr != SYS_fdatasync) {
      res = err;  // a read or write fails with it, as its interposer would
    } else {
      res = sys::syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
      if (err && res == 0) res = err;
    }
  }
  r[REG_RAX] = res;
  errno = saved_errno;
}

}  // namespace

bool net_init() noexcept {
#if defined(__x86_64__)
  dl_iterate_phdr(find_text, nullptr);
  if (!g_text_len || !sys::restorer()) return false;
  sys::KSigaction ours = our_action(), prev;
  if (sys::rt_sigaction(SIGSYS, &ours, &prev) != 0) return false;
  g_selector = kAllow;
  int64_t r = prctl_dispatch(true);
  if (r != 0) {
    sys::rt_sigaction(SIGSYS, &prev, nullptr);
    errno = static_cast<int>(-r);
    return false;
  }
  g_app_sys = prev;
  tl_enabled = true;
  tl_owner = sys::gettid();
  g_on = true;
  // Every handler the shim or the program installs from now on returns
  // through the shim's restorer, and SIGSYS stays the net's.
  real::sigaction = net_sigaction;
  g_libc = {real::read, real::write, real::pread64, real::pwrite64, real::readv, real::writev};
  real::read = net_read;
  real::write = net_write;
  real::pread64 = net_pread;
  real::pwrite64 = net_pwrite;
  real::readv = net_readv;
  real::writev = net_writev;
  return true;
#else
  errno = ENOSYS;
  return false;
#endif
}

void net_ready() noexcept {
  // SIGSYS blocked across exec is the program's view (as in
  // net_program_thread_begins);
  // opened only now, so that a pending one comes to a handler that can turn
  // write-behind off (nothing was written behind yet: nothing traps before).
  uint64_t m = 0;
  sys::thread_sigmask(SIG_BLOCK, nullptr, &m);
  if (!(m & kSigsysBit)) return;
  tl_sys_blocked = true;
  sys::thread_sigmask(SIG_UNBLOCK, &kSigsysBit, nullptr);
}

bool net_on() noexcept { return g_on; }
bool net_armed() noexcept { return armed(); }

void net_update(const std::atomic<int64_t>& inflight) noexcept {
  if (!g_on) return;
  spin(g_sel_lock);
  const bool arm = inflight.load(std::memory_order_seq_cst) != 0;
  const bool was = g_selector == kBlock;
  g_selector = arm ? kBlock : kAllow;
  unspin(g_sel_lock);
  if (arm && !was) reclaim_sigsys();
}

// Sealed (a TSYNC seccomp filter on every thread, seccomp.cpp): nothing is
// written behind any more, so the selector stays "allow" and no thread
// needs the net; none makes a prctl for it the program did not ask for.
void net_thread_enable() noexcept {
  if (!g_on || tl_enabled || tl_out || g.sealed.load(std::memory_order_relaxed)) return;
  tl_owner = sys::gettid();
  if (prctl_dispatch(true) == 0) tl_enabled = true;
}

// A thread starting to run program code under the net. SIGSYS really
// blocked here (its creator's bit, which the creator's pause around
// pthread_create put in the real mask; a pthread_attr_setsigmask_np mask;
// glibc's helper threads, which block every signal) is the program's view,
// kept in tl_sys_blocked; the real mask opens it (a trap with it blocked
// kills the process). A SIGSYS already pending then comes to the handler,
// which holds it (and may take this thread out of the net).
void net_program_thread_begins() noexcept {
  if (!g_on || tl_enabled || g.sealed.load(std::memory_order_relaxed)) return;
  tl_owner = sys::gettid();
  uint64_t m = 0;
  sys::thread_sigmask(SIG_BLOCK, nullptr, &m);
  tl_sys_blocked = m & kSigsysBit;
  if (!tl_sys_blocked) {
    net_thread_enable();
  } else if (wb_drained_for_good()) {
    tl_out = true;  // the net never arms again: SIGSYS stays blocked for real
  } else {
    sys::thread_sigmask(SIG_UNBLOCK, &kSigsysBit, nullptr);
    net_thread_enable();
  }
}

int net_exec_begin() noexcept {
  if (!g_on || tl_out || !tl_sys_blocked) return 0;
  // A vfork child runs on its parent's thread-local block and has no net
  // (dispatch is per task, never inherited): the parent's bit is its mask
  // unless it set one itself; blocked for real, it stays so if exec fails.
  if (const int pid = static_cast<int>(sys::getpid()); pid != g.pid) {
    if (g_vfork_masked.load(std::memory_order_relaxed) != pid)
      sys::thread_sigmask(SIG_BLOCK, &kSigsysBit, nullptr);
    return 0;
  }
  if (net_thread_pause()) return 2;                      // which blocks it for real
  sys::thread_sigmask(SIG_BLOCK, &kSigsysBit, nullptr);  // paused already (spawn), or sealed
  return 1;
}

void net_exec_end(int began) noexcept {
  if (began == 2) {
    net_thread_resume();
  } else if (began == 1 && !tl_out) {
    // A SIGSYS sent meanwhile comes now: held (tl_sys_blocked), as plain.
    sys::thread_sigmask(SIG_UNBLOCK, &kSigsysBit, nullptr);
  }
}

void net_task_enable() noexcept {
  if (!g_on || g.sealed.load(std::memory_order_relaxed)) return;
  sys::thread_sigmask(SIG_UNBLOCK, &kSigsysBit, nullptr);
  prctl_dispatch(true);
}

bool net_thread_pause() noexcept {
  if (!tl_enabled || g.sealed.load(std::memory_order_relaxed)) return false;
  prctl_dispatch(false);
  tl_enabled = false;
  // With the net off the real mask can hold the program's SIGSYS bit: a
  // thread or program made now inherits it, a sandboxed thread keeps it.
  if (tl_sys_blocked) sys::thread_sigmask(SIG_BLOCK, &kSigsysBit, nullptr);
  return true;
}

void net_thread_resume() noexcept {
  // A SIGSYS sent meanwhile comes now and is held (tl_sys_blocked).
  if (tl_sys_blocked && !tl_out) sys::thread_sigmask(SIG_UNBLOCK, &kSigsysBit, nullptr);
  net_thread_enable();
}

void net_after_append() noexcept {
  if (__builtin_expect(tl_resume, 0)) {
    tl_resume = false;
    net_thread_enable();
  }
}

void net_after_fork_child() noexcept {
  if (!g_on) return;
  g_sel_lock.store(0);
  g_app_lock.store(0);
  g_selector = kAllow;
  // The forking thread is the child's only one; dispatch is per task and
  // does not follow fork. A sandboxed thread's child is sandboxed too: the
  // net stays off there (its prctl is a syscall the program did not ask for).
  tl_enabled = false;
  if (!tl.sandboxed) net_thread_enable();  // and the thread-local block is this task's now
}

int net_sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept {
  // glibc's own signals (cancellation, setxid) are not the program's.
  if (sig <= 0 || sig >= 65 || sig == 32 || sig == 33) {
    errno = EINVAL;
    return -1;
  }
  return libc_sigaction(ksigaction, sig, act, old);
}

int libc_sigaction(int64_t (*kfn)(int, const sys::KSigaction*, sys::KSigaction*), int sig,
                   const struct sigaction* act, struct sigaction* old) noexcept {
  sys::KSigaction k, o;
  if (act) k = sys::to_kernel(*act);
  int64_t r = kfn(sig, act ? &k : nullptr, old ? &o : nullptr);
  if (r < 0) {
    errno = static_cast<int>(-r);
    return -1;
  }
  if (old) sys::from_kernel(o, old);
  return 0;
}

int64_t net_ksigaction(int sig, const sys::KSigaction* act, sys::KSigaction* old) noexcept {
  return ksigaction(sig, act, old);
}

sys::KSigaction net_kernel_form(const sys::KSigaction& a) noexcept {
  sys::KSigaction k = kernel_action(a);
  k.mask &= ~((uint64_t{1} << (SIGKILL - 1)) | (uint64_t{1} << (SIGSTOP - 1)));  // as the kernel stores it
  return k;
}

int net_sigmask(int (*rf)(int, const sigset_t*, sigset_t*), int how, const sigset_t* set,
                sigset_t* old) noexcept {
  // Only on a thread the net is on (or that left it for good): the shim's
  // own threads (and the ones they start) keep blocking SIGSYS, so a
  // kill(SIGSYS) never lands there.
  const bool was = tl_sys_blocked;
  bool want = was;
  const bool in_set = set && sigismember(set, SIGSYS) == 1;
  const bool valid = sys_bit_after(how, in_set, set, &want);
  const bool touches = valid && (in_set || want != was);  // a call about SIGSYS
  // A vfork child has no net, and the bit is its parent's: a change of
  // SIGSYS goes straight through (getpid only then: a call that leaves
  // SIGSYS alone reads the same either way).
  if (g_on && touches && in_vfork_child()) {
    g_vfork_masked.store(static_cast<int>(sys::getpid()), std::memory_order_relaxed);
    return rf(how, set, old);
  }
  if (!g_on || !(tl_enabled || tl_out) || !valid) {
    const int r = rf(how, set, old);  // the real mask is the program's here
    if (r == 0) tl_sys_blocked = want;
    return r;
  }
  // Write-behind off for good and drained: the net never arms again, and
  // blocking SIGSYS is safe once this thread is out of it.
  if (touches && want && !tl_out && wb_drained_for_good()) leave_net();
  // Set first: a SIGSYS arriving from now on is held or delivered as the
  // program now asks.
  tl_sys_blocked = want;
  sigset_t copy;
  const sigset_t* s = set;
  if (in_set && want && !tl_out) {
    copy = *set;
    sigdelset(&copy, SIGSYS);
    s = &copy;
  }
  const int r = rf(how, s, old);
  if (r != 0) {
    tl_sys_blocked = was;
    return r;
  }
  // A SIGSYS held meanwhile took this thread out of the net: now it blocks.
  if (want && tl_out) sys::thread_sigmask(SIG_BLOCK, &kSigsysBit, nullptr);
  if (old) {
    if (was)
      sigaddset(old, SIGSYS);
    else
      sigdelset(old, SIGSYS);
  }
  return r;
}

}  // namespace iowq::shim
