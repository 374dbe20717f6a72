/* raw_cancel_action.c — contract: the program sets the pool's cancel signal
 * (SIGRTMIN+3) with the raw rt_sigaction system call after the shim took it
 * over (docs/design.md §4 "Process lifecycle": its disposition as the program
 * sees it and its effect on blocking calls are exactly as without the shim).
 *
 *  1. a first blocked read (the take-over, under the shim);
 *  2. raw: a handler without SA_RESTART that writes a byte into the pipe;
 *     libc's sigaction reads it back; the signal sent to the process while
 *     the main thread blocks in read: -1/EINTR, the byte stays;
 *  3. raw: SIG_DFL back; then SIGUSR1 (handler without SA_RESTART)
 *     interrupts a blocked read: -1/EINTR, and the process lives (the pool
 *     cancels its worker with that very signal).
 */
#include "contract.h"

#include <poll.h>
#include <sys/syscall.h>

struct ksigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  unsigned long mask;
};

static int sig, pp[2];
static atomic_int main_tid;
static volatile sig_atomic_t hits;

static void on_sig(int s) {
  (void)s;
  int e = errno;
  hits++;
  if (write(pp[1], "H", 1) != 1) _exit(3);
  errno = e;
}
static void on_usr1(int s) {
  (void)s;
  hits++;
}

static int send_to;
static void* sender(void* arg) {
  (void)arg;
  ct_wait_sleeping(atomic_load(&main_tid));
  kill(getpid(), send_to);
  return NULL;
}

/* read() on the empty pipe while `s` is sent to the process. */
static long read_interrupted(int s, int* err) {
  char c;
  send_to = s;
  hits = 0;
  pthread_t t = ct_spawn_masked(sender, NULL);
  errno = 0;
  long r = read(pp[0], &c, 1);
  *err = errno;
  pthread_join(t, NULL);
  return r;
}

int main(void) {
  ct_name = "raw_cancel_action";
  ct_start_watchdog(40);
  sig = SIGRTMIN + 3;
  atomic_store(&main_tid, (int)gettid());
  CT_CHECK(pipe2(pp, O_CLOEXEC) == 0, "pipe2");

  ct_step = "1: first read (take-over)";
  char c;
  ct_write_all(pp[1], "d", 1, "fill");
  CT_EXPECT_RET(read(pp[0], &c, 1), 1, "first read");

  ct_step = "2: raw handler without SA_RESTART";
  struct ksigaction probe = {0}, k = {0}, dfl = {0};
  CT_CHECK(signal(SIGUSR2, on_sig) != SIG_ERR, "signal(SIGUSR2)");
  CT_CHECK(syscall(SYS_rt_sigaction, SIGUSR2, NULL, &probe, 8) == 0, "raw read");
  k.handler = (void*)on_sig;
  k.flags = probe.flags & ~(unsigned long)SA_RESTART;
  k.restorer = probe.restorer;
  CT_CHECK(syscall(SYS_rt_sigaction, sig, &k, NULL, 8) == 0, "raw set: %s", strerror(errno));
  struct sigaction now;
  CT_CHECK(sigaction(sig, NULL, &now) == 0, "sigaction read");
  CT_CHECK(now.sa_handler == on_sig && !(now.sa_flags & SA_RESTART), "sigaction reads back %p flags %#x",
           (void*)now.sa_handler, now.sa_flags);
  int e;
  long r = read_interrupted(sig, &e);
  struct pollfd p = {pp[0], POLLIN, 0};
  long rest = poll(&p, 1, 0) == 1 ? read(pp[0], &c, 1) : 0;
  CT_CHECK(
      r == -1 && e == EINTR && rest == 1 && hits == 1,
      "read got %ld (%s), %ld byte(s) left, handler ran %d times; want -1/EINTR, the handler's byte left", r,
      r < 0 ? strerrorname_np(e) : "-", rest, (int)hits);

  ct_step = "3: raw SIG_DFL, then a cancel";
  dfl.handler = (void*)SIG_DFL;
  dfl.flags = probe.flags & ~(unsigned long)(SA_RESTART | SA_SIGINFO);
  dfl.restorer = probe.restorer;
  CT_CHECK(syscall(SYS_rt_sigaction, sig, &dfl, NULL, 8) == 0, "raw SIG_DFL");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  CT_CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction SIGUSR1");
  r = read_interrupted(SIGUSR1, &e);
  CT_CHECK(r == -1 && e == EINTR && hits == 1, "read got %ld (%s), handler ran %d times; want -1/EINTR", r,
           r < 0 ? strerrorname_np(e) : "-", (int)hits);
  CT_CHECK(sigaction(sig, NULL, &now) == 0 && now.sa_handler == SIG_DFL, "sigaction reads back %p",
           (void*)now.sa_handler);
  return 0;
}
