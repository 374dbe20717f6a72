/* stall_progress.c — contract: the stall timeout means "no progress", not a
 * deadline, and covers connect and accept (docs/design.md §1, IOWQ_STALL_MS).
 *
 *   stall_progress nostall [CASE]  (plain, or the shim without a stall timeout)
 *   stall_progress stall [CASE]    (IOWQ_STALL_MS=300)
 * CASE runs one case only (to see each fail on its own).
 * Cases, on 127.0.0.1 / socketpairs:
 *   trickle   a peer sends 100 bytes every 100 ms; recv(1000, MSG_WAITALL)
 *             gets all 1000 bytes (it got 200 when the stall was a deadline).
 *   silence   the peer sends 1 byte and goes silent; recv(1000, MSG_WAITALL)
 *             returns 1: by the stall timeout, or (nostall) when a closer
 *             shuts the peer down after 3 s. With a stall timeout the closer
 *             must not have been needed.
 *   bigsend   a 4 MiB blocking send to a slow, steady reader (64 KiB every
 *             20 ms) returns 4194304.
 *   bigpipe   the same with a 1 MiB write() to a pipe (the runner routes pipes).
 *   connect   (stall only) connect to a listener whose backlog is full fails
 *             with ETIMEDOUT, and the socket can then connect elsewhere, as
 *             after a failed connect.
 *   accept    (stall only) accept with no client fails with ETIMEDOUT.
 *   masked    (stall only) a thread that blocks every signal: its recv from a
 *             silent peer still fails with ETIMEDOUT, and its mask is intact.
 */
#include "contract.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

static void pace_ms(int ms) {
  /* Pacing of the simulated peer (the scenario itself), not synchronisation. */
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int peer_fd;

static void* trickler(void* arg) {
  (void)arg;
  char b[100];
  memset(b, 't', sizeof b);
  for (int i = 0; i < 10; i++) {
    pace_ms(100);
    if (send(peer_fd, b, sizeof b, MSG_NOSIGNAL) != (ssize_t)sizeof b)
      ct_fail("trickler send: %s", strerror(errno));
  }
  return NULL;
}

static void trickle(void) {
  int sv[2];
  ct_step = "trickle";
  CT_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
  peer_fd = sv[1];
  pthread_t t = ct_spawn_masked(trickler, NULL);
  static char buf[1000];
  ssize_t r = recv(sv[0], buf, sizeof buf, MSG_WAITALL);
  pthread_join(t, NULL);
  CT_CHECK(r == 1000, "recv(1000, MSG_WAITALL) from a trickling peer got %zd (%s), want 1000", r,
           r < 0 ? strerrorname_np(errno) : "-");
  close(sv[0]);
  close(sv[1]);
}

static int silence_done_fd;
static atomic_int closer_fired;

static void* closer(void* arg) {
  (void)arg;
  struct pollfd p = {.fd = silence_done_fd, .events = POLLIN};
  int n;
  do n = poll(&p, 1, 3000);
  while (n < 0 && errno == EINTR);
  if (n == 0) {
    atomic_store(&closer_fired, 1);
    shutdown(peer_fd, SHUT_RDWR);
  }
  return NULL;
}

static void silence(int stall) {
  int sv[2];
  ct_step = "silence";
  CT_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
  peer_fd = sv[1];
  silence_done_fd = eventfd(0, EFD_CLOEXEC);
  CT_CHECK(silence_done_fd >= 0, "eventfd");
  CT_EXPECT_RET(send(sv[1], "1", 1, 0), 1, "peer send");
  pthread_t t = ct_spawn_masked(closer, NULL);
  static char buf[1000];
  ssize_t r = recv(sv[0], buf, sizeof buf, MSG_WAITALL);
  int e = errno;
  CT_CHECK(eventfd_write(silence_done_fd, 1) == 0, "eventfd_write");
  pthread_join(t, NULL);
  CT_CHECK(r == 1, "recv(1000, MSG_WAITALL) after 1 byte got %zd (%s), want 1", r,
           r < 0 ? strerrorname_np(e) : "-");
  if (stall)
    CT_CHECK(!atomic_load(&closer_fired),
             "recv was never cut off by the stall timeout "
             "(returned only when the peer shut down after 3 s)");
  close(sv[0]);
  close(sv[1]);
  close(silence_done_fd);
}

static void* slow_reader(void* arg) {
  (void)arg;
  static char b[65536];
  size_t total = 0;
  while (total < (4u << 20)) {
    pace_ms(20);
    ssize_t r = recv(peer_fd, b, sizeof b, 0);
    if (r <= 0) ct_fail("slow reader recv: %zd", r);
    total += (size_t)r;
  }
  return NULL;
}

static void bigsend(void) {
  int sv[2];
  ct_step = "bigsend";
  CT_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
  peer_fd = sv[1];
  size_t n = 4u << 20;
  char* big = malloc(n);
  CT_CHECK(big != NULL, "malloc");
  memset(big, 'b', n);
  pthread_t t = ct_spawn_masked(slow_reader, NULL);
  ssize_t r = send(sv[0], big, n, 0);
  CT_CHECK(r == (ssize_t)n, "blocking send of 4 MiB to a slow reader returned %zd (%s), want %zu", r,
           r < 0 ? strerrorname_np(errno) : "-", n);
  pthread_join(t, NULL);
  free(big);
  close(sv[0]);
  close(sv[1]);
}

static void* slow_pipe_reader(void* arg) {
  (void)arg;
  static char b[32768];
  size_t total = 0;
  while (total < (1u << 20)) {
    pace_ms(20);
    ssize_t r = read(peer_fd, b, sizeof b);
    if (r <= 0) ct_fail("slow pipe reader: %zd", r);
    total += (size_t)r;
  }
  return NULL;
}

static void bigpipe(void) {
  int p[2];
  ct_step = "bigpipe";
  CT_CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2");
  peer_fd = p[0];
  size_t n = 1u << 20;
  char* big = malloc(n);
  CT_CHECK(big != NULL, "malloc");
  memset(big, 'p', n);
  pthread_t t = ct_spawn_masked(slow_pipe_reader, NULL);
  ssize_t r = write(p[1], big, n);
  CT_CHECK(r == (ssize_t)n, "blocking write of 1 MiB to a slow pipe reader returned %zd (%s), want %zu", r,
           r < 0 ? strerrorname_np(errno) : "-", n);
  pthread_join(t, NULL);
  free(big);
  close(p[0]);
  close(p[1]);
}

static int loopback_listener(int backlog, struct sockaddr_in* a) {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) ct_skip("socket(AF_INET): %s", strerror(errno));
  memset(a, 0, sizeof *a);
  a->sin_family = AF_INET;
  a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr*)a, sizeof *a) != 0) ct_skip("bind 127.0.0.1: %s", strerror(errno));
  socklen_t al = sizeof *a;
  CT_CHECK(getsockname(ls, (struct sockaddr*)a, &al) == 0, "getsockname");
  CT_CHECK(listen(ls, backlog) == 0, "listen: %s", strerror(errno));
  return ls;
}

