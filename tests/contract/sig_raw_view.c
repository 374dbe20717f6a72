/* sig_raw_view.c — contract: a disposition the program sets behind libc's
 * back, with the raw rt_sigaction system call, is the program's disposition,
 * also for a signal the shim has taken over (docs/design.md §4 "Signals",
 * §5 "Signals and exits"): write-behind's fatal signals (SIGUSR1 here, taken
 * once data is pending) and the pool's cancel signal (SIGRTMIN+3, taken at
 * the first pool call or stall deadline). Each step reads back with libc's
 * sigaction and checks what the kernel does (a forked child raising it dies
 * of it, a handler runs).
 *
 *  1. raw set of a handler (SA_RESTART): libc reads it back; it runs;
 *  2. libc SIG_DFL after it: the old action is the raw handler; it is gone;
 *  3. raw SIG_IGN: libc reads SIG_IGN; raise does nothing;
 *  4. SA_RESETHAND through libc, then raw: after one delivery libc reads
 *     SIG_DFL, and the signal ends a process;
 *  5. glibc's other entry points, which set it through its internal
 *     sigaction: sysv_signal (SA_RESETHAND), sigset, sigignore, bsd_signal,
 *     siginterrupt return and leave what they do without the shim.
 *
 * Usage: sig_raw_view wb|sigsys|cancel [expect-stall]
 *   wb      SIGUSR1; the steps run twice under write-behind: after fsync
 *           (nothing in flight: the raw call reaches the kernel) and right
 *           after a burst of writes (in flight: the net traps it).
 *   sigsys  the same with SIGSYS, which the write-behind net virtualises.
 *   cancel  SIGRTMIN+3; a blocked pipe read (pool, or stall deadline) first,
 *           then a burst of writes (under write-behind the net traps the
 *           raw calls).
 *   expect-stall (cancel, run with IOWQ_STALL_MS=200): a raw handler set
 *           after the take-over never sees the stall signal of a silent recv,
 *           which ends with -1/ETIMEDOUT.
 */
#include "contract.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

struct ksigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  unsigned long mask;
};
#if defined(__x86_64__)
#define KSA_RESTORER 0x04000000UL
void srv_restorer(void);
__asm__(
    ".pushsection .text\n.globl srv_restorer\n.type srv_restorer,@function\nsrv_restorer:\n"
    "  movq $15, %rax\n  syscall\n.popsection\n");
#else
#define KSA_RESTORER 0UL
#define srv_restorer NULL
#endif

static int sig;
static volatile sig_atomic_t hits;
static void on_sig(int s) {
  (void)s;
  hits++;
}

static void raw_set(void* handler, unsigned long flags) {
  struct ksigaction k = {handler, flags | KSA_RESTORER, (void*)srv_restorer, 0};
  CT_CHECK(syscall(SYS_rt_sigaction, sig, &k, NULL, 8) == 0, "raw rt_sigaction: %s", strerror(errno));
}

static struct sigaction libc_read(void) {
  struct sigaction q;
  memset(&q, 0, sizeof q);
  CT_CHECK(sigaction(sig, NULL, &q) == 0, "sigaction read: %s", strerror(errno));
  return q;
}

static const char* name(void (*h)(int)) {
  return h == SIG_DFL ? "SIG_DFL" : h == SIG_IGN ? "SIG_IGN" : h == on_sig ? "on_sig" : "another handler";
}

static void libc_set(void (*h)(int), int flags, struct sigaction* old) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = h;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  CT_CHECK(sigaction(sig, &sa, old) == 0, "sigaction set: %s", strerror(errno));
}

/* A forked child raises the signal: it must die of it (SIG_DFL in force). */
static void child_dies(void) {
  pid_t pid = fork();
  CT_CHECK(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    raise(sig);
    _exit(0);
  }
  int st;
  CT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
  CT_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == sig, "a child raising it %s %d, want killed by %d",
           WIFSIGNALED(st) ? "was killed by" : "exited", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
           sig);
}

__sighandler_t bsd_signal(int, __sighandler_t);            /* not declared under _GNU_SOURCE */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* sigignore, sigset, siginterrupt */

