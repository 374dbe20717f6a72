/* exit_in_close.c — a signal handler that ends the process while close()
 * waits for the file's pending write loses nothing and does not hang
 * (docs/design.md §5 "Signals and exits").
 *
 * Many rounds, each a child: it writes 256 KiB with one write(), arms a
 * one-shot timer whose SIGALRM handler calls exit(0), and closes the file; the
 * timer's delay sweeps 0-400 us over the rounds, so some handler runs while
 * close() is still waiting for (or writing) the data. The parent waits for
 * each child (the watchdog catches a hang) and checks the file: 256 KiB of the
 * child's bytes, whether the handler or the end of main exited.
 */
#include "wb.h"

#include <sys/time.h>
#include <sys/wait.h>

#define ROUNDS 300
#define LEN (256 << 10)

static char buf[LEN];

static void on_alarm(int sig) {
  (void)sig;
  exit(0);
}

static void child(const char* path, unsigned round) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) _exit(2);
  wb_fill(buf, round, 0, LEN);
  if (write(fd, buf, LEN) != LEN) _exit(3);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {{0, 0}, {0, (suseconds_t)(1 + (round * 7) % 400)}};
  setitimer(ITIMER_REAL, &it, NULL);
  if (close(fd) != 0) _exit(4);
  sigset_t alrm;  // no handler inside this exit(): exit() is not reentrant
  sigemptyset(&alrm);
  sigaddset(&alrm, SIGALRM);
  sigprocmask(SIG_BLOCK, &alrm, NULL);
  exit(0);
}

int main(void) {
  ct_name = "exit_in_close";
  ct_start_watchdog(50);
  char path[256];
  int fd = ct_tmpfile(path, "exitclose");
  close(fd);
  for (unsigned round = 0; round < ROUNDS; round++) {
    ct_step = "round";
    pid_t pid = fork();
    CT_CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) child(path, round);
    int st;
    CT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) ct_fail("round %u: child status 0x%x", round, st);
    ct_step = "checking the file";
    wb_expect_stream(path, round, LEN);
  }
  unlink(path);
  return 0;
}
