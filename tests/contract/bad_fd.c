/* bad_fd.c — contract: error returns and errno are exactly libc's (docs/design.md §4
 * "Same results": errno copied back from the worker; pitfall 8).
 *
 * Each call below has a fixed expected result on Linux; the .plain run proves
 * the expectation, the .iowq run must match it exactly. Successful calls must
 * leave errno untouched (glibc's wrappers do).
 */
#include "contract.h"

#include <limits.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* volatile: keep the compiler from seeing the deliberately bad arguments */
static void* volatile null_buf;
static volatile int bad_iovcnt = -1;
static volatile int big_iovcnt = IOV_MAX + 1;

static void cases(void) {
  char buf[64];
  char path[256];
  int fd = ct_tmpfile(path, "bad");
  ct_write_all(fd, "some data in the file\n", 22, "setup");

  ct_step = "write(-1)";
  CT_EXPECT_ERR(write(-1, "x", 1), EBADF, ct_step);
  ct_step = "write(9999)";
  close(9999);
  CT_EXPECT_ERR(write(9999, "x", 1), EBADF, ct_step);
  ct_step = "read(closed fd)";
  int cfd = open(path, O_RDONLY | O_CLOEXEC);
  CT_CHECK(cfd >= 0, "open: %s", strerror(errno));
  CT_EXPECT_RET(read(cfd, buf, 4), 4, "read before close");
  close(cfd);
  CT_EXPECT_ERR(read(cfd, buf, 4), EBADF, ct_step);
  ct_step = "pread(closed fd)";
  CT_EXPECT_ERR(pread(cfd, buf, 4, 0), EBADF, ct_step);

  int p[2];
  CT_CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
  ct_step = "pwrite on a pipe";
  CT_EXPECT_ERR(pwrite(p[1], "x", 1, 0), ESPIPE, ct_step);
  ct_step = "pread on a pipe";
  CT_EXPECT_ERR(pread(p[0], buf, 1, 0), ESPIPE, ct_step);
  ct_step = "read from a pipe's write end";
  CT_EXPECT_ERR(read(p[1], buf, 1), EBADF, ct_step);
  ct_step = "write to a pipe's read end";
  CT_EXPECT_ERR(write(p[0], "x", 1), EBADF, ct_step);

  ct_step = "read into NULL from a file with data";
  CT_EXPECT_ERR(pread(fd, null_buf, 10, 0), EFAULT, "pread(NULL)");
  CT_CHECK(lseek(fd, 0, SEEK_SET) == 0, "lseek");
  CT_EXPECT_ERR(read(fd, null_buf, 10), EFAULT, "read(NULL)");
  CT_CHECK(lseek(fd, 0, SEEK_CUR) == 0, "read(NULL) moved the offset");
  ct_step = "write from NULL to a file";
  CT_EXPECT_ERR(write(fd, null_buf, 10), EFAULT, ct_step);

  struct iovec iov[2] = {{buf, 4}, {buf + 4, 4}};
  ct_step = "writev iovcnt -1";
  CT_EXPECT_ERR(writev(fd, iov, bad_iovcnt), EINVAL, ct_step);
  ct_step = "readv iovcnt -1";
  CT_EXPECT_ERR(readv(fd, iov, bad_iovcnt), EINVAL, ct_step);
  ct_step = "writev iovcnt IOV_MAX+1";
  CT_EXPECT_ERR(writev(fd, iov, big_iovcnt), EINVAL, ct_step);
  ct_step = "pread negative offset";
  CT_EXPECT_ERR(pread(fd, buf, 4, -1), EINVAL, ct_step);
  ct_step = "pwrite negative offset";
  CT_EXPECT_ERR(pwrite(fd, buf, 4, -1), EINVAL, ct_step);

  ct_step = "read on a directory";
  int dfd = open(ct_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  CT_CHECK(dfd >= 0, "open dir: %s", strerror(errno));
  CT_EXPECT_ERR(read(dfd, buf, sizeof buf), EISDIR, ct_step);
  close(dfd);

  ct_step = "write to an O_RDONLY fd";
  int rfd = open(path, O_RDONLY | O_CLOEXEC);
  CT_CHECK(rfd >= 0, "open: %s", strerror(errno));
  CT_EXPECT_ERR(write(rfd, "x", 1), EBADF, ct_step);
  close(rfd);

  ct_step = "send/recv on a pipe";
  CT_EXPECT_ERR(send(p[1], "x", 1, 0), ENOTSOCK, "send(pipe)");
  CT_EXPECT_ERR(recv(p[0], buf, 1, 0), ENOTSOCK, "recv(pipe)");
  ct_step = "send on an unconnected socket";
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CT_CHECK(s >= 0, "socket: %s", strerror(errno));
  CT_EXPECT_ERR(send(s, "x", 1, MSG_NOSIGNAL), EPIPE, ct_step);
  CT_EXPECT_ERR(recv(s, buf, 1, 0), ENOTCONN, "recv on an unconnected socket");
  close(s);

  ct_step = "successful calls leave errno alone";
  errno = 4242;
  CT_EXPECT_RET(write(fd, buf, 0), 0, "write of 0 bytes");
  CT_CHECK(errno == 4242, "write(0) changed errno to %d", errno);
  CT_EXPECT_RET(pread(fd, buf, 4, 0), 4, "pread");
  CT_CHECK(errno == 4242, "pread changed errno to %d", errno);
  CT_EXPECT_RET(write(p[1], "y", 1), 1, "pipe write");
  CT_EXPECT_RET(read(p[0], buf, sizeof buf), 1, "pipe read");
  CT_CHECK(errno == 4242, "pipe read/write changed errno to %d", errno);
  CT_EXPECT_RET(pread(fd, buf, 4, 1000), 0, "pread past EOF");
  CT_CHECK(errno == 4242, "pread at EOF changed errno to %d", errno);

  close(p[0]);
  close(p[1]);
  close(fd);
  unlink(path);
}

int main(void) {
  ct_name = "bad_fd";
  ct_start_watchdog(30);
  /* Twice: cold (first calls into the shim) and warm. */
  cases();
  cases();
  return 0;
}
