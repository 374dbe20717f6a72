/* cap_deadlock.c — contract: blocked socket readers never starve the call
 * that would unblock them (docs/design.md §1: the unbound cap is RLIMIT_NPROC and a
 * blocking call is never queued behind blocking calls).
 *
 *   cap_deadlock pairs N   N threads each block in recv() on their own
 *       socketpair; main then writes one byte to the last pair and that
 *       thread must get it, then to every other pair.
 *   cap_deadlock server N  a thread-per-connection echo server on 127.0.0.1
 *       with N idle keep-alive clients; client N+1 sends "ping" and must get
 *       "ping" back (the 17th connection hung with a cap of 16).
 * The watchdog turns a deadlock into a failure.
 */
#include "contract.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#define MAXN 1000

static int pair_fd[MAXN][2];
static atomic_int tids[MAXN];
static atomic_int got[MAXN];

static void* reader(void* arg) {
  int i = (int)(intptr_t)arg;
  char c;
  atomic_store(&tids[i], (int)syscall(SYS_gettid));
  ssize_t r = recv(pair_fd[i][0], &c, 1, 0);
  if (r != 1 || c != 'x') ct_fail("reader %d: recv got %zd (%s)", i, r, r < 0 ? strerrorname_np(errno) : "-");
  atomic_store(&got[i], 1);
  return NULL;
}

static void pairs(int n) {
  pthread_t th[MAXN];
  ct_step = "starting blocked readers";
  for (int i = 0; i < n; i++) {
    CT_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair_fd[i]) == 0, "socketpair: %s",
             strerror(errno));
    CT_CHECK(pthread_create(&th[i], NULL, reader, (void*)(intptr_t)i) == 0, "pthread_create %d", i);
  }
  ct_step = "waiting until every reader is blocked";
  for (int i = 0; i < n; i++) {
    for (long k = 0; atomic_load(&tids[i]) == 0 && k < 100000000L; k++) sched_yield();
    ct_wait_sleeping(atomic_load(&tids[i]));
  }
  ct_step = "one write from main to the last reader";
  CT_EXPECT_RET(write(pair_fd[n - 1][1], "x", 1), 1, "write to the last pair");
  pthread_join(th[n - 1], NULL);
  CT_CHECK(atomic_load(&got[n - 1]), "last reader did not get its byte");
  ct_step = "writes to every other reader";
  for (int i = 0; i < n - 1; i++) CT_EXPECT_RET(write(pair_fd[i][1], "x", 1), 1, "write");
  for (int i = 0; i < n - 1; i++) pthread_join(th[i], NULL);
}

static int listen_fd;

static void* conn_main(void* arg) {
  int fd = (int)(intptr_t)arg;
  char buf[64];
  for (;;) {
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r <= 0) break;
    if (send(fd, buf, (size_t)r, MSG_NOSIGNAL) != r) break;
  }
  close(fd);
  return NULL;
}

static void* acceptor(void* arg) {
  (void)arg;
  for (;;) {
    int c = accept(listen_fd, NULL, NULL);
    if (c < 0) {
      if (errno == EINTR) continue;
      return NULL;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, conn_main, (void*)(intptr_t)c) != 0) ct_fail("pthread_create(conn)");
    pthread_detach(t);
  }
}

static void server(int n) {
  ct_step = "setting up 127.0.0.1 server";
  listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) ct_skip("socket(AF_INET): %s", strerror(errno));
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listen_fd, (struct sockaddr*)&a, sizeof a) != 0) ct_skip("bind 127.0.0.1: %s", strerror(errno));
  socklen_t al = sizeof a;
  CT_CHECK(getsockname(listen_fd, (struct sockaddr*)&a, &al) == 0, "getsockname");
  CT_CHECK(listen(listen_fd, 128) == 0, "listen: %s", strerror(errno));
  pthread_t acc = ct_spawn_masked(acceptor, NULL);
  pthread_detach(acc);
  static int cl[MAXN + 1];
  char buf[16];
  ct_step = "connecting idle clients";
  for (int i = 0; i <= n; i++) {
    cl[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CT_CHECK(cl[i] >= 0, "socket: %s", strerror(errno));
    CT_CHECK(connect(cl[i], (struct sockaddr*)&a, sizeof a) == 0, "connect %d: %s", i, strerror(errno));
    /* Each idle client first proves its connection thread is up. */
    CT_EXPECT_RET(send(cl[i], "h", 1, 0), 1, "hello send");
    CT_EXPECT_RET(recv(cl[i], buf, 1, 0), 1, "hello echo");
  }
  ct_step = "request on the last connection while the others idle";
  CT_EXPECT_RET(send(cl[n], "ping", 4, 0), 4, "ping send");
  CT_EXPECT_RET(recv(cl[n], buf, 4, MSG_WAITALL), 4, "ping echo");
  CT_CHECK(memcmp(buf, "ping", 4) == 0, "echo differs");
  for (int i = 0; i <= n; i++) close(cl[i]);
}

int main(int argc, char** argv) {
  ct_name = "cap_deadlock";
  if (argc != 3) ct_fail("usage: cap_deadlock pairs|server N");
  int n = atoi(argv[2]);
  CT_CHECK(n > 0 && n < MAXN, "N out of range");
  ct_start_watchdog(40);
  if (strcmp(argv[1], "pairs") == 0)
    pairs(n);
  else if (strcmp(argv[1], "server") == 0)
    server(n);
  else
    ct_fail("unknown case %s", argv[1]);
  return 0;
}
