/* file_bound.c — one file's pending writes hold a few chunks of memory, not
 * the whole budget (docs/design.md §5 "Memory").
 *
 * Writes 32 MiB to one file in 64 KiB write()s from one buffer, as fast as it
 * can, and counts the calling thread's minor page faults over the loop
 * (getrusage RUSAGE_THREAD). Plain: the kernel copies into the page cache and
 * the thread touches no new memory (a handful of faults at most). Under the
 * shim the copies go into write-behind's chunks: the writer, faster than the
 * disk, queued up to the 64 MiB budget in fresh chunks, a fault per 4 KiB
 * (8,000+ here). One file's chunks are written one at a time, so it now waits
 * once its file has 4 queued, and reuses freed chunks while they are mapped.
 * Bound checked: under 2,048 faults (8 MiB). Then the file's bytes.
 */
#include "wb.h"

#include <sys/resource.h>

#define PIECE (64 * 1024)
#define PIECES 512
#define SEED 9

static char piece[PIECE];

static long thread_faults(void) {
  struct rusage ru;
  CT_CHECK(getrusage(RUSAGE_THREAD, &ru) == 0, "getrusage: %s", strerror(errno));
  return ru.ru_minflt;
}

int main(void) {
  ct_name = "file_bound";
  ct_start_watchdog(55);
  char path[256];
  int fd = ct_tmpfile(path, "fbound");
  ct_step = "32 MiB in 64 KiB writes";
  long before = thread_faults();
  for (int i = 0; i < PIECES; i++) {
    piece[0] = (char)i; /* every piece differs in its first byte */
    CT_CHECK(write(fd, piece, sizeof piece) == (ssize_t)sizeof piece, "write %d: %s", i, strerror(errno));
  }
  long faults = thread_faults() - before;
  ct_step = "check";
  CT_CHECK(faults < 2048, "%ld page faults while writing one file: its pending writes hold %ld KiB", faults,
           faults * 4);
  CT_CHECK(close(fd) == 0, "close: %s", strerror(errno));
  size_t len;
  char* got = wb_slurp(path, &len);
  CT_CHECK(len == (size_t)PIECE * PIECES, "size %zu", len);
  for (int i = 0; i < PIECES; i++) {
    piece[0] = (char)i;
    CT_CHECK(memcmp(got + (size_t)i * PIECE, piece, PIECE) == 0, "piece %d differs", i);
  }
  free(got);
  unlink(path);
  return 0;
}
