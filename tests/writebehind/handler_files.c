/* handler_files.c — write-behind keeps each file's data its own when a
 * signal handler writes another file in the middle of a write (docs/design.md
 * §5: per-file order; §4: a handler may call any interposed function).
 *
 * The append path remembers, per thread, the last file it wrote behind (its
 * chunk size and entry); a handler on the same thread can run between any two
 * instructions of that, with a file of another device. Thread W alternates
 * 64-byte records between file A (CONTRACT_TMPDIR) and file S (/dev/shm,
 * tmpfs: another device when the tmpdir is not tmpfs), reading the last
 * record of each back every 64 rounds (read is a sync point of its file: it
 * must see the write). Main sends SIGUSR1 to W, one at a time; W's handler
 * appends a 32-byte record to file B and reads it back. At the end each
 * file holds exactly its own stream.
 */
#include "wb.h"

#define SIGNALS 3000
#define REC 64
#define HREC 32
#define MAX_ROUNDS 400000L

static int fd_a, fd_s, fd_b;
static atomic_int handled, stop, w_tid, handler_err;
static atomic_long rounds;

static void on_usr1(int sig) {
  (void)sig;
  int saved = errno;
  int n = atomic_load(&handled);
  char rec[HREC], back[HREC];
  wb_fill(rec, 3, (uint64_t)n * HREC, HREC);
  if (write(fd_b, rec, HREC) != HREC || pread(fd_b, back, HREC, (off_t)n * HREC) != HREC ||
      memcmp(rec, back, HREC) != 0)
    atomic_store(&handler_err, 1);
  atomic_store(&handled, n + 1);
  errno = saved;
}

static void check_back(int fd, unsigned seed, long i, const char* what) {
  char want[REC], got[REC];
  wb_fill(want, seed, (uint64_t)i * REC, REC);
  ssize_t r = pread(fd, got, REC, (off_t)i * REC);
  if (r != REC || memcmp(want, got, REC) != 0)
    ct_fail("%s: record %ld read back %s", what, i, r == REC ? "different" : strerror(errno));
}

static void* writer(void* arg) {
  (void)arg;
  atomic_store(&w_tid, (int)gettid());
  char rec[REC];
  long i = 0;
  for (; i < MAX_ROUNDS && !atomic_load(&stop); i++) {
    wb_fill(rec, 1, (uint64_t)i * REC, REC);
    ssize_t r = write(fd_a, rec, REC);
    if (r != REC) ct_fail("write A: %zd (%s)", r, strerror(errno));
    wb_fill(rec, 2, (uint64_t)i * REC, REC);
    r = write(fd_s, rec, REC);
    if (r != REC) ct_fail("write S: %zd (%s)", r, strerror(errno));
    if ((i & 63) == 63) {
      check_back(fd_a, 1, i, "A");
      check_back(fd_s, 2, i, "S");
    }
  }
  atomic_store(&rounds, i);
  return NULL;
}

int main(void) {
  ct_name = "handler_files";
  ct_start_watchdog(50);
  ct_step = "setup";
  char pa[256], pb[256], ps[256];
  fd_a = ct_tmpfile(pa, "a");
  fd_b = ct_tmpfile(pb, "b");
  snprintf(ps, sizeof ps, "/dev/shm/handler_files.s.XXXXXX");
  fd_s = mkostemp(ps, O_CLOEXEC);
  if (fd_s < 0) { /* no /dev/shm: the tmpdir (the same device as A) */
    fd_s = ct_tmpfile(ps, "s");
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_RESTART;
  CT_CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction: %s", strerror(errno));

  pthread_t w;
  CT_CHECK(pthread_create(&w, NULL, writer, NULL) == 0, "pthread_create");
  ct_step = "signalling";
  for (int k = 0; k < 1 << 24 && !atomic_load(&w_tid); k++) sched_yield();
  for (int n = 0; n < SIGNALS && !atomic_load(&rounds); n++) {
    if (pthread_kill(w, SIGUSR1) != 0) break;
    /* One at a time, so none coalesce: wait for this one's handler. */
    for (long k = 0; k < 1L << 28 && atomic_load(&handled) <= n && !atomic_load(&rounds); k++) sched_yield();
  }
  atomic_store(&stop, 1);
  CT_CHECK(pthread_join(w, NULL) == 0, "pthread_join");
  CT_CHECK(!atomic_load(&handler_err), "a handler's write or read-back failed");

  ct_step = "verify";
  long n = atomic_load(&rounds);
  int h = atomic_load(&handled);
  CT_CHECK(h > 0, "no handler ran");
  wb_expect_stream(pa, 1, (size_t)n * REC);
  wb_expect_stream(ps, 2, (size_t)n * REC);
  wb_expect_stream(pb, 3, (size_t)h * HREC);
  unlink(pa);
  unlink(pb);
  unlink(ps);
  return 0;
}
