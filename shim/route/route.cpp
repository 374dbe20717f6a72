// shim/route/route.cpp — running one interposed call where decide()
// (policy.hpp) says it runs.
//
// passthrough: the real libc function, untouched (fd kind not routed,
//              O_NONBLOCK fd, nonblocking request, nested call, bad fd).
// inline:      in the caller: the plain call, or the plain call under a
//              stall deadline (after a MSG_DONTWAIT try on sockets).
// pool:        submitted to iowq::Pool; the caller waits with the plain
//              call's signal semantics (see submit_and_wait).
#include "route.hpp"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "fdtable.hpp"
#include "policy.hpp"
#include "process/state.hpp"
#include "report/callsites.hpp"
#include "signals/signals.hpp"
#include "stall.hpp"
#include "sys/libc.hpp"
#include "writebehind/writebehind.hpp"

namespace iowq::shim {

namespace {

// ============================================================================
// The worker side
// ============================================================================

bool needs_more(const Op& op, int64_t done) noexcept;

void worker_fn(iowq::Work* work) {
  tl.worker = true;
  Job* job = static_cast<Job*>(work->ctx);
  int64_t r, done = 0;
  bool again = false;
  Op cur = job->op;
  struct iovec tail[IOV_MAX];
  struct msghdr m;
  for (;;) {
    const uint32_t sigs = tl.cancel_sigs;
    cancel_signal_in_call(true);
    r = exec_raw(cur);
    cancel_signal_in_call(false);
    // An interrupted connect goes on in the kernel: asked again it says
    // EALREADY while in progress and EISCONN once it succeeded.
    if (again && job->op.kind == OpKind::Connect) {
      if (r == -EISCONN) r = 0;
      if (r == -EALREADY) r = sys::wait_connected(job->op.fd);
    }
    // EINTR without a cancel: the pool's signal was meant for an earlier item.
    if (r == -EINTR && !work->cancelled()) {
      again = true;
      continue;
    }
    // Cut short by such a signal after moving bytes: a blocking send, write
    // or recv(MSG_WAITALL) goes on with the rest, as the plain call would.
    if (r > 0 && !work->cancelled() && tl.cancel_sigs != sigs && needs_more(job->op, done + r)) {
      done += r;
      cur = job->op.advanced(static_cast<size_t>(done), tail, &m);
      continue;
    }
    break;
  }
  if (done) r = r > 0 ? done + r : done;
  // The kernel sends SIGPIPE/SIGXFSZ to the thread that made the syscall; it
  // is blocked here. Take it and let the caller raise it on itself.
  if (r == -EPIPE && sys::take_pending(SIGPIPE)) job->raise_sig = SIGPIPE;
  if (r == -EFBIG && sys::take_pending(SIGXFSZ)) job->raise_sig = SIGXFSZ;
  work->result = r;
}

// Undo on pthread_cancel's forced unwinding out of the wait: the worker must
// be done with the caller's buffer before the caller's frame goes away.
struct WaitGuard {
  iowq::Work* work;
  ~WaitGuard() {
    if (work) {
      if (!work->finished()) g.pool->cancel(work);
      g.pool->wait(work, false);
    }
  }
};

// One warning per stall, saying truthfully what the caller got.
void warn_stall(const Op& op, int64_t returned) noexcept {
  const char* where = "";
  char site[200], buf[256] = "";
  if (g.cfg.callsites && callsites_caller(site, sizeof site)) {
    snprintf(buf, sizeof buf, " (called from %s)", site);
    where = buf;
  }
  char what[64];
  if (returned > 0)
    snprintf(what, sizeof what, "the %lld bytes already transferred", static_cast<long long>(returned));
  else
    snprintf(what, sizeof what, "ETIMEDOUT");
  log_line(LogLevel::Warn, "iowq: stall timeout: %s on fd %d made no progress for %llu ms; returned %s%s",
           kSymNames[static_cast<int>(op.sym)], op.fd, static_cast<unsigned long long>(g.cfg.stall_ms), what,
           where);
}

// ----------------------------------------------------------------------------
// A signal while the caller waits for unbound work (docs/design.md §4 "Same
// signal behaviour"). The plain call is interrupted before the program's
// handler runs, and a handler may act on what the call waits for (write the
// byte a read waits for). So the caller takes the signals it has open itself
// while it waits (Pool::wait_or_signal), blocked from before the submit:
// if the program's disposition (the kernel's) would have ended the plain
// call, the worker's call is cancelled first and the signal is delivered
// once it ended; otherwise it is delivered at once and the wait goes on.
// ----------------------------------------------------------------------------

constexpr uint64_t sig_bit(int sig) noexcept { return uint64_t{1} << (sig - 1); }

// Never taken: what cannot be blocked, faults (waiting raises none), SIGSYS
// (the write-behind net traps with it), glibc's SIGCANCEL and SIGSETXID
// (pthread_cancel must unwind the wait; setuid() must reach the thread).
constexpr uint64_t kNeverTaken = sig_bit(SIGKILL) | sig_bit(SIGSTOP) | sig_bit(SIGSEGV) | sig_bit(SIGBUS) |
                                 sig_bit(SIGILL) | sig_bit(SIGFPE) | sig_bit(SIGTRAP) | sig_bit(SIGSYS) |
                                 sig_bit(32) | sig_bit(33);

// The signals taken while waiting stay blocked from before the submit to the
// end of the wait; the program's mask comes back on every way out.
struct Intercept {
  uint64_t old = 0;
  uint64_t set = 0;  // the program's open signals, taken by the wait
  bool on = false;
  void begin() noexcept {
    const uint64_t block = ~kNeverTaken;  // the pool's signal included: its wake
    sys::thread_sigmask(SIG_BLOCK, &block, &old);
    set = ~old & ~kNeverTaken & ~sig_bit(g.sig);
    on = true;
  }
  // Lets `sig`, queued again, reach the program now: the mask is the
  // program's while its handler runs, as after a plain delivery. (Not
  // noexcept, nor end(): the handler may be left by pthread cancellation.)
  void deliver_now() {
    sys::set_signal_mask(old);
    sys::set_signal_mask(old | ~kNeverTaken);
  }
  void end() {
    if (!on) return;
    on = false;
    sys::set_signal_mask(old);
  }
  ~Intercept() {
    if (on) sys::restore_signals(sys::SigMask{old});  // unwinding: no handler may leave here
  }
};

// Would `sig` have ended the plain call with EINTR? A handler without
// SA_RESTART; any handler on a socket call with a timeout, which is never
// restarted (man 7 signal), nor recvmmsg with a timeout argument.
bool interrupts_call(int sig, const Op& op) noexcept {
  const Disposition d = program_disposition(sig);
  if (d == Disposition::kNoHandler) return false;
  if (d == Disposition::kHandlerNoRestart) return true;
  if (op.kind == OpKind::Recvmmsg && op.timeout) return true;
  return sys::sock_timeout_set(op.fd, op.is_write() || op.kind == OpKind::Connect);
}

// The pool's signal, sent by the program, taken while the program blocks it
// on this thread (the wait takes it for its wake): it goes back where it was
// sent, a thread (tgkill) or the process, and this wait takes no more
// signals: with the program's mask back, it waits as a plain futex wait
// does (a handler without SA_RESTART that runs ends it).
int wait_program_blocked(iowq::Work& work, siginfo_t& si, Intercept& icp, bool cut) {
  int type;
  pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &type);  // as in wait_unbound
  const int tid = sys::gettid();
  const bool to_thread = si.si_code == SI_TKILL;
  if ((si.si_code >= 0 || si.si_code == SI_TKILL) && tid != g.pid) si.si_code = SI_QUEUE;
  if (to_thread)
    sys::rt_tgsigqueueinfo(g.pid, tid, g.sig, &si);
  else
    sys::rt_sigqueueinfo(g.pid, g.sig, &si);
  pthread_setcanceltype(type, nullptr);
  icp.end();
  if (!cut && g.pool->wait(&work, true) == -EINTR) {
    if (g.pool->cancel(&work) == iowq::CancelResult::Running)
      g_counters.cancel_running.fetch_add(1);
    else
      g_counters.cancel_pending.fetch_add(1);
    cut = true;
  }
  g.pool->wait(&work, false);
  return cut ? -EINTR : 0;
}

// Queues the signals held back during a cancelled call to the thread again
// (with deferred cancellation: the calls are noexcept).
void requeue_held(const int* sig, const siginfo_t* info, int n) {
  int type;
  pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &type);
  for (int i = 0; i < n; ++i) sys::requeue_to_self(sig[i], info[i]);
  pthread_setcanceltype(type, nullptr);
}

