/* tools/bench/writer.c — iowq-bench-writer: the "many small writes" workload
 * of docs/design.md §10, as a plain program to run directly or under iowq-run.
 *
 *   iowq-bench-writer [-n OPS] [-s SIZE] [-t THREADS] [-f FILES]
 *                     [--shared-fd] [--append] [--verify] [-v] PREFIX
 *
 * Writes OPS records of SIZE bytes in total with write(2), split evenly over
 * THREADS threads; thread i writes to file PREFIX.<i % FILES> (files are
 * truncated first). Without --shared-fd every thread opens its own fd and
 * writes its own region of the file (sequential writes from the region's
 * start); with --shared-fd the threads of a file share one fd (the kernel
 * serialises the file position), with --append that fd is O_APPEND.
 * Every record is filled with its thread's tag byte, so --verify can check
 * afterwards (re-reading the files) that every byte landed where it must:
 * sizes, regions, untorn records and per-thread record counts.
 * Exit: 0 ok, 1 I/O error or verification failure, 2 usage.
 * -v prints "ops=<n> bytes=<n> ns=<wall ns of the write phase>" on stdout. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { kMaxThreads = 64, kMaxFiles = 64 };

static long g_ops = 1000, g_size = 4096, g_per;
static int g_threads = 1, g_files = 1, g_shared, g_append, g_verify, g_verbose;
static const char* g_prefix;
static int g_shared_fd[kMaxFiles];

struct thread_arg {
  int index;
  int result; /* 0 or errno */
};

static void file_name(char* out, size_t n, int file) { snprintf(out, n, "%s.%d", g_prefix, file); }

static char tag_of(int thread) { return (char)('a' + thread % 26); }

/* Writes all of buf, retrying short writes and EINTR as any careful program does. */
static int write_all(int fd, const char* buf, size_t len) {
  while (len > 0) {
    ssize_t r = write(fd, buf, len);
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    buf += r;
    len -= (size_t)r;
  }
  return 0;
}

static void* writer_thread(void* p) {
  struct thread_arg* a = p;
  int file = a->index % g_files;
  char* buf = malloc((size_t)g_size);
  if (!buf) {
    a->result = ENOMEM;
    return NULL;
  }
  memset(buf, tag_of(a->index), (size_t)g_size);
  int fd = g_shared_fd[file];
  if (!g_shared) {
    char name[4096];
    file_name(name, sizeof name, file);
    fd = open(name, O_WRONLY | O_CLOEXEC);
    off_t region = (off_t)(a->index / g_files) * g_per * g_size;
    if (fd < 0 || lseek(fd, region, SEEK_SET) != region) {
      a->result = errno ? errno : EIO;
      free(buf);
      return NULL;
    }
  }
  for (long i = 0; i < g_per && a->result == 0; ++i) a->result = write_all(fd, buf, (size_t)g_size);
  if (!g_shared) close(fd);
  free(buf);
  return NULL;
}

/* ---- verification (after every fd was closed) ---------------------------- */
static int verify_file(int file) {
  char name[4096];
  file_name(name, sizeof name, file);
  int fd = open(name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    perror(name);
    return 1;
  }
  long threads_here = 0, count[kMaxThreads] = {0};
  for (int t = file; t < g_threads; t += g_files) ++threads_here;
  struct stat sb;
  fstat(fd, &sb);
  long want = threads_here * g_per * g_size;
  int bad = 0;
  if (sb.st_size != want) {
    fprintf(stderr, "%s: size %lld, want %ld\n", name, (long long)sb.st_size, want);
    bad = 1;
  }
  char* rec = malloc((size_t)g_size);
  for (long r = 0; !bad && r < threads_here * g_per; ++r) {
    if (pread(fd, rec, (size_t)g_size, (off_t)r * g_size) != g_size) {
      bad = 1;
      break;
    }
    /* Which thread must have written this record? Fixed regions without
     * --shared-fd; any thread of this file (untorn record) with it. */
    int owner = -1;
    for (int t = file; t < g_threads; t += g_files)
      if (rec[0] == tag_of(t)) owner = t;
    if (!g_shared && owner != file + (int)(r / g_per) * g_files) owner = -1;
    for (long i = 1; owner >= 0 && i < g_size; ++i)
      if (rec[i] != rec[0]) owner = -1;
    if (owner < 0) {
      fprintf(stderr, "%s: record %ld is wrong or torn\n", name, r);
      bad = 1;
      break;
    }
    ++count[owner];
  }
  for (int t = file; !bad && t < g_threads; t += g_files)
    if (count[t] != g_per && g_threads <= 26) {
      fprintf(stderr, "%s: thread %d has %ld records, want %ld\n", name, t, count[t], g_per);
      bad = 1;
    }
  free(rec);
  close(fd);
  return bad;
}

