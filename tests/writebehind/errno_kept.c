/* errno_kept.c — errno is never changed by a call that succeeds (docs/design.md
 * §5), also when the call waits for write-behind data (the wait sleeps on a
 * futex, whose raw wrapper sets errno on EAGAIN/EINTR).
 * With errno set to a marker before each call, fstat, lseek, stat, fsync
 * and close of a file with pending writes must leave it as it was.
 */
#include "wb.h"

#define MARK 12345

static void check(int ok, const char* what) {
  if (!ok) ct_fail("%s failed: %s", what, strerror(errno));
  if (errno != MARK)
    ct_fail("%s succeeded but changed errno to %d (%s)", what, errno, strerrorname_np(errno));
}

int main(void) {
  ct_name = "errno_kept";
  ct_start_watchdog(30);
  char path[256];
  int fd = ct_tmpfile(path, "errno");
  static char buf[65536];
  memset(buf, 'e', sizeof buf);
  for (int round = 0; round < 200; round++) {
    for (int i = 0; i < 16; i++) CT_CHECK(write(fd, buf, sizeof buf) == (ssize_t)sizeof buf, "write");
    struct stat st;
    errno = MARK;
    check(fstat(fd, &st) == 0, "fstat");
    for (int i = 0; i < 16; i++) CT_CHECK(write(fd, buf, sizeof buf) == (ssize_t)sizeof buf, "write");
    errno = MARK;
    check(lseek(fd, 0, SEEK_CUR) >= 0, "lseek");
    for (int i = 0; i < 16; i++) CT_CHECK(write(fd, buf, sizeof buf) == (ssize_t)sizeof buf, "write");
    errno = MARK;
    check(stat(path, &st) == 0, "stat");
    CT_CHECK(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0, "reset");
  }
  errno = MARK;
  check(close(fd) == 0, "close");
  return 0;
}
