/* closefrom.c — closing fds by a range call does not lose their pending
 * writes (docs/design.md §5: close is a sync point; "errors are never lost").
 *
 * glibc's closefrom() closes with an internal close_range() that no
 * interposer sees. The program writes two files in many small writes, then
 * closes them with closefrom(lowest) (mode closefrom) or close_range()
 * (mode close_range), then opens a third file — likely getting one of the
 * freed numbers — and writes it. All three files must be complete, and the
 * third must hold only its own bytes.
 */
#include "wb.h"

#include <linux/close_range.h>

#define WRITES 5000

static size_t write_stream(int fd, unsigned seed) {
  char buf[64];
  size_t off = 0;
  for (int i = 0; i < WRITES; i++) {
    size_t len = 1 + (size_t)((i * 7) % 50);
    wb_fill(buf, seed, off, len);
    CT_CHECK(write(fd, buf, len) == (ssize_t)len, "write: %s", strerror(errno));
    off += len;
  }
  return off;
}

int main(int argc, char** argv) {
  ct_name = "closefrom";
  const char* mode = argc > 1 ? argv[1] : "closefrom";
  ct_start_watchdog(50);
  ct_step = mode;
  char p1[256], p2[256], p3[256];
  /* High numbers so that closing "from the lowest" closes nothing else. */
  int t1 = ct_tmpfile(p1, "cf1"), t2 = ct_tmpfile(p2, "cf2");
  int a = fcntl(t1, F_DUPFD_CLOEXEC, 200);
  int b = fcntl(t2, F_DUPFD_CLOEXEC, 201);
  CT_CHECK(a >= 200 && b > a, "F_DUPFD: %s", strerror(errno));
  close(t1);
  close(t2);
  size_t n = write_stream(a, 1);
  write_stream(b, 2);
  if (!strcmp(mode, "closefrom"))
    closefrom(a);
  else
    CT_CHECK(close_range((unsigned)a, ~0u, 0) == 0, "close_range: %s", strerror(errno));
  CT_CHECK(fcntl(a, F_GETFD) == -1 && errno == EBADF, "fd %d still open", a);
  /* A new file on a freed number. */
  int c = open(p1, O_RDONLY | O_CLOEXEC);
  CT_CHECK(c >= 0, "open: %s", strerror(errno));
  close(c);
  close(ct_tmpfile(p3, "cf3"));
  int d = open(p3, O_WRONLY | O_CLOEXEC);
  CT_CHECK(d >= 0 && dup2(d, a) == a, "dup2: %s", strerror(errno));
  close(d);
  size_t n3 = write_stream(a, 3);
  CT_CHECK(close(a) == 0, "close: %s", strerror(errno));
  ct_step = "verify";
  wb_expect_stream(p1, 1, n);
  wb_expect_stream(p2, 2, n);
  wb_expect_stream(p3, 3, n3);
  unlink(p1);
  unlink(p2);
  unlink(p3);
  return 0;
}
