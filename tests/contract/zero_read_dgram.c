/* zero_read_dgram.c — contract: a zero-length read() on a datagram socket
 * consumes nothing (docs/design.md §4: a zero-length read consumes nothing). It
 * became a nonblocking recvfrom that dequeued the next datagram.
 */
#include "contract.h"

#include <sys/socket.h>

int main(void) {
  ct_name = "zero_read_dgram";
  ct_start_watchdog(20);
  int sv[2];
  char buf[8];
  CT_CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
  CT_EXPECT_RET(send(sv[1], "a", 1, 0), 1, "send a");
  CT_EXPECT_RET(send(sv[1], "b", 1, 0), 1, "send b");
  CT_EXPECT_RET(read(sv[0], buf, 0), 0, "read(fd, buf, 0)");
  CT_EXPECT_RET(recv(sv[0], buf, 0, MSG_PEEK), 0, "recv(0, MSG_PEEK)");
  CT_EXPECT_RET(read(sv[0], buf, sizeof buf), 1, "read after the zero-length reads");
  CT_CHECK(buf[0] == 'a', "first datagram lost: read '%c'", buf[0]);
  CT_EXPECT_RET(read(sv[0], buf, sizeof buf), 1, "second read");
  CT_CHECK(buf[0] == 'b', "second datagram: read '%c'", buf[0]);
  return 0;
}
