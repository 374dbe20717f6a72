/* tools/bench/percall.c — iowq-bench-percall: the per-call cost of one
 * interposed write(2), measured in-process (docs/design.md §10 "passthrough").
 *
 *   iowq-bench-percall [-n CALLS] [-b BATCHES] [-w WARMUP] [-s SIZE] PATH
 *
 * Opens PATH for writing (created if missing, never truncated, so /dev/null
 * works) and times BATCHES batches of CALLS write(fd, buf, SIZE) calls each,
 * after WARMUP untimed batches. Between batches, outside the timing, the file
 * position goes back to 0, so a regular file is overwritten in the page cache
 * instead of growing (every batch does the same work). Prints one line:
 *   calls=<n> batches=<b> best_ns=<x> median_ns=<x> p99_ns=<x> cpu_ns=<x>
 * best/median/p99 are ns per call over the batches (p99: nearest rank, i.e.
 * the slowest batch when there are fewer than 100); cpu_ns is the process
 * CPU time (user+sys, every thread, so pool workers count) per timed call.
 * Run it plain and under LD_PRELOAD=libiowq.so: the difference is what the
 * shim adds to a call. Exit: 0 ok, 1 open/write error or short write, 2 usage. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum { kMaxBatches = 1000, kMaxSize = 1 << 20 };

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long cpu_ns(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ((long long)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
         ((long long)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

/* Back to position 0 (a character device may not seek: fine). */
static int rewind_fd(int fd) { return lseek(fd, 0, SEEK_SET) < 0 && errno != ESPIPE ? errno : 0; }

/* One batch: CALLS writes. Returns 0 or an errno value; a short write is an
 * error here (SIZE is far below any file or device limit). */
static int batch(int fd, const char* buf, long calls, long size) {
  for (long i = 0; i < calls; ++i) {
    ssize_t r = write(fd, buf, (size_t)size);
    if (r != size) return r < 0 ? errno : EIO;
  }
  return 0;
}

static void usage(void) {
  fprintf(stderr, "usage: iowq-bench-percall [-n CALLS] [-b BATCHES] [-w WARMUP] [-s SIZE] PATH\n");
  exit(2);
}

int main(int argc, char** argv) {
  long calls = 100000, batches = 15, warm = 2, size = 64;
  int c;
  while ((c = getopt(argc, argv, "n:b:w:s:")) != -1) {
    switch (c) {
      case 'n': calls = atol(optarg); break;
      case 'b': batches = atol(optarg); break;
      case 'w': warm = atol(optarg); break;
      case 's': size = atol(optarg); break;
      default: usage();
    }
  }
  if (optind != argc - 1 || calls < 1 || batches < 1 || batches > kMaxBatches || warm < 0 || size < 1 ||
      size > kMaxSize)
    usage();
  const char* path = argv[optind];
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "iowq-bench-percall: %s: %s\n", path, strerror(errno));
    return 1;
  }
  char* buf = malloc((size_t)size);
  if (!buf) return 1;
  memset(buf, 'p', (size_t)size);

  for (long b = 0; b < warm; ++b) {
    int err = rewind_fd(fd);
    if (!err) err = batch(fd, buf, calls, size);
    if (err) {
      fprintf(stderr, "iowq-bench-percall: write %s: %s\n", path, strerror(err));
      return 1;
    }
  }
  static double per_call[kMaxBatches];
  long long cpu = 0;
  for (long b = 0; b < batches; ++b) {
    int err = rewind_fd(fd);
    long long c0 = cpu_ns(), t0 = now_ns();
    if (!err) err = batch(fd, buf, calls, size);
    long long t1 = now_ns(), c1 = cpu_ns();
    if (err) {
      fprintf(stderr, "iowq-bench-percall: write %s: %s\n", path, strerror(err));
      return 1;
    }
    per_call[b] = (double)(t1 - t0) / (double)calls;
    cpu += c1 - c0;
  }
  if (close(fd) != 0) {
    fprintf(stderr, "iowq-bench-percall: close %s: %s\n", path, strerror(errno));
    return 1;
  }
  qsort(per_call, (size_t)batches, sizeof per_call[0], cmp_double);
  double median =
      batches % 2 ? per_call[batches / 2] : (per_call[batches / 2 - 1] + per_call[batches / 2]) / 2;
  long p99 = (long)(0.99 * (double)(batches - 1) + 0.5);
  printf("calls=%ld batches=%ld best_ns=%.1f median_ns=%.1f p99_ns=%.1f cpu_ns=%.1f\n", calls, batches,
         per_call[0], median, per_call[p99], (double)cpu / ((double)calls * (double)batches));
  free(buf);
  return 0;
}
