/* cancel_busy.c — contract: pthread_cancel of a thread waiting for a file
 * read in the pool leaves nothing of that call behind (docs/design.md §4 "Same
 * threading behaviour"): later writes to the file run as if the cancelled
 * call never happened.
 *
 * Thread T loops on pread of a file whose pages it evicts first
 * (POSIX_FADV_DONTNEED), so in pool mode each read waits for the disk in the
 * pool; main cancels it (three times, fresh threads). Then main writes the
 * file, and every write must succeed. In auto mode the reads and writes run
 * in the caller (the runner checks calls.*.routed == 0); plain, the program
 * checks only that cancellation works.
 */
#include "contract.h"

#define FILE_SZ (16u << 20)

static int fd;
static atomic_long loops;

static void* reader(void* arg) {
  (void)arg;
  static char buf[65536];
  for (unsigned long i = 0;; i++) {
    off_t off = (off_t)((i * 2654435761u) % (FILE_SZ / sizeof buf)) * (off_t)sizeof buf;
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    if (pread(fd, buf, sizeof buf, off) != (ssize_t)sizeof buf) ct_fail("pread: %s", strerror(errno));
    atomic_fetch_add(&loops, 1);
  }
  return NULL;
}

int main(void) {
  ct_name = "cancel_busy";
  ct_start_watchdog(40);
  char path[256];
  fd = ct_tmpfile(path, "f");
  static char block[1 << 20];
  memset(block, 'b', sizeof block);
  for (unsigned i = 0; i < FILE_SZ / sizeof block; i++) ct_write_all(fd, block, sizeof block, "fill");
  CT_CHECK(fdatasync(fd) == 0, "fdatasync");

  for (int round = 0; round < 3; round++) {
    ct_step = "cancel a reader";
    atomic_store(&loops, 0);
    pthread_t th;
    if (pthread_create(&th, NULL, reader, NULL) != 0) ct_fail("pthread_create");
    while (atomic_load(&loops) < 20) sched_yield();
    CT_CHECK(pthread_cancel(th) == 0, "pthread_cancel");
    void* res = NULL;
    CT_CHECK(pthread_join(th, &res) == 0, "pthread_join");
    CT_CHECK(res == PTHREAD_CANCELED, "join returned %p, want PTHREAD_CANCELED", res);
  }
  ct_step = "writes after the cancels";
  for (int i = 0; i < 64; i++) CT_EXPECT_RET(pwrite(fd, block, 512, (off_t)i * 512), 512, "pwrite");
  close(fd);
  unlink(path);
  return 0;
}
