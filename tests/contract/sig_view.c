/* sig_view.c — contract: the pool's cancel signal (SIGRTMIN+3) is invisible
 * to the program (docs/design.md §4 "Process lifecycle"): its disposition as the
 * program sees it, and its effect on the program's own blocking calls, are
 * exactly as without the shim — also once the shim has taken it over (after
 * the first blocking pipe read below, which waits in the pool).
 *
 *  1. inherited SIG_IGN across exec is kept and read back (argv[1] "child");
 *  2. a handler installed with the raw rt_sigaction system call is read
 *     back through sigaction() and runs when the signal is raised;
 *  3. SIG_IGN, then the signal sent to a thread blocked in read(): the read
 *     is not interrupted; same with an SA_RESTART handler (which runs);
 *  4. sa_mask is in force while the handler runs; SA_RESETHAND resets;
 *  5. every thread blocks the signal, another process-directed one is sent:
 *     sigtimedwait() in main receives it (pool mode: a worker may take it).
 * argv[1] "from=N" starts at step N (each step on its own shows its failure).
 */
#include "contract.h"

#include <sys/syscall.h>
#include <sys/wait.h>

static int sig;
static int pp[2];
static atomic_int reader_tid, reader_done;
static atomic_long reader_ret, reader_errno;
static volatile sig_atomic_t hits, usr1_blocked_in_handler;

struct ksigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  unsigned long mask;
};

static void* reader(void* arg) {
  (void)arg;
  char c;
  atomic_store(&reader_tid, (int)gettid());
  long r = read(pp[0], &c, 1);
  atomic_store(&reader_errno, r < 0 ? errno : 0);
  atomic_store(&reader_ret, r);
  atomic_store(&reader_done, 1);
  return NULL;
}

/* A thread blocked in read(pipe); `poke` (if any) runs while it blocks, then
 * one byte releases it: read must return 1. This is also what makes the shim
 * take the signal over (the read waits in the pool). */
static void blocked_read(void (*poke)(pthread_t), const char* what) {
  atomic_store(&reader_tid, 0);
  atomic_store(&reader_done, 0);
  pthread_t th;
  if (pthread_create(&th, NULL, reader, NULL) != 0) ct_fail("pthread_create");
  while (atomic_load(&reader_tid) == 0) sched_yield();
  ct_wait_sleeping(atomic_load(&reader_tid));
  if (poke) poke(th);
  CT_CHECK(!atomic_load(&reader_done), "%s: the blocked read returned %ld (%s) before any data", what,
           atomic_load(&reader_ret), strerrorname_np((int)atomic_load(&reader_errno)));
  ct_write_all(pp[1], "d", 1, what);
  pthread_join(th, NULL);
  CT_CHECK(atomic_load(&reader_ret) == 1, "%s: read returned %ld (%s), want 1", what,
           atomic_load(&reader_ret), strerrorname_np((int)atomic_load(&reader_errno)));
}

static void poke_thread(pthread_t th) {
  CT_CHECK(pthread_kill(th, sig) == 0, "pthread_kill");
  /* Let the signal be handled (or ignored) before the data comes. */
  ct_wait_sleeping_or(atomic_load(&reader_tid), &reader_done);
}

static void on_sig(int s) {
  (void)s;
  hits++;
  sigset_t cur;
  pthread_sigmask(SIG_BLOCK, NULL, &cur);
  usr1_blocked_in_handler = sigismember(&cur, SIGUSR1) == 1;
}

/* Whether `s` is pending for the whole process (ShdPnd in /proc). */
static int shared_pending(int s) {
  FILE* f = fopen("/proc/self/status", "re");
  char line[256];
  unsigned long long bits = 0;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "ShdPnd:", 7) == 0) bits = strtoull(line + 7, NULL, 16);
  if (f) fclose(f);
  return (bits >> (s - 1)) & 1;
}

static int child(void) {
  ct_step = "child: inherited SIG_IGN";
  struct sigaction now;
  CT_CHECK(sigaction(sig, NULL, &now) == 0, "sigaction");
  CT_CHECK(now.sa_handler == SIG_IGN, "inherited SIG_IGN reads back as %p", (void*)now.sa_handler);
  CT_CHECK(raise(sig) == 0, "raise");
  blocked_read(NULL, "child: pool read");
  CT_CHECK(sigaction(sig, NULL, &now) == 0 && now.sa_handler == SIG_IGN,
           "SIG_IGN lost once the shim took the signal");
  CT_CHECK(raise(sig) == 0, "raise after the take-over");
  return 0;
}

