/* netcost.c — what the write-behind net (docs/design.md §5 "The net") costs a
 * system call the shim does not interpose: ns per raw getppid(2).
 *
 *   iowq-bench-netcost idle N    N calls with nothing pending (plain, or
 *                                under the shim with IOWQ_WRITE_BEHIND=1:
 *                                dispatch on, selector ALLOW)
 *   iowq-bench-netcost bare N    the kernel's floor, without the shim: N calls
 *                                trapped by this program's own syscall user
 *                                dispatch, a handler that only runs the call
 *                                (what a trap costs before any shim work)
 *   iowq-bench-netcost armed N   first writes 64 files DIR/netcost.* (BENCH_TMPDIR
 *                                or /tmp) in 64 KiB pieces, 1 MiB each,
 *                                so data is pending; then N calls while it
 *                                drains (each a trap: getppid waits for
 *                                nothing). Compare the report's
 *                                write_behind.net_traps with N.
 *   iowq-bench-netcost pthread N  N pthread_create + pthread_join of a thread
 *   iowq-bench-netcost thrd N     (or thrd_create + thrd_join) that returns at
 *                                once: what wrapping the start routine (the
 *                                net turned on in the new thread) costs.
 * Prints "<mode> <ns per call> <thread CPU ns per call>" (the CPU figure
 * leaves out the time the thread waited for a CPU on a loaded machine;
 * pthread and thrd print the first figure only).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <threads.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

/* ---- bare: our own dispatch, the least a trapped call can cost ------------- */
#ifdef __x86_64__
/* The exempt range: a syscall helper and the signal restorer (rt_sigreturn
 * must not trap), followed by a byte so the range holds the address after
 * the last syscall instruction (what the kernel compares). */
__asm__(
    ".text\n"
    "bare_lo:\n"
    /* long bare_call(nr, a, b, c, d, e, f): the system call with its six arguments */
    "bare_call: mov %rdi, %rax\n mov %rsi, %rdi\n mov %rdx, %rsi\n mov %rcx, %rdx\n"
    " mov %r8, %r10\n mov %r9, %r8\n mov 8(%rsp), %r9\n syscall\n ret\n"
    "bare_restorer: mov $15, %eax\n syscall\n nop\n"
    "bare_hi:\n");
extern char bare_lo[], bare_hi[], bare_call[], bare_restorer[];
static volatile char bare_selector;

static void bare_handler(int sig, siginfo_t* si, void* ucv) {
  (void)sig;
  greg_t* r = ((ucontext_t*)ucv)->uc_mcontext.gregs;
  long (*call)(long, long, long, long, long, long, long) = (void*)bare_call;
  r[REG_RAX] = call(si->si_syscall, r[REG_RDI], r[REG_RSI], r[REG_RDX], r[REG_R10], r[REG_R8], r[REG_R9]);
}

static int bare_setup(void) {
  struct {
    void* handler;
    unsigned long flags;
    void* restorer;
    unsigned long mask;
  } k = {(void*)bare_handler, SA_SIGINFO | SA_NODEFER | 0x04000000 /* SA_RESTORER */, (void*)bare_restorer,
         0};
  if (syscall(SYS_rt_sigaction, SIGSYS, &k, NULL, 8) != 0) return -1;
  /* PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON */
  return prctl(59, 1, (unsigned long)bare_lo, (unsigned long)(bare_hi - bare_lo), &bare_selector);
}
#endif

static double clock_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}
static double now(void) { return clock_ns(CLOCK_MONOTONIC); }

static void* nothing(void* a) { return a; }
static int nothing_c11(void* a) { return a != NULL; }

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: iowq-bench-netcost idle|bare|armed|pthread|thrd N\n");
    return 2;
  }
  long n = atol(argv[2]);
  if (!strcmp(argv[1], "pthread") || !strcmp(argv[1], "thrd")) {
    const int c11 = !strcmp(argv[1], "thrd");
    double t0 = now();
    for (long i = 0; i < n; i++) {
      if (c11) {
        thrd_t t;
        if (thrd_create(&t, nothing_c11, NULL) != thrd_success || thrd_join(t, NULL) != thrd_success)
          return 1;
      } else {
        pthread_t t;
        if (pthread_create(&t, NULL, nothing, NULL) != 0 || pthread_join(t, NULL) != 0) return 1;
      }
    }
    printf("%s %.1f\n", argv[1], (now() - t0) / (double)n);
    return 0;
  }
  enum { kFiles = 64, kPieces = 16 }; /* 1 MiB per file: 4 chunks, what one file may queue */
  int fds[kFiles];
  static char paths[kFiles][512];
  const int armed = !strcmp(argv[1], "armed");
  if (armed) {
    const char* dir = getenv("BENCH_TMPDIR") ? getenv("BENCH_TMPDIR") : "/tmp";
    static char piece[65536];
    memset(piece, 'n', sizeof piece);
    for (int f = 0; f < kFiles; f++) { /* opens first: an open waits for everything */
      snprintf(paths[f], sizeof paths[f], "%s/netcost.%d.%d", dir, (int)getpid(), f);
      fds[f] = open(paths[f], O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fds[f] < 0) return 1;
    }
    for (int k = 0; k < kPieces; k++)
      for (int f = 0; f < kFiles; f++)
        if (write(fds[f], piece, sizeof piece) != (ssize_t)sizeof piece) return 1;
  }
  const int bare = !strcmp(argv[1], "bare");
  if (bare) {
#ifdef __x86_64__
    if (bare_setup() != 0) {
      perror("iowq-bench-netcost: syscall user dispatch");
      return 1;
    }
    bare_selector = 1; /* BLOCK: every call below traps */
#else
    fprintf(stderr, "iowq-bench-netcost: bare: x86-64 only\n");
    return 1;
#endif
  }
  /* The thread CPU clock is a system call: trapped in bare mode too (one
   * more trap, which the handler runs with its arguments). */
  double c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), t0 = now();
  for (long i = 0; i < n; i++) syscall(SYS_getppid);
  double t1 = now(), c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
#ifdef __x86_64__
  bare_selector = 0;
#endif
  printf("%s %.1f %.1f\n", argv[1], (t1 - t0) / (double)n, (c1 - c0) / (double)n);
  if (armed)
    for (int f = 0; f < kFiles; f++) {
      close(fds[f]);
      unlink(paths[f]);
    }
  return 0;
}