static void other_entry_points(void) {
  void (*prev)(int) = sysv_signal(sig, on_sig);
  CT_CHECK(prev == SIG_DFL, "sysv_signal returned %s, want SIG_DFL", name(prev));
  struct sigaction q = libc_read();
  CT_CHECK(q.sa_handler == on_sig && (q.sa_flags & SA_RESETHAND),
           "after sysv_signal libc reads %s (flags 0x%x)", name(q.sa_handler), (unsigned)q.sa_flags);
  hits = 0;
  CT_CHECK(raise(sig) == 0 && hits == 1, "the sysv_signal handler ran %d times, want 1", (int)hits);
  q = libc_read();
  CT_CHECK(q.sa_handler == SIG_DFL, "after one delivery libc reads %s, want SIG_DFL", name(q.sa_handler));
  child_dies();

  prev = sigset(sig, on_sig);
  CT_CHECK(prev == SIG_DFL, "sigset returned %s, want SIG_DFL", name(prev));
  q = libc_read();
  CT_CHECK(q.sa_handler == on_sig, "after sigset libc reads %s", name(q.sa_handler));
  prev = sigset(sig, SIG_DFL);
  CT_CHECK(prev == on_sig, "sigset(SIG_DFL) returned %s, want on_sig", name(prev));
  child_dies();

  CT_CHECK(sigignore(sig) == 0, "sigignore: %s", strerror(errno));
  prev = bsd_signal(sig, on_sig);
  CT_CHECK(prev == SIG_IGN, "bsd_signal after sigignore returned %s, want SIG_IGN", name(prev));
  q = libc_read();
  CT_CHECK(q.sa_handler == on_sig && (q.sa_flags & SA_RESTART), "after bsd_signal libc reads %s%s",
           name(q.sa_handler), (q.sa_flags & SA_RESTART) ? ",SA_RESTART" : "");
  CT_CHECK(siginterrupt(sig, 1) == 0, "siginterrupt: %s", strerror(errno));
  q = libc_read();
  CT_CHECK(q.sa_handler == on_sig && !(q.sa_flags & SA_RESTART), "after siginterrupt(1) libc reads %s%s",
           name(q.sa_handler), (q.sa_flags & SA_RESTART) ? ",SA_RESTART" : "");
  prev = signal(sig, on_sig); /* glibc's signal() follows siginterrupt */
  q = libc_read();
  CT_CHECK(prev == on_sig && !(q.sa_flags & SA_RESTART), "signal() after siginterrupt(1) set%s",
           (q.sa_flags & SA_RESTART) ? " SA_RESTART" : " no SA_RESTART, but returned another handler");
  CT_CHECK(siginterrupt(sig, 0) == 0, "siginterrupt: %s", strerror(errno));
  q = libc_read();
  CT_CHECK(q.sa_handler == on_sig && (q.sa_flags & SA_RESTART), "after siginterrupt(0) libc reads %s%s",
           name(q.sa_handler), (q.sa_flags & SA_RESTART) ? ",SA_RESTART" : "");
  libc_set(SIG_DFL, 0, NULL);
}

static void steps(const char* round) {
  char buf[96];
  snprintf(buf, sizeof buf, "%s 1: raw set, libc read", round);
  ct_step = buf;
  raw_set((void*)on_sig, SA_RESTART);
  struct sigaction q = libc_read();
  CT_CHECK(q.sa_handler == on_sig && (q.sa_flags & SA_RESTART), "libc reads %s%s, want on_sig,SA_RESTART",
           name(q.sa_handler), (q.sa_flags & SA_RESTART) ? ",SA_RESTART" : "");
  hits = 0;
  CT_CHECK(raise(sig) == 0 && hits == 1, "the raw handler ran %d times, want 1", (int)hits);

  snprintf(buf, sizeof buf, "%s 2: libc SIG_DFL after a raw set", round);
  struct sigaction old;
  memset(&old, 0, sizeof old);
  libc_set(SIG_DFL, 0, &old);
  CT_CHECK(old.sa_handler == on_sig && (old.sa_flags & SA_RESTART), "old action %s%s, want on_sig,SA_RESTART",
           name(old.sa_handler), (old.sa_flags & SA_RESTART) ? ",SA_RESTART" : "");
  q = libc_read();
  CT_CHECK(q.sa_handler == SIG_DFL, "libc reads %s, want SIG_DFL", name(q.sa_handler));
  child_dies();

  snprintf(buf, sizeof buf, "%s 3: raw SIG_IGN, libc read", round);
  raw_set((void*)SIG_IGN, 0);
  q = libc_read();
  CT_CHECK(q.sa_handler == SIG_IGN, "libc reads %s, want SIG_IGN", name(q.sa_handler));
  CT_CHECK(raise(sig) == 0, "raise");

  snprintf(buf, sizeof buf, "%s 4: SA_RESETHAND through libc, delivered, read", round);
  libc_set(on_sig, SA_RESETHAND, &old);
  CT_CHECK(old.sa_handler == SIG_IGN, "old action %s, want SIG_IGN", name(old.sa_handler));
  hits = 0;
  CT_CHECK(raise(sig) == 0 && hits == 1, "the handler ran %d times, want 1", (int)hits);
  q = libc_read();
  CT_CHECK(q.sa_handler == SIG_DFL, "after one delivery libc reads %s, want SIG_DFL", name(q.sa_handler));
  child_dies();

  snprintf(buf, sizeof buf, "%s 4: raw SA_RESETHAND, delivered, read", round);
  libc_set(SIG_IGN, 0, NULL);
  raw_set((void*)on_sig, SA_RESETHAND);
  hits = 0;
  CT_CHECK(raise(sig) == 0 && hits == 1, "the raw handler ran %d times, want 1", (int)hits);
  q = libc_read();
  CT_CHECK(q.sa_handler == SIG_DFL, "after one delivery libc reads %s, want SIG_DFL", name(q.sa_handler));
  child_dies();

  snprintf(buf, sizeof buf, "%s 5: sysv_signal, sigset, sigignore, bsd_signal, siginterrupt", round);
  other_entry_points();
}

