/* talk_done.c — telling another process "done" lets it see the data
 * (docs/design.md §5: a write or send to a pipe or socket, kill, ... waits for every
 * pending write).
 *
 * Usage: talk_done pipe|socket|kill|fprintf. A child writes a file in many
 * small writes (no sync point), then tells the parent by the named means:
 *   pipe     write(2) of "done" on a pipe;
 *   socket   send(2) on a socketpair;
 *   kill     kill(parent, SIGUSR1);
 *   fprintf  fprintf + fflush on a FILE over the pipe (stdio's internal
 *            write, which no interposer sees).
 * and through calls no interposer sees (the write-behind net, docs/design.md
 * §5 "The net"):
 *   raw      syscall(SYS_write) on the pipe;
 *   thread   the same from a thread created after the data is pending;
 *   handler  the same from a SIGUSR2 handler (raise), which must return
 *            to the program (its restorer's rt_sigreturn);
 *   sigsys   the program has its own SIGSYS handler and a seccomp filter
 *            (set by its own syscall instruction: unseen by the shim)
 *            that traps getppid (SECCOMP_RET_TRAP): its handler still sees
 *            that SIGSYS and sets the result; then syscall(SYS_write).
 * and from threads the interposed pthread_create does not make, each
 * syscall(SYS_write) on the pipe:
 *   thrd     a C11 thrd_create thread;
 *   timer    a timer_create SIGEV_THREAD callback;
 *   mq       an mq_notify SIGEV_THREAD callback;
 * each made before the data is pending (a thread made while it is pending
 * is made after it landed: glibc's clone traps) and waiting for a semaphore
 * posted after it;
 *   clone    a libc clone() child (CLONE_VM|CLONE_THREAD, no CLONE_SETTLS:
 *            it shares main's thread-local block), made before the data, told
 *            to go by a futex.
 * In the raw modes the child then waits for "bye" in a raw read(2), with a
 * SA_RESTART handler for SIGWINCH that the parent sends first: the read is
 * restarted, never EINTR.
 * The parent stops the child as soon as it is told (SIGSTOP freezes the
 * shim's workers too), checks the file, then lets the child go. The child
 * must not exit before (exit would write everything anyway).
 */
#include "wb.h"

#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <mqueue.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <threads.h>
#include <time.h>
#include <ucontext.h>

#define WRITES 20000
#define SEED 5
/* then a burst of large writes to NBURST more files, which the pool's
 * one bound worker (IOWQ_BOUND_MAX=1) writes one chunk at a time, more
 * slowly than the copies are made: data is surely pending at "done" */
#define NBURST 32
#define BURST_FILE (512u << 10)
#define BURST_PIECE 65536

static int g_tell = -1;
static volatile sig_atomic_t g_winch, g_sigsys;

static int raw_done(void) { return syscall(SYS_write, g_tell, "done", 4) == 4 ? 0 : -1; }

/* thrd, timer, mq: the thread waits for "go", tells, posts "told". */
static sem_t g_go, g_told;
static int g_result = -1;
static void notify_done(union sigval v) {
  (void)v;
  while (sem_wait(&g_go) != 0) {
  }
  g_result = raw_done();
  sem_post(&g_told);
}
static int thrd_done(void* arg) {
  notify_done((union sigval){.sival_ptr = arg});
  return 0;
}
static thrd_t g_thrd;
/* thread: made by the interposed pthread_create before any data is pending
 * (made after the burst, its tell found the data already written in 1 of 10
 * runs under load: main was preempted in pthread_create while the worker
 * drained, so nothing trapped), it waits for "go" like the others. */
static pthread_t g_pth;
static void* thread_done(void* arg) {
  notify_done((union sigval){.sival_ptr = arg});
  return NULL;
}

/* clone: raw futexes only (the child runs on main's thread-local block). */
static int g_clone_go;
static pid_t g_clone_tid = 1;
static int clone_done(void* arg) {
  (void)arg;
  while (__atomic_load_n(&g_clone_go, __ATOMIC_ACQUIRE) == 0)
    syscall(SYS_futex, &g_clone_go, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
  g_result = raw_done();
  return 0;
}

/* Sets up the mode's thread (before any data is pending). 0 or -1. */
static int prepare(const char* mode) {
  if (!strcmp(mode, "thrd") || !strcmp(mode, "timer") || !strcmp(mode, "mq") || !strcmp(mode, "thread")) {
    if (sem_init(&g_go, 0, 0) != 0 || sem_init(&g_told, 0, 0) != 0) return -1;
    if (!strcmp(mode, "thrd")) return thrd_create(&g_thrd, thrd_done, NULL) == thrd_success ? 0 : -1;
    if (!strcmp(mode, "thread")) return pthread_create(&g_pth, NULL, thread_done, NULL) == 0 ? 0 : -1;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = notify_done;
    if (!strcmp(mode, "timer")) {
      timer_t t;
      struct itimerspec its = {{0, 0}, {0, 1000000}};
      return timer_create(CLOCK_MONOTONIC, &sev, &t) == 0 && timer_settime(t, 0, &its, NULL) == 0 ? 0 : -1;
    }
    char name[64];
    snprintf(name, sizeof name, "/iowq-talk-%d", (int)getpid());
    struct mq_attr at = {0, 1, 8, 0, {0}};
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &at);
    if (q == (mqd_t)-1) return -1;
    mq_unlink(name);
    return mq_notify(q, &sev) == 0 && mq_send(q, "x", 1, 0) == 0 ? 0 : -1;
  }
  if (!strcmp(mode, "clone")) {
    size_t sz = 256 << 10;
    char* stack = malloc(sz);
    if (!stack) return -1;
    int fl = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
             CLONE_CHILD_CLEARTID;
    return clone(clone_done, stack + sz, fl, NULL, NULL, NULL, &g_clone_tid) > 0 ? 0 : -1;
  }
  return 0;
}

