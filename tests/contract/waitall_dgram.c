/* waitall_dgram.c — contract: recv(MSG_WAITALL) and recvmsg(MSG_WAITALL) on
 * datagram and seqpacket sockets return one message, as the plain calls do
 * (MSG_WAITALL only means "fill the buffer" on byte streams). A shim that
 * goes on reading after a short first message glues the next one to it.
 * Also the stream case: MSG_WAITALL there does fill the buffer from two
 * sends.
 */
#include "contract.h"

#include <sys/socket.h>

static void one_type(int type, const char* name) {
  int sv[2];
  char what[64];
  CT_CHECK(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) == 0, "socketpair(%s)", name);
  CT_EXPECT_RET(send(sv[1], "abc", 3, 0), 3, "send abc");
  CT_EXPECT_RET(send(sv[1], "defg", 4, 0), 4, "send defg");
  char b[64] = {0};
  snprintf(what, sizeof what, "%s: recv(MSG_WAITALL)", name);
  CT_EXPECT_RET(recv(sv[0], b, sizeof b, MSG_WAITALL), 3, what);
  CT_CHECK(memcmp(b, "abc", 3) == 0, "%s: got '%s'", what, b);
  memset(b, 0, sizeof b);
  struct iovec v = {b, sizeof b};
  struct msghdr m = {0};
  m.msg_iov = &v;
  m.msg_iovlen = 1;
  snprintf(what, sizeof what, "%s: recvmsg(MSG_WAITALL)", name);
  CT_EXPECT_RET(recvmsg(sv[0], &m, MSG_WAITALL), 4, what);
  CT_CHECK(memcmp(b, "defg", 4) == 0, "%s: got '%s'", what, b);
  close(sv[0]);
  close(sv[1]);
}

int main(void) {
  ct_name = "waitall_dgram";
  ct_start_watchdog(30);
  one_type(SOCK_DGRAM, "dgram");
  one_type(SOCK_SEQPACKET, "seqpacket");

  int sv[2];
  CT_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair(stream)");
  CT_EXPECT_RET(send(sv[1], "abc", 3, 0), 3, "send abc");
  CT_EXPECT_RET(send(sv[1], "defg", 4, 0), 4, "send defg");
  char b[8] = {0};
  CT_EXPECT_RET(recv(sv[0], b, 7, MSG_WAITALL), 7, "stream: recv(MSG_WAITALL)");
  CT_CHECK(memcmp(b, "abcdefg", 7) == 0, "stream: got '%s'", b);
  return 0;
}
