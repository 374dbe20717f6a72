/* resethand_race.c — two threads take the same SA_RESETHAND signal at once
 * (docs/design.md §5 "Signals and exits"): the first delivery runs the
 * handler and resets the signal to SIG_DFL, so the other ends the process,
 * as the kernel does without the shim (write-behind wraps such a handler to
 * keep its SIG_DFL a writing one).
 *
 * Each round forks a child with pending write-behind data; its handler for
 * SIGUSR1 has SA_RESETHAND. Two threads with SIGUSR1 pending and blocked
 * unblock it together: the child must die of SIGUSR1, the handler having run
 * at most once.
 */
#include "wb.h"

#include <sys/wait.h>

#define ROUNDS 200

static atomic_int ready, go;
static volatile sig_atomic_t runs;
static void on_usr1(int s) {
  (void)s;
  runs++;
}

static void* taker(void* arg) {
  (void)arg;
  atomic_fetch_add(&ready, 1);
  for (long i = 0; !atomic_load(&go) && i < 1000000000L; i++) {
  }
  sigset_t u;
  sigemptyset(&u);
  sigaddset(&u, SIGUSR1);
  pthread_sigmask(SIG_UNBLOCK, &u, NULL);
  return NULL;
}

static void child(int fd) {
  alarm(10);
  char buf[512];
  memset(buf, 'r', sizeof buf);
  for (int i = 0; i < 32; i++)
    if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) _exit(3);
  struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESETHAND};
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGUSR1, &sa, NULL) != 0) _exit(4);
  sigset_t b;
  sigemptyset(&b);
  sigaddset(&b, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &b, NULL); /* the threads inherit it */
  pthread_t t[2];
  for (int k = 0; k < 2; k++)
    if (pthread_create(&t[k], NULL, taker, NULL) != 0) _exit(5);
  while (atomic_load(&ready) < 2) sched_yield();
  for (int k = 0; k < 2; k++) pthread_kill(t[k], SIGUSR1);
  atomic_store(&go, 1);
  for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
  _exit(runs == 1 ? 6 : 7); /* survived the second delivery */
}

int main(void) {
  ct_name = "resethand_race";
  ct_start_watchdog(50);
  char path[256];
  int fd = ct_tmpfile(path, "resethand");
  /* The children write no report (they die of the signal): this write shows
   * in the parent's that write-behind runs here. */
  CT_CHECK(write(fd, "marker", 6) == 6, "marker write");
  for (int r = 0; r < ROUNDS; r++) {
    ct_step = "two deliveries of a SA_RESETHAND signal";
    pid_t pid = fork();
    CT_CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) child(fd);
    int st;
    CT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    CT_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR1, "round %d: the child %s %d, want killed by SIGUSR1",
             r, WIFSIGNALED(st) ? "was killed by signal" : "exited with",
             WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
  }
  close(fd);
  unlink(path);
  return 0;
}
