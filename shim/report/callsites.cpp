// shim/report/callsites.cpp — call stacks that blocked, counted in a fixed
// lock-free table; symbolized only at exit. See callsites.hpp.
//
// Why libunwind is dlopen()ed and not linked: Debian's libunwind.a is not PIC,
// so it cannot go into libiowq.so, and linking libunwind.so.8 as a dependency of
// a preloaded library puts its exported `backtrace` and `_Unwind_RaiseException`
// & co. into the program's global scope, ahead of libgcc_s for C programs that
// load it later and ahead of glibc's `backtrace` for programs that do not link
// it. RTLD_LOCAL keeps all of them private to us.
#include "callsites.hpp"
#include "sys/libc.hpp"
#include "options/options.hpp"

#define UNW_LOCAL_ONLY
#include <cxxabi.h>
#include <dlfcn.h>
#include <libunwind.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace iowq::shim {

// The shim's logger (lifecycle.cpp), so these warnings obey IOWQ_LOG and
// IOWQ_LOG_FILE like every other diagnostic. Weak: the report tests link this
// file into a library of their own, without the logger.
void log_line(LogLevel level, const char* fmt, ...) noexcept __attribute__((weak, format(printf, 2, 3)));

namespace {

// ---- State -------------------------------------------------------------------

constexpr unsigned kSkipMax = 16;    // frames of ours (and libunwind's) we may have to drop
constexpr unsigned kMaxProbes = 64;  // open-addressing probe bound; past it the table is "full"
constexpr int kMaxRanges = 16;

struct Range {
  uintptr_t lo, hi;
};

// One call stack. `key` is claimed with a CAS (0 = free); pcs/depth are
// written by the claimer and published by `ready` (release).
struct Entry {
  std::atomic<uint64_t> key;
  std::atomic<uint32_t> ready;
  uint32_t depth;
  std::atomic<uint64_t> count, blocked_ns;
};

using BacktraceFn = int (*)(void**, int);

struct State {
  BacktraceFn backtrace = nullptr;
  unsigned depth = 0;
  Entry* entries = nullptr;  // kCallsiteEntries
  uintptr_t* pcs = nullptr;  // kCallsiteEntries * depth
  size_t map_bytes = 0;
  Range skip[kMaxRanges] = {};  // leading frames inside these are dropped
  int nskip = 0;
  unsigned skip_extra = 0;             // then this many more (our own frame, when linked into the executable)
  std::atomic<unsigned> skip_hint{4};  // most frames dropped so far, learned (grows only)
  std::atomic<uint64_t> other_count{0}, other_ns{0};
};

State g;
std::atomic<bool> g_enabled{false};

void warn(const char* msg) noexcept {
  if (log_line) {
    log_line(LogLevel::Warn, "%.*s", static_cast<int>(strcspn(msg, "\n")), msg);
    return;
  }
  // Raw syscall: the shim interposes write().
  sys::write(2, msg, strlen(msg));
}

// ---- Address ranges to skip ------------------------------------------------

struct FindObject {
  uintptr_t addr;
  Range* out;
  int* n;
  bool found = false;
  bool is_main = false;
  int index = 0;
};

// dl_iterate_phdr callback: when this object maps `addr`, add its executable
// segments to the skip ranges.
int find_object_cb(struct dl_phdr_info* info, size_t, void* data) {
  auto* f = static_cast<FindObject*>(data);
  const int index = f->index++;
  bool hit = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    if (f->addr >= lo && f->addr < lo + ph.p_memsz) hit = true;
  }
  if (!hit) return 0;
  f->found = true;
  f->is_main = index == 0;  // the executable always comes first
  for (int i = 0; i < info->dlpi_phnum && *f->n < kMaxRanges; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    f->out[(*f->n)++] = Range{lo, lo + ph.p_memsz};
  }
  return 1;
}

