/* sigwait_blocked.c — contract: the cancel signal (IOWQ_SIGNAL, SIGRTMIN+3
 * by default), blocked by the program in every thread and taken with
 * sigwait, stays pending for sigwait also while a thread blocks in a socket
 * call under a stall deadline (docs/design.md §4: the signal's effect on the
 * program's masks and sigwait is exactly as without the shim).
 *
 * Thread T blocks in recv() on a silent socketpair; main sends T the signal
 * (pthread_kill: only T can take it; every thread blocks it), then ends the
 * stream. T's sigwait() after recv must return it: plain, it stayed pending
 * on T; a shim that opened the signal on T for the deadline must not let it
 * act meanwhile (its default action ends the process).
 */
#include "contract.h"

#include <sys/socket.h>
#include <sys/syscall.h>

static int sv[2];
static atomic_int tid;

static void* thread_main(void* arg) {
  (void)arg;
  char b[8];
  atomic_store(&tid, (int)syscall(SYS_gettid));
  ssize_t r = recv(sv[0], b, sizeof b, 0);
  if (r != 0) ct_fail("recv: %zd, want 0 (end of stream)", r);
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGRTMIN + 3);
  int got = 0;
  ct_step = "T: sigwait";
  if (sigwait(&s, &got) != 0 || got != SIGRTMIN + 3) ct_fail("sigwait got %d, want %d", got, SIGRTMIN + 3);
  return NULL;
}

int main(void) {
  ct_name = "sigwait_blocked";
  const int sig = SIGRTMIN + 3;
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, sig);
  CT_CHECK(pthread_sigmask(SIG_BLOCK, &s, NULL) == 0, "pthread_sigmask");
  ct_start_watchdog(30);
  CT_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
  pthread_t t;
  CT_CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0, "pthread_create");
  for (long k = 0; atomic_load(&tid) == 0 && k < 100000000L; k++) sched_yield();
  ct_step = "waiting for T to block in recv";
  ct_wait_sleeping(atomic_load(&tid));
  ct_step = "signal to T, end of stream";
  CT_CHECK(pthread_kill(t, sig) == 0, "pthread_kill");
  CT_CHECK(shutdown(sv[1], SHUT_WR) == 0, "shutdown");
  pthread_join(t, NULL);
  return 0;
}