// Waits for unbound work, taking the program's signals first (above).
// Returns -EINTR when one interrupted the call (the work was cancelled and
// has ended), else 0.
int wait_unbound(iowq::Work& work, const Op& op, Intercept& icp) {
  bool cut = false;
  siginfo_t held[8];  // delivered once the cancelled call ended
  int held_sig[8], nheld = 0;
  for (;;) {
    siginfo_t si;
    const int s = g.pool->wait_or_signal(&work, cut ? 0 : icp.set, &si);
    if (s == 0) break;
    if (s == g.sig && (icp.old & sig_bit(g.sig))) {
      requeue_held(held_sig, held, nheld);
      return wait_program_blocked(work, si, icp, cut);
    }
    // Deciding runs with deferred cancellation (the calls below are not
    // cancellation points, and some are noexcept); a cancel that came
    // meanwhile acts when the type is set back.
    int type;
    pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &type);
    const bool interrupts = cut || interrupts_call(s, op);
    if (interrupts) {
      if (!cut) {
        if (g.pool->cancel(&work) == iowq::CancelResult::Running)
          g_counters.cancel_running.fetch_add(1);
        else
          g_counters.cancel_pending.fetch_add(1);
        cut = true;
      }
      if (nheld < 8) {
        held[nheld] = si;
        held_sig[nheld++] = s;
      }
    } else {
      // Restarted (or not handled): the handler runs now, the call goes on.
      sys::requeue_to_self(s, si);
    }
    pthread_setcanceltype(type, nullptr);
    if (!interrupts) icp.deliver_now();
  }
  requeue_held(held_sig, held, nheld);
  return cut ? -EINTR : 0;
}

