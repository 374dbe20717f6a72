// shim/route/fdtable.hpp — what each fd is, cached.
//
// The first routed call on an fd classifies it (fstat + F_GETFL, ~0.3 us;
// files of kernel pseudo-filesystems, which may block, count as char devices);
// later calls read the cache (two loads). An entry is dropped when the shim
// sees the fd change meaning: close, close_range, dup2/dup3/F_DUPFD* onto it,
// fcntl(F_SETFL)/ioctl(FIONBIO) on it, and the libc calls that close fds
// internally where no interposer sees it (fclose, pclose, closedir). fds at or
// above kMaxFd are classified on every call.
//
// Thread safety: entries are published with a release store of `kind` after
// dev/ino/flags; a reader that acquires a non-zero kind sees a consistent
// entry. Racing classifiers write identical values.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace iowq::shim {

enum class FdKind : uint8_t { Unknown = 0, File, Block, Socket, Pipe, Tty, Chr, Other, Bad };

// FdEntry::flags' bits (FdInfo keeps the byte as cached: the write-behind
// path reads an FdInfo on every write, and unpacking it into four bools cost
// ~16 instructions a call).
enum FdFlag : uint8_t {
  kFdNonblock = 1,
  kFdAppend = 2,
  kFdSyncIo = 4,    // O_DIRECT, O_SYNC or O_DSYNC: never written behind
  kFdWritable = 8,  // opened for writing (else write fails with EBADF)
};

struct FdInfo {
  FdKind kind = FdKind::Unknown;
  uint8_t flags = 0;  // FdFlag bits
  uint64_t dev = 0, ino = 0;
  bool nonblock() const noexcept { return flags & kFdNonblock; }
  bool append() const noexcept { return flags & kFdAppend; }
  bool sync_io() const noexcept { return flags & kFdSyncIo; }
  bool writable() const noexcept { return flags & kFdWritable; }
  // Key for hashed work: the file's identity (st_dev, st_ino) mixed into 64 bits.
  uint64_t key() const noexcept { return (dev * 0x9E3779B97F4A7C15ull) ^ ino; }
  bool bound() const noexcept { return kind == FdKind::File || kind == FdKind::Block; }
};

constexpr int kMaxFd = 1 << 16;

// The cache itself, for the interposers' inline fast path (state.hpp). An
// entry is valid when kind != 0 (acquire); flags: FdFlag bits.
struct FdEntry {
  std::atomic<uint8_t> kind{0};
  std::atomic<uint8_t> flags{0};
  std::atomic<uint64_t> dev{0}, ino{0};
};
extern FdEntry g_fdtab[kMaxFd];

// Returns the cached or fresh classification. kind == Bad when fstat failed:
// the caller passes the call through so libc reports the error itself.
// The cached case is inline: it is on every routed call's path.
FdInfo fd_info_slow(int fd) noexcept;
inline FdInfo fd_info(int fd) noexcept {
  if (static_cast<unsigned>(fd) >= static_cast<unsigned>(kMaxFd)) return fd_info_slow(fd);
  const FdEntry& e = g_fdtab[fd];
  const uint8_t k = e.kind.load(std::memory_order_acquire);
  if (!k) return fd_info_slow(fd);
  FdInfo fi;
  fi.kind = static_cast<FdKind>(k);
  fi.flags = e.flags.load(std::memory_order_relaxed);
  fi.dev = e.dev.load(std::memory_order_relaxed);
  fi.ino = e.ino.load(std::memory_order_relaxed);
  return fi;
}
// Drops the entry and classifies the fd afresh (a call failed in a way its
// cached kind cannot explain: the number may now be another file).
FdInfo fd_refresh(int fd) noexcept;
void fd_forget(int fd) noexcept;
void fd_forget_range(unsigned lo, unsigned hi) noexcept;
// Route bit (RouteBits) of a kind; 0 for kinds never routed.
inline unsigned route_bit(FdKind k) noexcept {
  static constexpr unsigned bits[] = {
      0, 1 /*File*/, 1 /*Block*/, 2 /*Socket*/, 4 /*Pipe*/, 8 /*Tty*/, 16 /*Chr*/, 0, 0};
  return bits[static_cast<unsigned>(k)];
}

// A few bits per device (st_dev), learnt once and remembered: is it a
// kernel pseudo-filesystem (fdtable.cpp), may write-behind use it and is it
// far (writebehind.cpp, two bits). N slots filled first come, never emptied;
// a device that finds the table full is simply asked again. Lock-free and
// async-signal-safe; zero-initialised in static storage.
// Memory ordering: each slot is one self-contained word ((dev + 1) << kBits
// | value) and publishes nothing else, so loads are relaxed; the CAS keeps
// the default (seq_cst), stronger than needed. Racing writers of one device
// store the same value (it is a property of the device).
template <size_t N, unsigned kBits = 1>
class DevBits {
 public:
  static constexpr uint64_t kMask = (uint64_t{1} << kBits) - 1;
  // The value remembered for `dev` (0 .. kMask), or -1 when not known.
  int find(uint64_t dev) const noexcept {
    for (const auto& s : slots_) {
      const uint64_t v = s.load(std::memory_order_relaxed);
      if (v == 0) return -1;
      if ((v >> kBits) == dev + 1) return static_cast<int>(v & kMask);
    }
    return -1;
  }
  void remember(uint64_t dev, unsigned value) noexcept {
    const uint64_t nv = ((dev + 1) << kBits) | (value & kMask);
    for (auto& s : slots_) {
      uint64_t expect = 0;
      if (s.compare_exchange_strong(expect, nv) || (expect >> kBits) == dev + 1) return;
    }
  }

 private:
  std::atomic<uint64_t> slots_[N];
};

}  // namespace iowq::shim
