// shim/route/fdtable.cpp — fd classification cache (see fdtable.hpp).
#include "fdtable.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <termios.h>

#include "options/options.hpp"
#include "process/state.hpp"
#include "sys/libc.hpp"

namespace iowq::shim {

// 1.5 MiB of zero pages in .bss; only touched entries cost memory.
FdEntry g_fdtab[kMaxFd];

namespace {

// Files of kernel pseudo-filesystems are regular only in name: some block
// until an event (/proc/kmsg, trace_pipe), so they are routed and waited for
// as character devices (interruptible), not as disk files. Per device,
// remembered: one fstatfs per filesystem.
constinit DevBits<32> g_pseudo_fs;

bool pseudo_fs(int fd, uint64_t dev) noexcept {
  if (int known = g_pseudo_fs.find(dev); known >= 0) return known;
  struct statfs sf;
  if (sys::fstatfs(fd, &sf) < 0) return false;
  const bool pseudo = sf.f_type == PROC_SUPER_MAGIC || sf.f_type == SYSFS_MAGIC ||
                      sf.f_type == TRACEFS_MAGIC || sf.f_type == DEBUGFS_MAGIC;
  g_pseudo_fs.remember(dev, pseudo);
  return pseudo;
}

FdInfo classify(int fd) noexcept {
  FdInfo fi;
  struct stat st;
  if (sys::fstat(fd, &st) < 0) {
    fi.kind = FdKind::Bad;
    return fi;
  }
  int64_t fl = sys::fcntl(fd, F_GETFL, 0);
  if (fl >= 0)
    fi.flags =
        static_cast<uint8_t>(((fl & O_NONBLOCK) ? kFdNonblock : 0) | ((fl & O_APPEND) ? kFdAppend : 0) |
                             ((fl & (O_DIRECT | O_SYNC | O_DSYNC)) ? kFdSyncIo : 0) |
                             ((fl & O_ACCMODE) != O_RDONLY && !(fl & O_PATH) ? kFdWritable : 0));
  fi.dev = st.st_dev;
  fi.ino = st.st_ino;
  switch (st.st_mode & S_IFMT) {
    case S_IFREG: fi.kind = pseudo_fs(fd, st.st_dev) ? FdKind::Chr : FdKind::File; break;
    case S_IFBLK: fi.kind = FdKind::Block; break;
    case S_IFSOCK: fi.kind = FdKind::Socket; break;
    case S_IFIFO: fi.kind = FdKind::Pipe; break;
    case S_IFCHR: {
      struct termios t;
      fi.kind = sys::ioctl(fd, TCGETS, &t) == 0 ? FdKind::Tty : FdKind::Chr;
      break;
    }
    default: fi.kind = FdKind::Other; break;
  }
  return fi;
}

}  // namespace

// Not cached (or fd out of the table's range): classifies it, and caches
// the result when the fd is in range.
FdInfo fd_info_slow(int fd) noexcept {
  if (fd < 0 || fd >= kMaxFd) return classify(fd);
  FdEntry& e = g_fdtab[fd];
  if (e.kind.load(std::memory_order_acquire)) return fd_info(fd);  // cached meanwhile
  FdInfo fi = classify(fd);
  // A vfork child shares this table but not the fd table it describes: what
  // its fds are must not become what the parent's are.
  if (fi.kind != FdKind::Bad && !in_vfork_child()) {
    e.dev.store(fi.dev, std::memory_order_relaxed);
    e.ino.store(fi.ino, std::memory_order_relaxed);
    e.flags.store(fi.flags, std::memory_order_relaxed);
    e.kind.store(static_cast<uint8_t>(fi.kind), std::memory_order_release);
  }
  return fi;
}

FdInfo fd_refresh(int fd) noexcept {
  fd_forget(fd);
  return fd_info(fd);
}

void fd_forget(int fd) noexcept {
  if (fd >= 0 && fd < kMaxFd) g_fdtab[fd].kind.store(0, std::memory_order_release);
}

void fd_forget_range(unsigned lo, unsigned hi) noexcept {
  for (unsigned fd = lo; fd <= hi && fd < static_cast<unsigned>(kMaxFd); ++fd)
    if (g_fdtab[fd].kind.load(std::memory_order_relaxed))
      g_fdtab[fd].kind.store(0, std::memory_order_release);
}

}  // namespace iowq::shim