// Runs `op` on the pool and waits as the plain call would have.
// Returns the result as -errno/count, or kNotTaken (the caller runs it
// inline).
int64_t submit_and_wait(const Op& op, iowq::Class cls, bool hashed, uint64_t key) {
  // A vfork child shares our memory but not our fd table or threads: it must
  // neither use the pool nor start it (its threads would die with it).
  if (sys::getpid() != g.pid) return kNotTaken;
  if (!ensure_pool()) return kNotTaken;
  // Unbound work may need cancelling: the pool needs its signal from now on.
  if (cls == iowq::Class::Unbound && !cancel_signal_take()) return kNotTaken;
  testcancel();  // read/write are cancellation points
  Intercept icp;
  if (cls == iowq::Class::Unbound) icp.begin();
  iowq::Work& work = tl.work;
  work.rearm();
  work.fn = worker_fn;
  work.ctx = &tl.job;
  work.done = nullptr;
  work.cls = cls;
  work.hashed = hashed;
  work.key = key;
  uint64_t t0 = sys::now_ns();
  work.deadline_ns = (cls == iowq::Class::Unbound && g.stall_ns) ? t0 + g.stall_ns : 0;
  // A blocking call never queues behind blocking calls: a full class refuses
  // it and the caller runs it.
  work.immediate = cls == iowq::Class::Unbound;
  tl.job.op = op;
  tl.job.raise_sig = 0;
  if (g.pool->submit(&work) != 0) return kNotTaken;
  count(op.sym, Ran::Pool);
  int r;
  {
    WaitGuard guard{&work};
    if (cls == iowq::Class::Unbound) {
      r = wait_unbound(work, op, icp);  // cancellable in its sleep (Pool::wait_or_signal)
    } else {
      int oldtype;
      pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &oldtype);
      tl.async_cancel = oldtype != PTHREAD_CANCEL_ASYNCHRONOUS;
      r = g.pool->wait(&work, false);
      tl.async_cancel = false;
      pthread_setcanceltype(oldtype, nullptr);
    }
    // Interrupted: bytes already moved are returned, as the kernel would.
    if (r == -EINTR && (work.result == -ECANCELED || (work.result == -EINTR && !work.timed_out())))
      work.result = -EINTR;
    guard.work = nullptr;
  }
  // The program's handler of an interrupting signal runs here, after the call ended.
  icp.end();
  // No worker could be created for it: the caller runs it.
  if (work.handed_back()) return kNotTaken;
  int64_t res = work.result;
  uint64_t dt = sys::now_ns() - t0;
  g_counters.caller_ns.record(dt);
  if (g.cfg.callsites) callsites_record(dt);
  if (work.timed_out() && res <= 0) res = -ETIMEDOUT;  // counted and reported by the unbound caller
  if (tl.job.raise_sig) sys::tgkill(g.pid, sys::gettid(), tl.job.raise_sig);
  return res;
}

