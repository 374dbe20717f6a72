/* fortify_chk.c — contract: programs built with -D_FORTIFY_SOURCE=2 call
 * __read_chk, __pread_chk, __pread64_chk, __recv_chk and __recvfrom_chk
 * instead of read/pread/recv...; the shim interposes them (docs/design.md §4,
 * pitfall 2) with the same results. Built with -O2 -D_FORTIFY_SOURCE=2; the
 * runner checks with nm that the binary really imports the _chk symbols.
 *
 * Lengths come through a volatile so the compiler cannot prove them safe
 * and drop the check (it then emits the _chk call).
 */
#include "contract.h"

#include <sys/socket.h>

#if !defined(_FORTIFY_SOURCE) || _FORTIFY_SOURCE < 1 || !defined(__OPTIMIZE__)
#error "fortify_chk.c must be built with -O2 -D_FORTIFY_SOURCE=2"
#endif

static volatile size_t vlen = 32;

int main(void) {
  ct_name = "fortify_chk";
  ct_start_watchdog(30);
  char buf[32];
  size_t len = vlen;
  static const char text[] = "0123456789abcdefghijklmnopqrstuvwxyz";

  ct_step = "__read_chk / __pread_chk / __pread64_chk on a file";
  char path[256];
  int fd = ct_tmpfile(path, "fortify");
  unlink(path);
  ct_write_all(fd, text, sizeof text - 1, "file");
  CT_CHECK(lseek(fd, 0, SEEK_SET) == 0, "lseek: %s", strerror(errno));
  for (int round = 0; round < 3; round++) {
    CT_CHECK(lseek(fd, 0, SEEK_SET) == 0, "lseek: %s", strerror(errno));
    ssize_t r = read(fd, buf, len);
    CT_CHECK(r == 32 && memcmp(buf, text, 32) == 0, "read: got %zd", r);
    r = read(fd, buf, len);
    CT_CHECK(r == 4 && memcmp(buf, text + 32, 4) == 0, "short read: got %zd, want 4", r);
    r = read(fd, buf, len);
    CT_CHECK(r == 0, "read at EOF: got %zd", r);
    r = pread(fd, buf, len, 10);
    CT_CHECK(r == 26 && memcmp(buf, text + 10, 26) == 0, "pread: got %zd, want 26", r);
    r = pread64(fd, buf, len, 30);
    CT_CHECK(r == 6 && memcmp(buf, text + 30, 6) == 0, "pread64: got %zd, want 6", r);
    CT_CHECK(lseek(fd, 0, SEEK_CUR) == 36, "pread moved the offset");
  }
  errno = 0;
  CT_EXPECT_ERR(read(-1, buf, len), EBADF, "__read_chk(-1)");
  CT_EXPECT_ERR(pread(fd, buf, len, -1), EINVAL, "__pread_chk(offset -1)");
  close(fd);

  ct_step = "__recv_chk / __recvfrom_chk on a socketpair";
  int sv[2];
  CT_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %s", strerror(errno));
  for (int round = 0; round < 3; round++) {
    ct_write_all(sv[0], "hello", 5, "socket");
    ssize_t r = recv(sv[1], buf, len, 0);
    CT_CHECK(r == 5 && memcmp(buf, "hello", 5) == 0, "recv: got %zd", r);
    ct_write_all(sv[0], "world!", 6, "socket");
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    r = recvfrom(sv[1], buf, len, 0, (struct sockaddr*)&ss, &sl);
    CT_CHECK(r == 6 && memcmp(buf, "world!", 6) == 0, "recvfrom: got %zd", r);
  }
  CT_EXPECT_ERR(recv(-1, buf, len, 0), EBADF, "__recv_chk(-1)");
  close(sv[0]);
  ssize_t r = recv(sv[1], buf, len, 0);
  CT_CHECK(r == 0, "recv after peer close: got %zd, want 0", r);
  close(sv[1]);

  ct_step = "__read_chk on a pipe";
  int p[2];
  CT_CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
  ct_write_all(p[1], "pipe!", 5, "pipe");
  r = read(p[0], buf, len);
  CT_CHECK(r == 5 && memcmp(buf, "pipe!", 5) == 0, "pipe read: got %zd", r);
  return 0;
}
