/* bound.c — write-behind memory stays bounded when the writer is faster
 * than the disk (docs/design.md §5 "Memory is bounded": past IOWQ_WB_MAX_BYTES
 * pending, writers wait).
 *
 * Writes 64 MiB in 4 KiB write()s as fast as it can, then checks the file.
 * The .iowq run sets IOWQ_WB_MAX_BYTES=1M and checks from the report that
 * write_behind.peak_pending_bytes is > 0 and <= 1048576; a writer that did
 * not wait would queue far more (a memcpy is ~100x a page-cache write).
 * A second file is written in 64 KiB pwrite()s from two threads at once (the
 * bound is shared by all files and threads).
 */
#include "wb.h"

#define TOTAL (64u << 20)
#define SMALL 4096
#define BIG (64u << 10)
#define SEED 3

static char* stream;
static int fd2;

static void* half_writer(void* arg) {
  size_t half = (size_t)(uintptr_t)arg; /* 0 or 1: even or odd blocks */
  for (size_t off = half * BIG; off < TOTAL / 4; off += 2 * BIG) {
    ssize_t r = pwrite(fd2, stream + off, BIG, (off_t)off);
    CT_CHECK(r == (ssize_t)BIG, "pwrite at %zu: %zd (%s)", off, r, r < 0 ? strerrorname_np(errno) : "short");
  }
  return NULL;
}

int main(void) {
  ct_name = "bound";
  ct_start_watchdog(55);
  stream = malloc(TOTAL);
  CT_CHECK(stream, "malloc");
  wb_fill(stream, SEED, 0, TOTAL);

  ct_step = "64 MiB in 4 KiB writes";
  char path[256], path2[256];
  int fd = ct_tmpfile(path, "bound");
  for (size_t off = 0; off < TOTAL; off += SMALL) {
    ssize_t r = write(fd, stream + off, SMALL);
    CT_CHECK(r == SMALL, "write at %zu: %zd (%s)", off, r, r < 0 ? strerrorname_np(errno) : "short");
  }
  CT_CHECK(close(fd) == 0, "close: %s", strerror(errno));

  ct_step = "16 MiB in 64 KiB pwrites from two threads";
  fd2 = ct_tmpfile(path2, "bound2");
  pthread_t t0, t1;
  CT_CHECK(pthread_create(&t0, NULL, half_writer, (void*)0) == 0, "pthread_create");
  CT_CHECK(pthread_create(&t1, NULL, half_writer, (void*)1) == 0, "pthread_create");
  pthread_join(t0, NULL);
  pthread_join(t1, NULL);
  CT_CHECK(close(fd2) == 0, "close: %s", strerror(errno));

  ct_step = "verify";
  wb_expect_stream(path, SEED, TOTAL);
  wb_expect_stream(path2, SEED, TOTAL / 4);
  unlink(path);
  unlink(path2);
  free(stream);
  return 0;
}