static void connect_full(void) {
  struct sockaddr_in a, good;
  ct_step = "connect to a full backlog";
  int ls = loopback_listener(0, &a);
  /* Fill the accept queue with nonblocking connects until one stays pending. */
  int fill[8], nfill = 0, pending = 0;
  for (; nfill < 8 && !pending; nfill++) {
    fill[nfill] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    CT_CHECK(fill[nfill] >= 0, "socket");
    int r = connect(fill[nfill], (struct sockaddr*)&a, sizeof a);
    CT_CHECK(r == 0 || errno == EINPROGRESS, "filler connect: %s", strerror(errno));
    struct pollfd p = {.fd = fill[nfill], .events = POLLOUT};
    if (poll(&p, 1, 200) == 0) pending = 1;
  }
  if (!pending) ct_skip("could not fill the accept backlog");
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CT_CHECK(s >= 0, "socket");
  CT_EXPECT_ERR(connect(s, (struct sockaddr*)&a, sizeof a), ETIMEDOUT, "connect to a full backlog");
  ct_step = "the socket connects elsewhere after the stalled connect";
  int gl = loopback_listener(4, &good);
  CT_EXPECT_RET(connect(s, (struct sockaddr*)&good, sizeof good), 0, "connect after ETIMEDOUT");
  int c = accept(gl, NULL, NULL);
  CT_CHECK(c >= 0, "accept: %s", strerror(errno));
  CT_EXPECT_RET(send(s, "ok", 2, 0), 2, "send on the reconnected socket");
  char b[2];
  CT_EXPECT_RET(recv(c, b, 2, MSG_WAITALL), 2, "recv on the accepted side");
  close(c);
  close(gl);
  close(s);
  for (int i = 0; i < nfill; i++) close(fill[i]);
  close(ls);
}

static void accept_nothing(void) {
  struct sockaddr_in a;
  ct_step = "accept with no client";
  int ls = loopback_listener(4, &a);
  CT_EXPECT_ERR(accept(ls, NULL, NULL), ETIMEDOUT, "accept");
  CT_EXPECT_ERR(accept4(ls, NULL, NULL, SOCK_CLOEXEC), ETIMEDOUT, "accept4");
  ct_step = "accept still works after the timeout";
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CT_EXPECT_RET(connect(s, (struct sockaddr*)&a, sizeof a), 0, "connect");
  int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
  CT_CHECK(c >= 0, "accept4 with a client: %s", strerror(errno));
  close(c);
  close(s);
  close(ls);
}

static void* masked_main(void* arg) {
  int fd = *(int*)arg;
  char c;
  ssize_t r = recv(fd, &c, 1, 0);
  if (r != -1 || errno != ETIMEDOUT)
    ct_fail("recv in a thread blocking every signal: got %zd (%s), want -1/ETIMEDOUT", r,
            r < 0 ? strerrorname_np(errno) : "-");
  sigset_t now;
  pthread_sigmask(SIG_SETMASK, NULL, &now);
  for (int s = 1; s <= SIGRTMAX; s++)
    if (s != SIGKILL && s != SIGSTOP && (s < 32 || s >= SIGRTMIN) && !sigismember(&now, s))
      ct_fail("signal %d unblocked in the masked thread after the call", s);
  return NULL;
}

static void masked(void) {
  int sv[2];
  ct_step = "masked thread";
  CT_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
  pthread_t t = ct_spawn_masked(masked_main, &sv[0]);
  pthread_join(t, NULL);
  close(sv[0]);
  close(sv[1]);
}

int main(int argc, char** argv) {
  ct_name = "stall_progress";
  if ((argc != 2 && argc != 3) || (strcmp(argv[1], "stall") != 0 && strcmp(argv[1], "nostall") != 0))
    ct_fail("usage: stall_progress stall|nostall [CASE]");
  int stall = strcmp(argv[1], "stall") == 0;
  const char* only = argc == 3 ? argv[2] : NULL;
#define CASE(name, call) \
  if (!only || strcmp(only, name) == 0) call
  ct_start_watchdog(45);
  CASE("trickle", trickle());
  CASE("silence", silence(stall));
  CASE("bigsend", bigsend());
  CASE("bigpipe", bigpipe());
  if (stall) {
    CASE("connect", connect_full());
    CASE("accept", accept_nothing());
    CASE("masked", masked());
  }
  return 0;
}
