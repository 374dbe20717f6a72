// shim/writebehind.hpp — write-behind for regular files (IOWQ_WRITE_BEHIND=1).
//
// Sync points call these; each returns 0 or the errno of a deferred write
// that failed on that file (reported exactly once).
#pragma once

#include "fdtable.hpp"
#include "route.hpp"

namespace iowq::shim {

void wb_init() noexcept;
// Tries to take `op` behind. Returns true and sets *result when taken.
bool wb_try(const Op& op, const FdInfo& fi, ssize_t* result) noexcept;
// Waits for the pending writes of the file behind `fd`. Returns a deferred
// errno or 0.
int wb_sync_fd(int fd) noexcept;
// Waits for every pending write of the file identified by `fi`.
int wb_sync_file(const FdInfo& fi) noexcept;
// Waits for everything (fork, exec, exit, path operations).
void wb_sync_all() noexcept;
// True when anything is pending or an error is unreported (cheap: two loads).
bool wb_pending() noexcept;
void wb_after_fork_child() noexcept;
// Re-reads RLIMIT_FSIZE (after setrlimit/prlimit): write-behind steps aside
// while a file size limit is in force.
void wb_limits_changed() noexcept;
// The file behind fd is read where the shim cannot see (stdio FILE, memory
// mapping): flush it and never write it behind again.
void wb_opt_out(int fd) noexcept;

}  // namespace iowq::shim
