// shim/interpose/fdcalls.cpp — the calls that end or replace an fd: close,
// close_range, closefrom, dup2, dup3, fcntl (F_SETFL, F_DUPFD*, locks), ioctl
// (FIONBIO), and libc's own closers (fclose, closedir, pclose). They keep the fd
// cache honest (docs/design.md §4, "Routing by fd kind") and let pending
// write-behind data land first (§5). dup() lives with the write-behind
// sync points (writebehind/syncpoints.cpp).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "process/state.hpp"
#include "route/fdtable.hpp"
#include "sys/libc.hpp"
#include "writebehind/writebehind.hpp"

#define IOWQ_EXPORT extern "C" __attribute__((visibility("default")))

using namespace iowq::shim;

// ============================================================================
// fd lifecycle: what makes the fd cache trustworthy
// ============================================================================

IOWQ_EXPORT int close(int fd) {
  if (g.active.load(std::memory_order_relaxed) && !tl.sandboxed) {
    int err = wb_close_fd(fd);
    fd_forget(fd);
    keep_stderr(fd);
    int r = real::close(fd);
    if (err) {
      errno = -err;
      return -1;
    }
    return r;
  }
  fd_forget(fd);
  return real::close(fd);
}

IOWQ_EXPORT int close_range(unsigned lo, unsigned hi, int flags) {
  if (g.active.load(std::memory_order_relaxed)) {
    if (!tl.sandboxed) {
      wb_sync_all();
      wb_fds_closing(lo, hi);
    }
    fd_forget_range(lo, hi);
  }
  if (!real::close_range) {
    int64_t r = sys::close_range(lo, hi, flags);
    if (r < 0) {
      errno = static_cast<int>(-r);
      return -1;
    }
    return static_cast<int>(r);
  }
  return real::close_range(lo, hi, flags);
}

// glibc's closefrom closes with an internal close_range.
IOWQ_EXPORT void closefrom(int lo) {
  static void (*real_closefrom)(int) = reinterpret_cast<void (*)(int)>(real::next("closefrom"));
  if (g.active.load(std::memory_order_relaxed)) {
    if (!tl.sandboxed) {
      wb_sync_all();
      if (lo >= 0) wb_fds_closing(static_cast<unsigned>(lo), ~0u);
    }
    if (lo >= 0) fd_forget_range(static_cast<unsigned>(lo), ~0u);
  }
  if (real_closefrom)
    real_closefrom(lo);
  else
    sys::close_range(static_cast<unsigned>(lo), ~0u, 0);
}

IOWQ_EXPORT int dup2(int oldfd, int newfd) {
  if (g.active.load(std::memory_order_relaxed) && !tl.sandboxed) {
    wb_wait_fd(oldfd);
    if (oldfd != newfd) {
      wb_wait_fd(newfd);
      if (newfd >= 0) wb_fds_closing(static_cast<unsigned>(newfd), static_cast<unsigned>(newfd));
    }
  }
  int r = real::dup2(oldfd, newfd);
  if (r >= 0) fd_forget(r);
  return r;
}

IOWQ_EXPORT int dup3(int oldfd, int newfd, int flags) {
  if (g.active.load(std::memory_order_relaxed) && !tl.sandboxed) {
    wb_wait_fd(oldfd);
    wb_wait_fd(newfd);
    if (newfd >= 0 && oldfd != newfd)
      wb_fds_closing(static_cast<unsigned>(newfd), static_cast<unsigned>(newfd));
  }
  int r = real::dup3(oldfd, newfd, flags);
  if (r >= 0) fd_forget(r);
  return r;
}

static bool lock_cmd(int cmd) noexcept {
  return cmd == F_SETLK || cmd == F_SETLKW || cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW;
}

// fcntl cannot return an I/O error: it waits and leaves a deferred error
// pending. A lock taken or released tells the other holders: everything
// pending lands first.
static int fcntl_common(int fd, int cmd, long arg) {
  if (g.active.load(std::memory_order_relaxed) && !tl.sandboxed && wb_pending()) {
    if (lock_cmd(cmd))
      wb_sync_all();
    else
      wb_wait_fd(fd);
  }
  int r = real::fcntl(fd, cmd, arg);
  if (r >= 0) {
    if (cmd == F_SETFL) fd_forget(fd);
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) fd_forget(r);
  }
  return r;
}

IOWQ_EXPORT int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  long arg = va_arg(ap, long);
  va_end(ap);
  return fcntl_common(fd, cmd, arg);
}

IOWQ_EXPORT int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  long arg = va_arg(ap, long);
  va_end(ap);
  return fcntl_common(fd, cmd, arg);
}

IOWQ_EXPORT int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (req == FIONBIO) fd_forget(fd);
  if (g.active.load(std::memory_order_relaxed) && !tl.sandboxed && wb_pending()) wb_wait_fd(fd);  // FIEMAP...
  return real::ioctl(fd, req, arg);
}

// libc closes these fds internally, where the close() above never sees it.
IOWQ_EXPORT int fclose(FILE* f) {
  if (!real::fclose) real::resolve();
  int err = 0;
  if (f && g.active.load(std::memory_order_relaxed) && !tl.sandboxed) {
    int fd = fileno(f);
    if (fd >= 0) {
      err = wb_close_fd(fd);  // fclose can fail with an I/O error: it reports
      fd_forget(fd);
      keep_stderr(fd);
    }
  }
  int r = real::fclose(f);
  if (err) {
    errno = -err;
    return EOF;
  }
  return r;
}

IOWQ_EXPORT int closedir(DIR* d) {
  static int (*real_closedir)(DIR*) = reinterpret_cast<int (*)(DIR*)>(real::next("closedir"));
  // closedir(NULL) is libc's to answer (EINVAL). The declaration says
  // nonnull, so hide the pointer from the optimiser before testing it.
  DIR* p = d;
  __asm__("" : "+r"(p));
  if (p) fd_forget(dirfd(p));
  return real_closedir(d);
}

IOWQ_EXPORT int pclose(FILE* f) {
  static int (*real_pclose)(FILE*) = reinterpret_cast<int (*)(FILE*)>(real::next("pclose"));
  if (f) fd_forget(fileno(f));
  return real_pclose(f);
}
