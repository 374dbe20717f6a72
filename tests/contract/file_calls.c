/* file_calls.c — contract: the blocking file calls io_uring hands to io-wq
 * (fsync fdatasync sync_file_range fallocate posix_fallocate copy_file_range
 * sendfile splice tee) return what they return without the shim and act on
 * the right file, in order with its writes (docs/design.md §4). The runner checks
 * from the report that the shim saw them.
 */
#include "contract.h"

#include <sys/sendfile.h>
#include <sys/stat.h>

static off_t size_of(int fd) {
  struct stat st;
  CT_CHECK(fstat(fd, &st) == 0, "fstat: %s", strerror(errno));
  return st.st_size;
}

int main(void) {
  ct_name = "file_calls";
  ct_start_watchdog(30);
  char pa[256], pb[256];
  int a = ct_tmpfile(pa, "a");
  int b = ct_tmpfile(pb, "b");
  char data[8192];
  for (size_t i = 0; i < sizeof data; i++) data[i] = (char)('a' + i % 26);
  ct_step = "write + fsync family";
  ct_write_all(a, data, sizeof data, "a");
  CT_EXPECT_RET(fsync(a), 0, "fsync");
  CT_EXPECT_RET(fdatasync(a), 0, "fdatasync");
  CT_EXPECT_RET(sync_file_range(a, 0, 0, SYNC_FILE_RANGE_WRITE), 0, "sync_file_range");
  CT_EXPECT_ERR(fsync(-1), EBADF, "fsync(-1)");
  CT_EXPECT_ERR(fdatasync(12345), EBADF, "fdatasync(bad)");
  CT_EXPECT_ERR(sync_file_range(a, 0, 0, 0xff), EINVAL, "sync_file_range(bad flags)");

  ct_step = "fallocate / posix_fallocate";
  CT_EXPECT_RET(fallocate(b, 0, 0, 65536), 0, "fallocate");
  CT_CHECK(size_of(b) == 65536, "size after fallocate %lld", (long long)size_of(b));
  CT_EXPECT_RET(fallocate(b, FALLOC_FL_KEEP_SIZE, 65536, 4096), 0, "fallocate keep size");
  CT_CHECK(size_of(b) == 65536, "size after keep-size fallocate");
  CT_EXPECT_ERR(fallocate(b, 0, -1, 10), EINVAL, "fallocate(-1)");
  CT_EXPECT_RET(posix_fallocate(b, 0, 131072), 0, "posix_fallocate");
  CT_CHECK(size_of(b) == 131072, "size after posix_fallocate");
  CT_EXPECT_RET(posix_fallocate(-1, 0, 10), EBADF, "posix_fallocate(-1) returns the error");
  CT_EXPECT_RET(ftruncate(b, 0), 0, "ftruncate");

  ct_step = "copy_file_range";
  loff_t oin = 0, oout = 0;
  CT_EXPECT_RET(copy_file_range(a, &oin, b, &oout, 4096, 0), 4096, "copy_file_range");
  CT_CHECK(oin == 4096 && oout == 4096, "copy_file_range offsets");
  CT_EXPECT_ERR(copy_file_range(a, NULL, b, NULL, 10, 99), EINVAL, "copy_file_range(bad flags)");

  ct_step = "sendfile";
  off_t off = 4096;
  CT_CHECK(lseek(b, 4096, SEEK_SET) == 4096, "lseek");
  CT_EXPECT_RET(sendfile(b, a, &off, 4096), 4096, "sendfile");
  CT_CHECK(off == 8192, "sendfile offset");
  char back[8192];
  CT_EXPECT_RET(pread(b, back, sizeof back, 0), sizeof back, "pread b");
  CT_CHECK(memcmp(back, data, sizeof data) == 0, "b differs from a after copy_file_range+sendfile");

  ct_step = "splice / tee";
  int p1[2], p2[2];
  CT_CHECK(pipe2(p1, O_CLOEXEC) == 0 && pipe2(p2, O_CLOEXEC) == 0, "pipe2");
  loff_t soff = 0;
  CT_EXPECT_RET(splice(a, &soff, p1[1], NULL, 1000, 0), 1000, "splice file->pipe");
  CT_EXPECT_RET(tee(p1[0], p2[1], 1000, 0), 1000, "tee");
  char x[1000], y[1000];
  CT_EXPECT_RET(read(p1[0], x, sizeof x), 1000, "read p1");
  CT_EXPECT_RET(read(p2[0], y, sizeof y), 1000, "read p2");
  CT_CHECK(memcmp(x, data, 1000) == 0 && memcmp(y, data, 1000) == 0, "splice/tee data");
  CT_EXPECT_ERR(tee(a, p2[1], 10, 0), EINVAL, "tee from a file");

  ct_step = "ordered with the file's writes";
  for (int i = 0; i < 100; i++) {
    CT_EXPECT_RET(pwrite(b, "Z", 1, 20000 + i), 1, "pwrite");
    CT_EXPECT_RET(fdatasync(b), 0, "fdatasync after pwrite");
  }
  CT_CHECK(size_of(b) == 20100, "size after pwrites %lld", (long long)size_of(b));
  close(a);
  close(b);
  unlink(pa);
  unlink(pb);
  return 0;
}
