/* paced_writer.c — a writer that keeps writing, with a little work between
 * its writes, gets its writes merged into few syscalls (docs/design.md §5;
 * the dd bs=64 benchmark of docs/design.md §10).
 *
 * dd's shape: each record is read from /dev/zero, worked on for ~20 us (a
 * busy loop on the vDSO clock: no system call), stamped and written, 64 B at
 * a time, 4,000 records. Plain, that is 4,000 write syscalls and the file's
 * bytes. Under the shim the .iowq runs also check from the report that the
 * pool wrote them in at most 400 syscalls (10 records each on average): a
 * worker that took a chunk as soon as the writer showed no progress over one
 * sched_yield took nearly every record alone (~4,000 syscalls, each with a
 * wake-up and an arming of the net); one that lets the chunk fill while the
 * writer is still writing takes ~20-100. Then the file's bytes.
 */
#include "wb.h"

#include <fcntl.h>
#include <sched.h>
#include <time.h>

#define REC 64
#define RECS 4000
#define GAP_NS 20000
#define SEED 11

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(void) {
  ct_name = "paced_writer";
  ct_start_watchdog(55);
  /* On CPU 0, the pool's workers on CPU 1 (IOWQ_CPUS=1 in the test): the
   * worker does not share the writer's CPU, as on a machine with a free one. */
  cpu_set_t cpus;
  CT_CHECK(sched_getaffinity(0, sizeof cpus, &cpus) == 0, "sched_getaffinity: %s", strerror(errno));
  if (CPU_ISSET(0, &cpus) && CPU_ISSET(1, &cpus)) {
    CPU_ZERO(&cpus);
    CPU_SET(0, &cpus);
    CT_CHECK(sched_setaffinity(0, sizeof cpus, &cpus) == 0, "sched_setaffinity: %s", strerror(errno));
  }
  char path[256];
  int fd = ct_tmpfile(path, "paced");
  int zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
  CT_CHECK(zero >= 0, "open /dev/zero: %s", strerror(errno));
  static char want[(size_t)REC * RECS];
  wb_fill(want, SEED, 0, sizeof want);
  ct_step = "paced writes";
  for (int i = 0; i < RECS; i++) {
    char rec[REC];
    CT_CHECK(read(zero, rec, REC) == REC, "read %d: %s", i, strerror(errno));
    /* Bounded: a clock that stood still would end it after 1e6 turns. */
    uint64_t until = now_ns() + GAP_NS;
    for (int turn = 0; turn < 1000000 && now_ns() < until; turn++) {
    }
    memcpy(rec, want + (size_t)i * REC, REC);
    CT_CHECK(write(fd, rec, REC) == REC, "write %d: %s", i, strerror(errno));
  }
  ct_step = "check";
  CT_CHECK(close(zero) == 0, "close /dev/zero: %s", strerror(errno));
  CT_CHECK(close(fd) == 0, "close: %s", strerror(errno));
  wb_expect_file(path, want, sizeof want);
  unlink(path);
  return 0;
}
