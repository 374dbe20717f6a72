// shim/writebehind.cpp — write-behind for regular files (DESIGN §5).
//
// A write is copied into the file's open *chunk* and returns its full count.
// A chunk is submitted to the pool when it is opened (hashed by the file's
// identity, so chunks of one file run in order, one at a time); until a
// worker starts it, later writes to the same file append to it, and
// consecutive writes on one fd (or contiguous pwrites) merge into one
// segment — one syscall. So the slower the disk, the more each syscall
// carries.
//
// Memory: a fixed arena of chunks (mmap, lazily touched) whose total data
// capacity is IOWQ_WB_MAX_BYTES; when none is free the writer waits.
// No malloc and no blocking lock on the write path: the per-file lock is a
// spin lock held for a memcpy, never taken by a nested (signal handler) call.
//
// Errors: the first failure of a file's deferred write is kept in the file's
// entry; the file's later pending writes are dropped, and the next sync point
// on the file returns -1 with that errno, once.
#include "writebehind.hpp"

#include <boost/lockfree/stack.hpp>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <linux/futex.h>

#include "libc.hpp"
#include "state.hpp"

namespace iowq::shim {
namespace {

constexpr int kMaxSegs = 32;
constexpr size_t kFiles = 4096;  // direct-mapped file entries

struct Seg {
  int fd;
  int64_t off;  // -1: at the fd's position
  uint32_t start, len;
};

struct WbFile;

struct Chunk {
  iowq::Work work;
  WbFile* file;
  uint32_t used;
  int nseg;
  Seg segs[kMaxSegs];
  char* data;
};

struct WbFile {
  std::atomic<uint32_t> lock{0};
  uint64_t dev = 0, ino = 0;  // under lock
  bool used = false;          // under lock
  Chunk* open = nullptr;      // accepting appends; under lock
  std::atomic<int> inflight{0};
  std::atomic<int> error{0};
  std::atomic<int> raise_sig{0};
};

struct Wb {
  bool on = false;
  size_t chunk_size = 0;
  uint32_t nchunks = 0;
  Chunk* chunks = nullptr;
  char* arena = nullptr;
  boost::lockfree::stack<uint32_t, boost::lockfree::fixed_sized<true>>* free_list = nullptr;
  WbFile files[kFiles];
  std::atomic<int64_t> inflight{0};   // chunks submitted, not finished
  std::atomic<int> errors{0};         // files holding an unreported error
  std::atomic<uint32_t> seq{0};       // bumped when a chunk finishes
  std::atomic<int> waiters{0};
  std::atomic<bool> fsize_limited{false};
};
Wb w;

thread_local bool tl_locked __attribute__((tls_model("initial-exec"))) = false;

// Files that are read where the shim cannot see it — through a stdio FILE
// (fopen, fdopen) or a memory mapping — are never written behind: their
// writes must be visible at once. An open-addressed set of (dev, ino);
// insert-only, lock-free. When full, write-behind stops for every file.
constexpr size_t kOptOutSlots = 1024;
struct OptOut {
  std::atomic<uint64_t> dev{0}, ino{0};  // ino == 0: empty
};
OptOut g_optout[kOptOutSlots];
std::atomic<bool> g_optout_full{false};
std::atomic<int> g_optout_count{0};

size_t optout_slot(uint64_t dev, uint64_t ino) noexcept {
  return ((dev * 0x9E3779B97F4A7C15ull) ^ (ino * 0xC2B2AE3D27D4EB4Full)) >> 54;
}

bool opted_out(uint64_t dev, uint64_t ino) noexcept {
  if (g_optout_count.load(std::memory_order_relaxed) == 0) return false;
  if (g_optout_full.load(std::memory_order_relaxed)) return true;
  for (size_t i = 0, s = optout_slot(dev, ino); i < kOptOutSlots; ++i, s = (s + 1) % kOptOutSlots) {
    uint64_t in = g_optout[s].ino.load(std::memory_order_acquire);
    if (in == 0) return false;
    if (in == ino + 1 && g_optout[s].dev.load(std::memory_order_relaxed) == dev) return true;
  }
  return false;
}

// errno kept: these run inside calls that succeed (a write, lseek, fstat).
void futex_wait(std::atomic<uint32_t>* a, uint32_t v) {
  int e = errno;
  syscall(SYS_futex, a, FUTEX_WAIT_PRIVATE, v, nullptr, nullptr, 0);
  errno = e;
}
void futex_wake_all(std::atomic<uint32_t>* a) {
  int e = errno;
  syscall(SYS_futex, a, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
  errno = e;
}

void lock(WbFile& f) noexcept {
  tl_locked = true;
  for (unsigned i = 0; f.lock.exchange(1, std::memory_order_acquire); ++i)
    if ((i & 63) == 63) sched_yield();
}
void unlock(WbFile& f) noexcept {
  f.lock.store(0, std::memory_order_release);
  tl_locked = false;
}

WbFile& entry_of(uint64_t dev, uint64_t ino) noexcept {
  uint64_t h = (dev * 0x9E3779B97F4A7C15ull) ^ (ino * 0xC2B2AE3D27D4EB4Full);
  return w.files[(h >> 20) % kFiles];
}

// Waits until `cond` holds, sleeping on the completion sequence.
template <class Cond>
void wait_until(Cond cond) noexcept {
  for (;;) {
    uint32_t s = w.seq.load(std::memory_order_seq_cst);
    if (cond()) return;
    w.waiters.fetch_add(1, std::memory_order_seq_cst);
    if (!cond()) futex_wait(&w.seq, s);
    w.waiters.fetch_sub(1, std::memory_order_seq_cst);
  }
}

// ---- the worker side ----------------------------------------------------------

int64_t write_all(const Seg& s, const char* data) noexcept {
  uint32_t done = 0;
  while (done < s.len) {
    int64_t r = s.off < 0 ? sys::write(s.fd, data + done, s.len - done)
                          : sys::pwrite(s.fd, data + done, s.len - done, s.off + done);
    g_counters.wb_syscalls.fetch_add(1, std::memory_order_relaxed);
    if (r == -EINTR) continue;
    if (r < 0) return r;
    if (r == 0) return -EIO;
    done += static_cast<uint32_t>(r);
  }
  return 0;
}

void chunk_fn(iowq::Work* wk) {
  tl.worker = true;
  Chunk* c = static_cast<Chunk*>(wk->ctx);
  WbFile& f = *c->file;
  lock(f);
  if (f.open == c) f.open = nullptr;  // no more appends
  unlock(f);
  if (f.error.load() == 0) {
    for (int i = 0; i < c->nseg; ++i) {
      int64_t r = write_all(c->segs[i], c->data + c->segs[i].start);
      if (r < 0) {
        if (r == -EFBIG && sys::take_pending(SIGXFSZ)) f.raise_sig.store(SIGXFSZ);
        if (r == -EPIPE && sys::take_pending(SIGPIPE)) f.raise_sig.store(SIGPIPE);
        f.error.store(static_cast<int>(-r));
        w.errors.fetch_add(1);
        g_counters.wb_deferred_errors.fetch_add(1, std::memory_order_relaxed);
        break;
      }
    }
  }
  wk->result = 0;
}

void chunk_done(iowq::Work* wk) {
  // The pool could not start a worker: write it here, on the pool's thread
  // that hands the file's chunks back one at a time, in order.
  if (wk->handed_back()) chunk_fn(wk);
  Chunk* c = static_cast<Chunk*>(wk->ctx);
  WbFile& f = *c->file;
  g_counters.wb_pending_bytes.fetch_sub(c->used, std::memory_order_relaxed);
  w.free_list->push(static_cast<uint32_t>(c - w.chunks));
  f.inflight.fetch_sub(1, std::memory_order_seq_cst);
  w.inflight.fetch_sub(1, std::memory_order_seq_cst);
  w.seq.fetch_add(1, std::memory_order_seq_cst);
  if (w.waiters.load(std::memory_order_seq_cst) > 0) futex_wake_all(&w.seq);
}

// Takes the file's unreported error (once) and raises its signal.
int take_error(WbFile& f) noexcept {
  int e = f.error.exchange(0);
  if (e) {
    w.errors.fetch_sub(1);
    int s = f.raise_sig.exchange(0);
    if (s) sys::tgkill(g.pid, sys::gettid(), s);
  }
  return e;
}

// The plain write of a bad buffer fails with EFAULT; a memcpy of it would
// crash the program. Ranges are checked with mincore(2) (unmapped -> ENOMEM)
// once, then remembered per thread: programs write from the same buffers.
struct Range {
  uintptr_t lo = 0, hi = 0;
};
thread_local Range tl_ok[4] __attribute__((tls_model("initial-exec")));
thread_local unsigned tl_ok_next __attribute__((tls_model("initial-exec"))) = 0;

bool readable(const void* p, size_t n) noexcept {
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if (a + n < a) return false;
  for (const Range& r : tl_ok)
    if (a >= r.lo && a + n <= r.hi) return true;
  uintptr_t lo = a & ~uintptr_t{4095}, hi = (a + n + 4095) & ~uintptr_t{4095};
  if (lo == 0) return false;
  unsigned char vec[64];
  for (uintptr_t q = lo; q < hi; q += 64 * 4096) {
    size_t len = hi - q < 64 * 4096 ? hi - q : 64 * 4096;
    if (syscall(SYS_mincore, q, len, vec) != 0) return false;
  }
  tl_ok[tl_ok_next++ & 3] = Range{lo, hi};
  return true;
}

bool op_readable(const Op& op) noexcept {
  if (!op.iov) return readable(op.buf, op.len);
  if (!readable(op.iov, sizeof(struct iovec) * static_cast<size_t>(op.iovcnt))) return false;
  for (int i = 0; i < op.iovcnt; ++i)
    if (op.iov[i].iov_len && !readable(op.iov[i].iov_base, op.iov[i].iov_len)) return false;
  return true;
}

void copy_in(const Op& op, char* dst) noexcept {
  if (op.iov) {
    for (int i = 0; i < op.iovcnt; ++i) {
      memcpy(dst, op.iov[i].iov_base, op.iov[i].iov_len);
      dst += op.iov[i].iov_len;
    }
  } else {
    memcpy(dst, op.buf, op.len);
  }
}

}  // namespace

// ============================================================================

void wb_init() noexcept {
  if (!g.cfg.write_behind) return;
  uint64_t max = g.cfg.wb_max_bytes;
  size_t cs = 256 * 1024;
  while (cs > 4096 && max / cs < 4) cs /= 2;
  uint64_t n = max / cs;
  if (n < 1) n = 1;
  if (n > 16384) n = 16384;
  void* a = mmap(nullptr, n * cs, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  void* c = mmap(nullptr, n * sizeof(Chunk), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (a == MAP_FAILED || c == MAP_FAILED) {
    log_line(LogLevel::Warn, "iowq: write-behind disabled: cannot reserve %llu bytes", static_cast<unsigned long long>(max));
    return;
  }
  w.arena = static_cast<char*>(a);
  w.chunks = static_cast<Chunk*>(c);
  w.chunk_size = cs;
  w.nchunks = static_cast<uint32_t>(n);
  w.free_list = new boost::lockfree::stack<uint32_t, boost::lockfree::fixed_sized<true>>(w.nchunks);
  for (uint32_t i = 0; i < w.nchunks; ++i) {
    new (&w.chunks[i]) Chunk();
    w.chunks[i].data = w.arena + static_cast<size_t>(i) * cs;
    w.free_list->push(w.nchunks - 1 - i);
  }
  wb_limits_changed();
  w.on = true;
}

bool wb_try(const Op& op, const FdInfo& fi, ssize_t* result) noexcept {
  // stderr is left synchronous: programs mix write(2) with unbuffered
  // fprintf(stderr), whose libc-internal writes the shim cannot order.
  if (!w.on || tl_locked || fi.kind != FdKind::File || fi.sync_io || !fi.writable || op.fd == 2)
    return false;
  if (op.kind == OpKind::Pwritev && op.flags != 0) return false;  // RWF_SYNC & co: as asked
  // Under RLIMIT_FSIZE a write's partial count and SIGXFSZ must come at once.
  if (w.fsize_limited.load(std::memory_order_relaxed)) return false;
  if (op.iov && (op.iovcnt <= 0 || op.iovcnt > IOV_MAX)) return false;
  if (!op_readable(op)) return false;  // the plain way reports EFAULT
  if (opted_out(fi.dev, fi.ino)) return false;
  size_t n = op.total_len();
  if (n == 0 || n > w.chunk_size) return false;
  WbFile& f = entry_of(fi.dev, fi.ino);
  int64_t off = op.positioned() ? op.off : -1;
  if (op.positioned() && op.off < 0) return false;  // EINVAL, the plain way
  for (;;) {
    lock(f);
    if (!f.used || f.dev != fi.dev || f.ino != fi.ino) {
      // Direct-mapped: take the entry over only when its file has nothing
      // pending and nothing to report; else this write goes the plain way.
      if (f.used && (f.inflight.load() || f.error.load() || f.open)) {
        unlock(f);
        return false;
      }
      f.used = true;
      f.dev = fi.dev;
      f.ino = fi.ino;
    }
    if (f.error.load()) {
      // Let the file's queued chunks finish (they are dropped after an
      // error) so the error is reported once, here, and nothing queued
      // before it lands after it.
      unlock(f);
      int e = wb_sync_file(fi);
      if (!e) continue;
      errno = e;
      *result = -1;
      return true;
    }
    Chunk* c = f.open;
    if (c) {
      Seg& last = c->segs[c->nseg - 1];
      bool merge = last.fd == op.fd && ((off < 0 && last.off < 0) || (off >= 0 && last.off >= 0 && last.off + last.len == off));
      if (c->used + n > w.chunk_size || (!merge && c->nseg == kMaxSegs)) c = nullptr;
      if (c) {
        copy_in(op, c->data + c->used);
        if (merge) last.len += static_cast<uint32_t>(n);
        else c->segs[c->nseg++] = Seg{op.fd, off, c->used, static_cast<uint32_t>(n)};
        c->used += static_cast<uint32_t>(n);
      }
    }
    if (!c) {
      uint32_t idx;
      if (!w.free_list->pop(idx)) {
        // Backpressure: wait for a chunk to be written out.
        unlock(f);
        wait_until([] { return !w.free_list->empty(); });
        continue;
      }
      c = &w.chunks[idx];
      c->file = &f;
      c->used = static_cast<uint32_t>(n);
      c->nseg = 1;
      c->segs[0] = Seg{op.fd, off, 0, static_cast<uint32_t>(n)};
      copy_in(op, c->data);
      iowq::Work& wk = c->work;
      wk.rearm();
      wk.fn = chunk_fn;
      wk.done = chunk_done;
      wk.ctx = c;
      wk.cls = iowq::Class::Bound;
      wk.hashed = true;
      wk.key = fi.key();
      wk.deadline_ns = 0;
      f.inflight.fetch_add(1, std::memory_order_seq_cst);
      w.inflight.fetch_add(1, std::memory_order_seq_cst);
      if (!ensure_pool() || g.pool->submit(&wk) != 0) {
        f.inflight.fetch_sub(1);
        w.inflight.fetch_sub(1);
        w.free_list->push(idx);
        unlock(f);
        wb_sync_file(fi);
        return false;
      }
      f.open = c;
    }
    unlock(f);
    break;
  }
  uint64_t pend = g_counters.wb_pending_bytes.fetch_add(n, std::memory_order_relaxed) + n;
  uint64_t peak = g_counters.wb_peak_pending_bytes.load(std::memory_order_relaxed);
  while (pend > peak && !g_counters.wb_peak_pending_bytes.compare_exchange_weak(peak, pend)) {
  }
  g_counters.wb_writes.fetch_add(1, std::memory_order_relaxed);
  g_counters.wb_bytes.fetch_add(n, std::memory_order_relaxed);
  *result = static_cast<ssize_t>(n);
  return true;
}

int wb_sync_file(const FdInfo& fi) noexcept {
  if (!w.on || (w.inflight.load() == 0 && w.errors.load() == 0)) return 0;
  WbFile& f = entry_of(fi.dev, fi.ino);
  if (tl_locked) return 0;  // nested inside this thread's own append
  lock(f);
  bool mine = f.used && f.dev == fi.dev && f.ino == fi.ino;
  unlock(f);
  if (!mine) return 0;
  wait_until([&] { return f.inflight.load(std::memory_order_seq_cst) == 0; });
  lock(f);
  int e = (f.dev == fi.dev && f.ino == fi.ino) ? take_error(f) : 0;
  unlock(f);
  return e;
}

int wb_sync_fd(int fd) noexcept {
  if (!w.on || (w.inflight.load() == 0 && w.errors.load() == 0)) return 0;
  FdInfo fi = fd_info(fd);
  if (fi.kind != FdKind::File) return 0;
  return wb_sync_file(fi);
}

void wb_sync_all() noexcept {
  if (!w.on || tl_locked) return;
  wait_until([] { return w.inflight.load(std::memory_order_seq_cst) == 0; });
}

void wb_limits_changed() noexcept {
  struct rlimit rl;
  if (syscall(SYS_prlimit64, 0, RLIMIT_FSIZE, nullptr, &rl) == 0)
    w.fsize_limited.store(rl.rlim_cur != RLIM_INFINITY, std::memory_order_relaxed);
}

void wb_opt_out(int fd) noexcept {
  if (!w.on || fd < 0) return;
  FdInfo fi = fd_info(fd);
  if (fi.kind != FdKind::File) return;
  wb_sync_file(fi);
  if (opted_out(fi.dev, fi.ino)) return;
  for (size_t i = 0, s = optout_slot(fi.dev, fi.ino); i < kOptOutSlots; ++i, s = (s + 1) % kOptOutSlots) {
    uint64_t expect = 0;
    g_optout[s].dev.store(fi.dev, std::memory_order_relaxed);  // racing inserts of one slot: see below
    if (g_optout[s].ino.compare_exchange_strong(expect, fi.ino + 1, std::memory_order_acq_rel)) {
      g_optout[s].dev.store(fi.dev, std::memory_order_release);
      g_optout_count.fetch_add(1);
      return;
    }
    if (expect == fi.ino + 1 && g_optout[s].dev.load() == fi.dev) return;
  }
  g_optout_full.store(true);
  g_optout_count.fetch_add(1);
}

bool wb_pending() noexcept { return w.on && (w.inflight.load(std::memory_order_relaxed) || w.errors.load(std::memory_order_relaxed)); }

void wb_after_fork_child() noexcept {
  if (!w.on) return;
  // The parent drained everything before fork (atfork prepare); only locks
  // and counters may be stale.
  // A deferred error belongs to the parent, which reports it.
  for (auto& f : w.files) {
    f.lock.store(0);
    f.open = nullptr;
    f.inflight.store(0);
    f.error.store(0);
    f.raise_sig.store(0);
  }
  w.inflight.store(0);
  w.errors.store(0);
  w.waiters.store(0);
  tl_locked = false;
}

}  // namespace iowq::shim
