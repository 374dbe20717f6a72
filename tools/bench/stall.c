/* tools/bench/stall.c — iowq-bench-stall: how long a stalled recv() takes to
 * come back with its error (docs/design.md §10 "a stalled socket cancelled").
 *
 *   iowq-bench-stall [--runs N] [--rcvtimeo-ms MS] [--guard-ms MS]
 *
 * Opens a TCP listener on 127.0.0.1 (ephemeral port, never anything else),
 * connects to it and accepts; the accepted end never sends, so every
 * recv(client, 1 byte) stalls. Each run times one recv() from call to return.
 *   * Under the shim (IOWQ_STALL_MS=T) the call must fail with ETIMEDOUT.
 *   * With --rcvtimeo-ms the kernel's own SO_RCVTIMEO is the timeout (the
 *     "direct" baseline): the call fails with EAGAIN.
 * A guard timer (setitimer, SIGALRM without SA_RESTART, default 2000 ms) ends
 * a recv() nobody cancels with EINTR, so the program always terminates; such
 * a run counts as failed and ends the program (statistics cover the runs done).
 * Prints one line: runs=N ok=K p50_ns=.. p99_ns=.. max_ns=.. cpu_ns=.. errno=NAME
 * (cpu_ns = process user+sys CPU over all runs). Exit 0 when every run ended
 * with the expected error, 1 otherwise, 2 usage. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum { kMaxRuns = 10000 };

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

static void on_alarm(int sig) { (void)sig; }

static int cmp_ll(const void* a, const void* b) {
  long long x = *(const long long*)a, y = *(const long long*)b;
  return (x > y) - (x < y);
}

static int connected_pair(int* client, int* server) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (lfd < 0 || bind(lfd, (struct sockaddr*)&a, sizeof a) != 0 || listen(lfd, 1) != 0 ||
      getsockname(lfd, (struct sockaddr*)&a, &len) != 0)
    return -1;
  *client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (*client < 0 || connect(*client, (struct sockaddr*)&a, sizeof a) != 0) return -1;
  *server = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  close(lfd);
  return *server < 0 ? -1 : 0;
}

int main(int argc, char** argv) {
  static const struct option opts[] = {{"runs", required_argument, 0, 'r'},
                                       {"rcvtimeo-ms", required_argument, 0, 'T'},
                                       {"guard-ms", required_argument, 0, 'g'},
                                       {0, 0, 0, 0}};
  long runs = 50, rcvtimeo_ms = 0, guard_ms = 2000;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 'r': runs = atol(optarg); break;
      case 'T': rcvtimeo_ms = atol(optarg); break;
      case 'g': guard_ms = atol(optarg); break;
      default:
        fprintf(stderr, "usage: iowq-bench-stall [--runs N] [--rcvtimeo-ms MS] [--guard-ms MS]\n");
        return 2;
    }
  }
  if (runs < 1 || runs > kMaxRuns || rcvtimeo_ms < 0 || guard_ms < 1 || optind != argc) return 2;

  int cfd, sfd;
  if (connected_pair(&cfd, &sfd) != 0) {
    perror("iowq-bench-stall: loopback socket");
    return 1;
  }
  if (rcvtimeo_ms > 0) {
    struct timeval tv = {rcvtimeo_ms / 1000, (rcvtimeo_ms % 1000) * 1000};
    setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm; /* no SA_RESTART: the guard interrupts recv() */
  sigaction(SIGALRM, &sa, NULL);

  static long long lat[kMaxRuns];
  long ok = 0;
  int want = rcvtimeo_ms > 0 ? EAGAIN : ETIMEDOUT, last_errno = 0;
  long long cpu0 = cpu_ns();
  for (long i = 0; i < runs; ++i) {
    struct itimerval guard = {{0, 0}, {guard_ms / 1000, (guard_ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &guard, NULL);
    char b;
    long long t0 = now_ns();
    ssize_t r = recv(cfd, &b, 1, 0);
    long long t1 = now_ns();
    int e = errno;
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    lat[i] = t1 - t0;
    last_errno = r < 0 ? e : 0;
    if (r < 0 && (e == want || (want == EAGAIN && e == EWOULDBLOCK))) {
      ++ok;
    } else {
      runs = i + 1; /* stop at the first wrong outcome: no point waiting out more guards */
      break;
    }
  }
  long long cpu = cpu_ns() - cpu0;
  qsort(lat, (size_t)runs, sizeof lat[0], cmp_ll);
  long p99 = (long)(0.99 * (double)(runs - 1) + 0.5);
  printf("runs=%ld ok=%ld p50_ns=%lld p99_ns=%lld max_ns=%lld cpu_ns=%lld errno=%s\n", runs, ok,
         lat[(runs - 1) / 2], lat[p99], lat[runs - 1], cpu,
         last_errno ? strerrorname_np(last_errno) : "none");
  close(cfd);
  close(sfd);
  return ok == runs ? 0 : 1;
}
