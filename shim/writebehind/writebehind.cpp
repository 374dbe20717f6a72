// shim/writebehind/writebehind.cpp — write-behind for regular files (docs/design.md §5).
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
// A worker never takes it: it sets the chunk's `closed` flag, then waits
// until it sees the file's lock free once (an appender checks `closed` under
// the lock), so a thread that a signal handler took out of an append (exit
// from the handler) cannot block the workers once its lock is released.
// The exit/exec/shared-memory switch is checked under the lock too, so
// "every lock seen free once" means no append that missed it is running.
//
// Syncs are tickets: a file counts chunks queued (`enq`) and finished
// (`done`); chunks of one file finish in order, so a sync waits until `done`
// reaches the `enq` it read. A global bitmap of files with queued chunks
// lets "wait for everything" visit only those.
//
// Errors, as the kernel's writeback errors (its errseq_t): a failed deferred
// write is kept in its file's entry with a generation, and the file's later
// writes still run. Each open file description (OFD) is told once: the one
// whose write failed (the owner) by its next call that can return an I/O
// error, every OFD by the fsync family. Which OFDs were told is a short list
// of fds, one per OFD (the owner is one fd too); another fd is the same OFD
// when kcmp(KCMP_FILE) says so (exact, one syscall, only on this rare path).
// A mark follows its OFD when its fd number is closed (another fd of the OFD
// takes it over, found in /proc/self/fd), and a close reports only when it
// ends the OFD: while a dup remains, the OFD can still be told through it.
#include "writebehind.hpp"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <boost/lockfree/stack.hpp>

#include <linux/futex.h>
#include <algorithm>
#include <atomic>
#include <climits>

#include "net.hpp"
#include "process/state.hpp"
#include "sys/libc.hpp"

