/* net_unavailable.c — where syscall user dispatch cannot be enabled,
 * write-behind stays off with one "iowq:" warning: never half exact
 * (docs/design.md §5 "The net").
 *
 * The parent forks a child that installs a seccomp filter making
 * prctl(PR_SET_SYSCALL_USER_DISPATCH) fail with EINVAL (as an old kernel
 * or a sandbox would), sends its stderr to a file, and execs this program
 * again ("child"): the shim starts there under the filter. The child writes
 * a file in small writes and checks it. The parent then counts the
 * write-behind warnings in the child's stderr: one under the shim with
 * IOWQ_WRITE_BEHIND=1, none plain. (The runner checks that no write went
 * behind in any process.)
 */
#include "wb.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define WRITES 2000

static int deny_dispatch(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_prctl, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 59 /* PR_SET_SYSCALL_USER_DISPATCH */, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof f / sizeof f[0], f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static int child(const char* path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CT_CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
  char buf[64];
  size_t off = 0;
  for (int i = 0; i < WRITES; i++) {
    size_t len = 1 + (size_t)((i * 7) % 60);
    wb_fill(buf, 9, off, len);
    CT_CHECK(write(fd, buf, len) == (ssize_t)len, "write");
    off += len;
  }
  CT_CHECK(close(fd) == 0, "close");
  wb_expect_stream(path, 9, off);
  return 0;
}

int main(int argc, char** argv) {
  ct_name = "net_unavailable";
  if (argc == 3 && !strcmp(argv[1], "child")) return child(argv[2]);
  ct_start_watchdog(50);
  char data[256], err[256];
  int fd = ct_tmpfile(data, "data");
  close(fd);
  int efd = ct_tmpfile(err, "stderr");
  pid_t kid = fork();
  CT_CHECK(kid >= 0, "fork");
  if (kid == 0) {
    if (dup2(efd, 2) != 2) _exit(2);
    if (deny_dispatch() != 0) _exit(3);
    execl("/proc/self/exe", argv[0], "child", data, (char*)NULL);
    _exit(4);
  }
  close(efd);
  int st;
  CT_CHECK(waitpid(kid, &st, 0) == kid, "waitpid");
  size_t n;
  char* text = wb_slurp(err, &n);
  CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x; its stderr:\n%s", st, text);
  const char* pre = getenv("LD_PRELOAD");
  const char* wb = getenv("IOWQ_WRITE_BEHIND");
  int want = pre && strstr(pre, "libiowq") && wb && !strcmp(wb, "1");
  int got = 0;
  for (const char* p = text; (p = strstr(p, "iowq: write-behind off")); p++) got++;
  CT_CHECK(got == want, "%d write-behind warnings, want %d; the child's stderr:\n%s", got, want, text);
  free(text);
  return 0;
}
