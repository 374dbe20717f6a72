/* eintr_handler_race.c — contract: a timer signal arriving during a blocking
 * read ends it exactly as in the plain call, also when the handler writes
 * the byte the read waits for (docs/design.md §4 "Same signal behaviour").
 *
 *   eintr_handler_race <pipe|sock|sock_timeo> <restart|norestart> <libc|raw>
 *
 * The kernel interrupts the read before the handler runs: without SA_RESTART
 * the read returns -1/EINTR and the handler's byte stays in the channel;
 * with SA_RESTART the read goes on and returns that byte. A socket with a
 * receive timeout (sock_timeo: SO_RCVTIMEO) is never restarted (man 7
 * signal): -1/EINTR either way. A read handed to a worker that the caller
 * cancels only after the handler ran takes the byte instead. The handler is
 * installed with libc's sigaction or with the raw rt_sigaction system call
 * (which no interposer sees).
 *
 * Phase 1 (kIters): a helper thread (every signal blocked) waits until the
 * main thread sleeps in its read, then fires SIGALRM at the process, by
 * setitimer on even iterations and by a POSIX timer on odd ones. Phase 2
 * (kIters): the main thread arms the timer itself a few microseconds before
 * its read, so the signal lands anywhere (before the read, while it is
 * handed over...): either outcome of a signal before or during the read is
 * allowed, but no byte is ever lost or read twice.
 */
#include "contract.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>

enum { kIters = 100 };

struct ksigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  unsigned long mask;
};

static int chan[2];
static volatile sig_atomic_t hits;
static atomic_int main_tid;
static timer_t posix_timer;

static void on_alrm(int sig) {
  (void)sig;
  int e = errno;
  hits++;
  if (write(chan[1], "H", 1) != 1) _exit(3);
  errno = e;
}

static void fire(int iter, long usec) {
  if (iter % 2 == 0) {
    struct itimerval it = {{0, 0}, {0, usec}};
    if (setitimer(ITIMER_REAL, &it, NULL) != 0) ct_fail("setitimer: %s", strerror(errno));
  } else {
    struct itimerspec ts = {{0, 0}, {0, usec * 1000}};
    if (timer_settime(posix_timer, 0, &ts, NULL) != 0) ct_fail("timer_settime: %s", strerror(errno));
  }
}

static int iteration;
static void* helper(void* arg) {
  (void)arg;
  ct_wait_sleeping(atomic_load(&main_tid));
  fire(iteration, 1);
  return NULL;
}

int main(int argc, char** argv) {
  ct_name = "eintr_handler_race";
  if (argc != 4) ct_fail("usage: eintr_handler_race <pipe|sock|sock_timeo> <restart|norestart> <libc|raw>");
  const char* kind = argv[1];
  const int restart = !strcmp(argv[2], "restart");
  const int raw = !strcmp(argv[3], "raw");
  const int timeo = !strcmp(kind, "sock_timeo");
  const int sock = timeo || !strcmp(kind, "sock");
  ct_start_watchdog(50);
  atomic_store(&main_tid, (int)gettid());

  /* raw: libc's sigaction installs the opposite SA_RESTART, the raw system
   * call then the real one, which only the kernel knows. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alrm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = restart != raw ? SA_RESTART : 0;
  if (sigaction(SIGALRM, &sa, NULL) != 0) ct_fail("sigaction: %s", strerror(errno));
  if (raw) {
    struct ksigaction k = {0};
    CT_CHECK(syscall(SYS_rt_sigaction, SIGALRM, NULL, &k, 8) == 0, "raw read");
    k.flags = (k.flags & ~(unsigned long)SA_RESTART) | (restart ? SA_RESTART : 0);
    CT_CHECK(syscall(SYS_rt_sigaction, SIGALRM, &k, NULL, 8) == 0, "raw set");
  }
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = SIGALRM;
  if (timer_create(CLOCK_MONOTONIC, &sev, &posix_timer) != 0) ct_fail("timer_create: %s", strerror(errno));

  /* Interrupted without restart: EINTR, the byte stays. Restarted: the byte. */
  const int want_eintr = !restart || timeo;
  char buf[16];
  for (int phase = 1; phase <= 2; phase++) {
    for (int i = 0; i < kIters; i++) {
      ct_step = phase == 1 ? "phase 1: signal while blocked" : "phase 2: signal anywhere";
      int rc = sock ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan) : pipe2(chan, O_CLOEXEC);
      if (rc != 0) ct_fail("channel: %s", strerror(errno));
      if (timeo) {
        struct timeval tv = {30, 0};
        CT_CHECK(setsockopt(chan[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0, "SO_RCVTIMEO");
      }
      hits = 0;
      iteration = i;
      pthread_t t = 0;
      if (phase == 1)
        t = ct_spawn_masked(helper, NULL);
      else
        fire(i, 1 + (i * 7) % 60);
      errno = 0;
      long r = read(chan[0], buf, sizeof buf);
      int e = errno;
      if (phase == 1) pthread_join(t, NULL);
      /* A signal of phase 2 may still be on its way: let it land first. */
      for (long k = 0; hits == 0 && k < 100000000L; k++) sched_yield();
      CT_CHECK(hits == 1, "iteration %d: handler ran %d times", i, (int)hits);
      struct pollfd p = {chan[0], POLLIN, 0};
      long rest = poll(&p, 1, 0) == 1 ? read(chan[0], buf + 8, 8) : 0;
      if (phase == 1 && want_eintr)
        CT_CHECK(
            r == -1 && e == EINTR && rest == 1,
            "iteration %d: read got %ld (%s), %ld byte(s) left; want -1/EINTR and the handler's byte left", i,
            r, r < 0 ? strerrorname_np(e) : "-", rest);
      else if (phase == 1)
        CT_CHECK(r == 1 && buf[0] == 'H' && rest == 0,
                 "iteration %d: read got %ld (%s), %ld byte(s) left; want the handler's byte", i, r,
                 r < 0 ? strerrorname_np(e) : "-", rest);
      else
        CT_CHECK((r == -1 && e == EINTR && want_eintr && rest == 1) || (r == 1 && buf[0] == 'H' && rest == 0),
                 "iteration %d (signal anywhere): read got %ld (%s), %ld byte(s) left", i, r,
                 r < 0 ? strerrorname_np(e) : "-", rest);
      close(chan[0]);
      close(chan[1]);
    }
  }
  return 0;
}