// Adds the executable segments of the object holding `addr`; returns whether
// that object is the main program.
bool add_object_ranges(const void* addr, bool add_if_main) {
  Range tmp[kMaxRanges];
  int n = 0;
  FindObject f{reinterpret_cast<uintptr_t>(addr), tmp, &n};
  dl_iterate_phdr(find_object_cb, &f);
  if (!f.found) return false;
  if (f.is_main && !add_if_main) return true;
  for (int i = 0; i < n && g.nskip < kMaxRanges; ++i) g.skip[g.nskip++] = tmp[i];
  return f.is_main;
}

inline bool in_skip(uintptr_t pc) noexcept {
  for (int i = 0; i < g.nskip; ++i)
    if (pc >= g.skip[i].lo && pc < g.skip[i].hi) return true;
  return false;
}

// How many leading frames of buf[0..n) are libunwind's and ours.
inline int skipped_frames(void* const* buf, int n) noexcept {
  int i = 0;
  while (i < n && in_skip(reinterpret_cast<uintptr_t>(buf[i]))) ++i;
  return std::min(n, i + static_cast<int>(g.skip_extra));
}

// ---- Table -----------------------------------------------------------------

inline uint64_t hash_pcs(const uintptr_t* pcs, unsigned d) noexcept {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ d;
  for (unsigned i = 0; i < d; ++i) {
    h ^= pcs[i];
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  h ^= h >> 29;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 32;
  return h ? h : 1;  // 0 marks a free slot
}

// The entry for this stack, claiming a free one if needed; nullptr when the
// table is full, or when the matching entry is still being published after a
// short spin (by the code this signal handler interrupted, which we must not
// wait for, or by a preempted thread).
Entry* find_or_claim(uint64_t h, const uintptr_t* pcs, unsigned d) noexcept {
  const unsigned mask = kCallsiteEntries - 1;
  for (unsigned probe = 0; probe < kMaxProbes; ++probe) {
    const unsigned slot = static_cast<unsigned>(h + probe) & mask;
    Entry& e = g.entries[slot];
    uintptr_t* slot_pcs = g.pcs + static_cast<size_t>(slot) * g.depth;
    uint64_t k = e.key.load(std::memory_order_acquire);
    if (k == 0) {
      if (e.key.compare_exchange_strong(k, h, std::memory_order_acq_rel)) {
        for (unsigned i = 0; i < d; ++i) slot_pcs[i] = pcs[i];
        e.depth = d;
        e.ready.store(1, std::memory_order_release);
        return &e;
      }
      // Lost the race: k is the winner's key, examine it below.
    }
    if (k != h) continue;
    // Publishing is a copy of a few pcs: another thread's ends within a short
    // spin. A publisher that does not finish is the code this signal handler
    // interrupted (or was preempted): never wait for it.
    for (int spin = 0; e.ready.load(std::memory_order_acquire) == 0; ++spin) {
      if (spin == 4096) return nullptr;
      sys::cpu_relax();
    }
    if (e.depth == d && std::equal(pcs, pcs + d, slot_pcs)) return &e;
  }
  return nullptr;
}

// ---- Symbolization (exit only) --------------------------------------------

std::string hex(uintptr_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(v));
  return buf;
}

std::string symbolize(uintptr_t pc) {
  Dl_info info{};
  // A return address points past its call; look up the call instruction so a
  // call ending a function is not attributed to the next one.
  if (pc == 0 || dladdr(reinterpret_cast<void*>(pc - 1), &info) == 0 || info.dli_fname == nullptr)
    return hex(pc);
  const char* lib = strrchr(info.dli_fname, '/');
  lib = lib ? lib + 1 : info.dli_fname;
  if (*lib == '\0') lib = "?";
  std::string out;
  if (info.dli_sname != nullptr && info.dli_saddr != nullptr) {
    int status = -1;
    char* dem = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
    out = status == 0 && dem ? dem : info.dli_sname;
    free(dem);
    out += "+" + hex(pc - reinterpret_cast<uintptr_t>(info.dli_saddr)) + " (" + lib + ")";
  } else {
    out = std::string(lib) + "+" + hex(pc - reinterpret_cast<uintptr_t>(info.dli_fbase));
  }
  return out;
}

}  // namespace

