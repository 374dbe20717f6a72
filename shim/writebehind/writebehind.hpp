// shim/writebehind/writebehind.hpp — write-behind for regular files (IOWQ_WRITE_BEHIND=1).
//
// Two kinds of sync point (docs/design.md §5 "Errors"):
//   wb_sync_*  wait for the file's writes queued before now and *take* its
//              deferred write error, if any (returned as -errno, once per
//              open file description, as the kernel's errseq): for calls
//              that can return an I/O error (read, write, fsync, fflush, ...);
//   wb_wait_*  wait the same way and leave the error pending: for calls that
//              cannot return it (lseek, fstat, dup, mmap, fcntl, stat, ...).
// Waits are tickets ("queued before now"), never "until quiet": a writer in
// another thread cannot starve them.
#pragma once

#include <signal.h>

#include "route/fdtable.hpp"
#include "route/route.hpp"
#include "sys/libc.hpp"

namespace iowq::shim {

void wb_init() noexcept;

// A call the shim runs plain that may take room on a regular file's
// filesystem (a write write-behind did not take, fallocate,
// copy_file_range...): charged against the room write-behind counts on
// (docs/design.md §5 "A full disk"), from begin() until the end of the
// scope. When it may not fit with what is pending there, everything pending
// lands first. `op`: a write, whose length is read from it; else `n` bytes.
struct WbSpaceUse {
  void* space = nullptr;
  int64_t charge = 0;
  void begin(const FdInfo& fi, const Op* op, int64_t n) noexcept;
  void end() noexcept;
  WbSpaceUse() = default;
  WbSpaceUse(const WbSpaceUse&) = delete;
  WbSpaceUse& operator=(const WbSpaceUse&) = delete;
  ~WbSpaceUse() {
    if (space) end();
  }
};

// Tries to take `op` behind. Returns the count taken, or -errno (the file's
// deferred error, which this write reports instead of writing), or kNotTaken.
int64_t wb_try(const Op& op, const FdInfo& fi) noexcept;
// (write(fd, buf, n) is route_write(), route.hpp: defined with wb_try.)
// The file behind `fd` (classified as `fi`): see above. Return 0 or -errno.
// The error goes to the open file description whose write failed; with
// `errseq` (the fsync family) to every description, once each.
int wb_sync_fd(int fd) noexcept;
int wb_sync_file(int fd, const FdInfo& fi, bool errseq = false) noexcept;
// close/fclose of fd, before the real one: waits like wb_sync_fd, but takes
// the error only when fd is the last fd of its open file description (while
// a dup remains the description can still be told through it).
int wb_close_fd(int fd) noexcept;
// fds [lo, hi] are about to be closed or replaced (close_range, dup2 onto
// them): which open file descriptions were told of an error is kept.
void wb_fds_closing(unsigned lo, unsigned hi) noexcept;
// open*/creat returned fd: a new open file description, which is not told
// of an error another one was told of already.
void wb_fd_opened(int fd) noexcept;
void wb_wait_fd(int fd) noexcept;
void wb_wait_file(const FdInfo& fi) noexcept;
// Waits for every write queued before now (fork, exec, path operations,
// locks, anything that tells another process something). Errors stay pending.
void wb_sync_all() noexcept;
// Before a write/send to an fd of kind `k` that is not write-behind's: a
// pipe, socket, tty... tells another process something, so everything
// pending lands first. The one hook for route() and the socket interposers.
void wb_before_talk(FdKind k) noexcept;
// The process is ending (exit, _exit, quick_exit, a fatal signal): from now
// on writes run synchronously; everything accepted is written; errors never
// reported are printed as "iowq: error" lines. Safe from a signal handler
// that interrupted this thread inside the shim.
void wb_exit() noexcept;
// exec*: like wb_exit (the error lines too); wb_exec_failed() resumes
// write-behind.
void wb_exec_begin() noexcept;
void wb_exec_failed() noexcept;
// True when anything is pending or an error is unreported (cheap: two loads).
bool wb_pending() noexcept;
// True while chunks are queued and not written (the net is armed).
bool wb_inflight() noexcept;
// A worker letting a chunk fill while the program appends to it (it sleeps
// up to 2 ms for more) writes it now. wait_until does this for every wait;
// a call that waits without it (the net's spin for a task on borrowed
// thread-local storage) says so here. Globals only.
void wb_hurry() noexcept;
// True while this thread is inside an append (holds a file's lock).
bool wb_in_append() noexcept;
void wb_after_fork_child() noexcept;
// Re-reads RLIMIT_FSIZE (after setrlimit/prlimit): write-behind steps aside
// while a file size limit is in force.
void wb_limits_changed() noexcept;
// The file behind fd is read where the shim cannot see (stdio FILE, memory
// mapping): flush it and never write it behind again.
void wb_opt_out(int fd) noexcept;
// The process holds memory shared with other processes (a writable shared
// mapping, shm, memfd): drain and stay off for good (docs/design.md §5).
void wb_off_shared() noexcept;
// A SIGSYS the program blocks came to the net's handler (net.cpp): off for
// good the same way; `drain` when the caller may wait (not inside the shim).
void wb_off_sigsys(bool drain) noexcept;
// Off for good and nothing in flight: the net never arms again.
bool wb_drained_for_good() noexcept;
// Memory protections may have changed (munmap, mprotect, mremap): forget
// which buffers were known readable.
void wb_memory_changed() noexcept;

// Fatal signals (wb_signals.cpp): when data first becomes pending, the
// signals whose default action ends the process and whose disposition is
// SIG_DFL get a handler that writes everything, then dies the same way
// (a handler with SA_RESETHAND: a wrapper that leaves that handler behind).
// Once armed (wb_sig_owned), the sigaction/signal interposers answer for
// those signals through wb_sigaction, the net's trapped rt_sigaction through
// wb_ksigaction (kernel form, -errno): the program sees its own dispositions,
// whatever the kernel holds is re-read first (a raw set is the program's).
void wb_arm_fatal_signals() noexcept;
bool wb_sig_owned(int sig) noexcept;
int wb_sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept;
int64_t wb_ksigaction(int sig, const sys::KSigaction* act, sys::KSigaction* old) noexcept;
// In a fork child: a parent thread that was inside sigaction held the lock.
void wb_signals_after_fork() noexcept;

}  // namespace iowq::shim
