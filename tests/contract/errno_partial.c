/* errno_partial.c — contract: return values, short counts, EOF and file
 * offsets are exactly libc's (docs/design.md §4 "Same results: ... partial counts,
 * errno, file offsets, O_APPEND behaviour").
 *
 *  - read at EOF returns 0 (errno untouched); short reads; readv partial fill;
 *  - pread/pwrite at offsets leave the file offset alone; holes read as 0;
 *  - lseek(SEEK_CUR) after every write/read equals the bytes moved;
 *  - a pipe read returns what is there (short), not the requested size;
 *  - O_APPEND: two threads append through two different fds at once: every
 *    record lands whole at the end, each thread's records in its order, and
 *    each fd's offset after a write is the end of its record.
 */
#include "contract.h"

#include <sys/uio.h>

#define APPENDS 3000
#define RECSZ 16

static void offsets_and_short_counts(void) {
  char path[256], data[10000], buf[12000];
  for (size_t i = 0; i < sizeof data; i++) data[i] = (char)('A' + i % 23);
  int fd = ct_tmpfile(path, "offs");
  unlink(path);

  ct_step = "write + offset";
  CT_EXPECT_RET(write(fd, data, 4000), 4000, "write 4000");
  CT_EXPECT_RET(lseek(fd, 0, SEEK_CUR), 4000, "offset after write");
  struct iovec wv[3] = {{data + 4000, 1000}, {data + 5000, 3000}, {data + 8000, 2000}};
  CT_EXPECT_RET(writev(fd, wv, 3), 6000, "writev 6000");
  CT_EXPECT_RET(lseek(fd, 0, SEEK_CUR), 10000, "offset after writev");

  ct_step = "reads, short read, EOF";
  CT_EXPECT_RET(lseek(fd, 0, SEEK_SET), 0, "lseek 0");
  CT_EXPECT_RET(read(fd, buf, 4096), 4096, "read 4096");
  CT_CHECK(memcmp(buf, data, 4096) == 0, "read data differs");
  CT_EXPECT_RET(lseek(fd, 0, SEEK_CUR), 4096, "offset after read");
  CT_EXPECT_RET(read(fd, buf, sizeof buf), 10000 - 4096, "short read at the tail");
  CT_CHECK(memcmp(buf, data + 4096, 10000 - 4096) == 0, "tail data differs");
  errno = 777;
  CT_EXPECT_RET(read(fd, buf, sizeof buf), 0, "read at EOF");
  CT_CHECK(errno == 777, "read at EOF changed errno to %d", errno);
  CT_EXPECT_RET(lseek(fd, 0, SEEK_CUR), 10000, "offset after EOF read");

  ct_step = "readv partial fill";
  CT_EXPECT_RET(lseek(fd, 9990, SEEK_SET), 9990, "lseek 9990");
  char a[4], b[20];
  struct iovec rv[2] = {{a, sizeof a}, {b, sizeof b}};
  CT_EXPECT_RET(readv(fd, rv, 2), 10, "readv with 10 bytes left");
  CT_CHECK(memcmp(a, data + 9990, 4) == 0 && memcmp(b, data + 9994, 6) == 0, "readv data");

  ct_step = "pread/pwrite do not move the offset";
  CT_EXPECT_RET(lseek(fd, 123, SEEK_SET), 123, "lseek 123");
  CT_EXPECT_RET(pread(fd, buf, 100, 9950), 50, "pread crossing EOF");
  CT_CHECK(memcmp(buf, data + 9950, 50) == 0, "pread data");
  CT_EXPECT_RET(pread(fd, buf, 100, 20000), 0, "pread past EOF");
  CT_EXPECT_RET(pwrite(fd, "HOLE", 4, 20000), 4, "pwrite past EOF");
  CT_EXPECT_RET(lseek(fd, 0, SEEK_CUR), 123, "offset after pread/pwrite");
  CT_EXPECT_RET(pread(fd, buf, 20, 19990), 14, "pread across the hole's end");
  for (int i = 0; i < 10; i++) CT_CHECK(buf[i] == 0, "hole byte %d is %d", i, buf[i]);
  CT_CHECK(memcmp(buf + 10, "HOLE", 4) == 0, "pwrite data");
  struct iovec pv[2] = {{a, sizeof a}, {b, sizeof b}};
  CT_EXPECT_RET(preadv(fd, pv, 2, 19998), 6, "preadv partial");
  CT_EXPECT_RET(pwritev(fd, wv, 1, 30000), 1000, "pwritev");
  CT_EXPECT_RET(lseek(fd, 0, SEEK_CUR), 123, "offset after preadv/pwritev");
  CT_EXPECT_RET(lseek(fd, 0, SEEK_END), 31000, "file size");
  close(fd);

  ct_step = "pipe short read";
  int p[2];
  CT_CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
  CT_EXPECT_RET(write(p[1], data, 10), 10, "pipe write 10");
  CT_EXPECT_RET(read(p[0], buf, 100), 10, "pipe read 100 with 10 there");
  CT_EXPECT_RET(write(p[1], data, 7), 7, "pipe write 7");
  close(p[1]);
  CT_EXPECT_RET(read(p[0], buf, 100), 7, "pipe read after writer closed");
  errno = 778;
  CT_EXPECT_RET(read(p[0], buf, 100), 0, "pipe EOF");
  CT_CHECK(errno == 778, "pipe EOF changed errno to %d", errno);
  close(p[0]);
}

