/* stdio_mix.c — write(2) and stdio on one file keep their order (docs/design.md §4:
 * same bytes; §5: per-file order). Programs mix write(1, ...) with printf()
 * on a stdout redirected to a file; glibc's fflush() writes with an
 * internal write() that no interposer sees, so it must still land after
 * the write(2)s made before it.
 *
 * Modes (argv[1]):
 *   stdout   fd 1 redirected to the file (as `prog > file`): write(1),
 *            printf + fflush(stdout), write(1), ... alternating;
 *   fdopen   a FILE from fdopen() of the file's fd, same alternation.
 * The file must be the pieces in program order.
 */
#include "wb.h"

#define ROUNDS 3000

int main(int argc, char** argv) {
  ct_name = "stdio_mix";
  const char* mode = argc > 1 ? argv[1] : "stdout";
  ct_start_watchdog(50);
  ct_step = mode;
  char path[256];
  int fd = ct_tmpfile(path, "stdiomix");
  FILE* f;
  int wfd;
  if (!strcmp(mode, "stdout")) {
    fflush(stdout);
    CT_CHECK(dup2(fd, 1) == 1, "dup2: %s", strerror(errno));
    close(fd);
    f = stdout;
    wfd = 1;
  } else if (!strcmp(mode, "fdopen")) {
    f = fdopen(fd, "w");
    CT_CHECK(f, "fdopen: %s", strerror(errno));
    wfd = fd;
  } else {
    ct_fail("usage: stdio_mix stdout|fdopen");
  }
  static char want[ROUNDS * 32];
  size_t n = 0;
  char buf[32];
  for (int i = 0; i < ROUNDS; i++) {
    int len = snprintf(buf, sizeof buf, "w%05d\n", i);
    CT_CHECK(write(wfd, buf, (size_t)len) == len, "write: %s", strerror(errno));
    memcpy(want + n, buf, (size_t)len);
    n += (size_t)len;
    len = snprintf(buf, sizeof buf, "s%05d\n", i);
    CT_CHECK(fputs(buf, f) >= 0 && fflush(f) == 0, "fputs/fflush: %s", strerror(errno));
    memcpy(want + n, buf, (size_t)len);
    n += (size_t)len;
  }
  ct_step = "verify";
  CT_CHECK(fclose(f) == 0, "fclose: %s", strerror(errno));
  wb_expect_file(path, want, n);
  unlink(path);
  return 0;
}
