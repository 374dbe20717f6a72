// shim/writebehind.cpp — write-behind (placeholder until the write-behind
// issue lands: every write is synchronous, every sync point is a no-op).
#include "writebehind.hpp"

namespace iowq::shim {

void wb_init() noexcept {}
bool wb_try(const Op&, const FdInfo&, ssize_t*) noexcept { return false; }
int wb_sync_fd(int, bool) noexcept { return 0; }
int wb_sync_file(const FdInfo&) noexcept { return 0; }
void wb_sync_all() noexcept {}
void wb_after_fork_child() noexcept {}

}  // namespace iowq::shim