// ============================================================================
// Bound (regular files, block devices)
// ============================================================================

// Runs a bound call on the pool (keyed by the file for writes, so they stay
// in order with that file's other pooled writes); the caller runs it when the
// pool cannot take it.
int64_t pool_bound(const Op& op, const FdInfo& fi) {
  const int64_t r = submit_and_wait(op, iowq::Class::Bound, op.is_write(), fi.key());
  if (r == kNotTaken) {
    count(op.sym, Ran::Inline);
    return neg_errno(op.plain(op));
  }
  return r;
}

// ============================================================================
// Unbound (sockets, pipes, ttys, character devices)
//
// auto mode: the call runs in the caller. Without a stall timeout it simply
// is the plain call (Where::Caller). With one (Where::CallerStall), a socket
// call first tries without blocking; then the plain call runs with a stall
// deadline armed (stall.hpp). pool mode (Where::Pool): an unbound worker runs
// it, the pool's deadline cancels it. Either way a stall is "no progress": a deadline that
// cut off a call that moved bytes is followed by a fresh one for the rest.
// ============================================================================

// The call is not finished after `done` bytes: a blocking send/write goes on
// until everything is written, recv(MSG_WAITALL) on a byte stream until
// everything is read (on datagram and seqpacket sockets MSG_WAITALL changes
// nothing: one call takes one message, never part of the next).
bool needs_more(const Op& op, int64_t done) noexcept {
  if (!op.moves_bytes() || static_cast<size_t>(done) >= op.total_len()) return false;
  if (op.is_write()) return true;
  return (op.kind == OpKind::Recv || op.kind == OpKind::Recvmsg) && (op.flags & MSG_WAITALL) &&
         sys::sock_type(op.fd) == SOCK_STREAM;
}

// A stall: count it, warn, and leave the socket as the plain call's failure
// would (a connect cut off is aborted, as a failed connect leaves it).
int64_t stalled(const Op& op, int64_t total) noexcept {
  g_counters.stall_timeouts.fetch_add(1, std::memory_order_relaxed);
  warn_stall(op, total);
  if (total > 0) return total;
  if (op.kind == OpKind::Connect) sys::disconnect(op.fd);
  return -ETIMEDOUT;
}

