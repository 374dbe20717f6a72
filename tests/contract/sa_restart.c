/* sa_restart.c — contract: a signal whose handler has SA_RESTART does not
 * end a read() blocked on a pipe; the read keeps waiting and then returns the
 * data (docs/design.md §4 "Same signal behaviour": continues when it has SA_RESTART).
 *
 * Thread T blocks in read(); main waits until it sleeps, pthread_kill(T,
 * SIGUSR1) (SA_RESTART handler sets a flag), waits for the flag, checks T has
 * not returned, writes "data"; T's read must return exactly "data".
 */
#include "contract.h"

static int pfd[2];
static atomic_int tid;
static atomic_int handler_calls;
static atomic_int returned;
static long ret;
static int err;
static char buf[16];

static void on_usr1(int sig) {
  (void)sig;
  atomic_fetch_add(&handler_calls, 1);
}

static void* reader(void* arg) {
  (void)arg;
  atomic_store(&tid, (int)gettid());
  errno = 0;
  ret = read(pfd[0], buf, sizeof buf);
  err = errno;
  atomic_store(&returned, 1);
  return NULL;
}

int main(void) {
  ct_name = "sa_restart";
  ct_start_watchdog(30);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(SIGUSR1, &sa, NULL) != 0) ct_fail("sigaction: %s", strerror(errno));
  if (pipe2(pfd, O_CLOEXEC) != 0) ct_fail("pipe2: %s", strerror(errno));

  ct_step = "warm-up";
  ct_write_all(pfd[1], "w", 1, "warm-up");
  char c;
  CT_EXPECT_RET(read(pfd[0], &c, 1), 1, "warm-up read");

  pthread_t th;
  if (pthread_create(&th, NULL, reader, NULL) != 0) ct_fail("pthread_create");
  ct_step = "waiting for the reader to block";
  while (atomic_load(&tid) == 0) sched_yield();
  ct_wait_sleeping(atomic_load(&tid));

  /* Several signals: each must be absorbed by the restart. */
  for (int k = 1; k <= 3; k++) {
    ct_step = "signalling the blocked read";
    if (pthread_kill(th, SIGUSR1) != 0) ct_fail("pthread_kill");
    for (long i = 0; atomic_load(&handler_calls) < k && i < 100000000L; i++) sched_yield();
    CT_CHECK(atomic_load(&handler_calls) == k, "handler ran %d times, want %d", atomic_load(&handler_calls),
             k);
    int ret_early = ct_wait_sleeping_or(atomic_load(&tid), &returned);
    CT_CHECK(!ret_early, "read returned on a SA_RESTART signal: %ld/%s", ret,
             ret == -1 ? strerrorname_np(err) : "-");
  }

  ct_step = "writing data for the restarted read";
  ct_write_all(pfd[1], "data", 4, "data");
  pthread_join(th, NULL);
  CT_CHECK(ret == 4 && memcmp(buf, "data", 4) == 0, "restarted read: got %ld/%s, want 4 \"data\"", ret,
           ret == -1 ? strerrorname_np(err) : "-");
  return 0;
}