namespace iowq::shim {
namespace {

constexpr int kMaxSegs = 32;
constexpr size_t kFiles = 4096;  // direct-mapped file entries
constexpr int kMaxIov = 64;      // vectors longer than this go the plain way
// Chunks one file may have queued (open one included). They are written one
// at a time, so more buy nothing but fresh memory: a writer faster than the
// disk filled the whole budget, a page fault per 4 KiB of it (16,840 faults,
// half the CPU, for 80 MiB of 4 KiB writes); with a few, freed chunks are
// reused while still mapped. The writer waits for its file instead.
constexpr int64_t kFileChunks = 4;

struct Seg {
  int fd;
  int64_t off;  // -1: at the fd's position
  uint32_t start, len;
};

struct WbFile;
struct Space;

struct Chunk {
  iowq::Work work;
  WbFile* file;
  uint32_t used;
  uint32_t cap;      // bytes it may hold: w.chunk_size, or w.far_size (far_fs)
  uint32_t nwrites;  // calls it took (counted into the report when it is written)
  int nseg;
  uint64_t seq;                     // the file's enq count that queued it
  std::atomic<uint32_t> closed{0};  // set by the worker: no more appends
  Seg segs[kMaxSegs];
  char* data;
  // Room on its filesystem (see "Room" below); next to `data`, which every
  // append reads too.
  uint32_t lim;    // `used` may grow to this: resv less each segment's slack
  uint32_t slack;  // charged per segment beyond its bytes: two blocks
  int64_t resv;    // bytes of room charged for it
  Space* space;
};

struct WbFile {
  std::atomic<uint32_t> lock{0};
  uint64_t dev = 0, ino = 0;          // under lock
  bool used = false;                  // under lock
  std::atomic<Chunk*> open{nullptr};  // accepting appends; set under lock
  std::atomic<uint64_t> enq{0};       // chunks queued
  std::atomic<uint64_t> done{0};      // chunks finished (in order)
  // The deferred error: errno, owner, told, generation (err_no() & co).
  // `told`: some OFD was told of this generation; a failure after that
  // starts a new one.
  std::atomic<uint64_t> err{0};
  struct Told {
    int fd1 = 0;  // 1 + an fd of an OFD told of generation `gen`; 0: free (keeps `w` in .bss)
    uint32_t gen = 0;
  } told[8];  // under lock
  std::atomic<int> raise_sig{0};
  // Chunks queued before the program was told of an error: their failures
  // are the same episode (the program stopped at the first one) — counted,
  // not reported again.
  std::atomic<uint64_t> quiet_until{0};
};

struct Wb {
  bool on = false;
  size_t chunk_size = 0;  // per chunk, local filesystems
  size_t far_size = 0;    // per chunk, FUSE and network filesystems (far_fs)
  uint32_t nchunks = 0;
  uint64_t budget = 0;                // IOWQ_WB_MAX_BYTES, rounded: caps held at most
  std::atomic<uint64_t> reserved{0};  // caps of the chunks in use
  Chunk* chunks = nullptr;
  char* arena = nullptr;
  boost::lockfree::stack<uint32_t, boost::lockfree::fixed_sized<true>>* free_list = nullptr;
  WbFile files[kFiles];
  std::atomic<uint64_t> active[kFiles / 64];  // files with queued chunks
  std::atomic<int64_t> inflight{0};           // chunks queued, not finished
  std::atomic<int> errors{0};                 // files holding an error (told or not)
  std::atomic<uint32_t> seq{0};               // bumped when a chunk finishes
  std::atomic<int> waiters{0};
  std::atomic<int> fillers{0};          // workers letting a chunk fill (let_fill)
  std::atomic<uint32_t> fill_seq{0};    // their futex: bumped by a waiter
  std::atomic<bool> closed{false};      // exit/exec: no more writes behind
  std::atomic<bool> shared_off{false};  // shared memory, a held SIGSYS: off for good
  std::atomic<bool> fsize_limited{false};
};
Wb w;

// Write-behind is on. Tests the option first: w is 300 KiB of bss a process
// without write-behind never touches, and the exit and fork-child paths ask
// in every process (reading w.on alone faulted a page in each).
inline bool on() noexcept { return g.cfg.write_behind && w.on; }

// Paths of files whose deferred write failed, for the exit-time error line.
char g_err_path[kFiles][128];

// This thread's place inside wb_try, so that an exit from a signal handler
// that interrupted it can undo what it holds (wb_exit).
// Set *before* taking the lock (a signal can come between any two
// instructions); the lock word holds the owner's tid, so release can tell.
thread_local WbFile* tl_held __attribute__((tls_model("initial-exec"))) = nullptr;
thread_local uint32_t tl_tid __attribute__((tls_model("initial-exec"))) = 0;

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

bool opted_out_slow(uint64_t dev, uint64_t ino) noexcept;
// Inline: on every write taken behind, and the set is almost always empty.
inline bool opted_out(uint64_t dev, uint64_t ino) noexcept {
  return g_optout_count.load(std::memory_order_relaxed) != 0 && opted_out_slow(dev, ino);
}
bool opted_out_slow(uint64_t dev, uint64_t ino) noexcept {
  if (g_optout_full.load(std::memory_order_relaxed)) return true;
  for (size_t i = 0, s = optout_slot(dev, ino); i < kOptOutSlots; ++i, s = (s + 1) % kOptOutSlots) {
    uint64_t in = g_optout[s].ino.load(std::memory_order_acquire);
    if (in == 0) return false;
    if (in == ino + 1 && g_optout[s].dev.load(std::memory_order_relaxed) == dev) return true;
  }
  return false;
}

// Filesystems whose "files" are control interfaces (proc, sysfs, cgroup...):
// a write there acts at once (or fails at once), so never behind. Decided
// per device with fstatfs, remembered with whether the filesystem is far
// (far_fs).
constexpr unsigned kDevOk = 1, kDevFar = 2;
constinit DevBits<64, 2> g_dev_ok;  // kDevOk | kDevFar per device

bool control_fs(long magic) noexcept {
  switch (static_cast<unsigned long>(magic) & 0xffffffffu) {
    case 0x9fa0:      // proc
    case 0x62656572:  // sysfs
    case 0x27e0eb:    // cgroup
    case 0x63677270:  // cgroup2
    case 0x64626720:  // debugfs
    case 0x74726163:  // tracefs
    case 0x73636673:  // securityfs
    case 0x62656570:  // configfs
    case 0xcafe4a11:  // bpf
    case 0x6165676c:  // pstore
    case 0xde5e81e4:  // efivarfs
    case 0xf97cff8c:  // selinuxfs
    case 0x43415d53:  // smackfs
    case 0x42494e4d:  // binfmt_misc
    case 0x65735543:  // fusectl
    case 0x958458f6:  // hugetlbfs
      return true;
    default: return false;
  }
}

// Filesystems where every write request crosses a network or a user-space
// server (FUSE, NFS, SMB, Ceph, 9p, AFS): each costs a round trip, so fewer,
// larger ones (up to FUSE's and NFS's usual 1 MiB) are what pays. On a local
// filesystem 256 KiB writes measured faster than 1 MiB ones (ext4, 4 KiB
// writes: the copy is still in cache).
bool far_fs(long magic) noexcept {
  switch (static_cast<unsigned long>(magic) & 0xffffffffu) {
    case 0x65735546:  // fuse
    case 0x6969:      // nfs
    case 0xfe534d42:  // smb2
    case 0xff534d42:  // cifs
    case 0x00c36400:  // ceph
    case 0x01021997:  // v9fs
    case 0x6b414653:  // afs
    case 0x5346414f:  // openafs
      return true;
    default: return false;
  }
}

// The chunk size for files of device `dev` (fd open on one of them); 0 when
// they are never written behind.
int dev_learn(int fd, uint64_t dev) noexcept {
  struct statfs sf;
  if (sys::fstatfs(fd, &sf) != 0) return -1;
  const int v = static_cast<int>((far_fs(sf.f_type) ? kDevFar : 0) | (control_fs(sf.f_type) ? 0 : kDevOk));
  g_dev_ok.remember(dev, static_cast<unsigned>(v));
  return v;
}
// Inline: asked on every write taken behind; the device is known but once.
inline size_t dev_chunk_size(int fd, uint64_t dev) noexcept {
  int v = g_dev_ok.find(dev);
  if (__builtin_expect(v < 0, 0) && (v = dev_learn(fd, dev)) < 0) return 0;
  if (!(v & kDevOk)) return 0;
  return (v & kDevFar) ? w.far_size : w.chunk_size;
}

// Takes `cap` bytes of the budget; false when they are not free.
bool reserve(uint64_t cap) noexcept {
  uint64_t r = w.reserved.load(std::memory_order_relaxed);
  do {
    if (r + cap > w.budget) return false;
  } while (!w.reserved.compare_exchange_weak(r, r + cap, std::memory_order_acq_rel));
  return true;
}

// ---- Room on the filesystem (docs/design.md §5 "A full disk") -------------------
//
// Plain, a write to a full filesystem returns short or -1/ENOSPC at the call
// (the kernel's page cache charges the space at write time: tmpfs, ext4 and
// xfs delalloc), so a write is taken behind only when its filesystem
// certainly has room for it and everything still pending there. Per
// filesystem (st_dev), every byte taken behind and every byte the shim sees
// written plain is *charged*, counted conservatively: a write that starts a
// segment is charged its length plus two blocks (the partial blocks at its
// ends), one merged into a segment its length (contiguous bytes), overwrites
// and holes as new data. A refresh reads fstatfs:
//     base = f_bavail * f_frsize - margin + (charges released before it)
// and charges may total up to `base`: what was released before the fstatfs
// is in its free count, everything else is counted as not yet written.
// Charges are taken per chunk, with headroom (an eighth of the room left,
// at most a chunk), so a 64-byte append only compares two chunk fields.
// A charge that does not fit drains every pending write (so the plain write
// comes after them, as in program order), refreshes and tries again; if it
// still does not fit, the write runs plain in the caller and its short count
// or ENOSPC is the kernel's own. A refresh also comes once half of the room
// it found is charged. Between refreshes, space another process (or a write
// this shim cannot see) takes is not known: a deferred write can then still
// fail, and is reported as any deferred error (the residual; docs/design.md §5).
constexpr int kSpaces = 64;
constexpr int64_t kUnlimited = INT64_MAX / 4;

struct alignas(64) Space {
  std::atomic<uint64_t> dev1{0};       // st_dev + 1; 0: a free slot
  std::atomic<int64_t> base{0};        // charges may total up to this
  std::atomic<int64_t> refresh_at{0};  // refresh once `charged` passes it
  std::atomic<int64_t> bsize{4096};    // bytes per block (the per-segment slack)
  std::atomic<uint32_t> refreshing{0};
  std::atomic<uint32_t> full{0};                 // the last refresh found no room
  std::atomic<uint32_t> declines{0};             // writes run plain since
  alignas(64) std::atomic<int64_t> charged{0};   // writers (monotonic but for undone tries)
  alignas(64) std::atomic<int64_t> released{0};  // charges written or given back
};
Space g_space[kSpaces];

// The room entry of `dev`, claimed when `claim`; nullptr when none (or, to
// claim, all taken: the write then runs plain).
Space* space_of(uint64_t dev, bool claim) noexcept {
  for (Space& s : g_space) {
    uint64_t v = s.dev1.load(std::memory_order_acquire);
    if (v == dev + 1) return &s;
    if (v == 0) {
      if (!claim) return nullptr;
      if (s.dev1.compare_exchange_strong(v, dev + 1, std::memory_order_acq_rel) || v == dev + 1) return &s;
    }
  }
  return nullptr;
}

bool space_outstanding(const Space& s) noexcept {
  return s.charged.load(std::memory_order_seq_cst) != s.released.load(std::memory_order_seq_cst);
}

// Takes n bytes of room; false (nothing taken) when they may not be there.
bool space_charge(Space& s, int64_t n) noexcept {
  int64_t c = s.charged.fetch_add(n, std::memory_order_seq_cst) + n;
  if (c <= s.base.load(std::memory_order_seq_cst)) return true;
  s.charged.fetch_sub(n, std::memory_order_seq_cst);
  return false;
}

// Bytes to charge beyond what a write needs: an eighth of the room left, at
// most a chunk.
int64_t space_headroom(const Space& s, size_t cap) noexcept {
  int64_t room = s.base.load(std::memory_order_relaxed) - s.charged.load(std::memory_order_relaxed);
  return room <= 0 ? 0 : std::min(room / 8, static_cast<int64_t>(cap));
}

// What must stay free beyond the charges: filesystem metadata the data may
// need (extent and b-tree blocks), and slack where free space is an estimate.
int64_t space_margin(const struct statfs& sf, int64_t blk, int64_t total) noexcept {
  switch (static_cast<unsigned long>(sf.f_type) & 0xffffffffu) {
    case 0x01021994:  // tmpfs: pages only, charged at write time
    case 0x858458f6:  // ramfs
      return 0;
    case 0x9123683e:  // btrfs: copy-on-write, metadata reserved per write, free space estimated
    case 0xca451a4e:  // bcachefs
    case 0x2fc12fc1:  // zfs
      return 64 * blk + total / 16 + (int64_t{64} << 20);
    default: return 16 * blk + total / 256;
  }
}

// Reads the filesystem's free space again (fd is open on it).
void space_refresh(Space& s, int fd) noexcept {
  uint32_t z = 0;
  if (!s.refreshing.compare_exchange_strong(z, 1, std::memory_order_acq_rel)) {
    for (unsigned i = 0; i < 4096 && s.refreshing.load(std::memory_order_acquire); ++i) sys::sched_yield();
    return;  // another thread's refresh: its result is as good
  }
  const int64_t rel = s.released.load(std::memory_order_seq_cst);  // before the fstatfs
  struct statfs sf;
  int64_t base = 0;  // fstatfs failed: no room known, writes run plain
  if (sys::fstatfs(fd, &sf) == 0) {
    const int64_t frag = sf.f_frsize > 0 ? sf.f_frsize : sf.f_bsize;
    const int64_t blk = std::max<int64_t>({frag, sf.f_bsize, 512});
    s.bsize.store(std::min<int64_t>(blk, 1 << 20), std::memory_order_relaxed);
    if (sf.f_blocks == 0 || frag <= 0) {
      // The filesystem accounts no space (ramfs, some FUSE servers): there
      // is nothing to go by; written behind as everywhere else.
      base = kUnlimited;
    } else {
      auto bytes = [frag](uint64_t blocks) {
        return blocks > static_cast<uint64_t>(kUnlimited / frag) ? kUnlimited
                                                                 : static_cast<int64_t>(blocks) * frag;
      };
      base = bytes(sf.f_bavail) - space_margin(sf, blk, bytes(sf.f_blocks));
      base = base < 0 ? rel : std::min(base, kUnlimited) + rel;
    }
  }
  s.base.store(base, std::memory_order_seq_cst);
  const int64_t ch = s.charged.load(std::memory_order_seq_cst);
  s.refresh_at.store(base >= kUnlimited ? INT64_MAX : ch + std::max<int64_t>((base - ch) / 2, 0),
                     std::memory_order_relaxed);
  s.refreshing.store(0, std::memory_order_release);
}

// Waits until nothing charged on `s` is pending: every chunk written, and
// the charges another thread took but has not queued yet (it holds its
// file's lock for that moment) queued and written too. Bounded: a plain
// write of another thread still running after that is concurrent anyway.
void space_settle(Space& s) noexcept {
  for (int i = 0; i < 1000 && space_outstanding(s); ++i) {
    wb_sync_all();
    if (space_outstanding(s)) sys::sched_yield();
  }
}

// A charge of `cost` did not fit: every pending write lands first (this
// write comes after them), then the room is read again. True when the
// charge may now fit. Near a full disk the refresh runs at most once every
// 32 writes that went plain, not for each.
bool space_make_room(Space& s, int fd, int64_t cost) noexcept {
  space_settle(s);
  if (!s.full.load(std::memory_order_relaxed) ||
      s.declines.fetch_add(1, std::memory_order_relaxed) % 32 == 31)
    space_refresh(s, fd);
  bool fits = s.charged.load(std::memory_order_seq_cst) + cost <= s.base.load(std::memory_order_seq_cst);
  s.full.store(!fits, std::memory_order_relaxed);
  return fits;
}

// The cost of writing n bytes as a new segment (see above).
int64_t seg_cost(const Space& s, size_t n) noexcept {
  return static_cast<int64_t>(n) + 2 * s.bsize.load(std::memory_order_relaxed);
}

// A write's charge of `cost` did not fit (the file's lock is let go): true
// when it may fit now (try again), false when the write runs plain — its
// short count or ENOSPC is then the kernel's.
__attribute__((noinline)) bool room_again(Space& s, int fd, int64_t cost, int& tries) noexcept {
  if (tries++ < 2 && space_make_room(s, fd, cost)) return true;
  g_counters.wb_space_plain.fetch_add(1, std::memory_order_relaxed);
  return false;
}

// A chunk's charge is used up: `need` more bytes of room (and headroom).
// Out of line: the 64-byte append path only compares `used` with `lim`.
__attribute__((noinline)) bool chunk_grow(Chunk& c, uint32_t need) noexcept {
  Space& s = *c.space;
  int64_t more = need + space_headroom(s, c.cap);
  if (!space_charge(s, more) && !space_charge(s, more = need)) return false;
  c.resv += more;
  c.lim += static_cast<uint32_t>(more);
  return true;
}

// stderr's file is never written behind, whichever fd reaches it: the
// program's diagnostics go there through libc-internal writes.
inline bool is_stderr_file(const FdInfo& fi) noexcept {
  const FdEntry& e = g_fdtab[2];
  uint8_t k = e.kind.load(std::memory_order_acquire);
  if (k == 0) {
    FdInfo s = fd_info(2);
    return s.kind == FdKind::File && s.dev == fi.dev && s.ino == fi.ino;
  }
  return static_cast<FdKind>(k) == FdKind::File && e.dev.load(std::memory_order_relaxed) == fi.dev &&
         e.ino.load(std::memory_order_relaxed) == fi.ino;
}

void futex_wait(std::atomic<uint32_t>* a, uint32_t v) { sys::futex_wait(a, v); }
void futex_wake_all(std::atomic<uint32_t>* a) { sys::futex_wake(a, INT_MAX); }

uint32_t my_tid() noexcept {
  if (!tl_tid) tl_tid = static_cast<uint32_t>(sys::gettid());
  return tl_tid;
}

// ---- Memory ordering ------------------------------------------------------------
// Every seq_cst operation in this file is one side of one of these pairs
// (the other side is named; "A ; B" is program order):
//  1. Closing a chunk vs an append to it (store-load handshake):
//       chunk_fn:  c->closed = 1 ; CAS f.open c -> null ; wait_lock_free(f) loads f.lock
//       wb_try:    lock(f) takes f.lock ; loads f.open, c->closed -> append
//     Either the appender sees the chunk closed (and opens a new one) or the
//     worker sees the lock held and waits for unlock()'s release, after which
//     it reads the appended bytes.
//  2. Exit, exec and shared memory vs an append (the same shape):
//       close_and_drain / wb_off_shared / wb_off_sigsys:
//                                         w.closed or w.shared_off = true ;
//                                         wait_all_locks_free()
//       wb_try:                           lock(f) ; loads w.closed, w.shared_off
//     In both 1 and 2 the appender's side is lock()'s CAS, seq_cst: a
//     store-load pair needs both sides seq_cst (an acquire-only CAS holds on
//     x86-64, where every locked RMW is a full fence, but not on aarch64,
//     where its load could be satisfied before the other side's store is
//     seen). On x86-64 it is the same instruction.
//  3. Completion vs a waiter (store-load handshake around the futex):
//       chunk_done:  f.done += 1 ; w.inflight -= 1 ; w.seq += 1 ; load w.waiters -> wake
//       wait_until:  load w.seq ; cond() ; w.waiters += 1 ; cond() ; futex_wait(w.seq)
//     Either the waiter's second cond() sees the new done count, or the
//     completer sees waiters > 0 and wakes it, or the seq bump makes the
//     futex compare fail. wait_entry()'s enq/done loads are cond()'s loads.
//  4. The active bitmap (which files wb_sync_all must visit):
//       wb_try:       f.open = c ; f.enq = seq ; set the file's active bit ; w.inflight += 1
//       wb_sync_all:  load inflight, active bits ; done == enq ? clear bit ; recheck, re-set
//     A chunk queued while the bit is being cleared is seen by the recheck,
//     or its bit is set after the clear. (The bit used to be set before
//     enq: a clear between the two, with a recheck before enq moved, left a
//     queued chunk unmarked, and every later sync, the exit's drain too,
//     skipped its file: tell_race.c.)
//  5. Deferred errors: f.err is one self-contained word (generation, told
//     bit, owner fd, errno), changed only by CAS or RMW.
//       take_error (caller, under f's lock):  quiet_until = enq ; err |= kTold
//       record_error (worker):                load err ; load quiet_until ; CAS err
//     A failure of a chunk queued before the tell is counted, not reported
//     again; one after it starts a new generation. The worker reads err
//     first: when it sees kTold, the quiet_until stored before it is seen
//     too (a CAS that fails on a newer err reads quiet_until again).
//     wb_fds_closing() CASes a new owner into the same word.
//  6. Room (Space): space_refresh loads `released` before its fstatfs and
//     `charged` after storing `base`; a charge (fetch_add `charged`, then
//     load `base`) or a plain call's check may see either base, the one
//     before a refresh or after it: both are bounds (the old one only staler).
//  7. A filling worker vs a waiter (store-load handshake around the futex):
//       let_fill:    fillers += 1 ; load fill_seq ; load waiters -> stop ; futex_wait(fill_seq)
//       wait_until:  waiters += 1 ; load fillers -> fill_seq += 1, wake
//     Either the filler sees the waiter and stops, or the waiter sees the
//     filler and its bump makes the futex compare fail or wakes it.
//  Default-ordered (seq_cst) operations outside these pairs are counters
//  and self-contained words (w.errors, f.raise_sig, the opt-out table,
//  done/enq compared for equality under the file's lock): they publish
//  nothing else, so relaxed would do; they were left as they are.
//  The atomic_signal_fence pair in lock()/unlock() orders tl_held against
//  the lock word for a signal handler on this same thread (wb_signals.cpp):
//  a handler never waits for a lock its own thread holds.

// Returns once the file's lock was seen free (or held by this thread, which
// is not appending: a chunk handed back inside its own submit).
void wait_lock_free(WbFile& f) noexcept {
  uint32_t me = my_tid();
  for (unsigned i = 0;; ++i) {
    uint32_t v = f.lock.load(std::memory_order_seq_cst);
    if (v == 0 || v == me) return;
    if ((i & 63) == 63) sys::sched_yield();
  }
}

inline void lock(WbFile& f) noexcept {
  uint32_t me = my_tid();
  tl_held = &f;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  for (unsigned i = 0;; ++i) {
    uint32_t expect = 0;
    // seq_cst: one side of the store-load pairs 1 and 2 above.
    if (f.lock.compare_exchange_weak(expect, me, std::memory_order_seq_cst)) break;
    if ((i & 63) == 63) sys::sched_yield();
  }
}
inline void unlock(WbFile& f) noexcept {
  f.lock.store(0, std::memory_order_release);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  tl_held = nullptr;
  net_after_append();
}

size_t index_of(uint64_t dev, uint64_t ino) noexcept {
  uint64_t h = (dev * 0x9E3779B97F4A7C15ull) ^ (ino * 0xC2B2AE3D27D4EB4Full);
  return (h >> 20) % kFiles;
}
WbFile& entry_of(uint64_t dev, uint64_t ino) noexcept { return w.files[index_of(dev, ino)]; }

// Waits until `cond` holds, sleeping on the completion sequence.
template <class Cond>
void wait_until(Cond cond) noexcept {
  for (;;) {
    uint32_t s = w.seq.load(std::memory_order_seq_cst);
    if (cond()) return;
    w.waiters.fetch_add(1, std::memory_order_seq_cst);
    wb_hurry();  // a worker letting a chunk fill: it goes now (pair 7 above)
    if (!cond()) futex_wait(&w.seq, s);
    w.waiters.fetch_sub(1, std::memory_order_seq_cst);
  }
}

// Chunks of `f` queued and not finished. Signed: without f's lock it can be
// -1 for a moment (a chunk may finish before its submitter counts it).
int64_t queued(const WbFile& f) noexcept {
  return static_cast<int64_t>(f.enq.load(std::memory_order_seq_cst) - f.done.load(std::memory_order_seq_cst));
}

// Waits for the chunks of `f` queued before now.
bool take_back(WbFile& f, uint64_t target) noexcept;

void wait_entry(WbFile& f) noexcept {
  uint64_t target = f.enq.load(std::memory_order_seq_cst);
  if (f.done.load(std::memory_order_seq_cst) >= target) return;
  if (take_back(f, target)) return;
  wait_until([&] { return f.done.load(std::memory_order_seq_cst) >= target; });
}

// ---- the worker side ----------------------------------------------------------

int64_t write_all(const Seg& s, const char* data) noexcept {
  uint32_t done = 0;
  while (done < s.len) {
    int64_t r = s.off < 0 ? sys::write(s.fd, data + done, s.len - done)
                          : sys::pwrite(s.fd, data + done, s.len - done, s.off + done);
    g_counters.wb_syscalls.fetch_add(1, std::memory_order_relaxed);
    if (r == -EINTR) continue;
    if (r < 0) {
      // The program was told these bytes were written: later writes at the
      // fd's position go where it expects, as after a page-cache loss.
      if (s.off < 0) sys::lseek(s.fd, static_cast<off_t>(s.len - done), SEEK_CUR);
      return r;
    }
    if (r == 0) return -EIO;
    done += static_cast<uint32_t>(r);
  }
  return 0;
}

// WbFile::err: generation (24 bits) << 40 | owner fd + 1 (27 bits) << 13 |
// told << 12 | errno (12 bits). The owner is an fd of the open file
// description whose write failed.
constexpr uint64_t kTold = uint64_t{1} << 12;
constexpr uint64_t kOwnerMask = ((uint64_t{1} << 27) - 1) << 13;
int err_no(uint64_t v) noexcept { return static_cast<int>(v & 0xfff); }
bool err_told(uint64_t v) noexcept { return v & kTold; }
int err_owner(uint64_t v) noexcept { return static_cast<int>((v & kOwnerMask) >> 13) - 1; }
uint32_t err_gen(uint64_t v) noexcept { return static_cast<uint32_t>(v >> 40); }
uint64_t with_owner(uint64_t v, int fd) noexcept {
  return (v & ~kOwnerMask) | ((static_cast<uint64_t>(fd + 1) << 13) & kOwnerMask);
}

void record_error(WbFile& f, const Chunk& c, int fd, int e) noexcept {
  g_counters.wb_deferred_errors.fetch_add(1, std::memory_order_relaxed);
  // err first, then quiet_until (pair 5 above): take_error stores
  // quiet_until before it sets kTold, so a told bit seen here comes with the
  // quiet_until of that tell. Read the other way round, a tell landing
  // between the two loads made a chunk queued before it start a new
  // generation: the program was told of the same failure twice.
  uint64_t v = f.err.load(std::memory_order_seq_cst);
  do {
    if (c.seq <= f.quiet_until.load(std::memory_order_seq_cst)) return;  // the same episode
    // A new generation, unless nobody was told of the current one yet (the
    // first error is the one reported, as the kernel's errseq keeps one).
    if (err_no(v) && !err_told(v)) return;
  } while (!f.err.compare_exchange_weak(
      v, with_owner((uint64_t{(err_gen(v) + 1) & 0xffffff} << 40) | (static_cast<uint64_t>(e) & 0xfff), fd),
      std::memory_order_seq_cst));
  if (!err_no(v)) w.errors.fetch_add(1);
  char link[40];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char* p = g_err_path[&f - w.files];
  int64_t n = sys::readlink(link, p, sizeof g_err_path[0] - 1);
  p[n > 0 ? n : 0] = 0;
}

// While the program is still appending and nobody waits, a worker lets the
// chunk fill (up to half) before taking it: one that took each chunk at once
// would make a syscall and a wake-up per write or two, more than the direct
// writes cost. It sleeps meanwhile, in slices of kFillQuietNs: a writer that
// added nothing in one slice has paused, and the chunk goes. A sleep, not a
// yield: on two CPUs a yielding worker saw "no progress" between two of dd's
// writes (a read of /dev/zero between them), took chunks of ~50 writes, and
// each one cost a wake-up, an arming of the net and a syscall (1,000-11,000
// chunks for 100,000 writes, 1.2-2.6x the CPU of 30 chunks). A waiter (a
// sync, the exit's drain) cuts the sleep short: wait_until wakes fillers;
// so does the append that fills it to half. Bounded: kFillMaxNs after the
// worker took the chunk, it goes.
constexpr uint64_t kFillQuietNs = 100'000;
constexpr uint64_t kFillMaxNs = 2'000'000;
constexpr uint32_t kFillLargeWrite = 1024;  // bytes per write, on average

void let_fill(Chunk& c) noexcept {
  WbFile& f = *c.file;
  const uint32_t half = c.cap / 2, u0 = __atomic_load_n(&c.used, __ATOMIC_RELAXED);
  // Large writes gain little from merging (the copy costs more than the
  // syscall) and are often followed by a close or futimens that would wait
  // for this worker to wake (tar, cp, git): the chunk goes at once.
  if (u0 >= kFillLargeWrite * __atomic_load_n(&c.nwrites, __ATOMIC_RELAXED)) return;
  const uint64_t start = sys::now_ns();
  w.fillers.fetch_add(1, std::memory_order_seq_cst);  // pair 7 above
  uint64_t slice = kFillQuietNs;
  for (uint32_t u = u0;;) {
    // Half full, or full (the writer opened the next chunk): it goes.
    if (u >= half || f.open.load(std::memory_order_relaxed) != &c) break;
    const uint32_t s = w.fill_seq.load(std::memory_order_seq_cst);
    if (w.waiters.load(std::memory_order_seq_cst) != 0) break;
    const uint64_t spent = sys::now_ns() - start;
    if (spent >= kFillMaxNs) break;
    sys::futex_wait(&w.fill_seq, s, std::min(slice, kFillMaxNs - spent));
    const uint32_t v = __atomic_load_n(&c.used, __ATOMIC_RELAXED);
    if (v == u) break;  // the writer paused (a waiter that woke us is seen above next time)
    // At the writer's pace so far, sleep until about half full: a wake-up
    // or two per chunk rather than one per slice (each may take the CPU
    // from the writer on a busy machine).
    if (v < half) slice = std::max(kFillQuietNs, (sys::now_ns() - start) * (half - v) / (v - u0));
    u = v;
  }
  w.fillers.fetch_sub(1, std::memory_order_relaxed);
}

// Closes the chunk to appenders and writes it. `fill`: on a worker, first let
// a writer that is still appending fill it.
void write_chunk(Chunk* c, bool fill) noexcept {
  WbFile& f = *c->file;
  if (fill) let_fill(*c);
  // Close the chunk to appenders, then let any appender inside finish.
  c->closed.store(1, std::memory_order_seq_cst);
  Chunk* expect = c;
  f.open.compare_exchange_strong(expect, nullptr, std::memory_order_seq_cst);
  wait_lock_free(f);
  // Chunks of a file run one at a time (hashed by file), but one taken back
  // by a waiting call (take_back) is written outside the pool: the next
  // chunk may have started meanwhile.
  if (f.done.load(std::memory_order_seq_cst) + 1 < c->seq)
    wait_until([&] { return f.done.load(std::memory_order_seq_cst) + 1 >= c->seq; });
  // The report's counts, per chunk rather than per call: counters shared
  // with the worker cost the writer a cache-line transfer each (the peak
  // leaves out chunks still open).
  uint64_t pend = g_counters.wb_pending_bytes.fetch_add(c->used, std::memory_order_relaxed) + c->used;
  uint64_t peak = g_counters.wb_peak_pending_bytes.load(std::memory_order_relaxed);
  while (pend > peak && !g_counters.wb_peak_pending_bytes.compare_exchange_weak(peak, pend)) {
  }
  for (int i = 0; i < c->nseg; ++i) {
    int64_t r = write_all(c->segs[i], c->data + c->segs[i].start);
    if (r < 0) {
      if (r == -EFBIG && sys::take_pending(SIGXFSZ)) f.raise_sig.store(SIGXFSZ);
      if (r == -EPIPE && sys::take_pending(SIGPIPE)) f.raise_sig.store(SIGPIPE);
      record_error(f, *c, c->segs[i].fd, static_cast<int>(-r));
    }
  }
}

void chunk_fn(iowq::Work* wk) {
  tl.worker = true;
  write_chunk(static_cast<Chunk*>(wk->ctx), true);
  wk->result = 0;
}

// The chunk is written: give it back, count it done.
void release_chunk(Chunk* c) noexcept {
  WbFile& f = *c->file;
  g_counters.wb_pending_bytes.fetch_sub(c->used, std::memory_order_relaxed);
  g_counters.wb_writes.fetch_add(c->nwrites, std::memory_order_relaxed);
  g_counters.wb_bytes.fetch_add(c->used, std::memory_order_relaxed);
  w.reserved.fetch_sub(c->cap, std::memory_order_acq_rel);
  // Written (or failed): the next refresh's fstatfs counts what it took.
  c->space->released.fetch_add(c->resv, std::memory_order_seq_cst);
  w.free_list->push(static_cast<uint32_t>(c - w.chunks));
  f.done.fetch_add(1, std::memory_order_seq_cst);
  if (w.inflight.fetch_sub(1, std::memory_order_seq_cst) == 1) net_update(w.inflight);
  w.seq.fetch_add(1, std::memory_order_seq_cst);
  if (w.waiters.load(std::memory_order_seq_cst) > 0) futex_wake_all(&w.seq);
}

void chunk_done(iowq::Work* wk) {
  // Taken back before it started (take_back): that caller writes it.
  if (wk->result == -ECANCELED && !wk->handed_back()) return;
  // The pool could not start a worker: write it here, on the pool's thread
  // that hands the file's chunks back one at a time, in order.
  if (wk->handed_back()) chunk_fn(wk);
  release_chunk(static_cast<Chunk*>(wk->ctx));
}

// A call that must wait for the file's chunks, when the one pending was not
// started by a worker yet, takes it back from the pool and writes it itself:
// the call waits as long either way, without a hand-off to a worker and
// back (two wake-ups, each a scheduling delay on a busy machine: a write
// followed at once by futimens or close, as tar's and cp's).
bool take_back(WbFile& f, uint64_t target) noexcept {
  if (tl_held || !g.pool || f.done.load(std::memory_order_seq_cst) + 1 != target) return false;
  // A chunk a worker took already (it may still be letting it fill) cannot
  // be taken back: say so before the signal mask's two system calls and the
  // pool's two (a program that syncs after every write, as SQLite does,
  // mostly finds it taken). Chunks are never unmapped, so the hint is safe
  // to read; the lock and the pool decide below.
  if (Chunk* open = f.open.load(std::memory_order_seq_cst);
      !open || open->closed.load(std::memory_order_seq_cst) ||
      (open->work.state.load(std::memory_order_acquire) & iowq::Work::kRunning))
    return false;
  // Signals wait until the chunk is written: a handler that ended the process
  // in between would leave a chunk no one finishes, and the exit's drain
  // would wait for it forever. (The plain writes it stands for would have
  // held a handler off as long.)
  sys::SigMask mask;
  sys::block_all_signals(&mask, /*caller=*/true);  // SIGSYS stays open: the net
  lock(f);                                         // while held, f.open cannot be written out and reused
  Chunk* c = f.open.load(std::memory_order_seq_cst);
  bool taken = c && c->seq == target && f.done.load(std::memory_order_seq_cst) + 1 == target &&
               g.pool->cancel(&c->work) == iowq::CancelResult::Ok;
  unlock(f);
  if (taken) {
    write_chunk(c, false);
    release_chunk(c);
  }
  sys::restore_signals(mask);
  return taken;
}

// ---- errors, once per open file description -------------------------------------

// Do fds a and b share one open file description? Where kcmp is not
// available (ENOSYS, EPERM under a seccomp filter), every fd of the file
// counts as one description: the error is then reported once per file.
bool same_ofd(int a, int b) noexcept {
  if (a == b) return true;
  int64_t r = sys::kcmp_file(a, b);
  return r == 0 || (r < 0 && r != -EBADF);
}

// Another fd of this process on fd's open file description, none of them in
// [lo, hi] (about to be closed); -1 when fd is its last one. Reads
// /proc/self/fd (or, without /proc, tries fds 0..1023).
int other_fd_of_ofd(int fd, unsigned lo, unsigned hi) noexcept {
  struct stat st;
  if (sys::fstat(fd, &st) != 0) return -1;
  auto candidate = [&](int k) {
    struct stat o;
    if (k == fd || (static_cast<unsigned>(k) >= lo && static_cast<unsigned>(k) <= hi)) return false;
    return sys::fstat(k, &o) == 0 && o.st_dev == st.st_dev && o.st_ino == st.st_ino && same_ofd(fd, k);
  };
  int64_t d = sys::open_ro("/proc/self/fd", O_DIRECTORY);
  if (d < 0) {
    for (int k = 0; k < 1024; ++k)
      if (candidate(k)) return k;
    return -1;
  }
  int found = -1;
  alignas(8) char buf[2048];
  for (int64_t n; found < 0 && (n = sys::getdents64(static_cast<int>(d), buf, sizeof buf)) > 0;) {
    for (int64_t p = 0; p < n && found < 0;) {
      auto* de = reinterpret_cast<struct dirent64*>(buf + p);
      p += de->d_reclen;
      if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
      int k = atoi(de->d_name);
      if (k != d && candidate(k)) found = k;
    }
  }
  sys::close(static_cast<int>(d));
  return found;
}

// Under f's lock: was fd's open file description told of generation `gen`?
bool ofd_told(WbFile& f, int fd, uint32_t gen) noexcept {
  for (auto& t : f.told)
    if (t.fd1 == fd + 1 && t.gen == gen) return true;
  for (auto& t : f.told)
    if (t.fd1 > 0 && t.gen == gen && same_ofd(fd, t.fd1 - 1)) return true;
  return false;
}

// Under f's lock: fd's open file description was told of generation `gen`.
void note_told(WbFile& f, int fd, uint32_t gen) noexcept {
  WbFile::Told* slot = &f.told[0];  // all taken: the oldest goes
  for (auto& t : f.told)
    if (t.fd1 == 0 || t.gen != gen) {
      slot = &t;
      break;
    }
  *slot = WbFile::Told{fd + 1, gen};
}

// Under f's lock: the file's deferred error for the open file description
// of `fd`, once (0 when none, or when this description was told already);
// the first time any description is told, the error's signal is raised.
// `errseq`: a call of the fsync family, which tells every description, as
// the kernel's do; any other call (write, read, close...) tells only the
// description whose write failed — as plain, where only that write failed,
// and another description's writes and reads go on.
int take_error(WbFile& f, int fd, bool errseq) noexcept {
  uint64_t v = f.err.load(std::memory_order_seq_cst);
  int e = err_no(v);
  if (!e || (!errseq && (err_owner(v) < 0 || !same_ofd(fd, err_owner(v)))) || ofd_told(f, fd, err_gen(v)))
    return 0;
  note_told(f, fd, err_gen(v));
  if (!err_told(v)) {
    // Chunks queued until now fail in the same episode: counted, not a new error.
    f.quiet_until.store(f.enq.load(std::memory_order_seq_cst), std::memory_order_seq_cst);
    f.err.fetch_or(kTold, std::memory_order_seq_cst);
    int s = f.raise_sig.exchange(0);
    if (s) sys::tgkill(g.pid, sys::gettid(), s);
  }
  return e;
}

// Under f's lock: the entry goes to another file; its error is forgotten.
void clear_error(WbFile& f) noexcept {
  if (err_no(f.err.exchange(0, std::memory_order_seq_cst))) w.errors.fetch_sub(1);
  for (auto& t : f.told) t = WbFile::Told{};
}

// ---- copying the caller's buffer ------------------------------------------------
//
// The plain write of a bad buffer (unmapped, PROT_NONE) fails with EFAULT; a
// memcpy of it would crash the program. A range not yet known good is copied
// by the kernel (process_vm_readv of our own pid checks every page as the
// write would); once it copied fine, the range is remembered per thread and
// later copies are memcpy. munmap/mprotect/mremap forget every range.
struct Range {
  uintptr_t lo = 0, hi = 0;
  uint32_t gen = 0;
};
thread_local Range tl_ok[4] __attribute__((tls_model("initial-exec")));
thread_local unsigned tl_ok_next __attribute__((tls_model("initial-exec"))) = 0;
std::atomic<uint32_t> g_mem_gen{1};

// safe_copy() of a range not known good: the kernel copies it.
__attribute__((noinline)) bool copy_checked(void* dst, const void* src, size_t n, uint32_t gen) noexcept {
  const uintptr_t a = reinterpret_cast<uintptr_t>(src);
  int64_t r = sys::vm_read(g.pid, dst, src, n);
  if (r != static_cast<int64_t>(n)) return false;
  uintptr_t lo = a & ~uintptr_t{4095}, hi = (a + n + 4095) & ~uintptr_t{4095};
  tl_ok[tl_ok_next++ & 3] = Range{lo, hi, gen};
  return true;
}

// Copies n bytes from src to dst. False: the plain call would fail (EFAULT)
// or the kernel copy is unavailable — the caller goes the plain way.
inline bool safe_copy(void* dst, const void* src, size_t n) noexcept {
  if (n == 0) return true;
  const uintptr_t a = reinterpret_cast<uintptr_t>(src);
  if (a + n < a) return false;
  const uint32_t gen = g_mem_gen.load(std::memory_order_acquire);
  for (const Range& r : tl_ok)
    if (r.gen == gen && a >= r.lo && a + n <= r.hi) {
      memcpy(dst, src, n);
      return true;
    }
  return copy_checked(dst, src, n, gen);
}

// The caller's data as a vector (iov copied to `v`, at most kMaxIov).
struct Src {
  struct iovec v[kMaxIov];
  int n = 0;
  size_t total = 0;
};

// A vector op's iovecs, read checked (a plain buffer needs no Src).
template <class O>
inline bool load_src(const O& op, Src* s) noexcept {
  if (op.iovcnt <= 0 || op.iovcnt > kMaxIov) return false;
  if (!safe_copy(s->v, op.iov, sizeof(struct iovec) * static_cast<size_t>(op.iovcnt))) return false;
  s->n = op.iovcnt;
  size_t t = 0;
  for (int i = 0; i < s->n; ++i) {
    if (s->v[i].iov_len > SSIZE_MAX - t) return false;  // EINVAL, the plain way
    t += s->v[i].iov_len;
  }
  s->total = t;
  return true;
}

inline bool copy_in(const Src& s, char* dst) noexcept {
  for (int i = 0; i < s.n; ++i) {
    if (!safe_copy(dst, s.v[i].iov_base, s.v[i].iov_len)) return false;
    dst += s.v[i].iov_len;
  }
  return true;
}

// Undoes what this thread holds inside wb_try (a signal handler interrupted
// it and is ending the process): the interrupted write never returned.
void release_interrupted() noexcept {
  if (tl_held) {
    if (tl_held->lock.load() == my_tid()) tl_held->lock.store(0, std::memory_order_release);
    tl_held = nullptr;
  }
}

// After a switch checked under the file locks (closed, shared_off) was set:
// every append that missed it has finished once each lock was seen free.
void wait_all_locks_free() noexcept {
  for (auto& f : w.files) wait_lock_free(f);
}

void print_unreported_errors() noexcept {
  if (w.errors.load() == 0) return;
  for (size_t i = 0; i < kFiles; ++i) {
    uint64_t v = w.files[i].err.load();
    int e = err_no(v);
    if (!e || err_told(v)) continue;  // told to one open file description: reported
    w.files[i].err.fetch_or(kTold);
    log_line(LogLevel::Error,
             "iowq: error: a deferred write to %s failed: %s (the program had exited or "
             "not asked since)",
             g_err_path[i][0] ? g_err_path[i] : "a file", strerror(e));
  }
}

void close_and_drain() noexcept {
  w.closed.store(true, std::memory_order_seq_cst);
  release_interrupted();
  wait_all_locks_free();  // appends that missed `closed` finish first
  wb_sync_all();
}

}  // namespace

// ============================================================================

void wb_init() noexcept {
  if (!g.cfg.write_behind) return;
  // Never half exact: without the net, no write goes behind.
  if (!net_init()) {
    log_line(LogLevel::Warn,
             "iowq: write-behind off: syscall user dispatch is unavailable (%s); writes run as without it",
             strerror(errno));
    g.cfg.write_behind = false;
    return;
  }
  uint64_t max = g.cfg.wb_max_bytes;
  size_t cs = 256 * 1024;
  while (cs > 4096 && max / cs < 4) cs /= 2;
  uint64_t n = max / cs;
  if (n < 1) n = 1;
  if (n > 16384) n = 16384;
  // A far filesystem's chunk holds up to 1 MiB (the most one FUSE or NFS
  // write request carries), at most a quarter of the budget. Each chunk gets
  // room for that much (address space only: touched as used); the budget,
  // not the number of chunks, bounds what is pending.
  w.budget = n * cs;
  size_t fs = cs;
  while (fs < 1024 * 1024 && fs * 2 <= w.budget / 4) fs *= 2;
  void* a = mmap(nullptr, n * fs, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (a == MAP_FAILED && fs > cs) {
    fs = cs;
    a = mmap(nullptr, n * fs, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  }
  void* c = mmap(nullptr, n * sizeof(Chunk), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (a == MAP_FAILED || c == MAP_FAILED) {
    log_line(LogLevel::Warn, "iowq: write-behind disabled: cannot reserve %llu bytes",
             static_cast<unsigned long long>(max));
    return;
  }
  w.arena = static_cast<char*>(a);
  w.chunks = static_cast<Chunk*>(c);
  w.chunk_size = cs;
  w.far_size = fs;
  w.nchunks = static_cast<uint32_t>(n);
  w.free_list = new boost::lockfree::stack<uint32_t, boost::lockfree::fixed_sized<true>>(w.nchunks);
  for (uint32_t i = 0; i < w.nchunks; ++i) {
    new (&w.chunks[i]) Chunk();
    w.chunks[i].data = w.arena + static_cast<size_t>(i) * fs;
    w.free_list->push(w.nchunks - 1 - i);
  }
  wb_limits_changed();
  w.on = true;
  net_ready();
}

namespace {
// write(fd, buf, len) as wb_take() reads an Op: what a plain write does not
// have is a compile-time constant, so its checks fold away and no Op (152
// bytes, zeroed) is built for the common case (route_write, below).
struct PlainWrite {
  int fd;
  const void* buf;
  size_t len;
  static constexpr OpKind kind = OpKind::Write;
  static constexpr int flags = 0;
  static constexpr off_t off = -1;
  static constexpr const struct iovec* iov = nullptr;
  static constexpr int iovcnt = 0;
  static constexpr bool positioned() noexcept { return false; }
};
}  // namespace

// The last file this thread wrote behind: its chunk size and entry, both
// functions of (dev, ino) alone once learnt (a device's bits and the chunk
// sizes never change after wb_init): ~28 instructions a write less for a
// writer that keeps to one file (dd bs=64: 352 -> 324 a record, callgrind).
// A signal handler on this thread may write too, between any two of these
// stores and loads: `gen` changes with every update, so a reader that saw it
// change, or an update that saw another one run inside it, counts as a miss.
namespace {
struct LastFile {
  uint32_t gen = 0;
  bool valid = false;
  uint64_t dev = 0, ino = 0;
  size_t cap = 0;
  WbFile* f = nullptr;
};
thread_local LastFile tl_last_file __attribute__((tls_model("initial-exec")));

inline bool last_file(uint64_t dev, uint64_t ino, size_t* cap, WbFile** f) noexcept {
  LastFile& l = tl_last_file;
  const uint32_t gen = l.gen;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  const bool hit = l.valid && l.dev == dev && l.ino == ino;
  *cap = l.cap;
  *f = l.f;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  return hit && l.gen == gen;
}

void remember_file(uint64_t dev, uint64_t ino, size_t cap, WbFile* f) noexcept {
  LastFile& l = tl_last_file;
  const uint32_t gen = ++l.gen;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  l.valid = false;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  l.dev = dev;
  l.ino = ino;
  l.cap = cap;
  l.f = f;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (l.gen == gen) l.valid = true;  // else a handler's update ran inside this one: left invalid
}
}  // namespace

// wb_try's body, for an Op or a PlainWrite.
template <class O>
__attribute__((always_inline)) static inline int64_t wb_take(const O& op, const FdInfo& fi) noexcept {
  if (!on() || tl_held || fi.kind != FdKind::File || fi.sync_io() || !fi.writable()) return kNotTaken;
  if (op.kind == OpKind::Pwritev && op.flags != 0) return kNotTaken;  // RWF_SYNC & co: as asked
  // Under RLIMIT_FSIZE a write's partial count and SIGXFSZ must come at once.
  if (w.fsize_limited.load(std::memory_order_relaxed) || w.shared_off.load(std::memory_order_relaxed))
    return kNotTaken;
  const bool positioned = op.positioned();
  if (positioned && op.off < 0) return kNotTaken;  // EINVAL, the plain way
  if (opted_out(fi.dev, fi.ino) || is_stderr_file(fi)) return kNotTaken;
  // The file's chunk size and entry, as this thread last found them (a
  // writer that keeps to one file skips the device lookup and the hash).
  size_t cap;
  WbFile* fp;
  if (!last_file(fi.dev, fi.ino, &cap, &fp)) {
    cap = dev_chunk_size(op.fd, fi.dev);
    if (cap == 0) return kNotTaken;
    fp = &entry_of(fi.dev, fi.ino);
    remember_file(fi.dev, fi.ino, cap, fp);
  }
  // A plain buffer is copied as it is; a vector is read (checked) first.
  Src src;
  if (op.iov && !load_src(op, &src)) return kNotTaken;
  const size_t n = op.iov ? src.total : op.len;
  // Inlined: the 64 B write's copy is a handful of instructions around memcpy.
  auto copy_to = [&](char* dst) __attribute__((always_inline)) {
    return op.iov ? copy_in(src, dst) : safe_copy(dst, op.buf, n);
  };
  if (n == 0 || n > cap) return kNotTaken;
  WbFile& f = *fp;
  int64_t off = positioned ? op.off : -1;
  static std::atomic<bool> s_armed{false};
  bool armed = s_armed.load(std::memory_order_relaxed);
  // Room on the filesystem (see "Room" above): set when a charge was taken.
  Space* space = nullptr;
  bool half = false;
  for (int room_tries = 0;;) {
    if (armed) s_armed.store(true, std::memory_order_relaxed);
    lock(f);
    // Exit/exec under way, or shared memory: run it now (checked under the
    // lock: see wait_all_locks_free).
    if (w.closed.load(std::memory_order_seq_cst) || w.shared_off.load(std::memory_order_seq_cst)) {
      unlock(f);
      return kNotTaken;
    }
    if (!f.used || f.dev != fi.dev || f.ino != fi.ino) {
      // Direct-mapped: take the entry over only when its file has nothing
      // queued and nothing to report; else this write goes the plain way.
      uint64_t v = f.err.load();
      if (f.used && (f.done.load() != f.enq.load() || (err_no(v) && !err_told(v)))) {
        unlock(f);
        return kNotTaken;
      }
      clear_error(f);
      f.used = true;
      f.dev = fi.dev;
      f.ino = fi.ino;
    }
    if (int e = err_no(f.err.load(std::memory_order_relaxed)) ? take_error(f, op.fd, false) : 0) {
      // A write is a call that can report the file's deferred error: this
      // one fails with it (and writes nothing) when its open file
      // description was not told yet; later writes run again.
      unlock(f);
      return -e;
    }
    bool taken = false;
    if (Chunk* c = f.open.load(std::memory_order_seq_cst)) {
      if (f.open.load(std::memory_order_seq_cst) == c && !c->closed.load(std::memory_order_seq_cst)) {
        Seg& last = c->segs[c->nseg - 1];
        bool merge = last.fd == op.fd &&
                     ((off < 0 && last.off < 0) || (off >= 0 && last.off >= 0 && last.off + last.len == off));
        if (c->used + n <= c->cap && (merge || c->nseg < kMaxSegs)) {
          const uint32_t need = static_cast<uint32_t>(n) + (merge ? 0 : c->slack);
          if (__builtin_expect(c->used + need > c->lim, 0)) {
            // The chunk's charge is used up: charge more, or find room first.
            space = c->space;
            if (!chunk_grow(*c, need)) {
              unlock(f);
              if (room_again(*space, op.fd, need, room_tries)) continue;
              return kNotTaken;
            }
          }
          if (!copy_to(c->data + c->used)) {
            unlock(f);
            return kNotTaken;  // EFAULT, the plain way
          }
          if (merge) {
            last.len += static_cast<uint32_t>(n);
          } else {
            c->segs[c->nseg++] = Seg{op.fd, off, c->used, static_cast<uint32_t>(n)};
            c->lim -= c->slack;
          }
          // Half full: a worker letting it fill takes it now (after unlock).
          half = c->used < c->cap / 2 && c->used + n >= c->cap / 2;
          c->used += static_cast<uint32_t>(n);
          c->nwrites++;
          taken = true;
        }
      }
    }
    if (!taken) {
      if (!armed) {
        // Signals first (a handful of sigaction calls, once): not under the lock.
        unlock(f);
        wb_arm_fatal_signals();
        armed = true;
        continue;
      }
      uint32_t idx;
      if (queued(f) >= kFileChunks) {
        unlock(f);
        wait_until([&f] { return queued(f) < kFileChunks; });
        continue;
      }
      if (!reserve(cap)) {
        // Backpressure: wait for chunks to be written out.
        unlock(f);
        wait_until([cap] { return w.reserved.load(std::memory_order_relaxed) + cap <= w.budget; });
        continue;
      }
      if (!w.free_list->pop(idx)) {  // not while the budget has room; to be safe
        w.reserved.fetch_sub(cap, std::memory_order_acq_rel);
        unlock(f);
        wait_until([] { return !w.free_list->empty(); });
        continue;
      }
      // A new chunk: charge its first write and some headroom.
      if (!space) space = space_of(fi.dev, true);
      const int64_t cost = space ? seg_cost(*space, n) : 0;
      int64_t resv = space ? cost + space_headroom(*space, cap) : 0;
      if (!space || !(space_charge(*space, resv) || space_charge(*space, resv = cost))) {
        w.reserved.fetch_sub(cap, std::memory_order_acq_rel);
        w.free_list->push(idx);
        unlock(f);
        if (space && room_again(*space, op.fd, cost, room_tries)) continue;
        return kNotTaken;  // (no entry: more filesystems than entries)
      }
      Chunk* c = &w.chunks[idx];
      c->file = &f;
      c->space = space;
      c->resv = resv;
      c->slack = static_cast<uint32_t>(cost) - static_cast<uint32_t>(n);
      c->lim = static_cast<uint32_t>(resv) - c->slack;
      c->cap = static_cast<uint32_t>(cap);
      c->used = static_cast<uint32_t>(n);
      c->nwrites = 1;
      c->nseg = 1;
      c->segs[0] = Seg{op.fd, off, 0, static_cast<uint32_t>(n)};
      c->closed.store(0, std::memory_order_relaxed);
      if (!copy_to(c->data)) {
        space->charged.fetch_sub(resv, std::memory_order_seq_cst);
        w.reserved.fetch_sub(cap, std::memory_order_acq_rel);
        w.free_list->push(idx);
        unlock(f);
        return kNotTaken;  // EFAULT, the plain way
      }
      iowq::Work& wk = c->work;
      wk.rearm();
      wk.fn = chunk_fn;
      wk.done = chunk_done;
      wk.ctx = c;
      wk.cls = iowq::Class::Bound;
      wk.hashed = true;
      wk.key = fi.key();
      wk.deadline_ns = 0;
      size_t ix = static_cast<size_t>(&f - w.files);
      c->seq = f.enq.load(std::memory_order_relaxed) + 1;  // enq changes only under the lock
      f.open.store(c, std::memory_order_seq_cst);
      if (!ensure_pool() || g.pool->submit(&wk) != 0) {
        f.open.store(nullptr);
        space->charged.fetch_sub(resv, std::memory_order_seq_cst);
        w.reserved.fetch_sub(cap, std::memory_order_acq_rel);
        w.free_list->push(idx);
        unlock(f);
        wb_wait_file(fi);
        return kNotTaken;
      }
      // Counted once submitted: a thread taken out of here by a signal
      // handler that ends the process never leaves a count that no chunk
      // will finish (the chunk may finish first: waits compare done >= enq).
      f.enq.store(c->seq, std::memory_order_seq_cst);
      // Marked active after the count (pair 4): a sync that finds the file
      // quiet and clears its bit meanwhile either sees this chunk on its
      // recheck or has its clear undone here.
      w.active[ix / 64].fetch_or(uint64_t{1} << (ix % 64), std::memory_order_seq_cst);
      // The first chunk in flight arms the net (before the write returns).
      if (w.inflight.fetch_add(1, std::memory_order_seq_cst) == 0) net_update(w.inflight);
    }
    unlock(f);
    break;
  }
  if (__builtin_expect(half, 0)) wb_hurry();
  // Half the room the last refresh found is charged: read it again.
  if (__builtin_expect(space != nullptr, 0) &&
      space->charged.load(std::memory_order_relaxed) >= space->refresh_at.load(std::memory_order_relaxed))
    space_refresh(*space, op.fd);
  return static_cast<int64_t>(n);
}

int64_t wb_try(const Op& op, const FdInfo& fi) noexcept { return wb_take(op, fi); }

// route.hpp: what route(op) does for the write `op`, in the same order, with
// the common case (taken behind) first, in this one call (no call into
// route.cpp, the FdInfo in registers), and no Op built for it.
int64_t route_write(int fd, const void* buf, size_t n, Sym sym, ssize_t (*plain)(const Op&)) {
  testcancel();
  int* const err = &errno;
  const int saved_errno = *err;
  const FdInfo fi = fd_info(fd);
  const bool wb = fi.kind == FdKind::File && g.cfg.write_behind;  // wb_write() of a Write
  int64_t r = kNotTaken;
  if (wb) {
    r = wb_take(PlainWrite{fd, buf, n}, fi);
    if (__builtin_expect(r >= 0, 1)) {
      count(sym, Ran::Pool);
      *err = saved_errno;
      return r;
    }
  }
  return route_write_rest(fd, buf, n, sym, plain, fi, wb, r, saved_errno);
}

void WbSpaceUse::begin(const FdInfo& fi, const Op* op, int64_t n) noexcept {
  if (!on() || fi.kind != FdKind::File) return;
  Space* s = space_of(fi.dev, false);
  if (!s) return;  // nothing was ever taken behind there: the first refresh sees this write
  if (op) {        // a write: its length (a vector that cannot be read: as long as anything)
    Src src;
    n = !op->iov              ? static_cast<int64_t>(op->len)
        : load_src(*op, &src) ? static_cast<int64_t>(src.total)
                              : kUnlimited;
  }
  const int64_t cost = std::min(n, kUnlimited) + 2 * s->bsize.load(std::memory_order_relaxed);
  // When it may not fit with what is pending there, that lands first: the
  // plain call then meets the disk as it would in program order.
  if (space_outstanding(*s) &&
      s->charged.load(std::memory_order_seq_cst) + cost > s->base.load(std::memory_order_seq_cst))
    space_settle(*s);
  s->charged.fetch_add(cost, std::memory_order_seq_cst);
  space = s;
  charge = cost;
}

void WbSpaceUse::end() noexcept {
  static_cast<Space*>(space)->released.fetch_add(charge, std::memory_order_seq_cst);
  space = nullptr;
}

// The entry of `fi` when it is this file's; nullptr otherwise.
static WbFile* mine(const FdInfo& fi) noexcept {
  WbFile& f = entry_of(fi.dev, fi.ino);
  if (tl_held) return nullptr;  // nested inside this thread's own append
  lock(f);
  bool m = f.used && f.dev == fi.dev && f.ino == fi.ino;
  unlock(f);
  return m ? &f : nullptr;
}

void wb_wait_file(const FdInfo& fi) noexcept {
  if (!on() || (w.inflight.load() == 0)) return;
  if (WbFile* f = mine(fi)) wait_entry(*f);
}

int wb_sync_file(int fd, const FdInfo& fi, bool errseq) noexcept {
  if (!on() || (w.inflight.load() == 0 && w.errors.load() == 0)) return 0;
  WbFile* f = mine(fi);
  if (!f) return 0;
  wait_entry(*f);
  if (!err_no(f->err.load())) return 0;
  lock(*f);
  int e = (f->dev == fi.dev && f->ino == fi.ino) ? take_error(*f, fd, errseq) : 0;
  unlock(*f);
  return -e;
}

int wb_sync_fd(int fd) noexcept {
  if (!on() || (w.inflight.load() == 0 && w.errors.load() == 0)) return 0;
  FdInfo fi = fd_info(fd);
  if (fi.kind != FdKind::File) return 0;
  return wb_sync_file(fd, fi, false);
}

// fds [lo, hi] are about to be closed (or replaced by dup2/dup3): a "told"
// mark held by one of those numbers moves to another fd of its open file
// description, or goes with it when there is none.
void wb_fds_closing(unsigned lo, unsigned hi) noexcept {
  if (!w.on || w.errors.load() == 0 || tl_held) return;
  for (auto& f : w.files) {
    uint64_t v = f.err.load(std::memory_order_seq_cst);
    if (!err_no(v)) continue;
    if (int o = err_owner(v); o >= 0 && static_cast<unsigned>(o) >= lo && static_cast<unsigned>(o) <= hi) {
      int other = other_fd_of_ofd(o, lo, hi);
      while (err_owner(v) == o &&
             !f.err.compare_exchange_weak(v, with_owner(v, other), std::memory_order_seq_cst)) {
      }
    }
    for (int i = 0; i < static_cast<int>(sizeof f.told / sizeof f.told[0]); ++i) {
      lock(f);
      int fd = f.told[i].fd1 - 1;
      unlock(f);
      if (fd < 0 || static_cast<unsigned>(fd) < lo || static_cast<unsigned>(fd) > hi) continue;
      int other = other_fd_of_ofd(fd, lo, hi);
      lock(f);
      if (f.told[i].fd1 == fd + 1) f.told[i].fd1 = other + 1;
      unlock(f);
    }
  }
}

int wb_close_fd(int fd) noexcept {
  if (!w.on || (w.inflight.load() == 0 && w.errors.load() == 0)) return 0;
  FdInfo fi = fd_info(fd);
  int e = 0;
  if (fi.kind == FdKind::File) {
    if (WbFile* f = mine(fi)) {
      wait_entry(*f);
      // The close of the description's last fd is its last chance to be
      // told; while a dup remains, the error waits for a call through it.
      uint64_t v = f->err.load();
      if (err_no(v) && err_owner(v) >= 0 && same_ofd(fd, err_owner(v)) &&
          other_fd_of_ofd(fd, static_cast<unsigned>(fd), static_cast<unsigned>(fd)) < 0) {
        lock(*f);
        if (f->dev == fi.dev && f->ino == fi.ino) e = take_error(*f, fd, false);
        unlock(*f);
      }
    }
  }
  if (fd >= 0) wb_fds_closing(static_cast<unsigned>(fd), static_cast<unsigned>(fd));
  return -e;
}

void wb_fd_opened(int fd) noexcept {
  if (!w.on || w.errors.load() == 0 || fd < 0) return;
  // A number closed where the shim did not see it may still hold a mark.
  wb_fds_closing(static_cast<unsigned>(fd), static_cast<unsigned>(fd));
  FdInfo fi = fd_info(fd);
  if (fi.kind != FdKind::File) return;
  WbFile* f = mine(fi);
  if (!f) return;
  // A new open file description is not told of an error some other one was
  // told of already (the kernel samples the errseq at open).
  lock(*f);
  uint64_t v = f->err.load();
  if (f->dev == fi.dev && f->ino == fi.ino && err_no(v) && err_told(v)) note_told(*f, fd, err_gen(v));
  unlock(*f);
}

void wb_wait_fd(int fd) noexcept {
  if (!on() || w.inflight.load() == 0) return;
  FdInfo fi = fd_info(fd);
  if (fi.kind == FdKind::File) wb_wait_file(fi);
}

void wb_sync_all() noexcept {
  if (!on() || tl_held || w.inflight.load(std::memory_order_seq_cst) == 0) return;
  for (size_t wi = 0; wi < kFiles / 64; ++wi) {
    uint64_t bits = w.active[wi].load(std::memory_order_seq_cst);
    while (bits) {
      int b = __builtin_ctzll(bits);
      bits &= bits - 1;
      WbFile& f = w.files[wi * 64 + static_cast<size_t>(b)];
      wait_entry(f);
      // Forget the file when it is quiet; re-mark it if a chunk came in.
      uint64_t m = uint64_t{1} << b;
      if (f.done.load(std::memory_order_seq_cst) == f.enq.load(std::memory_order_seq_cst)) {
        w.active[wi].fetch_and(~m, std::memory_order_seq_cst);
        if (f.done.load(std::memory_order_seq_cst) != f.enq.load(std::memory_order_seq_cst))
          w.active[wi].fetch_or(m, std::memory_order_seq_cst);
      }
    }
  }
}

void wb_before_talk(FdKind k) noexcept {
  if (k != FdKind::File && on() && w.inflight.load(std::memory_order_relaxed)) wb_sync_all();
}

void wb_exit() noexcept {
  if (!on()) return;
  if (sys::getpid() != g.pid) {  // a vfork child: the parent's data, the parent's job
    wb_sync_all();
    return;
  }
  close_and_drain();
  print_unreported_errors();
}

void wb_exec_begin() noexcept {
  if (!on()) return;
  if (sys::getpid() != g.pid) {
    wb_sync_all();
    return;
  }
  close_and_drain();
  // The new image cannot be told: an error no one was told of is said now
  // (and counts as told if the exec fails).
  print_unreported_errors();
}

void wb_exec_failed() noexcept {
  if (on() && sys::getpid() == g.pid) w.closed.store(false, std::memory_order_seq_cst);
}

void wb_limits_changed() noexcept {
  struct rlimit rl;
  if (sys::prlimit(0, RLIMIT_FSIZE, nullptr, &rl) == 0)
    w.fsize_limited.store(rl.rlim_cur != RLIM_INFINITY, std::memory_order_relaxed);
}

void wb_opt_out(int fd) noexcept {
  if (!on() || fd < 0) return;
  FdInfo fi = fd_info(fd);
  if (fi.kind != FdKind::File) return;
  wb_wait_file(fi);
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

// Off for good (shared memory, a SIGSYS the program blocks): new writes run
// as without write-behind, after the pending ones.
static bool off_for_good(std::atomic<uint64_t>& why) noexcept {
  if (!on()) return false;
  why.store(1, std::memory_order_relaxed);
  w.shared_off.store(true, std::memory_order_seq_cst);
  return true;
}

void wb_off_shared() noexcept {
  if (!on() || w.shared_off.load(std::memory_order_relaxed)) return;
  off_for_good(g_counters.wb_shared_off);
  // Appends that missed the switch finish; then everything lands.
  wait_all_locks_free();
  wb_sync_all();
}

bool wb_drained_for_good() noexcept {
  return on() && w.shared_off.load(std::memory_order_seq_cst) &&
         w.inflight.load(std::memory_order_seq_cst) == 0;
}

void wb_off_sigsys(bool drain) noexcept {
  if (!off_for_good(g_counters.wb_sigsys_off) || !drain) return;
  wait_all_locks_free();
  wb_sync_all();
}

void wb_memory_changed() noexcept { g_mem_gen.fetch_add(1, std::memory_order_release); }

bool wb_inflight() noexcept { return w.on && w.inflight.load(std::memory_order_seq_cst) != 0; }

void wb_hurry() noexcept {
  if (w.fillers.load(std::memory_order_seq_cst) == 0) return;
  w.fill_seq.fetch_add(1, std::memory_order_seq_cst);
  sys::futex_wake(&w.fill_seq, INT_MAX);
}

bool wb_in_append() noexcept { return tl_held != nullptr; }

bool wb_pending() noexcept {
  return on() && (w.inflight.load(std::memory_order_relaxed) || w.errors.load(std::memory_order_relaxed));
}

void wb_after_fork_child() noexcept {
  if (!on()) return;
  // The parent drained everything before fork (atfork prepare); only locks
  // and counters may be stale.
  // A deferred error belongs to the parent, which reports it.
  for (auto& f : w.files) {
    f.lock.store(0);
    f.open.store(nullptr);
    f.enq.store(0);
    f.done.store(0);
    f.err.store(0);
    for (auto& t : f.told) t = WbFile::Told{};
    f.raise_sig.store(0);
    f.quiet_until.store(0);
  }
  for (auto& a : w.active) a.store(0);
  // Nothing is outstanding here (plain writes of the parent's other threads
  // were cut short by the fork).
  for (auto& sp : g_space)
    if (sp.dev1.load()) sp.released.store(sp.charged.load());
  w.inflight.store(0);
  w.reserved.store(0);
  w.errors.store(0);
  w.waiters.store(0);
  w.fillers.store(0);  // a worker letting a chunk fill is the parent's
  tl_held = nullptr;
  tl_tid = 0;  // the forking thread's copy held the parent's tid
  wb_signals_after_fork();
  net_after_fork_child();
}

}  // namespace iowq::shim