// Runs `op` in the calling thread with the stall timeout, if any. Returns a
// count or -errno; errno is left as the caller found it.
int64_t in_caller(const Op& op, const FdInfo& fi) {
  const int e0 = errno;
  if (!g.stall_ns || sys::getpid() != g.pid) {
    const int64_t res = neg_errno(op.plain(op));
    errno = e0;
    return res;
  }
  // A nonblocking try first, on sockets, where it is the same call: not
  // readv/writev (a zero-length vector recvmsg would dequeue a datagram).
  const bool try_first =
      fi.kind == FdKind::Socket && op.moves_bytes() && op.kind != OpKind::Readv && op.kind != OpKind::Writev;
  struct iovec tail[IOV_MAX];
  struct msghdr m;
  Op cur = op;
  int64_t total = 0;
  for (;;) {
    if (try_first) {
      int64_t r = exec_raw(cur, MSG_DONTWAIT | (op.is_write() ? MSG_NOSIGNAL : 0));
      if (r != -EAGAIN) {
        if (r == -EPIPE && !(op.flags & MSG_NOSIGNAL)) sys::tgkill(g.pid, sys::gettid(), SIGPIPE);
        if (r > 0) {
          total += r;
          if (!needs_more(op, total)) return total;
          cur = op.advanced(static_cast<size_t>(total), tail, &m);
        } else {
          return total > 0 ? total : r;
        }
      }
    }
    // Disarmed also when pthread cancellation unwinds out of the call.
    struct Armed {
      bool on;
      ~Armed() {
        if (on) stall_disarm();
      }
    } armed{stall_arm(sys::now_ns() + g.stall_ns)};
    const uint32_t taken = stall_signals_taken();
    ssize_t pr = cur.plain(cur);
    int pe = errno;
    bool fired = armed.on && stall_disarm();
    armed.on = false;
    // Interrupted by a stall signal of an earlier arm, delivered late: not
    // the program's signal, not a stall of this call.
    const bool late = !fired && stall_signals_taken() != taken;
    errno = e0;
    if (pr > 0) {
      total += pr;
      // Cut off after progress: the rest gets a fresh deadline.
      if ((fired || late) && needs_more(op, total)) {
        cur = op.advanced(static_cast<size_t>(total), tail, &m);
        continue;
      }
      return total;
    }
    if (pr < 0 && pe == EINTR && fired) return stalled(op, total);
    if (pr < 0 && pe == EINTR && late) continue;
    if (total > 0) return total;
    return pr < 0 ? -pe : pr;
  }
}

int64_t pool_unbound(const Op& op, const FdInfo& fi) {
  struct iovec tail[IOV_MAX];
  struct msghdr m;
  Op cur = op;
  int64_t total = 0, r;
  for (;;) {
    r = submit_and_wait(cur, iowq::Class::Unbound, false, 0);
    if (r == kNotTaken) {
      // The pool refused it (class full, vfork child, no pool): the caller runs it.
      count(op.sym, Ran::Inline);
      r = in_caller(cur, fi);
      if (r > 0)
        r += total;
      else if (total > 0)
        r = total;
      break;
    }
    if (r > 0) {
      total += r;
      if (tl.work.timed_out() && needs_more(op, total)) {
        cur = op.advanced(static_cast<size_t>(total), tail, &m);
        continue;
      }
      r = total;
      break;
    }
    if (r == -ETIMEDOUT)
      r = stalled(op, total);
    else if (total > 0)
      r = total;
    break;
  }
  return r;
}

}  // namespace

// ============================================================================
// Shared pieces
// ============================================================================

size_t Op::total_len() const noexcept {
  if (msg) {
    size_t t = 0;
    for (size_t i = 0; i < msg->msg_iovlen; ++i) t += msg->msg_iov[i].iov_len;
    return t;
  }
  if (iov) {
    size_t t = 0;
    for (int i = 0; i < iovcnt; ++i) t += iov[i].iov_len;
    return t;
  }
  return len;
}

Op Op::advanced(size_t done, struct iovec* tail, struct msghdr* m) const noexcept {
  Op o = *this;
  if (!iov && !msg) {
    o.buf = static_cast<char*>(buf) + done;
    o.len = len - done;
    return o;
  }
  const struct iovec* v = msg ? msg->msg_iov : iov;
  int n = msg ? static_cast<int>(msg->msg_iovlen) : iovcnt;
  int k = 0;
  while (k < n && done >= v[k].iov_len) done -= v[k++].iov_len;
  int t = 0;
  for (; k < n && t < IOV_MAX; ++k, ++t) tail[t] = v[k];
  if (t) {
    tail[0].iov_base = static_cast<char*>(tail[0].iov_base) + done;
    tail[0].iov_len -= done;
  }
  if (msg) {
    *m = *msg;
    m->msg_iov = tail;
    m->msg_iovlen = static_cast<size_t>(t);
    m->msg_control = nullptr;  // ancillary data went with the first bytes
    m->msg_controllen = 0;
    o.msg = m;
  } else {
    o.iov = tail;
    o.iovcnt = t;
  }
  return o;
}

