/* eintr_no_restart.c — contract: a signal whose handler lacks SA_RESTART
 * interrupts a read() blocked on a pipe: -1/EINTR, and nothing is lost
 * (docs/design.md §4 "Same signal behaviour": unbound work returns EINTR).
 *
 * Thread T blocks in read() on an empty pipe; main waits until T sleeps,
 * pthread_kill(T, SIGUSR1) (handler without SA_RESTART); T's read must
 * return -1/EINTR. Then main writes "x" and T's next read must get it — an
 * interrupted read that kept running somewhere (a worker) would steal it.
 */
#include "contract.h"

static int pfd[2];
static atomic_int tid;
static atomic_int handler_calls;
static atomic_int first_done;
static long first_ret, second_ret;
static int first_err;
static char second_buf[16];

static void on_usr1(int sig) {
  (void)sig;
  atomic_fetch_add(&handler_calls, 1);
}

static void* reader(void* arg) {
  (void)arg;
  char buf[16];
  atomic_store(&tid, (int)gettid());
  errno = 0;
  first_ret = read(pfd[0], buf, sizeof buf);
  first_err = errno;
  atomic_store(&first_done, 1);
  second_ret = read(pfd[0], second_buf, sizeof second_buf);
  return NULL;
}

int main(void) {
  ct_name = "eintr_no_restart";
  ct_start_watchdog(30);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART */
  if (sigaction(SIGUSR1, &sa, NULL) != 0) ct_fail("sigaction: %s", strerror(errno));
  if (pipe2(pfd, O_CLOEXEC) != 0) ct_fail("pipe2: %s", strerror(errno));

  /* Warm the path once so the pool (if any) has a worker. */
  ct_step = "warm-up";
  ct_write_all(pfd[1], "w", 1, "warm-up");
  char c;
  CT_EXPECT_RET(read(pfd[0], &c, 1), 1, "warm-up read");

  pthread_t th;
  if (pthread_create(&th, NULL, reader, NULL) != 0) ct_fail("pthread_create");
  ct_step = "waiting for the reader to block";
  while (atomic_load(&tid) == 0) sched_yield();
  ct_wait_sleeping(atomic_load(&tid));

  ct_step = "interrupting the blocked read";
  if (pthread_kill(th, SIGUSR1) != 0) ct_fail("pthread_kill");
  /* The second read blocks until we write; first check the first result. */
  for (long i = 0; atomic_load(&handler_calls) == 0 && i < 100000000L; i++) sched_yield();
  CT_CHECK(atomic_load(&handler_calls) == 1, "handler ran %d times", atomic_load(&handler_calls));
  /* The interrupted read must come back on its own, without data. */
  ct_step = "waiting for the interrupted read to return";
  int64_t deadline = ct_now_ns() + 5000000000LL;
  while (!atomic_load(&first_done) && ct_now_ns() < deadline) sched_yield();
  CT_CHECK(atomic_load(&first_done),
           "read still blocked 5 s after a signal without SA_RESTART (want -1/EINTR)");

  ct_step = "write after EINTR (blocks here if the interrupted read kept running)";
  ct_write_all(pfd[1], "x", 1, "x");
  pthread_join(th, NULL);
  CT_CHECK(first_ret == -1 && first_err == EINTR, "interrupted read: got %ld/%s, want -1/EINTR", first_ret,
           first_ret == -1 ? strerrorname_np(first_err) : "-");
  CT_CHECK(second_ret == 1 && second_buf[0] == 'x', "read after EINTR: got %ld '%c', want 1 'x' (data lost)",
           second_ret, second_ret > 0 ? second_buf[0] : '?');
  return 0;
}