/* The mode's thread tells; 0 or -1 (its result). */
static int tell_from_thread(const char* mode) {
  if (!strcmp(mode, "clone")) {
    __atomic_store_n(&g_clone_go, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &g_clone_go, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    /* CLONE_CHILD_CLEARTID: the kernel zeroes it and wakes (shared) at exit */
    for (pid_t v; (v = __atomic_load_n(&g_clone_tid, __ATOMIC_ACQUIRE)) != 0;)
      syscall(SYS_futex, &g_clone_tid, FUTEX_WAIT, v, NULL, NULL, 0);
    return g_result;
  }
  sem_post(&g_go);
  while (sem_wait(&g_told) != 0) {
  }
  if (!strcmp(mode, "thrd") && thrd_join(g_thrd, NULL) != thrd_success) _exit(6);
  if (!strcmp(mode, "thread") && pthread_join(g_pth, NULL) != 0) _exit(6);
  return g_result;
}

static void on_usr2(int sig) {
  (void)sig;
  if (raw_done() != 0) _exit(4);
}
static void on_winch(int sig) {
  (void)sig;
  g_winch = 1;
}
static void on_sigsys(int sig, siginfo_t* si, void* ucv) {
  (void)sig;
  ucontext_t* uc = ucv;
  if (si->si_code == 1 /* SYS_SECCOMP */ && si->si_syscall == SYS_getppid) {
    g_sigsys++;
    uc->uc_mcontext.gregs[REG_RAX] = 4242;
  }
}

/* seccomp: getppid traps (SIGSYS to the program), everything else runs. */
static int trap_getppid(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof f / sizeof f[0], f};
  struct sigaction sa = {0};
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  if (sigaction(SIGSYS, &sa, NULL) != 0) return -1;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  /* Unseen by the shim (its own instruction): a filter through libc would
   * mark the thread, whose calls then skip write-behind altogether. */
  return (int)ct_hidden_seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static size_t stream_len(void) {
  size_t n = 0;
  for (int i = 0; i < WRITES; i++) n += 1 + (size_t)((i * 13) % 50);
  return n;
}

int main(int argc, char** argv) {
  ct_name = "talk_done";
  CT_CHECK(argc == 2,
           "usage: talk_done pipe|socket|kill|fprintf|raw|thread|handler|sigsys|thrd|timer|mq|clone");
  const char* mode = argv[1];
  const int other_thread = !strcmp(mode, "thrd") || !strcmp(mode, "timer") || !strcmp(mode, "mq") ||
                           !strcmp(mode, "clone") || !strcmp(mode, "thread");
  const int raw = other_thread || !strcmp(mode, "raw") || !strcmp(mode, "handler") || !strcmp(mode, "sigsys");
  if (!strcmp(mode, "mq")) { /* message queues may be missing (kernel config, sandbox) */
    char name[64];
    snprintf(name, sizeof name, "/iowq-talk-probe-%d", (int)getpid());
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, NULL);
    if (q == (mqd_t)-1) ct_skip("mq_open: %s", strerror(errno));
    mq_close(q);
    mq_unlink(name);
  }
  ct_start_watchdog(50);
  char path[256];
  int fd = ct_tmpfile(path, "talk");
  close(fd);
  int tell[2], bye[2];
  if (!strcmp(mode, "socket"))
    CT_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, tell) == 0, "socketpair");
  else
    CT_CHECK(pipe2(tell, O_CLOEXEC) == 0, "pipe");
  CT_CHECK(pipe2(bye, O_CLOEXEC) == 0, "pipe");
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigprocmask(SIG_BLOCK, &usr1, NULL);
  pid_t parent = getpid();
  pid_t kid = fork();
  CT_CHECK(kid >= 0, "fork");
  if (kid == 0) {
    /* a failing parent leaves it stopped: die with the parent */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    alarm(45);
    g_tell = tell[1];
    if (raw) {
      struct sigaction sa = {0};
      sa.sa_handler = on_winch;
      sa.sa_flags = SA_RESTART;
      if (sigaction(SIGWINCH, &sa, NULL) != 0) _exit(2);
      sa.sa_handler = on_usr2;
      if (sigaction(SIGUSR2, &sa, NULL) != 0) _exit(2);
      if (!strcmp(mode, "sigsys") && trap_getppid() != 0) _exit(2);
      if (prepare(mode) != 0) _exit(2);
    }
    int w = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (w < 0) _exit(2);
    /* the burst files' opens come first: an open waits for everything */
    int bf[NBURST];
    for (int b = 0; b < NBURST; b++) {
      char bp[300];
      snprintf(bp, sizeof bp, "%s.%d", path, b);
      bf[b] = open(bp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (bf[b] < 0) _exit(2);
    }
    char buf[64];
    size_t off = 0;
    for (int i = 0; i < WRITES; i++) {
      size_t len = 1 + (size_t)((i * 13) % 50);
      wb_fill(buf, SEED, off, len);
      if (write(w, buf, len) != (ssize_t)len) _exit(3);
      off += len;
    }
    char* big = malloc(BURST_PIECE);
    if (!big) _exit(2);
    memset(big, 'b', BURST_PIECE);
    for (unsigned k = 0; k < BURST_FILE / BURST_PIECE; k++)
      for (int b = 0; b < NBURST; b++)
        if (write(bf[b], big, BURST_PIECE) != BURST_PIECE) _exit(3);
    int r = 0;
    if (!strcmp(mode, "pipe")) {
      r = write(tell[1], "done", 4) == 4 ? 0 : -1;
    } else if (!strcmp(mode, "socket")) {
      r = send(tell[1], "done", 4, 0) == 4 ? 0 : -1;
    } else if (!strcmp(mode, "kill")) {
      r = kill(parent, SIGUSR1);
    } else if (!strcmp(mode, "raw")) {
      r = raw_done();
    } else if (!strcmp(mode, "handler")) {
      r = raise(SIGUSR2); /* the handler tells; then it returns here */
    } else if (other_thread) {
      r = tell_from_thread(mode);
    } else if (!strcmp(mode, "sigsys")) {
      long pp = syscall(SYS_getppid);
      if (pp != 4242 || g_sigsys != 1) _exit(7);
      r = raw_done();
    } else {
      FILE* f = fdopen(tell[1], "w");
      r = f && fprintf(f, "done") == 4 && fflush(f) == 0 ? 0 : -1;
    }
    if (r != 0) _exit(4);
    char c;
    if (raw) {
      /* SIGWINCH (SA_RESTART) comes before "bye": restarted, never EINTR */
      if (syscall(SYS_read, bye[0], &c, 1) != 1 || !g_winch) _exit(5);
    } else if (read(bye[0], &c, 1) != 1) {
      _exit(5);
    }
    exit(0); /* writes the shim's report */
  }
  ct_step = "waiting for done";
  if (!strcmp(mode, "kill")) {
    int sig;
    CT_CHECK(sigwait(&usr1, &sig) == 0 && sig == SIGUSR1, "sigwait");
  } else {
    char buf[8];
    ssize_t n = 0;
    for (int guard = 0; n < 4 && guard < 100; guard++) {
      ssize_t r = read(tell[0], buf + n, 4 - (size_t)n);
      CT_CHECK(r > 0, "read done: %zd", r);
      n += r;
    }
    CT_CHECK(n == 4 && !memcmp(buf, "done", 4), "bad message");
  }
  /* Freeze the child, pool threads included: what it has not written by
     * now stays unwritten while the file is checked. */
  CT_CHECK(kill(kid, SIGSTOP) == 0, "SIGSTOP");
  int st;
  CT_CHECK(waitpid(kid, &st, WUNTRACED) == kid && WIFSTOPPED(st), "waitpid(WUNTRACED)");
  ct_step = "verify (child stopped)";
  for (int b = 0; b < NBURST; b++) {
    char bp[300];
    struct stat sb;
    snprintf(bp, sizeof bp, "%s.%d", path, b);
    CT_CHECK(stat(bp, &sb) == 0, "stat %s: %s", bp, strerror(errno));
    if ((size_t)sb.st_size != BURST_FILE)
      ct_fail("told done, but %s has %lld of %u bytes", bp, (long long)sb.st_size, BURST_FILE);
  }
  wb_expect_stream(path, SEED, stream_len());
  CT_CHECK(kill(kid, SIGCONT) == 0, "SIGCONT");
  if (raw) CT_CHECK(kill(kid, SIGWINCH) == 0, "SIGWINCH");
  CT_CHECK(write(bye[1], "x", 1) == 1, "bye");
  CT_CHECK(waitpid(kid, &st, 0) == kid, "waitpid");
  CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", st);
  return 0;
}
