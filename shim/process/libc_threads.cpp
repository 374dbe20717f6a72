// shim/process/libc_threads.cpp — threads that run the program's code but
// are not made by the interposed pthread_create (docs/design.md §5 "The
// net"): glibc makes them with its internal pthread_create (C11 thrd_create,
// SIGEV_THREAD callbacks of timer_create and mq_notify, POSIX AIO's
// helpers), or the program makes them with libc's clone(). Syscall user
// dispatch is per task and every new task starts without it (the kernel
// clears it in copy_process; Documentation/admin-guide/
// syscall-user-dispatch.rst: "Any fork or exec of the existing process
// resets the mechanism"), so each such thread turns the net on itself
// before the program's code runs: the program's function is wrapped.
// AIO's helpers run no program code but read and write the file
// themselves: a request waits at submission for the file's pending writes
// (a sync point).
//
// Every wrapper turns the net off on the calling thread around the real
// call: glibc blocks every signal, SIGSYS included, around the clone of its
// internal pthread_create (a trap then would kill the process).
#include <aio.h>
#include <errno.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>

#include "startslot.hpp"
#include "state.hpp"
#include "sys/libc.hpp"
#include "writebehind/net.hpp"
#include "writebehind/writebehind.hpp"

#define IOWQ_EXPORT extern "C" __attribute__((visibility("default")))

using namespace iowq::shim;

namespace {

#define REAL(type, name)        \
  using fn_t = type;            \
  static fn_t* real_ = nullptr; \
  fn_t* rf = real::next_fn(real_, name)

// A program thread the shim's own work never makes (nested calls, a
// sandboxed thread's helpers inherit its seccomp filter: left alone).
inline bool wrap_here() noexcept { return net_on() && !tl.depth && !tl.sandboxed; }

// ---- SIGEV_THREAD: the notify function, wrapped -----------------------------

struct Notify {
  void (*fn)(union sigval);
  union sigval val;
};

template <bool kOnce>
void notify_start(union sigval v) {
  auto* n = static_cast<Notify*>(v.sival_ptr);
  Notify copy = *n;
  if (kOnce) free(n);
  net_program_thread_begins();
  NetOffAtEnd off;
  copy.fn(copy.val);
}

// `sev` with its SIGEV_THREAD function wrapped (into *copy), or `sev` as it
// is. A timer's Notify lives as long as the process (glibc's helper may hand
// it to a callback thread racing timer_delete); a message queue notification
// fires at most once and frees its own.
template <bool kOnce>
const struct sigevent* wrap_sigev(const struct sigevent* sev, struct sigevent* copy) noexcept {
  if (!sev || sev->sigev_notify != SIGEV_THREAD || !sev->sigev_notify_function || !wrap_here()) return sev;
  auto* n = static_cast<Notify*>(malloc(sizeof(Notify)));
  if (!n) return sev;
  *n = Notify{sev->sigev_notify_function, sev->sigev_value};
  *copy = *sev;
  copy->sigev_notify_function = notify_start<kOnce>;
  copy->sigev_value.sival_ptr = n;
  return copy;
}
// The call failed: nothing will run the wrapped function.
void unwrap_failed(const struct sigevent* used, const struct sigevent* sev) noexcept {
  if (used == sev) return;
  int e = errno;
  free(used->sigev_value.sival_ptr);
  errno = e;
}

// ---- C11 threads and clone(): the start function, wrapped -------------------

struct Start {
  int (*fn)(void*);
  void* arg;
};
int thrd_start(void* p) {
  const process::StartCopy s = process::start_slot_read(static_cast<process::StartSlot*>(p));
  net_program_thread_begins();
  NetOffAtEnd off;
  return process::fn_as<int(void*)>(s.fn)(s.arg);
}

// clone()'s child: the Start sits on its own stack, just above where it
// starts; it may run on its creator's thread-local block (no CLONE_SETTLS),
// so it touches no thread-local state (net_task_enable; the net's handler
// tells such a task apart).
int clone_start(void* p) {
  Start s = *static_cast<Start*>(p);
  net_task_enable();
  return s.fn(s.arg);
}

}  // namespace

IOWQ_EXPORT int thrd_create(thrd_t* t, thrd_start_t fn, void* arg) {
  REAL(int(thrd_t*, thrd_start_t, void*), "thrd_create");
  if (!net_on()) return rf(t, fn, arg);
  process::StartSlot* s = wrap_here() && fn ? process::start_slot_take(process::any_fn(fn), arg) : nullptr;
  if (!s) return net_paused([&] { return rf(t, fn, arg); });
  int r = net_paused([&] { return rf(t, thrd_start, s); });
  if (r != thrd_success) process::start_slot_drop(s);
  return r;
}

