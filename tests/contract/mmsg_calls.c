/* mmsg_calls.c — contract: sendmmsg/recvmmsg behave as without the shim,
 * including a recvmmsg that blocks until a peer sends (docs/design.md §4).
 */
#include "contract.h"

#include <sys/socket.h>
#include <sys/syscall.h>

static int sv[2];
static atomic_int tid;

static void* late_sender(void* arg) {
  (void)arg;
  struct mmsghdr m[2];
  struct iovec v[2] = {{"late1", 5}, {"late22", 6}};
  memset(m, 0, sizeof m);
  for (int i = 0; i < 2; i++) {
    m[i].msg_hdr.msg_iov = &v[i];
    m[i].msg_hdr.msg_iovlen = 1;
  }
  for (long k = 0; atomic_load(&tid) == 0 && k < 100000000L; k++) sched_yield();
  ct_wait_sleeping(atomic_load(&tid));
  if (sendmmsg(sv[1], m, 2, 0) != 2) ct_fail("late sendmmsg: %s", strerror(errno));
  return NULL;
}

int main(void) {
  ct_name = "mmsg_calls";
  ct_start_watchdog(20);
  CT_CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
  struct mmsghdr m[3];
  char in[3][16];
  struct iovec v[3] = {{"one", 3}, {"two!", 4}, {"three", 5}};
  struct iovec iv[3];
  memset(m, 0, sizeof m);
  for (int i = 0; i < 3; i++) {
    m[i].msg_hdr.msg_iov = &v[i];
    m[i].msg_hdr.msg_iovlen = 1;
  }
  ct_step = "sendmmsg 3";
  CT_EXPECT_RET(sendmmsg(sv[1], m, 3, 0), 3, "sendmmsg");
  CT_CHECK(m[0].msg_len == 3 && m[1].msg_len == 4 && m[2].msg_len == 5, "sendmmsg msg_len");
  ct_step = "recvmmsg 3";
  memset(m, 0, sizeof m);
  for (int i = 0; i < 3; i++) {
    iv[i].iov_base = in[i];
    iv[i].iov_len = sizeof in[i];
    m[i].msg_hdr.msg_iov = &iv[i];
    m[i].msg_hdr.msg_iovlen = 1;
  }
  CT_EXPECT_RET(recvmmsg(sv[0], m, 3, 0, NULL), 3, "recvmmsg");
  CT_CHECK(m[0].msg_len == 3 && memcmp(in[0], "one", 3) == 0, "datagram 1");
  CT_CHECK(m[1].msg_len == 4 && memcmp(in[1], "two!", 4) == 0, "datagram 2");
  CT_CHECK(m[2].msg_len == 5 && memcmp(in[2], "three", 5) == 0, "datagram 3");

  ct_step = "recvmmsg blocking until a peer sends (MSG_WAITFORONE)";
  atomic_store(&tid, (int)syscall(SYS_gettid));
  pthread_t t = ct_spawn_masked(late_sender, NULL);
  for (int i = 0; i < 3; i++) m[i].msg_len = 0;
  int r = recvmmsg(sv[0], m, 3, MSG_WAITFORONE, NULL);
  pthread_join(t, NULL);
  CT_CHECK(r >= 1, "recvmmsg(MSG_WAITFORONE) got %d (%s)", r, r < 0 ? strerrorname_np(errno) : "-");
  CT_CHECK(m[0].msg_len == 5 && memcmp(in[0], "late1", 5) == 0, "late datagram 1");
  if (r == 1) CT_EXPECT_RET(recvmmsg(sv[0], m + 1, 1, 0, NULL), 1, "recvmmsg of the second late datagram");
  CT_CHECK(m[1].msg_len == 6 && memcmp(in[1], "late22", 6) == 0, "late datagram 2");

  ct_step = "errors";
  CT_EXPECT_ERR(recvmmsg(sv[0], m, 3, MSG_DONTWAIT, NULL), EAGAIN, "recvmmsg on an empty socket");
  CT_EXPECT_ERR(sendmmsg(-1, m, 1, 0), EBADF, "sendmmsg(-1)");
  CT_EXPECT_ERR(recvmmsg(-1, m, 1, 0, NULL), EBADF, "recvmmsg(-1)");
  return 0;
}