int64_t exec_raw(const Op& op, int xf) noexcept {
  switch (op.kind) {
    case OpKind::Read:
      return xf ? sys::recvfrom(op.fd, op.buf, op.len, xf, nullptr, nullptr)
                : sys::read(op.fd, op.buf, op.len);
    case OpKind::Write:
      return xf ? sys::sendto(op.fd, op.buf, op.len, xf, nullptr, 0) : sys::write(op.fd, op.buf, op.len);
    case OpKind::Pread: return sys::pread(op.fd, op.buf, op.len, op.off);
    case OpKind::Pwrite: return sys::pwrite(op.fd, op.buf, op.len, op.off);
    case OpKind::Readv:
    case OpKind::Writev:
      if (xf) {
        struct msghdr m = {};
        m.msg_iov = const_cast<struct iovec*>(op.iov);
        m.msg_iovlen = static_cast<size_t>(op.iovcnt);
        return op.kind == OpKind::Readv ? sys::recvmsg(op.fd, &m, xf) : sys::sendmsg(op.fd, &m, xf);
      }
      return op.kind == OpKind::Readv ? sys::readv(op.fd, op.iov, op.iovcnt)
                                      : sys::writev(op.fd, op.iov, op.iovcnt);
    case OpKind::Preadv: return sys::preadv2(op.fd, op.iov, op.iovcnt, op.off, op.flags);
    case OpKind::Pwritev: return sys::pwritev2(op.fd, op.iov, op.iovcnt, op.off, op.flags);
    case OpKind::Send: return sys::sendto(op.fd, op.buf, op.len, op.flags | xf, op.addr, op.addrlen);
    case OpKind::Recv: return sys::recvfrom(op.fd, op.buf, op.len, op.flags | xf, op.addr, op.addrlenp);
    case OpKind::Sendmsg: return sys::sendmsg(op.fd, op.msg, op.flags | xf);
    case OpKind::Recvmsg: return sys::recvmsg(op.fd, op.msg, op.flags | xf);
    case OpKind::Connect: return sys::connect(op.fd, op.addr, op.addrlen);
    case OpKind::Accept: return sys::accept4(op.fd, op.addr, op.addrlenp, op.flags);
    case OpKind::Sendmmsg: return sys::sendmmsg(op.fd, op.mmsg, op.vlen, op.flags | xf);
    case OpKind::Recvmmsg: return sys::recvmmsg(op.fd, op.mmsg, op.vlen, op.flags | xf, op.timeout);
    case OpKind::Fsync: return sys::fsync(op.fd);
    case OpKind::Fdatasync: return sys::fdatasync(op.fd);
    case OpKind::SyncFileRange:
      return sys::sync_file_range(op.fd, op.off, op.off2, static_cast<unsigned>(op.flags));
    case OpKind::Fallocate: return sys::fallocate(op.fd, op.flags, op.off, op.off2);
    case OpKind::CopyFileRange:
      return sys::copy_file_range(op.fd, op.offp, op.fd2, op.offp2, op.len, static_cast<unsigned>(op.flags));
    case OpKind::Sendfile: return sys::sendfile(op.fd2, op.fd, op.offp, op.len);
  }
  return -ENOSYS;
}