// ---- API ---------------------------------------------------------------------

#define IOWQ_STR2(x) #x
#define IOWQ_STR(x) IOWQ_STR2(x)

void callsites_init(unsigned depth) {
  if (g_enabled.load(std::memory_order_acquire) || depth == 0) return;
  depth = std::min(depth, kCallsiteMaxDepth);

  void* h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    warn("iowq: IOWQ_CALLSITES: cannot load libunwind.so.8; call sites are not recorded\n");
    return;
  }
  auto bt = reinterpret_cast<BacktraceFn>(real::symbol(h, "unw_backtrace"));
  // The UNW_OBJ names are per architecture (_ULx86_64_...): stringify the macros.
  using CachingFn = int (*)(unw_addr_space_t, unw_caching_policy_t);
  auto set_caching = reinterpret_cast<CachingFn>(real::symbol(h, IOWQ_STR(unw_set_caching_policy)));
  auto* local_as = static_cast<unw_addr_space_t*>(real::symbol(h, IOWQ_STR(unw_local_addr_space)));
  if (bt == nullptr) {
    warn("iowq: IOWQ_CALLSITES: libunwind.so.8 lacks unw_backtrace; call sites are not recorded\n");
    dlclose(h);
    return;
  }
  // Per-thread caches: no lock shared with a thread a signal may interrupt.
  if (set_caching != nullptr && local_as != nullptr) set_caching(*local_as, UNW_CACHE_PER_THREAD);

  const size_t entries_bytes = sizeof(Entry) * kCallsiteEntries;
  const size_t pcs_bytes = sizeof(uintptr_t) * kCallsiteEntries * depth;
  void* mem =
      mmap(nullptr, entries_bytes + pcs_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    warn("iowq: IOWQ_CALLSITES: cannot allocate the call-site table; call sites are not recorded\n");
    return;
  }
  g.entries = static_cast<Entry*>(mem);
  for (unsigned s = 0; s < kCallsiteEntries; ++s) new (&g.entries[s]) Entry{};
  g.pcs = reinterpret_cast<uintptr_t*>(static_cast<char*>(mem) + entries_bytes);
  g.map_bytes = entries_bytes + pcs_bytes;
  g.depth = depth;
  g.backtrace = bt;

  // Frames to drop: libunwind's own, then ours. Linked into a shared library
  // (the shim) every leading frame inside it is ours; linked into the
  // executable (unit tests) only callsites_record's frame is.
  g.nskip = 0;
  add_object_ranges(reinterpret_cast<const void*>(bt), false);
  const bool in_main = add_object_ranges(reinterpret_cast<const void*>(&callsites_record), false);
  g.skip_extra = in_main ? 1 : 0;

  // The first unwind of a process is slow (≈0.2 ms: lazy init, unwind-table
  // lookup); pay it here rather than in the first blocked call.
  void* warm[4];
  bt(warm, 4);
  g_enabled.store(true, std::memory_order_release);
}

bool callsites_enabled() noexcept { return g_enabled.load(std::memory_order_acquire); }

