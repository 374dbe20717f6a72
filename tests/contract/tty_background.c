/* tty_background.c — contract: job control on a terminal works as without
 * the shim (docs/design.md §4 "Same signal behaviour"): a process of a background
 * process group that reads its controlling terminal is stopped by SIGTTIN.
 * (Under the shim a tty read always runs in the calling thread: a pool
 * worker blocks SIGTTIN, so the kernel would fail its read with EIO.)
 *
 * A child makes a new session with a pseudo-terminal as its controlling
 * terminal; its own child moves to another process group (background) and
 * reads the terminal: it must stop with SIGTTIN.
 */
#include "contract.h"

#include <sys/ioctl.h>
#include <sys/wait.h>

static int session(const char* slave_name) {
  alarm(20);
  if (setsid() < 0) return 10;
  int tty = open(slave_name, O_RDWR); /* becomes the controlling terminal */
  if (tty < 0) return 11;
  if (ioctl(tty, TIOCSCTTY, 0) != 0 && errno != EPERM) return 12;
  pid_t g = fork();
  if (g < 0) return 13;
  if (g == 0) {
    alarm(20);
    if (setpgid(0, 0) != 0) _exit(20);
    char c;
    long r = read(tty, &c, 1); /* background: SIGTTIN stops us here */
    fprintf(stderr, "tty_background: background read returned %ld (%s)\n", r,
            r < 0 ? strerrorname_np(errno) : "-");
    _exit(21);
  }
  int st;
  if (waitpid(g, &st, WUNTRACED) != g) return 14;
  int ok = WIFSTOPPED(st) && WSTOPSIG(st) == SIGTTIN;
  if (!ok)
    fprintf(stderr, "tty_background: background reader %s %d, want stopped by SIGTTIN\n",
            WIFEXITED(st)     ? "exited"
            : WIFSIGNALED(st) ? "killed by"
                              : "stopped by",
            WIFEXITED(st)     ? WEXITSTATUS(st)
            : WIFSIGNALED(st) ? WTERMSIG(st)
                              : WSTOPSIG(st));
  kill(g, SIGKILL);
  waitpid(g, &st, 0);
  /* The foreground reads it fine. */
  if (ok && write(open(slave_name, O_RDWR), "", 0) < 0) return 15;
  return ok ? 0 : 16;
}

int main(void) {
  ct_name = "tty_background";
  ct_start_watchdog(30);
  int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0) ct_skip("posix_openpt: %s", strerror(errno));
  CT_CHECK(grantpt(m) == 0 && unlockpt(m) == 0, "grantpt/unlockpt: %s", strerror(errno));
  char name[128];
  CT_CHECK(ptsname_r(m, name, sizeof name) == 0, "ptsname_r");
  ct_step = "background read of the controlling terminal";
  pid_t c = fork();
  CT_CHECK(c >= 0, "fork");
  if (c == 0) _exit(session(name));
  int st;
  CT_CHECK(waitpid(c, &st, 0) == c, "waitpid");
  CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "session child: %s %d", WIFEXITED(st) ? "exit" : "signal",
           WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
  return 0;
}
