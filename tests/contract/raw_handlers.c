/* raw_handlers.c — contract: whatever reaches the kernel without passing
 * through libc must not break the shim or the program (docs/design.md §4 "Process
 * lifecycle"). Like test suites and language runtimes, the program installs
 * a handler for every catchable signal with the raw rt_sigaction system
 * call (libc's restorer, SA_SIGINFO), the shim's cancel signal included
 * (whose previous disposition must read SIG_DFL: the program set none),
 * does some I/O (file, pipe), then raises each signal: every handler runs,
 * on the raising thread, once.
 */
#include "contract.h"

#include <sys/syscall.h>

struct ksigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  unsigned long mask;
};

static volatile sig_atomic_t hits[65];

static void on_any(int s, siginfo_t* si, void* uc) {
  (void)si;
  (void)uc;
  if (s > 0 && s <= 64) hits[s]++;
}

static int catchable(int s) {
  /* 32 and 33 are glibc's own (cancellation, setxid): not the program's. */
  return s != SIGKILL && s != SIGSTOP && !(s >= 32 && s < SIGRTMIN);
}

int main(void) {
  ct_name = "raw_handlers";
  ct_start_watchdog(30);
  struct ksigaction probe = {0};
  CT_CHECK(signal(SIGUSR2, SIG_IGN) != SIG_ERR, "signal");
  struct sigaction sa = {0};
  sa.sa_sigaction = on_any;
  sa.sa_flags = SA_SIGINFO;
  CT_CHECK(sigaction(SIGUSR2, &sa, NULL) == 0, "sigaction");
  CT_CHECK(syscall(SYS_rt_sigaction, SIGUSR2, NULL, &probe, 8) == 0, "raw read");

  ct_step = "raw install";
  for (int s = 1; s <= SIGRTMAX; s++) {
    if (!catchable(s)) continue;
    struct ksigaction k = {(void*)on_any, probe.flags, probe.restorer, 0}, old = {0};
    CT_CHECK(syscall(SYS_rt_sigaction, s, &k, &old, 8) == 0, "raw rt_sigaction(%d): %s", s, strerror(errno));
    /* What the kernel held is the program's own: nothing was installed. */
    if (s == SIGRTMIN + 3)
      CT_CHECK(old.handler == (void*)SIG_DFL, "signal %d held handler %p before the program set one", s,
               old.handler);
  }

  ct_step = "I/O";
  int pp[2];
  CT_CHECK(pipe2(pp, O_CLOEXEC) == 0, "pipe2");
  char path[256], buf[64];
  int fd = ct_tmpfile(path, "f");
  ct_write_all(fd, "data", 4, "file");
  CT_EXPECT_RET(pread(fd, buf, sizeof buf, 0), 4, "pread");
  ct_write_all(pp[1], "p", 1, "pipe");
  CT_EXPECT_RET(read(pp[0], buf, sizeof buf), 1, "pipe read");

  ct_step = "raise each";
  for (int s = 1; s <= SIGRTMAX; s++) {
    if (!catchable(s)) continue;
    CT_CHECK(raise(s) == 0, "raise(%d)", s);
    CT_CHECK(hits[s] == 1, "signal %d: handler ran %d times, want 1", s, (int)hits[s]);
  }
  close(fd);
  unlink(path);
  return 0;
}
