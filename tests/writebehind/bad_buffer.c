/* bad_buffer.c — a write from a bad buffer fails with EFAULT as the plain
 * call does (docs/design.md §5: argument errors at the call), never a crash in the
 * shim's copy. Buffers: a PROT_NONE page, an unmapped page, a page made
 * PROT_NONE after a write from it succeeded (the shim remembers buffers it
 * copied from; mprotect must make it forget), an iovec pointing at a
 * PROT_NONE page (writev, pwritev2). After each, the file holds exactly
 * the good writes.
 */
#include "wb.h"

#include <sys/mman.h>
#include <sys/uio.h>

static void expect_efault(ssize_t r, const char* what) {
  if (r != -1 || errno != EFAULT)
    ct_fail("%s: returned %zd (%s), want -1 EFAULT", what, r, r < 0 ? strerrorname_np(errno) : "-");
}

int main(void) {
  ct_name = "bad_buffer";
  ct_start_watchdog(30);
  char path[256];
  int fd = ct_tmpfile(path, "badbuf");
  char* m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CT_CHECK(m != MAP_FAILED, "mmap");
  memset(m, 'g', 3 * 4096);
  CT_CHECK(mprotect(m + 4096, 4096, PROT_NONE) == 0, "mprotect");
  CT_CHECK(munmap(m + 2 * 4096, 4096) == 0, "munmap");
  size_t good = 0;
  ct_step = "good write";
  CT_CHECK(write(fd, m, 100) == 100, "write: %s", strerror(errno));
  good += 100;
  ct_step = "PROT_NONE";
  errno = 0;
  expect_efault(write(fd, m + 4096, 100), "write from PROT_NONE");
  ct_step = "unmapped";
  expect_efault(write(fd, m + 2 * 4096, 100), "write from unmapped");
  ct_step = "made PROT_NONE after use";
  CT_CHECK(write(fd, m + 200, 64) == 64, "write: %s", strerror(errno));
  good += 64;
  CT_CHECK(mprotect(m, 4096, PROT_NONE) == 0, "mprotect");
  expect_efault(write(fd, m + 200, 64), "write from a page made PROT_NONE");
  ct_step = "writev";
  char ok[10] = "0123456789";
  struct iovec v[2] = {{ok, 10}, {m + 4096, 10}};
  ssize_t r = writev(fd, v, 2);
  /* Linux copies iovecs in order: 10 bytes, or EFAULT when none moved */
  if (r == 10)
    good += 10;
  else
    expect_efault(r, "writev with a PROT_NONE vector");
  ct_step = "pwritev2";
  struct iovec v2[1] = {{m + 4096, 10}};
  expect_efault(pwritev2(fd, v2, 1, -1, 0), "pwritev2 from PROT_NONE");
  ct_step = "verify";
  close(fd);
  size_t n;
  char* got = wb_slurp(path, &n);
  if (n != good) ct_fail("file has %zu bytes, want %zu", n, good);
  free(got);
  return 0;
}