namespace {

// Errors a call on an fd of the cached kind cannot have, but one on another
// kind can (sendto on a file, pread on a pipe, RWF_NOWAIT on a socket): the
// number was reused behind the shim's back. Never EBADF: a retry could then
// write into a file opened meanwhile.
bool stale_suspect(int e) noexcept { return e == ENOTSOCK || e == ESPIPE || e == EINVAL || e == EOPNOTSUPP; }

bool same_file(const FdInfo& a, const FdInfo& b) noexcept {
  return a.kind == b.kind && a.dev == b.dev && a.ino == b.ino && a.nonblock() == b.nonblock();
}

// Write-behind's common case: a write of the read/write family to a regular
// file. route() offers it to wb_try() before route_call()'s general checks
// (the 64 B write-behind path is a few hundred instructions: these count).
inline bool wb_write(const Op& op, const FdInfo& fi) noexcept {
  return fi.kind == FdKind::File && g.cfg.write_behind && op.kind <= OpKind::Pwritev && op.is_write();
}

// route_call's plain, inline and pool paths.
inline __attribute__((always_inline)) int64_t route_run(const Op& op, const FdInfo& fi, bool sock_op,
                                                        bool msg_flags) {
  // Anything the plain call would reject or not block on goes to libc as is,
  // so errors and nonblocking semantics are libc's own (the fd's kind and
  // O_NONBLOCK are decide()'s).
  if (((op.kind == OpKind::Pread || op.kind == OpKind::Pwrite) && op.off < 0) ||
      (sock_op && fi.kind != FdKind::Socket) || (msg_flags && (op.flags & MSG_DONTWAIT)) ||
      // A zero-length call moves nothing and must consume nothing (a
      // datagram socket's read(fd, b, 0) leaves the datagram queued).
      // (Only plain buffers are looked at here: iovecs and msghdrs are the
      // program's memory and may be invalid, which is the kernel's to report.)
      (op.moves_bytes() && !op.iov && !op.msg && op.len == 0) || (op.positioned() && !fi.bound()) ||
      ((op.kind == OpKind::Preadv || op.kind == OpKind::Pwritev) && (op.flags & RWF_NOWAIT))) {
    count(op.sym, Ran::Passthrough);
    return neg_errno(op.plain(op));
  }
  const Where where = decide(fi.kind, fi.nonblock());
  if (where == Where::Libc || where == Where::Caller) {
    // The plain call, outside the shim (so the program's handlers and
    // siglongjmp see nothing of it).
    count(op.sym, where == Where::Libc ? Ran::Passthrough : Ran::Inline);
    return neg_errno(op.plain(op));
  }
  Nest nest;
  switch (where) {
    case Where::CallerStall: count(op.sym, Ran::Inline); return in_caller(op, fi);
    default: return fi.bound() ? pool_bound(op, fi) : pool_unbound(op, fi);
  }
}

// Returns a count or -errno (errno is route()'s to restore). `wb_tried`:
// route() offered the write to wb_try() already (wb_write()), which did not
// take it.
int64_t route_call(const Op& op, const FdInfo& fi, bool wb_tried = false) {
  const bool sock_op = op.kind >= OpKind::Send && op.kind <= OpKind::Recvmmsg;  // incl. connect, accept
  const bool msg_flags = sock_op && op.kind != OpKind::Connect && op.kind != OpKind::Accept;
  // Write-behind: a write or send to anything else (pipe, socket, tty...)
  // may tell another process that the data is there: it lands first.
  if (g.cfg.write_behind && fi.kind != FdKind::File && (op.is_write() || op.kind == OpKind::Connect))
    wb_before_talk(fi.kind);
  if (fi.kind == FdKind::File && g.cfg.write_behind && sock_op) {
    // A socket call on a regular file fails in the kernel (ENOTSOCK): never
    // taken as a write; it waits for the file's data but leaves its error.
    wb_wait_file(fi);
  } else if (fi.kind == FdKind::File && g.cfg.write_behind) {
    // Write-behind: take the write, or make this call a sync point of its file.
    if (op.is_write() && !wb_tried) {
      const int64_t r = wb_try(op, fi);
      if (r != kNotTaken) {
        count(op.sym, Ran::Pool);
        return r;
      }
    }
    if (int e = wb_sync_file(op.fd, fi)) {
      count(op.sym, Ran::Passthrough);
      return e;
    }
    if (op.is_write()) {
      // Not taken behind, it runs now and takes room on the filesystem that
      // writes pending there were counted on (docs/design.md §5 "A full disk").
      WbSpaceUse room;
      room.begin(fi, &op, 0);
      return route_run(op, fi, sock_op, msg_flags);
    }
  }
  return route_run(op, fi, sock_op, msg_flags);
}

// A routed call failed. If the error is one its cached kind cannot explain
// and the fd is now something else, the failed call moved nothing: run it
// again as what the fd is.
__attribute__((noinline)) int64_t retry_if_stale(const Op& op, const FdInfo& fi, int64_t r) {
  if (!stale_suspect(static_cast<int>(-r))) return r;
  FdInfo now = fd_refresh(op.fd);
  if (same_file(fi, now)) return r;
  return route_call(op, now);
}

}  // namespace

