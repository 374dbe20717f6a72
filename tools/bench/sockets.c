/* tools/bench/sockets.c — iowq-bench-sockets: socket workloads for issue 10
 * (run by tools/bench/sockets.py; loopback only).
 *
 *   iowq-bench-sockets server PORTFILE
 *       Thread-per-connection echo server on 127.0.0.1 (ephemeral port written
 *       to PORTFILE): one thread per accepted connection doing blocking
 *       recv()/send() of what it got. Runs until SIGINT, then exit(0).
 *   iowq-bench-sockets client PORT CONNS ACTIVE SECS
 *       Opens CONNS connections; ACTIVE of them (one thread each) do 64-byte
 *       request/response round trips for SECS seconds, the rest stay idle.
 *       Prints: conns=N active=A requests=R req_per_s=X failed=F
 *       (failed = active connections that got no answer or an error).
 *   iowq-bench-sockets connect-stall RUNS
 *       connect() to a 127.0.0.1 listener whose accept backlog is full, RUNS
 *       times; each must fail (ETIMEDOUT under IOWQ_STALL_MS). Prints
 *       runs=N ok=K p50_ns=.. p99_ns=.. errno=NAME
 *   iowq-bench-sockets trickle INTERVAL_MS BYTES
 *       A peer thread sends 1 byte every INTERVAL_MS; recv(BYTES, MSG_WAITALL)
 *       must get all BYTES (a stall timeout longer than the interval must never
 *       cut it off). Prints got=N errno=NAME ms=T max_gap_ms=G (G: the longest
 *       gap between two sends as the peer made them, up to the cut-off)
 * Exit 0 on success, 1 on failure, 2 usage. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_ll(const void* a, const void* b) {
  long long x = *(const long long*)a, y = *(const long long*)b;
  return (x > y) - (x < y);
}

static int listener(int backlog, struct sockaddr_in* a) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  memset(a, 0, sizeof *a);
  a->sin_family = AF_INET;
  a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof *a;
  if (bind(fd, (struct sockaddr*)a, sizeof *a) != 0 || getsockname(fd, (struct sockaddr*)a, &al) != 0 ||
      listen(fd, backlog) != 0)
    return -1;
  return fd;
}

/* ---- server ---------------------------------------------------------------- */

static void* conn_main(void* arg) {
  int fd = (int)(intptr_t)arg;
  char buf[4096];
  for (;;) {
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r <= 0) break;
    if (send(fd, buf, (size_t)r, MSG_NOSIGNAL) != r) break;
  }
  close(fd);
  return NULL;
}

static volatile sig_atomic_t g_quit;
static void on_int(int sig) {
  (void)sig;
  g_quit = 1;
}

/* SIGINT ends the server with exit(0) (so an LD_PRELOADed library's exit
 * report is written); only the accepting thread takes it. */
static int server(const char* portfile) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_int;
  sigaction(SIGINT, &sa, NULL);
  sigset_t intr;
  sigemptyset(&intr);
  sigaddset(&intr, SIGINT);
  struct sockaddr_in a;
  int ls = listener(4096, &a);
  if (ls < 0) {
    perror("listener");
    return 1;
  }
  FILE* f = fopen(portfile, "w");
  if (!f) return 1;
  fprintf(f, "%d\n", ntohs(a.sin_port));
  fclose(f);
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&at, 128 * 1024);
  for (;;) {
    int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    if (g_quit) exit(0);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      perror("accept");
      return 1;
    }
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_t t;
    sigset_t old;
    pthread_sigmask(SIG_BLOCK, &intr, &old);
    if (pthread_create(&t, &at, conn_main, (void*)(intptr_t)c) != 0) close(c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
  }
}

/* ---- client ---------------------------------------------------------------- */

static atomic_long g_requests;
static atomic_int g_failed;
static atomic_int g_stop;

static void* active_main(void* arg) {
  int fd = (int)(intptr_t)arg;
  char req[64], resp[64];
  memset(req, 'q', sizeof req);
  long n = 0;
  while (!atomic_load(&g_stop)) {
    if (send(fd, req, sizeof req, MSG_NOSIGNAL) != (ssize_t)sizeof req) break;
    size_t got = 0;
    while (got < sizeof resp) {
      struct pollfd p = {.fd = fd, .events = POLLIN};
      if (poll(&p, 1, 5000) != 1) goto out; /* no answer in 5 s: not served */
      ssize_t r = recv(fd, resp + got, sizeof resp - got, 0);
      if (r <= 0) goto out;
      got += (size_t)r;
    }
    ++n;
  }
out:
  if (n == 0 || !atomic_load(&g_stop)) atomic_fetch_add(&g_failed, 1);
  atomic_fetch_add(&g_requests, n);
  return NULL;
}