static void usage(void) {
  fprintf(stderr,
          "usage: iowq-bench-writer [-n OPS] [-s SIZE] [-t THREADS] [-f FILES]\n"
          "                         [--shared-fd] [--append] [--verify] [-v] PREFIX\n");
  exit(2);
}

int main(int argc, char** argv) {
  static const struct option opts[] = {{"ops", required_argument, 0, 'n'},
                                       {"size", required_argument, 0, 's'},
                                       {"threads", required_argument, 0, 't'},
                                       {"files", required_argument, 0, 'f'},
                                       {"shared-fd", no_argument, 0, 'S'},
                                       {"append", no_argument, 0, 'A'},
                                       {"verify", no_argument, 0, 'V'},
                                       {"verbose", no_argument, 0, 'v'},
                                       {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "n:s:t:f:v", opts, NULL)) != -1) {
    switch (c) {
      case 'n': g_ops = atol(optarg); break;
      case 's': g_size = atol(optarg); break;
      case 't': g_threads = atoi(optarg); break;
      case 'f': g_files = atoi(optarg); break;
      case 'S': g_shared = 1; break;
      case 'A': g_append = 1; break;
      case 'V': g_verify = 1; break;
      case 'v': g_verbose = 1; break;
      default: usage();
    }
  }
  if (optind != argc - 1 || g_ops < 1 || g_size < 1 || g_size > (1 << 24) || g_threads < 1 ||
      g_threads > kMaxThreads || g_files < 1 || g_files > g_threads || (g_append && !g_shared))
    usage();
  g_prefix = argv[optind];
  g_per = g_ops / g_threads;
  if (g_per < 1) usage();

  for (int f = 0; f < g_files; ++f) {
    char name[4096];
    file_name(name, sizeof name, f);
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (g_append ? O_APPEND : 0), 0644);
    if (fd < 0) {
      perror(name);
      return 1;
    }
    if (g_shared)
      g_shared_fd[f] = fd;
    else
      close(fd);
  }

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pthread_t tid[kMaxThreads];
  struct thread_arg args[kMaxThreads];
  int rc = 0;
  for (int t = 0; t < g_threads; ++t) {
    args[t].index = t;
    args[t].result = 0;
    if (pthread_create(&tid[t], NULL, writer_thread, &args[t]) != 0) {
      perror("pthread_create");
      return 1;
    }
  }
  for (int t = 0; t < g_threads; ++t) {
    pthread_join(tid[t], NULL);
    if (args[t].result) {
      fprintf(stderr, "iowq-bench-writer: thread %d: %s\n", t, strerror(args[t].result));
      rc = 1;
    }
  }
  for (int f = 0; g_shared && f < g_files; ++f)
    if (close(g_shared_fd[f]) != 0) {
      perror("close");
      rc = 1;
    }
  clock_gettime(CLOCK_MONOTONIC, &t1);

  long total = g_per * g_threads;
  if (g_verbose)
    printf("ops=%ld bytes=%ld ns=%lld\n", total, total * g_size,
           (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
  for (int f = 0; rc == 0 && g_verify && f < g_files; ++f) rc = verify_file(f);
  return rc;
}
