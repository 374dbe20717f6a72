/* vfork_fdcache.c — contract: what a vfork child learns about its fds never
 * changes how the parent's calls behave (docs/design.md §4 "Process
 * lifecycle"). The child shares the parent's memory, so the shim's fd cache
 * too, but it has its own fd table: the same number can be another file.
 *
 * The parent's fd N is a pipe whose reader is gone. A vfork child makes its
 * own fd N a regular file and writes to it. Then the parent writes to N: the
 * plain call fails with EPIPE (SIGPIPE ignored). Under write-behind the shim
 * took N for the child's file and deferred the write, returning success.
 */
#include "contract.h"

#include <signal.h>
#include <sys/wait.h>

int main(void) {
  ct_name = "vfork_fdcache";
  ct_start_watchdog(30);
  char path[256];
  signal(SIGPIPE, SIG_IGN);
  int p[2];
  CT_CHECK(pipe(p) == 0, "pipe: %s", strerror(errno));
  CT_CHECK(close(p[0]) == 0, "close reader");
  const int n = p[1];
  int f = ct_tmpfile(path, "child");

  ct_step = "vfork child writes to its own fd N, a file";
  pid_t pid = vfork();
  if (pid == 0) {
    if (dup2(f, n) != n) _exit(2);
    _exit(write(n, "child", 5) == 5 ? 0 : 3);
  }
  CT_CHECK(pid > 0, "vfork: %s", strerror(errno));
  int st;
  CT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
  CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);

  ct_step = "parent writes to its fd N, a pipe without a reader";
  for (int i = 0; i < 3; i++) CT_EXPECT_ERR(write(n, "parent", 6), EPIPE, "parent write");
  close(n);
  close(f);
  unlink(path);
  return 0;
}
