/* sigwait_process.c — contract: a signal the program blocks in every one of
 * its threads and sends to the process stays pending for the program, taken
 * by sigtimedwait or signalfd, whichever thread of the shim's or of libc's
 * the kernel hands it to (docs/design.md §4 "The cancel signal": its effect
 * on masks, sigwait and signalfd is exactly as without the shim; §5 "Signals
 * and exits": write-behind's handlers on the fatal signals).
 *
 * The signals: SIGRTMIN+3 (the shim's cancel signal), and SIGUSR1, SIGTERM,
 * SIGALRM, SIGHUP (default action terminate: write-behind takes them). Main
 * blocks them before any thread exists, so every program thread inherits the
 * mask. Then, alive for the whole test:
 *   - 4 threads blocked in read() on silent socketpairs: in pool mode each
 *     read runs on a worker with the cancel signal open (the kernel may hand
 *     the process-directed signal to it); under a stall deadline the reader
 *     itself has it open;
 *   - an mq_notify and a timer_create SIGEV_THREAD callback thread (glibc
 *     opens every signal there: the callback blocks them again first, as a
 *     program that wants them pending must) and glibc's helpers behind them;
 *   - glibc's AIO helper, idle after one aio_write;
 *   - with write-behind, data pending at every round (a 4 KiB write).
 * 250 rounds: kill(getpid(), sig), then sigtimedwait or signalfd must return
 * it, from this process. At the end nothing of the set is pending (a signal
 * handed on twice would be). Plain, every round passes; a thread of the
 * shim's that took a signal not meant for it and did not hand it back to the
 * process (or ran its default action) fails or ends the process.
 */
#include "contract.h"

#include <aio.h>
#include <dirent.h>
#include <mqueue.h>
#include <poll.h>
#include <semaphore.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#define NREADERS 4
#define ROUNDS 250

static int socks[NREADERS][2];
static atomic_int blocked_tids[NREADERS];
static sem_t cb_ready, cb_release;

static void* reader_main(void* arg) {
  int i = (int)(intptr_t)arg;
  char b[8];
  atomic_store(&blocked_tids[i], (int)syscall(SYS_gettid));
  ssize_t r = read(socks[i][0], b, sizeof b);
  if (r != 1) ct_fail("reader %d: read %zd (%s), want 1", i, r, strerror(errno));
  return NULL;
}

/* How many threads of the process are blocked in system call `nr`. */
static int threads_in_syscall(long nr) {
  DIR* d = opendir("/proc/self/task");
  CT_CHECK(d != NULL, "opendir /proc/self/task: %s", strerror(errno));
  int n = 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[300], line[64] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/syscall", e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t k = read(fd, line, sizeof line - 1);
    close(fd);
    if (k > 0 && strtol(line, NULL, 10) == nr && line[0] != 'r') n++;  // "running" while it runs
  }
  closedir(d);
  return n;
}

/* A SIGEV_THREAD callback: glibc runs it with every signal open (a plain
 * race with any process-directed signal): blocks them, says so, and stays
 * until the end, its helper thread behind it. */
static void callback(union sigval v) {
  (void)v;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  sem_post(&cb_ready);
  while (sem_wait(&cb_release) != 0) {
  }
}

static void wait_ready(const char* what) {
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += 10;
  int r;
  while ((r = sem_timedwait(&cb_ready, &dl)) != 0 && errno == EINTR) {
  }
  CT_CHECK(r == 0, "%s: the callback never ran", what);
}

