/* aio_order.c — POSIX AIO requests come after the writes made before them
 * (docs/design.md §5 "The net": glibc's AIO helper threads pread/pwrite the
 * file themselves; a request waits at submission for the file's pending
 * writes).
 *
 * Usage: aio_order read|write|lio. The file is written in many small writes
 * and 16 MiB of larger ones (no sync point), then:
 *   read   aio_read of the last 1024 bytes (and beyond) must return them;
 *   write  aio_write of another pattern over the last 1024 bytes must land
 *          after (over) them;
 *   lio    the same write, submitted by lio_listio(LIO_WAIT).
 * glibc's helper thread is made by a first request before the writes and
 * stays idle (aio_init): the request after them is handed to it without a
 * new thread (whose clone would wait for every pending write).
 * Completion is waited for by polling aio_error; the file is then checked.
 */
#include "wb.h"

#include <aio.h>
#include <sched.h>

#define WRITES 20000
#define SEED 9
#define AIO_SEED 10

/* then BIG more bytes in 64 KiB writes (run with a pending bound above it):
 * the shim's one bound worker takes a while to write them out */
#define BIG (16u << 20)
#define PIECE 65536

static size_t stream_len(void) {
  size_t n = 0;
  for (int i = 0; i < WRITES; i++) n += 1 + (size_t)((i * 13) % 50);
  return n + BIG;
}

/* Polls (aio_error, sched_yield: calls that wait for nothing under the
 * shim) rather than aio_suspend, whose calls made with glibc's AIO lock held
 * could wait for the pending writes and hold the helper back until they
 * landed, hiding an unordered request. */
static void wait_done(struct aiocb* cb, ssize_t want) {
  for (long guard = 0; aio_error(cb) == EINPROGRESS; guard++) {
    CT_CHECK(guard < 4000000000L, "aio request never completed");
    if ((guard & 1023) == 1023) sched_yield();
  }
  CT_CHECK(aio_error(cb) == 0, "aio request failed: %s", strerror(aio_error(cb)));
  ssize_t r = aio_return(cb);
  CT_CHECK(r == want, "aio_return %zd, want %zd", r, want);
}

int main(int argc, char** argv) {
  ct_name = "aio_order";
  CT_CHECK(argc == 2, "usage: aio_order read|write|lio");
  const char* mode = argv[1];
  ct_start_watchdog(50);
  char path[256];
  int fd = ct_tmpfile(path, "aio");
  close(fd);
  fd = open(path, O_RDWR | O_TRUNC | O_CLOEXEC);
  CT_CHECK(fd >= 0, "open: %s", strerror(errno));
  struct aioinit ai;
  memset(&ai, 0, sizeof ai);
  ai.aio_threads = 1;
  ai.aio_num = 4;
  ai.aio_idle_time = 60;
  aio_init(&ai);
  struct aiocb cb;
  char first;
  memset(&cb, 0, sizeof cb);
  cb.aio_fildes = fd;
  cb.aio_sigevent.sigev_notify = SIGEV_NONE;
  cb.aio_buf = &first;
  cb.aio_nbytes = 1;
  CT_CHECK(aio_read(&cb) == 0, "aio_read: %s", strerror(errno));
  wait_done(&cb, 0); /* the file is empty */
  const size_t total = stream_len();
  const size_t at = total - 1024, n = 1024; /* the request: the last bytes written */
  char* want = malloc(total);
  char* got = malloc(total + 1);
  char* mine = malloc(n);
  CT_CHECK(want && got && mine, "malloc");
  wb_fill(want, SEED, 0, total);
  wb_fill(mine, AIO_SEED, 0, n);
  /* the request is ready before the writes: it follows the last one at once */
  memset(&cb, 0, sizeof cb);
  cb.aio_fildes = fd;
  cb.aio_sigevent.sigev_notify = SIGEV_NONE;
  const int rd = !strcmp(mode, "read");
  cb.aio_buf = rd ? got : mine;
  cb.aio_nbytes = rd ? n + 1 : n;
  cb.aio_offset = (off_t)at;
  cb.aio_lio_opcode = LIO_WRITE;
  struct aiocb* list[1] = {&cb};
  ct_step = "writes";
  for (size_t off = 0, i = 0; off < total; i++) {
    size_t len = i < WRITES ? 1 + (size_t)((i * 13) % 50) : PIECE;
    CT_CHECK(write(fd, want + off, len) == (ssize_t)len, "write: %s", strerror(errno));
    off += len;
  }
  ct_step = mode;
  if (rd) {
    CT_CHECK(aio_read(&cb) == 0, "aio_read: %s", strerror(errno));
    wait_done(&cb, (ssize_t)n);
    for (size_t k = 0; k < n; k++)
      if (got[k] != want[at + k]) ct_fail("aio_read: byte %zu of %zu is not what was written", at + k, total);
  } else {
    if (!strcmp(mode, "lio"))
      CT_CHECK(lio_listio(LIO_WAIT, list, 1, NULL) == 0, "lio_listio: %s", strerror(errno));
    else
      CT_CHECK(aio_write(&cb) == 0, "aio_write: %s", strerror(errno));
    wait_done(&cb, (ssize_t)n);
    memcpy(want + at, mine, n);
    ct_step = "verify";
    wb_expect_file(path, want, total);
  }
  close(fd);
  return 0;
}