struct appender {
  int fd;
  char tag;
};

static void make_rec(char* rec, char tag, int i) { snprintf(rec, RECSZ + 1, "%c%013d\n", tag, i); }

static void* append_loop(void* arg) {
  struct appender* ap = arg;
  char rec[RECSZ + 1];
  for (int i = 0; i < APPENDS; i++) {
    make_rec(rec, ap->tag, i);
    ssize_t r = write(ap->fd, rec, RECSZ);
    if (r != RECSZ) ct_fail("append %c%d: got %zd", ap->tag, i, r);
    off_t off = lseek(ap->fd, 0, SEEK_CUR);
    /* Our record ends at off: it must hold our record. */
    char back[RECSZ];
    if (off < (off_t)RECSZ * (i + 1) || off % RECSZ != 0)
      ct_fail("append %c%d: offset after write %ld", ap->tag, i, (long)off);
    if (pread(ap->fd, back, RECSZ, off - RECSZ) != RECSZ || memcmp(back, rec, RECSZ) != 0)
      ct_fail("append %c%d: record not at the offset the fd reports", ap->tag, i);
  }
  return NULL;
}

static void concurrent_append(void) {
  ct_step = "concurrent O_APPEND through two fds";
  char path[256];
  int base = ct_tmpfile(path, "append");
  CT_EXPECT_RET(write(base, "header-16-bytes\n", 16), 16, "header");
  struct appender x = {open(path, O_RDWR | O_APPEND | O_CLOEXEC), 'X'};
  struct appender y = {open(path, O_RDWR | O_APPEND | O_CLOEXEC), 'Y'};
  CT_CHECK(x.fd >= 0 && y.fd >= 0, "open O_APPEND: %s", strerror(errno));
  pthread_t tx, ty;
  if (pthread_create(&tx, NULL, append_loop, &x) != 0 || pthread_create(&ty, NULL, append_loop, &y) != 0)
    ct_fail("pthread_create");
  pthread_join(tx, NULL);
  pthread_join(ty, NULL);

  size_t want = (size_t)RECSZ * (1 + 2 * APPENDS);
  static char all[RECSZ * (1 + 2 * APPENDS) + 64];
  CT_EXPECT_RET(lseek(base, 0, SEEK_SET), 0, "lseek");
  size_t n = ct_read_all(base, all, sizeof all, "append file");
  CT_CHECK(n == want, "file has %zu bytes, want %zu", n, want);
  CT_CHECK(memcmp(all, "header-16-bytes\n", 16) == 0, "header overwritten");
  int next_x = 0, next_y = 0;
  char rec[RECSZ + 1];
  for (size_t off = RECSZ; off < n; off += RECSZ) {
    char tag = all[off];
    int* next = tag == 'X' ? &next_x : tag == 'Y' ? &next_y : NULL;
    CT_CHECK(next, "torn record at %zu", off);
    make_rec(rec, tag, *next);
    CT_CHECK(memcmp(all + off, rec, RECSZ) == 0, "record at %zu: want %c%d", off, tag, *next);
    (*next)++;
  }
  CT_CHECK(next_x == APPENDS && next_y == APPENDS, "records X %d Y %d", next_x, next_y);
  close(x.fd);
  close(y.fd);
  close(base);
  unlink(path);
}

int main(void) {
  ct_name = "errno_partial";
  ct_start_watchdog(40);
  offsets_and_short_counts();
  concurrent_append();
  return 0;
}