static int client(int port, int conns, int active, double secs) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int* fds = calloc((size_t)conns, sizeof *fds);
  for (int i = 0; i < conns; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fds[i] < 0 || connect(fds[i], (struct sockaddr*)&a, sizeof a) != 0) {
      perror("client connect");
      return 1;
    }
    int one = 1;
    setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  pthread_t* th = calloc((size_t)active, sizeof *th);
  long long t0 = now_ns();
  /* The active connections are the last ones: every idle one was accepted first. */
  for (int i = 0; i < active; i++)
    pthread_create(&th[i], NULL, active_main, (void*)(intptr_t)fds[conns - 1 - i]);
  struct timespec ts = {(time_t)secs, (long)((secs - (time_t)secs) * 1e9)};
  nanosleep(&ts, NULL);
  atomic_store(&g_stop, 1);
  for (int i = 0; i < active; i++) pthread_join(th[i], NULL);
  double el = (double)(now_ns() - t0) / 1e9;
  long req = atomic_load(&g_requests);
  printf("conns=%d active=%d requests=%ld req_per_s=%.0f failed=%d\n", conns, active, req, (double)req / el,
         atomic_load(&g_failed));
  for (int i = 0; i < conns; i++) close(fds[i]);
  return atomic_load(&g_failed) ? 1 : 0;
}

/* ---- connect to a full backlog ----------------------------------------------- */

static int connect_stall(int runs) {
  struct sockaddr_in a;
  int ls = listener(0, &a);
  if (ls < 0) return 1;
  /* Fill the accept queue (nonblocking connects) until one stays pending. */
  int pending = 0;
  for (int i = 0; i < 16 && !pending; i++) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    connect(s, (struct sockaddr*)&a, sizeof a);
    struct pollfd p = {.fd = s, .events = POLLOUT};
    if (poll(&p, 1, 200) == 0) pending = 1;
  }
  if (!pending) {
    fprintf(stderr, "could not fill the backlog\n");
    return 1;
  }
  long long* t = calloc((size_t)runs, sizeof *t);
  int ok = 0, last_errno = 0;
  for (int i = 0; i < runs; i++) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    long long t0 = now_ns();
    int r = connect(s, (struct sockaddr*)&a, sizeof a);
    t[i] = now_ns() - t0;
    last_errno = r == 0 ? 0 : errno;
    if (r != 0 && errno == ETIMEDOUT) ++ok;
    close(s);
  }
  qsort(t, (size_t)runs, sizeof *t, cmp_ll);
  printf("runs=%d ok=%d p50_ns=%lld p99_ns=%lld errno=%s\n", runs, ok, t[runs / 2],
         t[(runs * 99) / 100 < runs ? (runs * 99) / 100 : runs - 1],
         last_errno ? strerrorname_np(last_errno) : "0");
  return ok == runs ? 0 : 1;
}

/* ---- a trickling peer --------------------------------------------------------- */

static int g_trickle_fd, g_trickle_ms, g_trickle_n;
static long long g_trickle_max_gap; /* ns between two sends, as the trickler saw them */

static void* trickler(void* arg) {
  (void)arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, NULL);
  long long last = now_ns();
  for (int i = 0; i < g_trickle_n; i++) {
    struct timespec ts = {0, (long)g_trickle_ms * 1000000L};
    nanosleep(&ts, NULL);
    if (send(g_trickle_fd, "t", 1, MSG_NOSIGNAL) != 1) break;
    long long t = now_ns();
    if (t - last > g_trickle_max_gap) g_trickle_max_gap = t - last;
    last = t;
  }
  return NULL;
}

static int trickle(int interval_ms, int bytes) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 1;
  g_trickle_fd = sv[1];
  g_trickle_ms = interval_ms;
  g_trickle_n = bytes;
  pthread_t t;
  pthread_create(&t, NULL, trickler, NULL);
  char* buf = malloc((size_t)bytes);
  long long t0 = now_ns();
  ssize_t r = recv(sv[0], buf, (size_t)bytes, MSG_WAITALL);
  int e = r < 0 ? errno : 0;
  long long ms = (now_ns() - t0) / 1000000;
  shutdown(sv[1], SHUT_RDWR);
  pthread_join(t, NULL);
  printf("got=%zd errno=%s ms=%lld max_gap_ms=%.1f\n", r, e ? strerrorname_np(e) : "0", ms,
         (double)g_trickle_max_gap / 1e6);
  return r == bytes ? 0 : 1;
}

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc == 3 && strcmp(argv[1], "server") == 0) return server(argv[2]);
  if (argc == 6 && strcmp(argv[1], "client") == 0)
    return client(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atof(argv[5]));
  if (argc == 3 && strcmp(argv[1], "connect-stall") == 0) return connect_stall(atoi(argv[2]));
  if (argc == 4 && strcmp(argv[1], "trickle") == 0) return trickle(atoi(argv[2]), atoi(argv[3]));
  fprintf(stderr,
          "usage: iowq-bench-sockets server PORTFILE | client PORT CONNS ACTIVE SECS | "
          "connect-stall RUNS | trickle INTERVAL_MS BYTES\n");
  return 2;
}
