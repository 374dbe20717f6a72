/* partial_cache_read.c — contract: a regular-file read returns what the plain
 * call returns (docs/design.md §4 "Same threading behaviour"): the kernel fills the
 * whole buffer unless it meets end of file, so a read of a partly cached file
 * must not return the short count of a nonblocking (RWF_NOWAIT) try.
 *
 * An 8 MiB file is written, synced and evicted (POSIX_FADV_DONTNEED); its
 * first pages are read back into the cache; then read/pread/readv/preadv of
 * 4 MiB must return 4 MiB with the right bytes, and a read across the end of
 * file returns exactly what is left, then 0.
 */
#include "contract.h"

#include <sys/uio.h>

#define FILE_SZ (8u << 20)
#define BIG (4u << 20)

static unsigned char byte_at(size_t i) { return (unsigned char)((i * 7u) ^ (i >> 12)); }

static void check_bytes(const unsigned char* buf, size_t off, size_t n, const char* what) {
  for (size_t i = 0; i < n; i++)
    if (buf[i] != byte_at(off + i))
      ct_fail("%s: byte %zu is %#x, want %#x", what, off + i, buf[i], byte_at(off + i));
}

static void evict_and_warm(int fd) {
  CT_CHECK(fdatasync(fd) == 0, "fdatasync: %s", strerror(errno));
  CT_CHECK(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0, "fadvise");
  unsigned char small[4096];
  CT_EXPECT_RET(pread(fd, small, sizeof small, 0), (long)sizeof small, "warm pread");
  check_bytes(small, 0, sizeof small, "warm pread");
}

int main(void) {
  ct_name = "partial_cache_read";
  ct_start_watchdog(40);
  char path[256];
  int fd = ct_tmpfile(path, "f");
  unsigned char* buf = malloc(FILE_SZ);
  CT_CHECK(buf, "malloc");
  for (size_t i = 0; i < FILE_SZ; i++) buf[i] = byte_at(i);
  ct_write_all(fd, buf, FILE_SZ, "fill");

  ct_step = "read 4 MiB at offset 0";
  evict_and_warm(fd);
  CT_CHECK(lseek(fd, 0, SEEK_SET) == 0, "lseek");
  memset(buf, 0, BIG);
  CT_EXPECT_RET(read(fd, buf, BIG), (long)BIG, "read");
  check_bytes(buf, 0, BIG, "read");
  CT_CHECK(lseek(fd, 0, SEEK_CUR) == (off_t)BIG, "file offset after read is not 4 MiB");

  ct_step = "pread 4 MiB at offset 0";
  evict_and_warm(fd);
  memset(buf, 0, BIG);
  CT_EXPECT_RET(pread(fd, buf, BIG, 0), (long)BIG, "pread");
  check_bytes(buf, 0, BIG, "pread");

  ct_step = "readv 2 x 2 MiB at offset 0";
  evict_and_warm(fd);
  CT_CHECK(lseek(fd, 0, SEEK_SET) == 0, "lseek");
  memset(buf, 0, BIG);
  struct iovec v[2] = {{buf, BIG / 2}, {buf + BIG / 2, BIG / 2}};
  CT_EXPECT_RET(readv(fd, v, 2), (long)BIG, "readv");
  check_bytes(buf, 0, BIG, "readv");

  ct_step = "preadv 2 x 2 MiB at offset 4 KiB";
  evict_and_warm(fd);
  memset(buf, 0, BIG);
  CT_EXPECT_RET(preadv(fd, v, 2, 4096), (long)BIG, "preadv");
  check_bytes(buf, 4096, BIG, "preadv");

  ct_step = "read across end of file";
  evict_and_warm(fd);
  CT_CHECK(lseek(fd, 0, SEEK_SET) == 0, "lseek");
  CT_CHECK(lseek(fd, FILE_SZ - 3 * 4096 - 100, SEEK_SET) >= 0, "lseek");
  unsigned char tail[5 * 4096];
  CT_CHECK(pread(fd, tail, 4096, FILE_SZ - 3 * 4096 - 100) == 4096, "warm the tail's first page");
  CT_EXPECT_RET(read(fd, tail, sizeof tail), 3 * 4096 + 100, "read at the tail");
  check_bytes(tail, FILE_SZ - 3 * 4096 - 100, 3 * 4096 + 100, "read at the tail");
  CT_EXPECT_RET(read(fd, tail, sizeof tail), 0, "read at end of file");
  free(buf);
  close(fd);
  unlink(path);
  return 0;
}
