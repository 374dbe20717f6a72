/* contract.h — helpers shared by the shim contract programs in tests/contract/.
 *
 * Every program here encodes one point of docs/design.md §4/§5 as plain libc/kernel
 * behaviour: it must pass without the shim (".plain") and identically under
 * LD_PRELOAD=libiowq.so (".iowq"). Exit status: 0 pass, 1 fail (one line on
 * stderr saying what differed), 77 skip (environment cannot run it).
 *
 * Guards: ct_start_watchdog() runs a thread with every signal blocked that
 * _exit(1)s with the current step name if the program hangs, so no blocking
 * step can hang CTest. Forked children use alarm() with SIGALRM at SIG_DFL.
 * Messages go through stdio, whose internal write() the shim cannot see, so a
 * broken shim cannot swallow the failure message.
 */
#ifndef IOWQ_CONTRACT_H
#define IOWQ_CONTRACT_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static const char* ct_name = "contract";
/* What the program is doing now; printed by failures and the watchdog. */
static const char* volatile ct_step = "start";

__attribute__((format(printf, 1, 2), noreturn, unused)) static void ct_fail(const char* fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: FAIL [%s]: ", ct_name, ct_step);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  _exit(1);
}

__attribute__((format(printf, 1, 2), noreturn, unused)) static void ct_skip(const char* fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: SKIP: ", ct_name);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  _exit(77);
}

#define CT_CHECK(cond, ...)            \
  do {                                 \
    if (!(cond)) ct_fail(__VA_ARGS__); \
  } while (0)

/* A syscall that must fail with exactly `want_errno`. */
#define CT_EXPECT_ERR(ret, want_errno, what)                                                           \
  do {                                                                                                 \
    long ct_r_ = (long)(ret);                                                                          \
    int ct_e_ = errno;                                                                                 \
    if (ct_r_ != -1 || ct_e_ != (want_errno))                                                          \
      ct_fail("%s: got %ld/%s, want -1/%s", (what), ct_r_, ct_r_ == -1 ? strerrorname_np(ct_e_) : "-", \
              strerrorname_np(want_errno));                                                            \
  } while (0)

/* A syscall that must return exactly `want`. */
#define CT_EXPECT_RET(ret, want, what)                                                                  \
  do {                                                                                                  \
    long ct_r_ = (long)(ret);                                                                           \
    int ct_e_ = errno;                                                                                  \
    if (ct_r_ != (long)(want))                                                                          \
      ct_fail("%s: got %ld (errno %s), want %ld", (what), ct_r_, strerrorname_np(ct_e_), (long)(want)); \
  } while (0)

static void* ct_watchdog_main(void* arg) {
  unsigned secs = (unsigned)(uintptr_t)arg;
  struct timespec ts = {(time_t)secs, 0};
  /* Every signal is blocked here, so this sleep is the timeout itself. */
  while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {
  }
  fprintf(stderr,
          "%s: FAIL [%s]: watchdog: no progress after %u s "
          "(deadlock, lost wakeup or lost data)\n",
          ct_name, ct_step, secs);
  fflush(stderr);
  _exit(1);
}

/* Starts the watchdog; the thread blocks all signals so it never takes a
 * process-directed signal meant for the program's own threads. */
