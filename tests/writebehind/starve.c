/* starve.c — a sync waits for the writes queued before it, not for a quiet
 * moment (docs/design.md §5: syncs are "queued before now" tickets).
 *
 * A writer thread pwrites 64-byte records to file W without pause (cycling
 * over 1 MiB), counting them, for at most LIMIT records or until told to
 * stop. The main thread, meanwhile, makes sync points another program's
 * view depends on — stat of another path (waits for everything pending),
 * fstat of W through its own fd (waits for W) — ROUNDS times each, and
 * asserts by counting, not by timing:
 *   - each sync returned while the writer was still queuing (its count
 *     below LIMIT): a sync that waited for the writer to fall quiet would
 *     only return once the writer ran out of records;
 *   - what was queued before the call is in the file when it returns
 *     (W's size — after the stat read with a raw statx the shim does not
 *     see — covers the records counted before the call).
 * 4 KiB records fill write-behind's whole backlog (IOWQ_WB_MAX_BYTES,
 * 64 MiB by default), so while the writer runs something is always pending:
 * "quiet" does not come; each sync waits for at most one backlog.
 */
#include "wb.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#define LIMIT 1000000L /* records: far more than the test needs */
#define REC 4096
#define SPAN (1 << 20)
#define ROUNDS 5

static int wfd;
static atomic_long queued;
static atomic_int stop;

static void* writer(void* arg) {
  (void)arg;
  char rec[REC];
  memset(rec, 'w', sizeof rec);
  for (long i = 0; i < LIMIT && !atomic_load(&stop); i++) {
    off_t off = (off_t)((i * REC) % SPAN);
    if (pwrite(wfd, rec, REC, off) != REC) ct_fail("writer: pwrite %ld: %s", i, strerror(errno));
    atomic_store(&queued, i + 1);
  }
  return NULL;
}

static off_t raw_size(const char* path) {
  struct statx sx;
  CT_CHECK(syscall(SYS_statx, AT_FDCWD, path, 0, STATX_SIZE, &sx) == 0, "statx: %s", strerror(errno));
  return (off_t)sx.stx_size;
}

int main(void) {
  ct_name = "starve";
  ct_start_watchdog(50);
  ct_step = "setup";
  char wpath[256], opath[256];
  wfd = ct_tmpfile(wpath, "starve_w");
  int ofd = ct_tmpfile(opath, "starve_o");
  close(ofd);
  int wfd2 = open(wpath, O_WRONLY | O_CLOEXEC);
  CT_CHECK(wfd2 >= 0, "open: %s", strerror(errno));
  pthread_t t;
  CT_CHECK(pthread_create(&t, NULL, writer, NULL) == 0, "pthread_create");
  for (long spin = 0; atomic_load(&queued) < 1000; spin++) {
    CT_CHECK(spin < 100000000L, "the writer does not start");
    sched_yield();
  }

  ct_step = "syncs while the writer queues";
  for (int round = 0; round < ROUNDS; round++) {
    struct stat st;
    long before = atomic_load(&queued);
    CT_CHECK(stat(opath, &st) == 0, "stat: %s", strerror(errno));
    long after = atomic_load(&queued);
    if (after >= LIMIT)
      ct_fail("round %d: stat returned only after the writer ran out of records (%ld queued before it)",
              round, before);
    long want = before * REC < SPAN ? before * REC : SPAN;
    off_t size = raw_size(wpath);
    if (size < want)
      ct_fail("round %d: W has %lld bytes after stat, want >= %ld (queued before the stat)", round,
              (long long)size, want);
    before = atomic_load(&queued);
    CT_CHECK(fstat(wfd2, &st) == 0, "fstat: %s", strerror(errno));
    if (atomic_load(&queued) >= LIMIT)
      ct_fail("round %d: fstat(W) returned only after the writer ran out of records (%ld queued before it)",
              round, before);
    want = before * REC < SPAN ? before * REC : SPAN;
    if (st.st_size < want)
      ct_fail("round %d: fstat(W) says %lld bytes, want >= %ld (queued before it)", round,
              (long long)st.st_size, want);
  }
  atomic_store(&stop, 1);
  pthread_join(t, NULL);
  CT_CHECK(close(wfd2) == 0 && close(wfd) == 0, "close: %s", strerror(errno));
  unlink(wpath);
  unlink(opath);
  return 0;
}
