/* seccomp_strict.c — contract: a thread the program sandboxed is never made
 * to issue a system call it did not ask for (docs/design.md §4 "never broken").
 * In SECCOMP_MODE_STRICT only read, write, _exit and sigreturn are allowed;
 * any other system call kills the process.
 *
 * A forked child enters strict mode (prctl(PR_SET_SECCOMP)), then writes to
 * a pipe and a file it never used before (the shim would classify them with
 * fstat), reads from the pipe, and leaves with the raw exit system call. The
 * parent checks it exited 0 and the bytes arrived.
 */
#include "contract.h"

#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

int main(void) {
  ct_name = "seccomp_strict";
  ct_start_watchdog(30);
  int out[2], in[2];
  CT_CHECK(pipe2(out, O_CLOEXEC) == 0 && pipe2(in, O_CLOEXEC) == 0, "pipe2");
  char path[256];
  int file = ct_tmpfile(path, "f");
  ct_write_all(in[1], "in", 2, "prefill");

  ct_step = "child in SECCOMP_MODE_STRICT";
  pid_t c = fork();
  CT_CHECK(c >= 0, "fork");
  if (c == 0) {
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0) _exit(2);
    char b[2];
    long ok =
        write(out[1], "ok", 2) == 2 && write(file, "file", 4) == 4 && read(in[0], b, 2) == 2 && b[0] == 'i';
    syscall(SYS_exit, ok ? 0 : 3);
  }
  int st;
  CT_CHECK(waitpid(c, &st, 0) == c, "waitpid");
  if (WIFEXITED(st) && WEXITSTATUS(st) == 2) ct_skip("prctl(PR_SET_SECCOMP) not permitted");
  CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s %d",
           WIFEXITED(st) ? "exited" : "killed by signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
  char b[8];
  CT_EXPECT_RET(read(out[0], b, sizeof b), 2, "read what the child wrote");
  CT_EXPECT_RET(pread(file, b, sizeof b, 0), 4, "pread the child's file write");
  close(file);
  unlink(path);
  return 0;
}
