/* tools/bench/spawn.c — iowq-bench-spawn: what a process start costs, for
 * programs that start many (shell scripts, make -j, LTP's fork tests).
 *
 *   iowq-bench-spawn [-n CALLS] [-b BATCHES] [-w WARMUP] exec [CMD [ARG]...]
 *   iowq-bench-spawn [-n CALLS] [-b BATCHES] [-w WARMUP] fork
 *
 * exec: CALLS times posix_spawn(CMD) + waitpid (CMD defaults to /bin/true;
 *       it must exit 0). The children inherit this process's environment, so
 *       running the bench under LD_PRELOAD=libiowq.so measures what preloading
 *       adds to every exec. With BENCH_SPAWN_VIA=LAUNCHER in the environment,
 *       each child is `LAUNCHER -- CMD...` started without LD_PRELOAD (e.g.
 *       iowq-run, which adds it back): the launcher's own cost per exec.
 * fork: CALLS times fork() + _exit(0) in the child + waitpid. Run the bench
 *       itself plain and under LD_PRELOAD: the difference is the shim's fork
 *       handlers and its copy-on-write footprint.
 *
 * Times BATCHES batches after WARMUP untimed ones and prints one line, the
 * format of iowq-bench-percall (so measure.py's percall driver reads it):
 *   calls=<n> batches=<b> best_ns=<x> median_ns=<x> p99_ns=<x> cpu_ns=<x>
 * best/median/p99 are ns per process over the batches; cpu_ns is the CPU time
 * (user+sys) of this process and its waited-for children per process.
 * Exit: 0 ok, 1 a spawn, fork or child failed, 2 usage. */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

enum { kMaxBatches = 1000, kMaxArgs = 64, kMaxEnv = 4096 };

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long tv_ns(struct timeval tv) {
  return (long long)tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL;
}

/* CPU of this process and of every child it has waited for. */
static long long cpu_ns(void) {
  struct rusage self, kids;
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &kids);
  return tv_ns(self.ru_utime) + tv_ns(self.ru_stime) + tv_ns(kids.ru_utime) + tv_ns(kids.ru_stime);
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

/* Waits for pid; 0 when it exited 0, else -1 with a message. */
static int reap(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) {
      perror("iowq-bench-spawn: waitpid");
      return -1;
    }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "iowq-bench-spawn: child failed (status 0x%x)\n", st);
    return -1;
  }
  return 0;
}

static char** g_argv; /* exec: the child's argv */
static char** g_envp; /* exec: the child's environment */

static int one_exec(void) {
  pid_t pid;
  int err = posix_spawn(&pid, g_argv[0], NULL, NULL, g_argv, g_envp);
  if (err) {
    fprintf(stderr, "iowq-bench-spawn: %s: %s\n", g_argv[0], strerror(err));
    return -1;
  }
  return reap(pid);
}

static int one_fork(void) {
  pid_t pid = fork();
  if (pid < 0) {
    perror("iowq-bench-spawn: fork");
    return -1;
  }
  if (pid == 0) _exit(0);
  return reap(pid);
}

static void usage(void) {
  fprintf(stderr,
          "usage: iowq-bench-spawn [-n CALLS] [-b BATCHES] [-w WARMUP] exec [CMD [ARG]...]\n"
          "       iowq-bench-spawn [-n CALLS] [-b BATCHES] [-w WARMUP] fork\n");
  exit(2);
}

int main(int argc, char** argv) {
  long calls = 200, batches = 15, warm = 2;
  int c;
  while ((c = getopt(argc, argv, "+n:b:w:")) != -1) {
    switch (c) {
      case 'n': calls = atol(optarg); break;
      case 'b': batches = atol(optarg); break;
      case 'w': warm = atol(optarg); break;
      default: usage();
    }
  }
  if (optind >= argc || calls < 1 || batches < 1 || batches > kMaxBatches || warm < 0) usage();
  int (*one)(void);
  static char* args[kMaxArgs + 3];
  static char* env[kMaxEnv + 1];
  if (strcmp(argv[optind], "fork") == 0 && optind + 1 == argc) {
    one = one_fork;
  } else if (strcmp(argv[optind], "exec") == 0) {
    one = one_exec;
    int n = 0;
    const char* via = getenv("BENCH_SPAWN_VIA");
    if (via && *via) {
      args[n++] = (char*)via;
      args[n++] = "--";
    }
    if (optind + 1 == argc) args[n++] = "/bin/true";
    for (int i = optind + 1; i < argc && n < kMaxArgs + 2; ++i) args[n++] = argv[i];
    args[n] = NULL;
    g_argv = args;
    g_envp = environ;
    if (via && *via) { /* the launcher adds the preload itself */
      int e = 0;
      for (char** p = environ; *p && e < kMaxEnv; ++p)
        if (strncmp(*p, "LD_PRELOAD=", 11) != 0 && strncmp(*p, "BENCH_SPAWN_VIA=", 16) != 0) env[e++] = *p;
      env[e] = NULL;
      g_envp = env;
    }
  } else {
    usage();
  }

  for (long b = 0; b < warm; ++b)
    for (long i = 0; i < calls; ++i)
      if (one() != 0) return 1;
  static double per_call[kMaxBatches];
  long long cpu = 0;
  for (long b = 0; b < batches; ++b) {
    long long c0 = cpu_ns(), t0 = now_ns();
    for (long i = 0; i < calls; ++i)
      if (one() != 0) return 1;
    long long t1 = now_ns(), c1 = cpu_ns();
    per_call[b] = (double)(t1 - t0) / (double)calls;
    cpu += c1 - c0;
  }
  qsort(per_call, (size_t)batches, sizeof per_call[0], cmp_double);
  double median =
      batches % 2 ? per_call[batches / 2] : (per_call[batches / 2 - 1] + per_call[batches / 2]) / 2;
  long p99 = (long)(0.99 * (double)(batches - 1) + 0.5);
  printf("calls=%ld batches=%ld best_ns=%.1f median_ns=%.1f p99_ns=%.1f cpu_ns=%.1f\n", calls, batches,
         per_call[0], median, per_call[p99], (double)cpu / ((double)calls * (double)batches));
  return 0;
}
