/* sigsys_blocked.c — contract: a SIGSYS the program blocks in all its threads
 * and sends to the process stays pending for sigtimedwait, also when the
 * shim's threads (pool manager and workers, exit watcher) were started by a
 * thread with the write-behind net on (docs/design.md §4: the shim's threads
 * block every signal but glibc's internal ones; core/sys/iowq/sys.hpp
 * start_thread).
 *
 * Under the net SIGSYS is never blocked on a program thread (a trap with it
 * blocked would kill the process), so a thread can hold it blocked only once
 * the net is off there: here, main enters a seccomp filter that allows every
 * call (the shim turns the net off on a sandboxed thread). The shim's
 * pthread_sigmask keeps SIGSYS open on a thread with the net on, and a thread
 * the shim started from there inherited that mask: the kill then went to it,
 * whose handler ran the program's default action (the process died of
 * SIGSYS; plain, the signal waits for sigtimedwait).
 *
 * Which of the shim's threads exist and who started them varies from run to
 * run, so the check runs in 16 fork children, each starting the shim's
 * threads afresh (a read of a file in pool mode, a write behind).
 */
#include "contract.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define CHILDREN 16
#define ROUNDS 20

static int child(const char* path) {
  char buf[4096];
  ct_step = "child: a read and a write, the shim's threads start";
  int fd = open(path, O_RDWR | O_CLOEXEC);
  CT_CHECK(fd >= 0, "open: %s", strerror(errno));
  CT_CHECK(pread(fd, buf, sizeof buf, 0) >= 0, "pread: %s", strerror(errno));
  memset(buf, 'w', sizeof buf);
  CT_EXPECT_RET(write(fd, buf, sizeof buf), sizeof buf, "write");

  ct_step = "child: seccomp filter allowing everything";
  struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  struct sock_fprog prog = {1, allow};
  CT_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "no_new_privs: %s", strerror(errno));
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) return 77;

  ct_step = "child: SIGSYS blocked";
  sigset_t sys, cur;
  sigemptyset(&sys);
  sigaddset(&sys, SIGSYS);
  CT_CHECK(pthread_sigmask(SIG_BLOCK, &sys, NULL) == 0, "pthread_sigmask");
  CT_CHECK(pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0 && sigismember(&cur, SIGSYS),
           "SIGSYS reads back open");
  const pid_t me = getpid();
  for (int round = 0; round < ROUNDS; round++) {
    ct_step = "child: kill(SIGSYS), sigtimedwait";
    CT_EXPECT_RET(kill(me, SIGSYS), 0, "kill");
    struct timespec ts = {5, 0};
    siginfo_t si;
    int got = sigtimedwait(&sys, &si, &ts);
    CT_CHECK(got == SIGSYS, "round %d: sigtimedwait %d (%s), want SIGSYS", round, got, strerror(errno));
    CT_CHECK(si.si_pid == me, "round %d: from pid %d", round, (int)si.si_pid);
  }
  close(fd);
  return 0;
}

int main(void) {
  ct_name = "sigsys_blocked";
  ct_start_watchdog(50);
  char path[256];
  int fd = ct_tmpfile(path, "data");
  char buf[8192];
  memset(buf, 'd', sizeof buf);
  CT_EXPECT_RET(write(fd, buf, sizeof buf), sizeof buf, "write");
  close(fd);
  for (int i = 0; i < CHILDREN; i++) {
    ct_step = "fork";
    pid_t pid = fork();
    CT_CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) exit(child(path));  // exit: the shim writes the child's report
    int st;
    ct_step = "waitpid";
    CT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) ct_skip("seccomp filters not permitted here");
    CT_CHECK(!WIFSIGNALED(st),
             "child %d died of signal %d (SIGSYS is %d): it reached a thread that does not block it", i,
             WTERMSIG(st), SIGSYS);
    CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed (status %#x)", i, st);
  }
  unlink(path);
  return 0;
}
