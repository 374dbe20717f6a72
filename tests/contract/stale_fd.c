/* stale_fd.c — contract: a stale fd cache entry never changes a call's
 * result (docs/design.md §4 "Routing by fd kind"). libc duplicates fds internally
 * where no interposer sees it (daemon() puts /dev/null on 0-2 with its own
 * dup2); the raw dup3 system call below does the same.
 *
 * fd 1 becomes a socket (seen: dup2) and is written, so the shim caches it
 * as a socket; then /dev/null is put on fd 1 behind the shim's back: write(1)
 * must succeed as on /dev/null. Likewise fd 0: a socket, read, then a
 * regular file put on it unseen: read(0) returns the file's bytes. fd 2 is
 * left alone for messages.
 */
#include "contract.h"

#include <sys/socket.h>
#include <sys/syscall.h>

static void raw_dup_onto(int from, int to) {
  CT_CHECK(syscall(SYS_dup3, from, to, 0) == to, "raw dup3(%d, %d): %s", from, to, strerror(errno));
}

int main(void) {
  ct_name = "stale_fd";
  ct_start_watchdog(30);
  int sv[2];
  CT_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  CT_CHECK(devnull >= 0, "open /dev/null");
  char path[256];
  int file = ct_tmpfile(path, "f");
  ct_write_all(file, "from the file", 13, "fill");
  CT_CHECK(lseek(file, 0, SEEK_SET) == 0, "lseek");
  char buf[64];

  ct_step = "fd 1: socket, then /dev/null unseen";
  CT_CHECK(dup2(sv[0], 1) == 1, "dup2 onto 1");
  for (int i = 0; i < 3; i++) CT_EXPECT_RET(write(1, "x", 1), 1, "write(1) to the socket");
  CT_EXPECT_RET(recv(sv[1], buf, sizeof buf, 0), 3, "recv what fd 1 sent");
  raw_dup_onto(devnull, 1);
  for (int i = 0; i < 3; i++) CT_EXPECT_RET(write(1, "hello", 5), 5, "write(1) to /dev/null");

  ct_step = "fd 0: socket, then a regular file unseen";
  CT_CHECK(dup2(sv[0], 0) == 0, "dup2 onto 0");
  CT_EXPECT_RET(send(sv[1], "s", 1, 0), 1, "send");
  CT_EXPECT_RET(read(0, buf, sizeof buf), 1, "read(0) from the socket");
  raw_dup_onto(file, 0);
  CT_EXPECT_RET(read(0, buf, sizeof buf), 13, "read(0) from the file");
  CT_CHECK(memcmp(buf, "from the file", 13) == 0, "read(0) returned other bytes");

  ct_step = "a closed fd still fails with EBADF";
  CT_CHECK(syscall(SYS_close, 0) == 0, "raw close(0)");
  CT_EXPECT_ERR(read(0, buf, sizeof buf), EBADF, "read(0) after a raw close");
  close(file);
  unlink(path);
  return 0;
}
