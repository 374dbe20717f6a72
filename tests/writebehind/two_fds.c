/* two_fds.c — write-behind keeps file offsets, sizes and content exactly as
 * without it when one file is written through several fds (docs/design.md §5:
 * per-file order across fds; lseek and fstat are sync points; docs/design.md §4
 * "same file offsets").
 *
 * Three fds: A and B from two open()s of one file (own offsets), C = dup(A)
 * (A's offset). A pseudo-random sequence of write/pwrite/writev/pwritev
 * through them, of 1..300 bytes at offsets up to past the end (holes), is
 * mirrored in a model (image, size, two offsets). Phase 1 checks
 * lseek(fd, 0, SEEK_CUR) and fstat().st_size against the model after every
 * call; phase 2 only every 13th call (so writes queue up and merge between
 * sync points). At the end the file must equal the model's image.
 */
#include "wb.h"

#include <sys/uio.h>

#define OPS1 3000
#define OPS2 12000
#define MAXSZ (1 << 21)

static char image[MAXSZ];
static size_t size;
static off_t pos_ab[2]; /* offsets of description A (shared with C) and B */

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n) { return wb_rnd(&rng, n); }

static void check_fd(int fd, int desc, long op) {
  off_t cur = lseek(fd, 0, SEEK_CUR);
  if (cur != pos_ab[desc])
    ct_fail("op %ld: lseek(SEEK_CUR) = %lld, want %lld", op, (long long)cur, (long long)pos_ab[desc]);
  struct stat st;
  CT_CHECK(fstat(fd, &st) == 0, "fstat: %s", strerror(errno));
  if ((size_t)st.st_size != size)
    ct_fail("op %ld: fstat st_size = %lld, want %zu", op, (long long)st.st_size, size);
}

static void one_op(const int fds[3], long op, int check) {
  char buf[300];
  int which = (int)rnd(3);
  int fd = fds[which], desc = which == 1 ? 1 : 0;
  size_t len = 1 + rnd(300);
  int kind = (int)rnd(4); /* write, pwrite, writev, pwritev */
  off_t off = kind & 1 ? (off_t)rnd((uint32_t)size + 200) : pos_ab[desc];
  if ((size_t)off + len > MAXSZ) { /* keep the image bounded: restart at 0 */
    off = 0;
    if (!(kind & 1)) {
      CT_CHECK(lseek(fd, 0, SEEK_SET) == 0, "lseek: %s", strerror(errno));
      pos_ab[desc] = 0;
    }
  }
  for (size_t k = 0; k < len; k++) buf[k] = (char)('A' + (op + (long)k) % 26);
  ssize_t r;
  size_t h = len / 2;
  struct iovec iov[2] = {{buf, h}, {buf + h, len - h}};
  switch (kind) {
    case 0: r = write(fd, buf, len); break;
    case 1: r = pwrite(fd, buf, len, off); break;
    case 2: r = writev(fd, iov, 2); break;
    default: r = pwritev(fd, iov, 2, off); break;
  }
  if (r != (ssize_t)len)
    ct_fail("op %ld (kind %d fd %d): returned %zd (%s), want %zu", op, kind, which, r,
            r < 0 ? strerrorname_np(errno) : "short", len);
  memcpy(image + off, buf, len);
  if ((size_t)off + len > size) size = (size_t)off + len;
  if (!(kind & 1)) pos_ab[desc] += (off_t)len;
  if (check) check_fd(fd, desc, op);
}

int main(void) {
  ct_name = "two_fds";
  ct_start_watchdog(50);
  ct_step = "setup";
  char path[256];
  int a = ct_tmpfile(path, "twofds");
  int b = open(path, O_RDWR | O_CLOEXEC);
  CT_CHECK(b >= 0, "open: %s", strerror(errno));
  int c = dup(a);
  CT_CHECK(c >= 0, "dup: %s", strerror(errno));
  int fds[3] = {a, b, c};

  ct_step = "phase 1: check after every call";
  long op = 0;
  for (; op < OPS1; op++) one_op(fds, op, 1);
  ct_step = "phase 2: check every 13th call";
  for (; op < OPS1 + OPS2; op++) one_op(fds, op, op % 13 == 0);
  for (int i = 0; i < 3; i++) check_fd(fds[i], i == 1, op);

  ct_step = "verify";
  wb_expect_file(path, image, size);
  CT_CHECK(close(a) == 0 && close(b) == 0 && close(c) == 0, "close: %s", strerror(errno));
  wb_expect_file(path, image, size);
  unlink(path);
  return 0;
}
