/* stall_timeout.c — contract: the stall timeout cancels a stuck socket recv
 * with -1/ETIMEDOUT, and without it nothing is cancelled (docs/design.md §1, §4,
 * IOWQ_STALL_MS).
 *
 * A local TCP server (127.0.0.1, ephemeral port) accepts and never answers;
 * the client recv()s.
 *   stall_timeout expect-timeout     (run with IOWQ_STALL_MS=200): recv returns
 *       -1/ETIMEDOUT after 180..500 ms. A closer thread shuts the server side
 *       down after 3 s so a missing timeout fails instead of hanging.
 *   stall_timeout expect-no-timeout  (plain, or the shim without a stall
 *       timeout): a closer thread shuts the server side down after 600 ms;
 *       recv returns 0 after >= 600 ms.
 * The runner checks the report's cancel.stall_timeouts (>= 1 / == 0).
 */
#include "contract.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

static int conn_fd = -1;
static int done_fd = -1; /* eventfd: main tells the closer recv returned */
static int closer_ms;

/* Shuts the server side down after closer_ms unless recv returned first.
 * The timeout is the deadline under test, not synchronisation. */
static void* closer(void* arg) {
  (void)arg;
  struct pollfd p = {.fd = done_fd, .events = POLLIN};
  int n;
  do n = poll(&p, 1, closer_ms);
  while (n < 0 && errno == EINTR);
  if (n == 0) shutdown(conn_fd, SHUT_RDWR);
  return NULL;
}

int main(int argc, char** argv) {
  ct_name = "stall_timeout";
  int expect_timeout;
  if (argc == 2 && strcmp(argv[1], "expect-timeout") == 0)
    expect_timeout = 1;
  else if (argc == 2 && strcmp(argv[1], "expect-no-timeout") == 0)
    expect_timeout = 0;
  else
    ct_fail("usage: stall_timeout expect-timeout|expect-no-timeout");
  ct_start_watchdog(30);

  ct_step = "setting up 127.0.0.1 server";
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) ct_skip("socket(AF_INET): %s", strerror(errno));
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr*)&addr, sizeof addr) != 0) ct_skip("bind 127.0.0.1: %s", strerror(errno));
  socklen_t alen = sizeof addr;
  CT_CHECK(getsockname(ls, (struct sockaddr*)&addr, &alen) == 0, "getsockname");
  CT_CHECK(listen(ls, 4) == 0, "listen: %s", strerror(errno));
  int cs = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CT_CHECK(cs >= 0, "socket: %s", strerror(errno));
  CT_CHECK(connect(cs, (struct sockaddr*)&addr, sizeof addr) == 0, "connect: %s", strerror(errno));
  conn_fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
  CT_CHECK(conn_fd >= 0, "accept: %s", strerror(errno));

  /* Warm the socket path with one exchange the server does answer. */
  ct_step = "warm-up exchange";
  char buf[128];
  ct_write_all(conn_fd, "hi", 2, "server");
  CT_EXPECT_RET(recv(cs, buf, sizeof buf, 0), 2, "warm-up recv");

  closer_ms = expect_timeout ? 3000 : 600;
  ct_step = "recv on a server that never answers";
  int64_t t0 = ct_now_ns();
  done_fd = eventfd(0, EFD_CLOEXEC);
  CT_CHECK(done_fd >= 0, "eventfd: %s", strerror(errno));
  pthread_t th = ct_spawn_masked(closer, NULL);
  errno = 0;
  long r = recv(cs, buf, sizeof buf, 0);
  int e = errno;
  long ms = (long)((ct_now_ns() - t0) / 1000000);
  CT_CHECK(eventfd_write(done_fd, 1) == 0, "eventfd_write: %s", strerror(errno));
  pthread_join(th, NULL);

  if (expect_timeout) {
    CT_CHECK(!(r == 0 && ms >= 2900),
             "recv was never cancelled: returned 0 after %ld ms when "
             "the server shut down (no stall timeout)",
             ms);
    CT_CHECK(r == -1 && e == ETIMEDOUT, "recv: got %ld/%s after %ld ms, want -1/ETIMEDOUT", r,
             r == -1 ? strerrorname_np(e) : "-", ms);
    CT_CHECK(ms >= 180 && ms < 500, "recv timed out after %ld ms, want 180..500 (200 + margin)", ms);
    /* The cancelled recv consumed nothing: a late answer still arrives. */
    ct_step = "socket usable after the timeout";
    ct_write_all(conn_fd, "late", 4, "server");
    struct pollfd p = {.fd = cs, .events = POLLIN};
    CT_CHECK(poll(&p, 1, 5000) == 1, "late answer not readable (consumed by the cancelled recv?)");
    r = recv(cs, buf, sizeof buf, 0);
    CT_CHECK(r == 4 && memcmp(buf, "late", 4) == 0, "late answer: got %ld bytes", r);
  } else {
    CT_CHECK(r == 0, "recv: got %ld/%s after %ld ms, want 0 (server shut down at 600 ms)", r,
             r == -1 ? strerrorname_np(e) : "-", ms);
    CT_CHECK(ms >= 600, "recv returned after %ld ms, before the server shut down at 600", ms);
  }
  close(cs);
  close(conn_fd);
  close(ls);
  return 0;
}