// Only a child sharing our memory (CLONE_VM) shares the selector and the
// pending data; any other is a new process, which fork's rule covers: the
// pending data lands first.
IOWQ_EXPORT int clone(int (*fn)(void*), void* stack, int flags, void* arg, ...) {
  REAL(int(int (*)(void*), void*, int, void*, ...), "clone");
  va_list ap;
  va_start(ap, arg);
  void* ptid = va_arg(ap, void*);
  void* tls = va_arg(ap, void*);
  void* ctid = va_arg(ap, void*);
  va_end(ap);
  if (!net_on() || tl.sandboxed || !fn || !stack) return rf(fn, stack, flags, arg, ptid, tls, ctid);
  if (!(flags & CLONE_VM)) {
    if (!tl.depth) wb_sync_all();
    return rf(fn, stack, flags, arg, ptid, tls, ctid);
  }
  auto top = reinterpret_cast<uintptr_t>(stack) & ~uintptr_t{15};
  auto* s = reinterpret_cast<Start*>(top - sizeof(Start));  // 16 bytes: stays aligned
  *s = Start{fn, arg};
  return rf(clone_start, s, flags, s, ptid, tls, ctid);
}

IOWQ_EXPORT int timer_create(clockid_t clock, struct sigevent* sev, timer_t* id) {
  REAL(int(clockid_t, struct sigevent*, timer_t*), "timer_create");
  if (!net_on()) return rf(clock, sev, id);
  struct sigevent copy;
  auto* used = const_cast<struct sigevent*>(wrap_sigev<false>(sev, &copy));
  int r = net_paused([&] { return rf(clock, used, id); });
  if (r != 0) unwrap_failed(used, sev);
  return r;
}

IOWQ_EXPORT int mq_notify(mqd_t q, const struct sigevent* sev) {
  REAL(int(mqd_t, const struct sigevent*), "mq_notify");
  if (!net_on()) return rf(q, sev);
  struct sigevent copy;
  const struct sigevent* used = wrap_sigev<true>(sev, &copy);
  int r = net_paused([&] { return rf(q, used); });
  if (r != 0) unwrap_failed(used, sev);
  return r;
}

// ---- POSIX AIO: ordered after the file's pending writes ---------------------
//
// glibc's AIO helper threads pread/pwrite/fsync the file themselves: each
// request first waits for the writes of its file queued before it (its
// deferred error stays pending, as at lseek). A request's SIGEV_THREAD
// notification is read from the program's aiocb at completion and is not
// wrapped (docs/design.md §5 "Not covered").

namespace {
inline void aio_submitting(const struct aiocb* cb) noexcept {
  if (cb && g.active.load(std::memory_order_relaxed) && !tl.sandboxed && !tl.depth && wb_pending())
    wb_wait_fd(cb->aio_fildes);
}
}  // namespace

IOWQ_EXPORT int aio_read(struct aiocb* cb) {
  REAL(int(struct aiocb*), "aio_read");
  aio_submitting(cb);
  if (!net_on()) return rf(cb);
  return net_paused([&] { return rf(cb); });
}
IOWQ_EXPORT int aio_write(struct aiocb* cb) {
  REAL(int(struct aiocb*), "aio_write");
  aio_submitting(cb);
  if (!net_on()) return rf(cb);
  return net_paused([&] { return rf(cb); });
}
// The 64 names are the same functions on 64-bit (one struct layout).
IOWQ_EXPORT int aio_read64(struct aiocb64* cb) { return aio_read(reinterpret_cast<struct aiocb*>(cb)); }
IOWQ_EXPORT int aio_write64(struct aiocb64* cb) { return aio_write(reinterpret_cast<struct aiocb*>(cb)); }

IOWQ_EXPORT int aio_fsync(int op, struct aiocb* cb) {
  REAL(int(int, struct aiocb*), "aio_fsync");
  aio_submitting(cb);
  if (!net_on()) return rf(op, cb);
  return net_paused([&] { return rf(op, cb); });
}
IOWQ_EXPORT int aio_fsync64(int op, struct aiocb64* cb) {
  return aio_fsync(op, reinterpret_cast<struct aiocb*>(cb));
}

IOWQ_EXPORT int lio_listio(int mode, struct aiocb* const list[], int n, struct sigevent* sev) {
  REAL(int(int, struct aiocb* const[], int, struct sigevent*), "lio_listio");
  // <aio.h> declares `list` nonnull, so the compiler may drop a plain check;
  // a program can still pass NULL (glibc's own call then fails): keep it.
  const void* given = list;
  __asm__("" : "+r"(given));
  for (int i = 0; given && i < n; ++i)
    if (list[i] && list[i]->aio_lio_opcode != LIO_NOP) aio_submitting(list[i]);
  if (!net_on()) return rf(mode, list, n, sev);
  return net_paused([&] { return rf(mode, list, n, sev); });
}
IOWQ_EXPORT int lio_listio64(int mode, struct aiocb64* const list[], int n, struct sigevent* sev) {
  return lio_listio(mode, reinterpret_cast<struct aiocb* const*>(list), n, sev);
}
