/* netcost.c — what the write-behind net (docs/design.md §5 "The net") costs a
 * system call the shim does not interpose: ns per raw getppid(2).
 *
 *   iowq-bench-netcost idle N    N calls with nothing pending (plain, or
 *                                under the shim with IOWQ_WRITE_BEHIND=1:
 *                                dispatch on, selector ALLOW)
 *   iowq-bench-netcost armed N   first writes 16 files DIR/netcost.* (BENCH_TMPDIR
 *                                or /tmp) in 64 KiB pieces, 64 MiB in all,
 *                                so data is pending; then N calls while it
 *                                drains (each a trap: getppid waits for
 *                                nothing). Compare the report's
 *                                write_behind.net_traps with N.
 *   iowq-bench-netcost pthread N  N pthread_create + pthread_join of a thread
 *   iowq-bench-netcost thrd N     (or thrd_create + thrd_join) that returns at
 *                                once: what wrapping the start routine (the
 *                                net turned on in the new thread) costs.
 * Prints "<mode> <ns per call>".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void* nothing(void* a) { return a; }
static int nothing_c11(void* a) { return a != NULL; }

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: iowq-bench-netcost idle|armed|pthread|thrd N\n");
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
  int fds[16];
  char paths[16][512];
  const int armed = !strcmp(argv[1], "armed");
  if (armed) {
    const char* dir = getenv("BENCH_TMPDIR") ? getenv("BENCH_TMPDIR") : "/tmp";
    static char piece[65536];
    memset(piece, 'n', sizeof piece);
    for (int f = 0; f < 16; f++) { /* opens first: an open waits for everything */
      snprintf(paths[f], sizeof paths[f], "%s/netcost.%d.%d", dir, (int)getpid(), f);
      fds[f] = open(paths[f], O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fds[f] < 0) return 1;
    }
    for (int k = 0; k < 64; k++)
      for (int f = 0; f < 16; f++)
        if (write(fds[f], piece, sizeof piece) != (ssize_t)sizeof piece) return 1;
  }
  double t0 = now();
  for (long i = 0; i < n; i++) syscall(SYS_getppid);
  double t1 = now();
  printf("%s %.1f\n", argv[1], (t1 - t0) / (double)n);
  if (armed)
    for (int f = 0; f < 16; f++) {
      close(fds[f]);
      unlink(paths[f]);
    }
  return 0;
}