int main(int argc, char** argv) {
  ct_name = "sig_view";
  sig = SIGRTMIN + 3;
  CT_CHECK(pipe2(pp, O_CLOEXEC) == 0, "pipe2");
  if (argc > 1 && strcmp(argv[1], "child") == 0) {
    ct_start_watchdog(20);
    return child();
  }
  ct_start_watchdog(40);
  int from = argc > 1 && strncmp(argv[1], "from=", 5) == 0 ? atoi(argv[1] + 5) : 1;
  struct sigaction now, sa;
  memset(&sa, 0, sizeof sa);
  if (from > 2) /* step 2 installs its handler before the take-over */
    blocked_read(NULL, "take-over");
  if (from > 1) goto step2;

  ct_step = "1: SIG_IGN across exec";
  CT_CHECK(signal(sig, SIG_IGN) != SIG_ERR, "signal(SIG_IGN)");
  pid_t pid = fork();
  CT_CHECK(pid >= 0, "fork");
  if (pid == 0) {
    execl("/proc/self/exe", argv[0], "child", (char*)NULL);
    _exit(126);
  }
  int st;
  CT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
  CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exec'ed child: %s %d",
           WIFSIGNALED(st) ? "killed by signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
  CT_CHECK(signal(sig, SIG_DFL) == SIG_IGN, "signal(SIG_DFL) did not return SIG_IGN");

step2:
  if (from > 2) goto step3;
  ct_step = "2: raw rt_sigaction handler";
  struct ksigaction k = {0}, probe = {0};
  /* Borrow libc's restorer: install any handler for SIGUSR2 with libc, read it raw. */
  CT_CHECK(signal(SIGUSR2, on_sig) != SIG_ERR, "signal(SIGUSR2)");
  CT_CHECK(syscall(SYS_rt_sigaction, SIGUSR2, NULL, &probe, 8) == 0, "raw read");
  k.handler = (void*)on_sig;
  k.flags = probe.flags & ~(unsigned long)SA_RESTART;
  k.restorer = probe.restorer;
  CT_CHECK(syscall(SYS_rt_sigaction, sig, &k, NULL, 8) == 0, "raw rt_sigaction: %s", strerror(errno));
  blocked_read(NULL, "2: pool read (take-over)");
  CT_CHECK(sigaction(sig, NULL, &now) == 0, "sigaction");
  CT_CHECK(now.sa_handler == on_sig, "raw handler reads back as %p", (void*)now.sa_handler);
  hits = 0;
  CT_CHECK(raise(sig) == 0 && hits == 1, "raw handler ran %d times, want 1", (int)hits);

step3:
  if (from > 3) goto step4;
  ct_step = "3: SIG_IGN and a signal to a blocked reader";
  CT_CHECK(signal(sig, SIG_IGN) == (from == 3 ? SIG_DFL : on_sig), "signal(SIG_IGN) old handler");
  blocked_read(poke_thread, "3: SIG_IGN");
  ct_step = "3: SA_RESTART handler and a signal to a blocked reader";
step4:
  sa.sa_handler = on_sig;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGUSR1);
  sa.sa_flags = SA_RESTART;
  CT_CHECK(sigaction(sig, &sa, NULL) == 0, "sigaction SA_RESTART");
  if (from <= 3) {
    hits = 0;
    blocked_read(poke_thread, "3: SA_RESTART");
    CT_CHECK(hits == 1, "SA_RESTART handler ran %d times, want 1", (int)hits);
  }

  if (from > 4) goto step5;
  ct_step = "4: sa_mask and SA_RESETHAND";
  hits = 0;
  usr1_blocked_in_handler = 0;
  CT_CHECK(raise(sig) == 0 && hits == 1, "handler did not run");
  CT_CHECK(usr1_blocked_in_handler, "sa_mask (SIGUSR1) not in force in the handler");
  sa.sa_flags = SA_RESETHAND;
  CT_CHECK(sigaction(sig, &sa, NULL) == 0, "sigaction SA_RESETHAND");
  CT_CHECK(raise(sig) == 0 && hits == 2, "SA_RESETHAND handler did not run");
  CT_CHECK(sigaction(sig, NULL, &now) == 0 && now.sa_handler == SIG_DFL,
           "after SA_RESETHAND the disposition reads %p, want SIG_DFL", (void*)now.sa_handler);

step5:
  ct_step = "5: sigtimedwait sees a process-directed signal";
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  CT_CHECK(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0, "block");
  atomic_store(&reader_tid, 0);
  atomic_store(&reader_done, 0);
  pthread_t th;
  if (pthread_create(&th, NULL, reader, NULL) != 0) /* inherits the blocked mask */
    ct_fail("pthread_create");
  while (atomic_load(&reader_tid) == 0) sched_yield();
  ct_wait_sleeping(atomic_load(&reader_tid));
  CT_CHECK(kill(getpid(), sig) == 0, "kill");
  /* Give another thread (a pool worker, under the shim) the chance to take
     * it first: bounded wait until it leaves the shared pending set. */
  for (int64_t end = ct_now_ns() + 300000000; ct_now_ns() < end && shared_pending(sig);) sched_yield();
  struct timespec ts = {10, 0};
  siginfo_t si;
  int got = sigtimedwait(&set, &si, &ts);
  CT_CHECK(got == sig, "sigtimedwait returned %d (%s), want the signal", got,
           got < 0 ? strerrorname_np(errno) : "-");
  CT_CHECK(si.si_pid == getpid(), "si_pid %d, want %d", (int)si.si_pid, (int)getpid());
  ct_write_all(pp[1], "d", 1, "release");
  pthread_join(th, NULL);
  CT_CHECK(atomic_load(&reader_ret) == 1, "reader returned %ld", atomic_load(&reader_ret));
  return 0;
}