// noinline: the skip logic counts this function as exactly one frame.
__attribute__((noinline)) void callsites_record(uint64_t blocked_ns) noexcept {
  if (!g_enabled.load(std::memory_order_acquire)) return;
  // Unwinding costs per frame: ask for our depth plus the frames we expect
  // to drop, and only when that was too few, once more for as many as needed.
  void* buf[kCallsiteMaxDepth + kSkipMax];
  const int depth = static_cast<int>(g.depth);
  int want = depth + static_cast<int>(g.skip_hint.load(std::memory_order_relaxed));
  int n = g.backtrace(buf, want);
  int i = skipped_frames(buf, n);
  if (n == want && n - i < depth && want < depth + static_cast<int>(kSkipMax)) {
    // All captured frames were ours: how many more there are is unknown.
    const unsigned need = i == n ? kSkipMax : std::min(static_cast<unsigned>(i), kSkipMax);
    unsigned hint = g.skip_hint.load(std::memory_order_relaxed);
    while (hint < need && !g.skip_hint.compare_exchange_weak(hint, need, std::memory_order_relaxed)) {
    }
    want = depth + static_cast<int>(need);
    n = g.backtrace(buf, want);
    i = skipped_frames(buf, n);
  }
  const unsigned d = std::min(static_cast<unsigned>(std::max(n - i, 0)), g.depth);
  uintptr_t pcs[kCallsiteMaxDepth];
  for (unsigned k = 0; k < d; ++k) pcs[k] = reinterpret_cast<uintptr_t>(buf[i + k]);

  Entry* e = find_or_claim(hash_pcs(pcs, d), pcs, d);
  if (e == nullptr) {
    g.other_count.fetch_add(1, std::memory_order_relaxed);
    g.other_ns.fetch_add(blocked_ns, std::memory_order_relaxed);
    return;
  }
  e->count.fetch_add(1, std::memory_order_relaxed);
  e->blocked_ns.fetch_add(blocked_ns, std::memory_order_relaxed);
}

std::vector<Callsite> callsites_top(unsigned n) {
  std::vector<Callsite> out;
  if (!g_enabled.load(std::memory_order_acquire) || n == 0) return out;
  struct Ref {
    uint64_t count, ns;
    unsigned slot;
  };
  std::vector<Ref> refs;
  for (unsigned s = 0; s < kCallsiteEntries; ++s) {
    const Entry& e = g.entries[s];
    if (e.ready.load(std::memory_order_acquire) == 0) continue;
    const uint64_t c = e.count.load(std::memory_order_relaxed);
    if (c != 0) refs.push_back({c, e.blocked_ns.load(std::memory_order_relaxed), s});
  }
  std::sort(refs.begin(), refs.end(), [](const Ref& a, const Ref& b) {
    return a.ns != b.ns ? a.ns > b.ns : a.count != b.count ? a.count > b.count : a.slot < b.slot;
  });
  if (refs.size() > n) refs.resize(n);
  for (const Ref& r : refs) {
    Callsite cs{r.count, r.ns, {}};
    const Entry& e = g.entries[r.slot];
    const uintptr_t* pcs = g.pcs + static_cast<size_t>(r.slot) * g.depth;
    for (unsigned k = 0; k < e.depth; ++k) cs.frames.push_back(symbolize(pcs[k]));
    out.push_back(std::move(cs));
  }
  const uint64_t oc = g.other_count.load(std::memory_order_relaxed);
  if (oc != 0) out.push_back({oc, g.other_ns.load(std::memory_order_relaxed), {"[other]"}});
  return out;
}

void callsites_reset() noexcept {
  if (!g_enabled.load(std::memory_order_acquire)) return;
  for (unsigned s = 0; s < kCallsiteEntries; ++s) {
    Entry& e = g.entries[s];
    e.ready.store(0, std::memory_order_relaxed);
    e.count.store(0, std::memory_order_relaxed);
    e.blocked_ns.store(0, std::memory_order_relaxed);
    e.depth = 0;
    e.key.store(0, std::memory_order_release);
  }
  g.other_count.store(0, std::memory_order_relaxed);
  g.other_ns.store(0, std::memory_order_relaxed);
}

}  // namespace iowq::shim

namespace iowq::shim {

// The first frame outside the shim, symbolized, for a warning line. Allocates
// (dladdr, demangling): for diagnostics outside signal handlers.
bool callsites_caller(char* out, size_t n) {
  if (!g_enabled.load(std::memory_order_acquire) || n == 0) return false;
  void* buf[kCallsiteMaxDepth + kSkipMax];
  int got = g.backtrace(buf, static_cast<int>(kCallsiteMaxDepth + kSkipMax));
  int i = skipped_frames(buf, got);
  if (i >= got) return false;
  std::string s = symbolize(reinterpret_cast<uintptr_t>(buf[i]));
  snprintf(out, n, "%s", s.c_str());
  return true;
}

}  // namespace iowq::shim