__attribute__((unused)) static void ct_start_watchdog(unsigned secs) {
  sigset_t all, old;
  pthread_t t;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  if (pthread_create(&t, NULL, ct_watchdog_main, (void*)(uintptr_t)secs) != 0)
    ct_fail("pthread_create(watchdog) failed");
  pthread_detach(t);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Starts a thread with every signal blocked (helpers that must not take a
 * signal aimed at the thread under test). */
__attribute__((unused)) static pthread_t ct_spawn_masked(void* (*fn)(void*), void* arg) {
  sigset_t all, old;
  pthread_t t;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  if (pthread_create(&t, NULL, fn, arg) != 0) ct_fail("pthread_create failed");
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return t;
}

__attribute__((unused)) static int64_t ct_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

__attribute__((unused)) static const char* ct_tmpdir(void) {
  const char* d = getenv("CONTRACT_TMPDIR");
  return d && *d ? d : "/tmp";
}

/* Creates a unique empty file in CONTRACT_TMPDIR; returns an O_RDWR fd and
 * fills `path` (at least 256 bytes). */
__attribute__((unused)) static int ct_tmpfile(char* path, const char* tag) {
  snprintf(path, 256, "%s/%s.%s.XXXXXX", ct_tmpdir(), ct_name, tag);
  int fd = mkostemp(path, O_CLOEXEC);
  if (fd < 0) ct_fail("mkostemp(%s): %s", path, strerror(errno));
  return fd;
}

/* Waits (bounded; the watchdog covers the rest) until thread `tid` sleeps in
 * the kernel, i.e. is blocked in its syscall (or, under the shim, waiting for
 * the worker). Returns 1 early if `*stop` (may be NULL) becomes non-zero,
 * e.g. "the thread's call returned". Read with stdio so the shim does not
 * see these reads. */
__attribute__((unused)) static int ct_wait_sleeping_or(pid_t tid, atomic_int* stop) {
  char path[64], line[512];
  int seen = 0;
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
  for (long i = 0; i < 50000000L; i++) {
    if (stop && atomic_load(stop)) return 1;
    FILE* f = fopen(path, "re");
    if (!f) ct_fail("fopen(%s): %s", path, strerror(errno));
    char* ok = fgets(line, sizeof line, f);
    fclose(f);
    char* p = ok ? strrchr(line, ')') : NULL;
    /* Seen twice in a row so a passing page-fault/futex blip in the
         * thread's preamble is not mistaken for the blocking call. */
    if (p && p[1] == ' ' && p[2] == 'S') {
      if (++seen >= 2) return 0;
    } else {
      seen = 0;
    }
    sched_yield();
  }
  ct_fail("thread %d never blocked", (int)tid);
}

__attribute__((unused)) static void ct_wait_sleeping(pid_t tid) { ct_wait_sleeping_or(tid, NULL); }

/* Writes/reads all of `n` bytes (retrying short counts); fails on error. */
__attribute__((unused)) static void ct_write_all(int fd, const void* buf, size_t n, const char* what) {
  const char* p = buf;
  for (int guard = 0; n > 0 && guard < 1000000; guard++) {
    ssize_t r = write(fd, p, n);
    if (r < 0) ct_fail("%s: write: %s", what, strerrorname_np(errno));
    p += r;
    n -= (size_t)r;
  }
  if (n) ct_fail("%s: write made no progress", what);
}

__attribute__((unused)) static size_t ct_read_all(int fd, void* buf, size_t cap, const char* what) {
  size_t got = 0;
  for (int guard = 0; got < cap && guard < 1000000; guard++) {
    ssize_t r = read(fd, (char*)buf + got, cap - got);
    if (r < 0) ct_fail("%s: read: %s", what, strerrorname_np(errno));
    if (r == 0) break;
    got += (size_t)r;
  }
  return got;
}

/* The seccomp system call made with the program's own syscall instruction,
 * not libc's syscall(): a sandbox the shim cannot see when it is entered
 * (docs/design.md §4 "seccomp"). -1/errno like syscall(); skips where there
 * is no inline system call here. */
__attribute__((unused)) static long ct_hidden_seccomp(unsigned op, unsigned flags, void* arg) {
#if defined(__x86_64__)
  long r;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "a"(317L /* __NR_seccomp */), "D"((long)op), "S"((long)flags), "d"(arg)
                   : "rcx", "r11", "memory");
  if (r < 0 && r > -4096) {
    errno = (int)-r;
    return -1;
  }
  return r;
#else
  (void)op, (void)flags, (void)arg;
  ct_skip("no inline system call on this architecture");
#endif
}

#endif