/* ---- cancel: a thread blocked in a pipe read makes the shim take the signal */
static int pp[2];
static atomic_int reader_tid;
static atomic_long reader_ret;
static void* reader(void* arg) {
  (void)arg;
  char c;
  atomic_store(&reader_tid, (int)gettid());
  atomic_store(&reader_ret, (long)read(pp[0], &c, 1));
  return NULL;
}
static void take_cancel(void) {
  ct_step = "take-over: a blocked pipe read";
  CT_CHECK(pipe2(pp, O_CLOEXEC) == 0, "pipe2");
  pthread_t th;
  CT_CHECK(pthread_create(&th, NULL, reader, NULL) == 0, "pthread_create");
  while (atomic_load(&reader_tid) == 0) sched_yield();
  ct_wait_sleeping(atomic_load(&reader_tid));
  ct_write_all(pp[1], "d", 1, "take-over");
  pthread_join(th, NULL);
  CT_CHECK(atomic_load(&reader_ret) == 1, "read returned %ld, want 1", atomic_load(&reader_ret));
}

/* ---- wb: pending data makes write-behind take the fatal signals ---------- */
static void burst(int fd, int n) {
  char b[512];
  memset(b, 'w', sizeof b);
  for (int i = 0; i < n; i++)
    CT_CHECK(write(fd, b, sizeof b) == (ssize_t)sizeof b, "write: %s", strerror(errno));
}

int main(int argc, char** argv) {
  ct_name = "sig_raw_view";
  ct_start_watchdog(40);
  if (argc < 2 || (strcmp(argv[1], "wb") && strcmp(argv[1], "sigsys") && strcmp(argv[1], "cancel")))
    ct_fail("usage: sig_raw_view wb|sigsys|cancel [expect-stall]");
  const int wb = strcmp(argv[1], "cancel") != 0;
  struct rlimit no_core = {0, 0}; /* children dying of SIGSYS */
  setrlimit(RLIMIT_CORE, &no_core);
  const int expect_stall = argc > 2 && !strcmp(argv[2], "expect-stall");
  const char* dir = getenv("CONTRACT_TMPDIR");
  char path[512];
  snprintf(path, sizeof path, "%s/sig_raw_view.out", dir ? dir : "/tmp");
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  CT_CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
  if (wb) {
    sig = !strcmp(argv[1], "sigsys") ? SIGSYS : SIGUSR1;
    ct_step = "take-over: pending writes";
    burst(fd, 64);
    CT_CHECK(fsync(fd) == 0, "fsync");
    steps("drained");
    burst(fd, 256);
    steps("in flight");
  } else {
    sig = SIGRTMIN + 3;
    take_cancel();
    burst(fd, 256);
    steps("cancel");
  }
  close(fd);
  unlink(path);
  if (wb) return 0;
  if (expect_stall) {
    ct_step = "a raw handler never sees the stall signal";
    raw_set((void*)on_sig, 0);
    hits = 0;
    int sv[2];
    CT_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %s", strerror(errno));
    char c;
    errno = 0;
    ssize_t r = recv(sv[0], &c, 1, 0);
    int e = errno;
    CT_CHECK(hits == 0, "the program's handler ran %d times for the shim's stall signal", (int)hits);
    CT_CHECK(r == -1 && e == ETIMEDOUT, "recv returned %zd/%s, want -1/ETIMEDOUT", r, strerrorname_np(e));
    struct sigaction q = libc_read();
    CT_CHECK(q.sa_handler == on_sig, "libc reads %s, want on_sig", name(q.sa_handler));
  }
  return 0;
}
