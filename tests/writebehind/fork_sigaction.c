/* fork_sigaction.c — a fork child's sigaction on a fatal signal never waits
 * for a parent thread that was inside sigaction at the fork (docs/design.md
 * §5 "Signals and exits"): once data is pending, write-behind answers
 * sigaction on those signals under a lock, which the child's only thread
 * must not inherit held.
 *
 * A thread keeps setting SIGUSR1 (a handler, SIG_DFL) while the main thread
 * forks; each child reads SIGUSR1's disposition with sigaction and exits 0.
 * A child stuck on the lock is ended by its alarm (SIGALRM).
 */
#include "wb.h"

#include <sys/wait.h>

#define FORKS 300

static atomic_int stop;
static void on_usr1(int s) { (void)s; }

static void* setter(void* arg) {
  (void)arg;
  struct sigaction h = {.sa_handler = on_usr1}, d = {.sa_handler = SIG_DFL};
  sigemptyset(&h.sa_mask);
  sigemptyset(&d.sa_mask);
  for (long i = 0; !atomic_load(&stop) && i < 100000000L; i++) sigaction(SIGUSR1, (i & 1) ? &h : &d, NULL);
  return NULL;
}

int main(void) {
  ct_name = "fork_sigaction";
  ct_start_watchdog(50);
  char path[256];
  int fd = ct_tmpfile(path, "forksig");
  char buf[4096];
  memset(buf, 'f', sizeof buf);
  for (int i = 0; i < 64; i++) CT_CHECK(write(fd, buf, sizeof buf) == (ssize_t)sizeof buf, "write");
  pthread_t t;
  CT_CHECK(pthread_create(&t, NULL, setter, NULL) == 0, "pthread_create");
  for (int k = 0; k < FORKS; k++) {
    ct_step = "fork, sigaction in the child";
    pid_t pid = fork();
    CT_CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
      alarm(5);
      struct sigaction q;
      _exit(sigaction(SIGUSR1, NULL, &q) == 0 ? 0 : 3);
    }
    int st;
    CT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      atomic_store(&stop, 1);
      ct_fail("child %d of %d: %s %d (stuck in sigaction: ended by its alarm)", k, FORKS,
              WIFSIGNALED(st) ? "killed by signal" : "exit status",
              WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    }
  }
  atomic_store(&stop, 1);
  pthread_join(t, NULL);
  close(fd);
  unlink(path);
  return 0;
}
