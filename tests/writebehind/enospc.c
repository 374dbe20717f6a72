/* enospc.c — a deferred write error is never lost and reported exactly once
 * (docs/design.md §5 "Errors are never lost").
 *
 * Usage: enospc DIR fsync|close|pread|waits — DIR is a tiny filesystem (see
 * with_small_fs.sh). Another process fills it between two writes to
 * DIR/data (wb_fill_behind_back: write-behind takes a write only when the
 * filesystem has room, and does not see that fill: the residual of
 * docs/design.md §5 "A full disk"), then the program calls the sync point
 * the mode names. The error may come at either place:
 *   at a write    (no shim; or write-behind already knew): short, then
 *                 -1/ENOSPC there, and the sync point then succeeds;
 *   at the sync point (write-behind): every write returned its full count
 *                 and fsync / close / pread returns -1/ENOSPC.
 * waits: lseek, fstat, dup, fcntl(F_GETFL) and mmap come first — they wait
 * for the data but cannot return an I/O error, so they must leave it for
 * the fsync after them.
 * Either way: ENOSPC is seen exactly once (the calls after it — a second
 * fsync, close — succeed: the program wrote nothing after seeing the error),
 * and the file is a prefix of the bytes written, no longer than what the
 * writes accepted (no later write landed after the failed one).
 */
#include "wb.h"

#include <sys/mman.h>

#define SEED 7

static int errors_seen;

/* A call after which the error may (want_err) or must not have come. */
static void expect_ok_or_enospc(long r, long ok, int may_fail, const char* what) {
  if (r == -1 && errno == ENOSPC && may_fail) {
    errors_seen++;
    return;
  }
  if (r != ok)
    ct_fail("%s: got %ld (%s), want %ld%s", what, r, r < 0 ? strerrorname_np(errno) : "-", ok,
            may_fail ? " or -1/ENOSPC" : " (the error was already reported)");
}

int main(int argc, char** argv) {
  ct_name = "enospc";
  CT_CHECK(argc == 3, "usage: enospc DIR fsync|close|pread|waits");
  const char *dir = argv[1], *mode = argv[2];
  ct_start_watchdog(50);
  ct_step = "setup";
  size_t total;
  char* stream = wb_overfill_stream(dir, SEED, &total);
  char path[512];
  snprintf(path, sizeof path, "%s/data", dir);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CT_CHECK(fd >= 0, "open %s: %s", path, strerror(errno));

  ct_step = "writes";
  size_t accepted;
  int err_at_write = wb_fill_behind_back(dir, fd, stream, &accepted);
  errors_seen += err_at_write;
  CT_CHECK(accepted < total || !err_at_write, "impossible");

  ct_step = mode;
  if (!strcmp(mode, "fsync")) {
    expect_ok_or_enospc(fsync(fd), 0, !err_at_write, "first fsync");
    expect_ok_or_enospc(fsync(fd), 0, 0, "second fsync");
    expect_ok_or_enospc(close(fd), 0, 0, "close after fsync");
  } else if (!strcmp(mode, "close")) {
    expect_ok_or_enospc(close(fd), 0, !err_at_write, "close");
  } else if (!strcmp(mode, "waits")) {
    struct stat st;
    expect_ok_or_enospc(lseek(fd, 0, SEEK_CUR), (long)accepted, 0, "lseek");
    expect_ok_or_enospc(fstat(fd, &st), 0, 0, "fstat");
    int d = dup(fd);
    CT_CHECK(d >= 0, "dup: %s", strerror(errno));
    CT_CHECK(fcntl(fd, F_GETFL) >= 0, "fcntl(F_GETFL): %s", strerror(errno));
    void* m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    CT_CHECK(m != MAP_FAILED, "mmap: %s", strerror(errno));
    munmap(m, 4096);
    expect_ok_or_enospc(fsync(fd), 0, !err_at_write, "fsync after the waits");
    expect_ok_or_enospc(close(d), 0, 0, "close of the dup");
    expect_ok_or_enospc(close(fd), 0, 0, "close");
  } else if (!strcmp(mode, "pread")) {
    char c;
    expect_ok_or_enospc(pread(fd, &c, 1, 0), 1, !err_at_write, "pread (a sync point)");
    expect_ok_or_enospc(pread(fd, &c, 1, 0), 1, 0, "second pread");
    expect_ok_or_enospc(fsync(fd), 0, 0, "fsync after pread");
    expect_ok_or_enospc(close(fd), 0, 0, "close after pread");
  } else {
    ct_fail("unknown mode %s", mode);
  }
  if (errors_seen != 1)
    ct_fail("ENOSPC seen %d times, want exactly once (%zu of %zu bytes accepted, %zu free at the start)",
            errors_seen, accepted, total, (total - 65536) / 2);

  ct_step = "verify";
  size_t len;
  char* data = wb_slurp(path, &len);
  CT_CHECK(len > 0, "nothing was written");
  CT_CHECK(len <= accepted, "file has %zu bytes, more than the %zu the writes accepted", len, accepted);
  for (size_t k = 0; k < len; k++)
    if (data[k] != stream[k])
      ct_fail(
          "byte %zu of %zu differs: the file is not a prefix of what was written "
          "(a later write landed after the failed one)",
          k, len);
  free(data);
  free(stream);
  unlink(path);
  return 0;
}
