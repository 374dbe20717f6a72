// shim/process/exitwatch.cpp — the process ends exactly when and how it would
// without the shim (docs/design.md §4 "Process lifecycle").
//
// glibc's rule: it counts main and every thread pthread_create made
// (__nptl_nthreads); the thread whose end through glibc (its start routine
// returns, pthread_exit, cancellation) takes the count to 0 calls exit(0):
// atexit handlers, stdio flushed. A thread that leaves by the raw exit
// syscall (a thread in seccomp strict mode has no other way) is never
// uncounted: the count never reaches 0, exit() never runs, and the process
// ends when its last thread does, with the status main's own end gave it.
//
// The shim's threads change neither:
//  1. they are not in glibc's count (own_thread_created/end), so glibc itself
//     calls exit(0) in the program's last thread, when and where it would;
//  2. when the program's threads are all gone without that (one left raw),
//     a watcher thread ("iowq-exit") ends the process as the kernel would:
//     write-behind data first (nothing lost, DESIGN §5), then exit_group with
//     the exit code of the thread that ended last (0 from glibc's paths; a
//     raw exit's code only where the shim saw it: thread_ending).
// The watcher starts with the shim's first thread (or main's sandbox or
// pthread_exit) and waits without polling on the tid words the kernel clears
// when a thread ends (glibc sets CLONE_CHILD_CLEARTID for every thread, main
// included): main's, then those of the program threads made through the
// interposed pthread_create (a table). Before it ends the process it checks
// /proc/self/task; a thread it cannot wait for (thrd_create, raw clone, a
// full table) is looked for every 50 ms until it is gone.
// No syscall of the shim's runs in a program thread for this (it may be
// sandboxed): the table is written with plain atomics, and the watcher is
// started before main can sandbox itself (before_sandbox).
// Without glibc's private symbols (another libc, an audited process), the
// watcher starts only at main's pthread_exit and does what glibc's last
// thread would: exit(0) once /proc/self/task shows no program thread.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

#include <atomic>
#include <climits>
#include <cstdint>

#include "exitwatch.hpp"
#include "state.hpp"
#include "sys/libc.hpp"
#include "writebehind/writebehind.hpp"

