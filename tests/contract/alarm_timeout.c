/* alarm_timeout.c — contract: the classic alarm() timeout around a blocking
 * read still works (docs/design.md §4 "alarm()-style timeouts still work").
 *
 * SIGALRM handler without SA_RESTART, alarm(1), read() on an empty pipe:
 * the read returns -1/EINTR after about one second (0.9 s .. 5 s). Then the
 * pipe is intact: "x" written afterwards is read back by the same thread.
 * Done twice, in the main thread and in a second thread (SIGALRM is
 * process-directed; the other threads block it, as the shim's workers must).
 */
#include "contract.h"

#include <poll.h>

static atomic_int alarms;
static int pfd[2];

static void on_alarm(int sig) {
  (void)sig;
  atomic_fetch_add(&alarms, 1);
}

static void* timed_read(void* arg) {
  char buf[8];
  if (arg) { /* the thread inherited main's blocked SIGALRM */
    sigset_t alrm;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
  }
  int before = atomic_load(&alarms);
  ct_step = "read with alarm(1)";
  int64_t t0 = ct_now_ns();
  alarm(1);
  errno = 0;
  long r = read(pfd[0], buf, sizeof buf);
  int e = errno;
  alarm(0);
  int64_t ms = (ct_now_ns() - t0) / 1000000;
  CT_CHECK(r == -1 && e == EINTR, "read: got %ld/%s after %ld ms, want -1/EINTR", r,
           r == -1 ? strerrorname_np(e) : "-", (long)ms);
  CT_CHECK(atomic_load(&alarms) == before + 1, "SIGALRM handler ran %d times, want 1",
           atomic_load(&alarms) - before);
  CT_CHECK(ms >= 900 && ms < 5000, "read interrupted after %ld ms, want about 1000", (long)ms);

  ct_step = "pipe intact after the timeout";
  ct_write_all(pfd[1], "x", 1, "x");
  struct pollfd p = {.fd = pfd[0], .events = POLLIN};
  CT_CHECK(poll(&p, 1, 5000) == 1, "written byte not readable (consumed by the timed-out read?)");
  r = read(pfd[0], buf, sizeof buf);
  CT_CHECK(r == 1 && buf[0] == 'x', "read after timeout: got %ld, want 1 'x'", r);
  return NULL;
}

int main(void) {
  ct_name = "alarm_timeout";
  ct_start_watchdog(15);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGALRM, &sa, NULL) != 0) ct_fail("sigaction: %s", strerror(errno));
  if (pipe2(pfd, O_CLOEXEC) != 0) ct_fail("pipe2: %s", strerror(errno));

  timed_read(NULL);

  /* Second thread: main blocks SIGALRM so only the reader can take it. */
  sigset_t alrm;
  sigemptyset(&alrm);
  sigaddset(&alrm, SIGALRM);
  pthread_sigmask(SIG_BLOCK, &alrm, NULL);
  pthread_t th;
  static int unblock = 1;
  if (pthread_create(&th, NULL, timed_read, &unblock) != 0) ct_fail("pthread_create");
  pthread_join(th, NULL);
  return 0;
}