int main(void) {
  ct_name = "sigwait_process";
  const int sigs[] = {SIGRTMIN + 3, SIGUSR1, SIGTERM, SIGALRM, SIGHUP};
  const int nsigs = (int)(sizeof sigs / sizeof sigs[0]);
  sigset_t set;
  sigemptyset(&set);
  for (int i = 0; i < nsigs; i++) sigaddset(&set, sigs[i]);
  CT_CHECK(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0, "pthread_sigmask");
  ct_start_watchdog(50);
  CT_CHECK(sem_init(&cb_ready, 0, 0) == 0 && sem_init(&cb_release, 0, 0) == 0, "sem_init");

  ct_step = "readers";
  pthread_t readers[NREADERS];
  for (int i = 0; i < NREADERS; i++) {
    CT_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, socks[i]) == 0, "socketpair");
    CT_CHECK(pthread_create(&readers[i], NULL, reader_main, (void*)(intptr_t)i) == 0, "pthread_create");
  }

  ct_step = "mq_notify callback";
  char name[64];
  snprintf(name, sizeof name, "/iowq-contract-%d", (int)getpid());
  struct mq_attr at = {0, 1, 8, 0, {0}};
  mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &at);
  if (q == (mqd_t)-1) ct_skip("mq_open: %s (no POSIX message queues here)", strerror(errno));
  mq_unlink(name);
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD;
  sev.sigev_notify_function = callback;
  CT_CHECK(mq_notify(q, &sev) == 0, "mq_notify: %s", strerror(errno));
  CT_CHECK(mq_send(q, "x", 1, 0) == 0, "mq_send: %s", strerror(errno));
  wait_ready("mq_notify");

  ct_step = "timer_create callback";
  timer_t tm;
  struct itimerspec its = {{0, 0}, {0, 1000000}};
  CT_CHECK(timer_create(CLOCK_MONOTONIC, &sev, &tm) == 0, "timer_create: %s", strerror(errno));
  CT_CHECK(timer_settime(tm, 0, &its, NULL) == 0, "timer_settime");
  wait_ready("timer_create");

  char path[256];
  int fd = ct_tmpfile(path, "data");
  unlink(path);
  static char buf[4096];
  memset(buf, 'd', sizeof buf);

  ct_step = "aio_write";
  struct aiocb cb;
  memset(&cb, 0, sizeof cb);
  cb.aio_fildes = fd;
  cb.aio_buf = buf;
  cb.aio_nbytes = 64;
  CT_CHECK(aio_write(&cb) == 0, "aio_write: %s", strerror(errno));
  for (long k = 0; aio_error(&cb) == EINPROGRESS && k < 100000000L; k++) sched_yield();
  CT_CHECK(aio_return(&cb) == 64, "aio_return");

  ct_step = "waiting for the readers to block";
  for (int i = 0; i < NREADERS; i++) {
    for (long k = 0; atomic_load(&blocked_tids[i]) == 0 && k < 100000000L; k++) sched_yield();
    ct_wait_sleeping(atomic_load(&blocked_tids[i]));
  }
  /* ... and the reads themselves (on the readers, or on pool workers, which
   * then have the cancel signal open: what the rounds are about). */
  ct_step = "waiting for the reads to block";
  int64_t until = ct_now_ns() + 10 * 1000000000LL;
  while (threads_in_syscall(SYS_read) < NREADERS) {
    CT_CHECK(ct_now_ns() < until, "the %d reads never blocked", NREADERS);
    sched_yield();
  }

  const pid_t me = getpid();
  for (int round = 0; round < ROUNDS; round++) {
    const int sig = sigs[round % nsigs];
    const int by_fd = (round / nsigs) % 2;
    ct_step = by_fd ? "kill, then signalfd" : "kill, then sigtimedwait";
    CT_EXPECT_RET(write(fd, buf, sizeof buf), sizeof buf, "write");  // pending under write-behind
    CT_EXPECT_RET(kill(me, sig), 0, "kill");
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    int got;
    pid_t from;
    if (by_fd) {
      int sfd = signalfd(-1, &one, SFD_CLOEXEC);
      CT_CHECK(sfd >= 0, "signalfd: %s", strerror(errno));
      struct pollfd p = {sfd, POLLIN, 0};
      CT_CHECK(poll(&p, 1, 5000) == 1, "round %d: signal %d not seen by signalfd in 5 s", round, sig);
      struct signalfd_siginfo si;
      CT_EXPECT_RET(read(sfd, &si, sizeof si), sizeof si, "read(signalfd)");
      close(sfd);
      got = (int)si.ssi_signo;
      from = (pid_t)si.ssi_pid;
    } else {
      struct timespec ts = {5, 0};
      siginfo_t si;
      got = sigtimedwait(&one, &si, &ts);
      CT_CHECK(got > 0, "round %d: signal %d not taken by sigtimedwait in 5 s: %s", round, sig,
               strerror(errno));
      from = si.si_pid;
    }
    CT_CHECK(got == sig, "round %d: got signal %d, want %d", round, got, sig);
    CT_CHECK(from == me, "round %d: signal %d from pid %d, want %d", round, sig, (int)from, (int)me);
  }

  ct_step = "nothing left pending";
  sigset_t pend;
  CT_CHECK(sigpending(&pend) == 0, "sigpending");
  for (int i = 0; i < nsigs; i++) CT_CHECK(!sigismember(&pend, sigs[i]), "signal %d still pending", sigs[i]);

  ct_step = "the end";
  for (int i = 0; i < NREADERS; i++) CT_EXPECT_RET(write(socks[i][1], "e", 1), 1, "write(socket)");
  for (int i = 0; i < NREADERS; i++) pthread_join(readers[i], NULL);
  sem_post(&cb_release);
  sem_post(&cb_release);
  timer_delete(tm);
  mq_close(q);
  close(fd);
  return 0;
}