int64_t route(const Op& op) {
  // Every routed symbol is a cancellation point in glibc. The inline tries
  // and write-behind below are raw syscalls, which are not: act on a pending
  // cancel here, as libc's own call would on entry.
  testcancel();
  // errno is left as it was (the plain calls, nonblocking tries and the
  // shim's own waits may set it on the way): the interposer sets it from an
  // -errno result, so a call that succeeds leaves it untouched.
  int* const err = &errno;
  const int saved_errno = *err;
  FdInfo fi = fd_info(op.fd);
  int64_t r;
  if (wb_write(op, fi) && (r = wb_try(op, fi)) != kNotTaken)
    count(op.sym, Ran::Pool);
  else
    r = route_call(op, fi, wb_write(op, fi));
  if (__builtin_expect(r < 0, 0)) r = retry_if_stale(op, fi, r);
  *err = saved_errno;
  return r;
}

int64_t route_write_rest(int fd, const void* buf, size_t n, Sym sym, ssize_t (*plain)(const Op&),
                         const FdInfo& fi, bool wb, int64_t r, int saved_errno) {
  Op op{OpKind::Write, sym, fd};
  op.buf = const_cast<void*>(buf);
  op.len = n;
  op.plain = plain;
  if (r == kNotTaken)
    r = route_call(op, fi, wb);
  else
    count(sym, Ran::Pool);
  if (__builtin_expect(r < 0, 0)) r = retry_if_stale(op, fi, r);
  errno = saved_errno;
  return r;
}

int64_t run_bound_keyed(const Op& op, uint64_t key) {
  return submit_and_wait(op, iowq::Class::Bound, true, key);
}

bool repair_stale_depth() noexcept {
  if (tl.private_fds || tl.sandboxed) return false;  // permanent pass-through: no syscall here
  const uintptr_t here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  // Deeper than the shim's entry: the shim itself, or a handler that
  // interrupted it on this stack — a genuine nested call.
  if (here <= tl.nest_frame) return false;
  stack_t ss;
  if (sigaltstack(nullptr, &ss) == 0 && (ss.ss_flags & SS_ONSTACK)) return false;
  // The frame that entered the shim is gone: the thread left it by
  // siglongjmp. Take back what that call left behind before going on.
  abandon_call(true);
  return true;
}

void abandon_call(bool mask_restored) noexcept {
  tl.depth = 0;
  // The jump restores the program's mask when its sigsetjmp saved one;
  // otherwise the deadline's unblocking of the cancel signal is undone here.
  if (mask_restored)
    stall_abandon();
  else
    stall_disarm();
  if (tl.async_cancel) {
    tl.async_cancel = false;
    pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, nullptr);
  }
  iowq::Work& work = tl.work;
  const uint32_t st = work.state.load(std::memory_order_acquire);
  if (g.pool && st != 0 && !(st & iowq::Work::kReleased)) {
    if (g.pool->cancel(&work) == iowq::CancelResult::Running)
      g_counters.cancel_running.fetch_add(1);
    else
      g_counters.cancel_pending.fetch_add(1);
    int e = errno;
    g.pool->wait(&work, false);
    errno = e;
  }
}

}  // namespace iowq::shim
