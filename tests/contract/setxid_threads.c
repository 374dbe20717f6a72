/* setxid_threads.c — contract: setuid()/setgid() in a process with threads
 * return as without the shim (docs/design.md §4 "Process lifecycle").
 *
 * glibc applies a set*id call to every thread of the process: it signals
 * each one with its internal SIGSETXID and waits until all have run the
 * handler. A thread that blocks that signal makes the call hang forever, so
 * the shim's own threads (pool manager and workers, the stall thread, the
 * exit watcher) must block every signal except glibc's internal ones.
 *
 * main does routed I/O first (in pool mode the manager and a worker exist;
 * with IOWQ_STALL_MS the stall thread too), then sets its ids to the ones it
 * has, which any user may do. The watchdog turns a hang into a failure.
 */
#include "contract.h"

int main(void) {
  ct_name = "setxid_threads";
  ct_start_watchdog(20);
  int pp[2];
  CT_CHECK(pipe2(pp, O_CLOEXEC) == 0, "pipe2");
  char c;
  ct_step = "pipe write and read";
  ct_write_all(pp[1], "x", 1, "pipe write");
  CT_EXPECT_RET(read(pp[0], &c, 1), 1, "pipe read");
  ct_step = "setgid";
  CT_EXPECT_RET(setgid(getgid()), 0, "setgid(getgid())");
  ct_step = "setuid";
  CT_EXPECT_RET(setuid(getuid()), 0, "setuid(getuid())");
  ct_step = "read after setuid";
  ct_write_all(pp[1], "y", 1, "pipe write");
  CT_EXPECT_RET(read(pp[0], &c, 1), 1, "pipe read");
  return 0;
}
