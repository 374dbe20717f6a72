/* errno_kept.c — contract: a call that succeeds never changes errno (docs/design.md
 * §4 "Same results"). errno is set to a sentinel before each successful call
 * (file write/pwrite/writev/read/pread/readv, lseek, fstat, socket
 * send/recv, pipe write/read) and must still hold it afterwards — also when
 * the shim took the call inline after a nonblocking try that failed with
 * EAGAIN, queued it for write-behind, or waited for a worker. A second
 * thread keeps writing another file meanwhile, so the shim's shared wait
 * points (write-behind completions, the pool) see concurrent wake-ups.
 */
#include "contract.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#define SENTINEL EDOM

#define KEPT(call, what)                                                                                     \
  do {                                                                                                       \
    errno = SENTINEL;                                                                                        \
    long r_ = (long)(call);                                                                                  \
    int e_ = errno;                                                                                          \
    if (r_ < 0) ct_fail("%s failed: %s", (what), strerrorname_np(e_));                                       \
    if (e_ != SENTINEL) ct_fail("%s returned %ld but changed errno to %s", (what), r_, strerrorname_np(e_)); \
  } while (0)

static atomic_int stop;

static void* other_writer(void* arg) {
  int fd = *(int*)arg;
  static char data[65536];
  while (!atomic_load(&stop)) {
    if (pwrite(fd, data, sizeof data, 0) != (ssize_t)sizeof data)
      ct_fail("other writer: %s", strerror(errno));
    if (fsync(fd) != 0) ct_fail("other writer fsync: %s", strerror(errno));
  }
  return NULL;
}

int main(void) {
  ct_name = "errno_kept";
  ct_start_watchdog(40);
  char path[256];
  int fd = ct_tmpfile(path, "f");
  char buf[8192];
  memset(buf, 'q', sizeof buf);
  struct iovec v[2] = {{buf, 100}, {buf + 100, 200}};
  struct stat st;
  int sv[2], pp[2];
  CT_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
  CT_CHECK(pipe2(pp, O_CLOEXEC) == 0, "pipe2");

  char path2[256];
  int fd2 = ct_tmpfile(path2, "g");
  pthread_t other = ct_spawn_masked(other_writer, &fd2);
  static char big[65536];

  for (int round = 0; round < 400; round++) {
    ct_step = "file";
    KEPT(write(fd, buf, 1000), "write");
    KEPT(pwrite(fd, buf, 1000, 50000), "pwrite");
    KEPT(writev(fd, v, 2), "writev");
    KEPT(pwrite(fd, big, sizeof big, 100000), "pwrite 64 KiB");
    KEPT(lseek(fd, 0, SEEK_SET), "lseek");
    KEPT(fstat(fd, &st), "fstat");
    KEPT(read(fd, buf, 500), "read");
    KEPT(pread(fd, buf, 500, 100), "pread");
    KEPT(readv(fd, v, 2), "readv");
    KEPT(lseek(fd, 0, SEEK_END), "lseek end");
    ct_step = "socket";
    KEPT(send(sv[0], buf, 64, 0), "send");
    KEPT(recv(sv[1], buf, 64, 0), "recv");
    ct_step = "pipe";
    KEPT(write(pp[1], buf, 64), "pipe write");
    KEPT(read(pp[0], buf, 64), "pipe read");
  }
  atomic_store(&stop, 1);
  pthread_join(other, NULL);
  ct_step = "close";
  KEPT(close(fd), "close");
  unlink(path);
  close(fd2);
  unlink(path2);
  return 0;
}
