/* sigwait_churn.c — contract: sigtimedwait and sigwaitinfo for the cancel
 * signal (SIGRTMIN+3), blocked by the program in all its threads and sent to
 * the process, return the signal, never EINTR, when the program has no
 * handler that could have interrupted them (docs/design.md §4 "The cancel
 * signal"), also while other threads' calls keep going to the pool.
 *
 * Two threads write and read a pipe in a loop (in pool mode every read is
 * handed to a worker, which opens the cancel signal for it, and the thread
 * waits for it in rt_sigtimedwait with the signal in its set: its wake);
 * main sends the signal to the process and takes it, 20,000 times. Plain,
 * no other thread has it open, so main's wait can only end with it. Under
 * the shim a worker or a waiting thread could take a copy the kernel had
 * woken main for (it queues it to the process again) and main's wait ended
 * with EINTR: 40 to 220 times in 30,000 rounds on the 2-CPU VM.
 */
#include "contract.h"

#define ROUNDS 20000
#define CHURNERS 2

static atomic_int stop, churned;

static void* churn(void* arg) {
  (void)arg;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) ct_fail("pipe: %s", strerror(errno));
  char c = 'c';
  for (long k = 0; !atomic_load(&stop) && k < 100000000L; k++) {
    if (write(p[1], &c, 1) != 1 || read(p[0], &c, 1) != 1) ct_fail("churn: %s", strerror(errno));
    atomic_fetch_add(&churned, 1);
  }
  close(p[0]);
  close(p[1]);
  return NULL;
}

int main(void) {
  ct_name = "sigwait_churn";
  const int sig = SIGRTMIN + 3;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  CT_CHECK(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0, "pthread_sigmask");
  ct_start_watchdog(50);
  pthread_t t[CHURNERS];
  for (int i = 0; i < CHURNERS; i++)
    CT_CHECK(pthread_create(&t[i], NULL, churn, NULL) == 0, "pthread_create");
  ct_step = "waiting for the churn";
  for (long k = 0; atomic_load(&churned) < 100 && k < 100000000L; k++) sched_yield();
  const pid_t me = getpid();
  for (int round = 0; round < ROUNDS; round++) {
    ct_step = round & 1 ? "kill, then sigwaitinfo" : "kill, then sigtimedwait";
    CT_EXPECT_RET(kill(me, sig), 0, "kill");
    siginfo_t si;
    int got;
    if (round & 1) {
      got = sigwaitinfo(&set, &si);
    } else {
      struct timespec ts = {5, 0};
      got = sigtimedwait(&set, &si, &ts);
    }
    CT_CHECK(got == sig, "round %d: got %d (%s), want %d", round, got, got < 0 ? strerror(errno) : "-", sig);
    CT_CHECK(si.si_pid == me, "round %d: from pid %d", round, (int)si.si_pid);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < CHURNERS; i++) pthread_join(t[i], NULL);
  return 0;
}