namespace iowq::shim::process {

namespace {

// ---- glibc's private data, found once by the lock-free walk (no dlsym) ----

// 0: not looked up yet; 1: looked up (either may still be unknown).
std::atomic<int> g_looked{0};
// __nptl_nthreads (nptl/nptl_nthreads.c), nullptr when unknown.
std::atomic<unsigned*> g_nthreads{nullptr};
// Offset of struct pthread's `tid` (the word the kernel clears), 0 when unknown.
std::atomic<uint32_t> g_tid_off{0};

// A thread's tid word, nullptr when the offset is unknown.
const uint32_t* tid_word(pthread_t t) noexcept {
  const uint32_t off = g_tid_off.load(std::memory_order_relaxed);
  if (!off || !t) return nullptr;
  return reinterpret_cast<const uint32_t*>(reinterpret_cast<const char*>(t) + off);
}
const uint32_t* own_tid_word() noexcept { return tid_word(pthread_self()); }

// ---- the table of program threads the watcher can wait for ----------------

// Key: pid << 32 | tid (0: free). A fork child inherits its parent's entries:
// another pid's entry is free too. Only a hint: the watcher never ends the
// process before /proc/self/task agrees.
struct Slot {
  std::atomic<uint64_t> key{0};
  std::atomic<const uint32_t*> word{nullptr};
};
constexpr unsigned kSlots = 256;
constinit Slot g_slots[kSlots];
std::atomic<uint32_t> g_gen{0};  // bumped by every registration
constinit thread_local int tl_slot = -1;

uint64_t key_of(int pid, int tid) noexcept {
  return (static_cast<uint64_t>(static_cast<uint32_t>(pid)) << 32) | static_cast<uint32_t>(tid);
}
bool ours(uint64_t key) noexcept { return key && static_cast<int>(key >> 32) == g.pid; }

// ---- the watcher ------------------------------------------------------------

// The pid whose watcher runs (a fork child has none: no write in the child).
std::atomic<int> g_watching{0};

// Set (once) when glibc's count reached 0 on a thread of the shim's: the
// program's last thread ended through glibc while a thread of the shim's was
// being born (it saw that one counted, so did not call exit). The watcher
// calls exit(0) for it (exit_requested).
std::atomic<uint32_t> g_exit_word{0};

[[noreturn]] void exit_requested() noexcept { exit(0); }

// Waits while *word == tid (the thread lives), or until exit is requested.
// 1: it lived and has gone; 0: already gone (the word changed, or its memory
// is gone); -1: cannot wait (a seccomp filter denies futex: the caller polls).
int wait_gone(const uint32_t* word, int tid) noexcept {
  int lived = 0;
  for (;;) {
    if (g_exit_word.load(std::memory_order_acquire)) exit_requested();
    // Not private: the kernel's wake at a thread's end is a shared one.
    struct futex_waitv w[2] = {
        {static_cast<uint32_t>(tid), reinterpret_cast<uintptr_t>(word), FUTEX_32, 0},
        {0, reinterpret_cast<uintptr_t>(&g_exit_word), FUTEX_32 | FUTEX_PRIVATE_FLAG, 0},
    };
    static bool no_waitv = false;
    int64_t r = no_waitv
                    ? -ENOSYS
                    : sys::syscall6(SYS_futex_waitv, reinterpret_cast<long>(w), 2, 0, 0, CLOCK_MONOTONIC, 0);
    if (r == -ENOSYS) {  // before Linux 5.16: the tid word alone, exit requests seen within 50 ms
      no_waitv = true;
      struct timespec ts = {0, 50 * 1000 * 1000};
      r = sys::syscall6(SYS_futex, reinterpret_cast<long>(word), FUTEX_WAIT, tid, reinterpret_cast<long>(&ts),
                        0, 0);
      if (r == -ETIMEDOUT) r = 1;
    }
    if (r == 0) {
      // The kernel wakes one waiter when it clears the word: this one, maybe
      // instead of a pthread_join of the program's. Pass the wake on.
      sys::syscall6(SYS_futex, reinterpret_cast<long>(word), FUTEX_WAKE, INT32_MAX, 0, 0, 0);
      lived = 1;
      continue;
    }
    if (r > 0) continue;
    if (r == -EINTR) continue;
    if (r == -EAGAIN) {
      // One word differed: the exit word (never reset), or the tid word (no
      // load of it here: the memory of a thread gone may be unmapped).
      if (g_exit_word.load(std::memory_order_acquire)) continue;
      return lived;
    }
    if (r == -EFAULT) return lived;
    return -1;
  }
}

// True while a thread that is not the shim's lives (the shim's are named
// "iowq-*"; a zombie main does not count). Unsure: true.
bool program_thread_left(int self) noexcept {
  int64_t dfd = sys::open_ro("/proc/self/task", O_DIRECTORY);
  if (dfd < 0) return true;
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

// The exit code of the program thread that ended last: the process's status
// when its last thread ends without exit_group (the kernel's rule). Threads
// that end through glibc leave 0; a raw exit the shim saw, its code.
std::atomic<int> g_last_code{0};

[[noreturn]] void end_process() noexcept {
  if (!g_nthreads.load(std::memory_order_relaxed)) exit(0);  // glibc counts us: what its last thread does
  const int status = g_last_code.load(std::memory_order_acquire) & 0xff;
  {
    Nest nest;
    if (g.active.load(std::memory_order_relaxed)) wb_exit();
  }
  write_exit_report_now();
  sys::exit_group(status);
}

void sleep_ms(long ms) noexcept {
  struct timespec ts = {0, ms * 1000 * 1000};
  clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
}

void* exit_watch(void*) {
  const int self = sys::gettid();
  const uint32_t* main_word = tid_word(static_cast<pthread_t>(g.main_thread));
  if (!main_word || wait_gone(main_word, g.pid) < 0) {
    // Cannot wait for main: look every 50 ms (it may still live).
    while (program_thread_left(self)) sleep_ms(50);
    end_process();
  }
  for (;;) {
    const uint32_t gen = g_gen.load(std::memory_order_acquire);
    bool again = false;
    for (unsigned i = 0; i < kSlots && !again; ++i) {
      Slot& s = g_slots[i];
      uint64_t key = s.key.load(std::memory_order_acquire);
      if (!ours(key)) continue;
      const uint32_t* word = s.word.load(std::memory_order_acquire);
      if (!word) continue;  // being filled in: /proc below sees the thread
      int r = wait_gone(word, static_cast<int>(key & 0xffffffffu));
      if (r >= 0) {
        // Gone (or its memory now another thread's): free the slot unless
        // it was taken again meanwhile.
        if (s.word.load(std::memory_order_acquire) == word) s.key.compare_exchange_strong(key, 0);
        again = r > 0;  // time passed: look again from the start
      }
    }
    if (again || gen != g_gen.load(std::memory_order_acquire)) continue;
    if (!program_thread_left(self)) end_process();
    sleep_ms(50);  // a program thread the table does not hold (or cannot wait for)
  }
  return nullptr;
}

}  // namespace

void start_watcher() noexcept {
  int w = g_watching.load(std::memory_order_relaxed);
  if (w == g.pid || !g_watching.compare_exchange_strong(w, g.pid)) return;
  Nest nest;
  know_glibc();
  sys::ThreadSpec spec;
  spec.name = "iowq-exit";
  spec.stack_size = 64 * 1024;
  if (sys::start_thread(nullptr, exit_watch, nullptr, spec) != 0) g_watching.store(0);
}

bool watcher_can_wait() noexcept { return g_tid_off.load(std::memory_order_relaxed) != 0; }

void know_glibc() noexcept {
  if (g_looked.load(std::memory_order_acquire)) return;
  auto* n = static_cast<unsigned*>(real::next_object("__nptl_nthreads"));
  // nptl_db's descriptor of the field: {size in bits, count, offset}.
  const auto* d = static_cast<const uint32_t*>(real::next_object("_thread_db_pthread_tid"));
  uint32_t off = 0;
  if (d && d[0] == 32 && d[1] == 1 && d[2] >= sizeof(void*) && d[2] < 4096 && d[2] % 4 == 0) {
    const auto* w = reinterpret_cast<const int*>(reinterpret_cast<const char*>(pthread_self()) + d[2]);
    if (*w == sys::gettid()) off = d[2];  // checked on this thread
  }
  g_tid_off.store(off, std::memory_order_relaxed);
  g_nthreads.store(n, std::memory_order_relaxed);
  g_looked.store(1, std::memory_order_release);
}

unsigned own_thread_creating() noexcept {
  unsigned* n = g_nthreads.load(std::memory_order_relaxed);
  return n ? __atomic_load_n(n, __ATOMIC_ACQUIRE) : 0;
}

void own_thread_created(unsigned before) noexcept {
  unsigned* n = g_nthreads.load(std::memory_order_relaxed);
  if (!n || __atomic_sub_fetch(n, 1, __ATOMIC_ACQ_REL) != 0 || before == 0) return;
  // The program's last thread ended through glibc since `before` (it saw the
  // new one counted, so did not call exit): glibc's rule on its behalf, once.
  // Not here (the pool's manager, a caller inside the shim): on the watcher.
  if (g_exit_word.exchange(1, std::memory_order_acq_rel)) return;
  if (g_watching.load(std::memory_order_relaxed) != g.pid) exit_requested();
  sys::futex_wake(&g_exit_word, 1);
}

void own_thread_end() noexcept {
  unsigned* n = g_nthreads.load(std::memory_order_relaxed);
  if (!n) return;
  // Counted again for glibc's decrement that follows; not at 0 (exit() runs:
  // glibc's decrement then wraps instead of calling exit() a second time).
  for (unsigned v = __atomic_load_n(n, __ATOMIC_RELAXED);
       v != 0 && !__atomic_compare_exchange_n(n, &v, v + 1, true, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);) {
  }
}

void program_thread_begin() noexcept {
  const uint32_t* word = own_tid_word();
  const int tid = word ? static_cast<int>(__atomic_load_n(word, __ATOMIC_RELAXED)) : 0;
  if (tid <= 0) return;
  const uint64_t key = key_of(g.pid, tid);
  for (unsigned i = 0; i < kSlots; ++i) {
    const unsigned at = (static_cast<unsigned>(tid) + i) % kSlots;
    Slot& s = g_slots[at];
    uint64_t k = s.key.load(std::memory_order_relaxed);
    if (ours(k) && k != key) continue;
    s.word.store(nullptr, std::memory_order_relaxed);
    if (!s.key.compare_exchange_strong(k, key, std::memory_order_acq_rel)) continue;
    s.word.store(word, std::memory_order_release);
    g_gen.fetch_add(1, std::memory_order_release);
    tl_slot = static_cast<int>(at);
    return;
  }
}

void program_thread_end() noexcept {
  thread_ending(0);  // glibc's own exit syscall
  if (tl_slot < 0) return;
  Slot& s = g_slots[tl_slot];
  tl_slot = -1;
  const uint32_t* word = own_tid_word();
  uint64_t key = key_of(g.pid, word ? static_cast<int>(__atomic_load_n(word, __ATOMIC_RELAXED)) : 0);
  s.key.compare_exchange_strong(key, 0, std::memory_order_acq_rel);
}

void thread_ending(int code) noexcept {
  if (g_last_code.load(std::memory_order_relaxed) != code) g_last_code.store(code, std::memory_order_release);
}

void main_pthread_exit() noexcept {
  know_glibc();
  // main is glibc's last counted thread: glibc calls exit(0) itself.
  if (unsigned* n = g_nthreads.load(std::memory_order_relaxed);
      n && __atomic_load_n(n, __ATOMIC_ACQUIRE) == 1)
    return;
  start_watcher();
}

void before_sandbox() noexcept {
  if (!g.active.load(std::memory_order_relaxed) || tl.depth || tl.sandboxed || g_watching.load() == g.pid ||
      sys::gettid() != g.pid)
    return;
  know_glibc();
  if (watcher_can_wait()) start_watcher();  // else it would poll while main lives
}

}  // namespace iowq::shim::process
