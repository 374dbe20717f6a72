/* handler_write.c — contract: write() called from a signal handler that
 * interrupted a thread inside write() works: no deadlock, nothing lost
 * (docs/design.md §3: submission is async-signal-safe; §4 bound work is waited for).
 *
 * Thread A loops writing 16-byte records to a file. Main sends SIGNALS
 * SIGUSR1s to A with pthread_kill, one at a time (waits for each handler to
 * finish so none coalesce). A's handler (no SA_RESTART) writes an 8-byte
 * record to a pipe. At the end: the pipe holds exactly SIGNALS records in
 * order; the file holds exactly A's records in order, and no write of A
 * returned short or EINTR (regular-file writes are not interrupted).
 */
#include "contract.h"

#include <poll.h>

#define SIGNALS 2000
#define MAX_RECS 2000000L
#define RECSZ 16

static int file_fd, pfd[2];
static atomic_int handled;
static atomic_int stop;
static atomic_int a_tid;
static atomic_long a_recs;
static atomic_int handler_err;

static void on_usr1(int sig) {
  (void)sig;
  int saved = errno;
  int n = atomic_load(&handled);
  char rec[9];
  snprintf(rec, sizeof rec, "S%06d\n", n); /* in practice async-signal-safe for %d */
  if (write(pfd[1], rec, 8) != 8) atomic_store(&handler_err, errno ? errno : -1);
  atomic_store(&handled, n + 1);
  errno = saved;
}

/* "A" + 14 decimal digits + "\n" (hand-formatted: i < MAX_RECS fits). */
static void make_rec(char* rec, long i) {
  rec[0] = 'A';
  for (int k = RECSZ - 2; k >= 1; k--, i /= 10) rec[k] = (char)('0' + i % 10);
  rec[RECSZ - 1] = '\n';
  rec[RECSZ] = 0;
}

static void* writer_a(void* arg) {
  (void)arg;
  char rec[RECSZ + 1];
  atomic_store(&a_tid, (int)gettid());
  long i;
  for (i = 0; i < MAX_RECS && !atomic_load(&stop); i++) {
    make_rec(rec, i);
    errno = 0;
    ssize_t r = write(file_fd, rec, RECSZ);
    if (r != RECSZ)
      ct_fail("A's write %ld returned %zd/%s, want %d", i, r, r < 0 ? strerrorname_np(errno) : "-", RECSZ);
    atomic_store(&a_recs, i + 1);
  }
  /* Out of records (write-behind makes A fast): stay alive, and in
     * user code, for the rest of the signals. */
  while (!atomic_load(&stop)) sched_yield();
  return NULL;
}

int main(void) {
  ct_name = "handler_write";
  ct_start_watchdog(50);
  char path[256];
  file_fd = ct_tmpfile(path, "a");
  unlink(path);
  CT_CHECK(pipe2(pfd, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  CT_CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction: %s", strerror(errno));

  /* Main must not take SIGUSR1 itself (pthread_kill targets A anyway). */
  pthread_t a;
  if (pthread_create(&a, NULL, writer_a, NULL) != 0) ct_fail("pthread_create");
  ct_step = "waiting for A to start writing";
  for (long i = 0; atomic_load(&a_recs) == 0 && i < 100000000L; i++) sched_yield();

  ct_step = "signalling A";
  for (int k = 0; k < SIGNALS; k++) {
    CT_CHECK(pthread_kill(a, SIGUSR1) == 0, "pthread_kill");
    long spins;
    for (spins = 0; atomic_load(&handled) <= k && spins < 200000000L; spins++) sched_yield();
    CT_CHECK(atomic_load(&handled) == k + 1, "handler %d never ran", k);
    CT_CHECK(atomic_load(&handler_err) == 0, "handler's write failed: %s",
             strerrorname_np(atomic_load(&handler_err)));
  }
  atomic_store(&stop, 1);
  pthread_join(a, NULL);

  ct_step = "checking the handler's pipe records";
  static char pbuf[SIGNALS * 8 + 64];
  size_t n = ct_read_all(pfd[0], pbuf, SIGNALS * 8, "pipe");
  CT_CHECK(n == SIGNALS * 8, "pipe holds %zu bytes, want %d", n, SIGNALS * 8);
  struct pollfd p = {.fd = pfd[0], .events = POLLIN};
  CT_CHECK(poll(&p, 1, 0) == 0, "pipe holds more than %d records", SIGNALS);
  for (int k = 0; k < SIGNALS; k++) {
    char rec[9];
    snprintf(rec, sizeof rec, "S%06d\n", k);
    CT_CHECK(memcmp(pbuf + (size_t)k * 8, rec, 8) == 0, "handler record %d wrong", k);
  }

  ct_step = "checking A's file";
  long recs = atomic_load(&a_recs);
  off_t size = lseek(file_fd, 0, SEEK_END);
  CT_CHECK(size == (off_t)recs * RECSZ, "file size %ld, A wrote %ld records (%ld bytes)", (long)size, recs,
           recs * RECSZ);
  static char back[4096 * RECSZ];
  char rec[RECSZ + 1];
  for (long base = 0; base < recs; base += 4096) {
    long cnt = recs - base < 4096 ? recs - base : 4096;
    ssize_t r = pread(file_fd, back, (size_t)cnt * RECSZ, (off_t)base * RECSZ);
    CT_CHECK(r == cnt * RECSZ, "pread of records %ld..: %zd", base, r);
    for (long i = 0; i < cnt; i++) {
      make_rec(rec, base + i);
      CT_CHECK(memcmp(rec, back + i * RECSZ, RECSZ) == 0, "file record %ld wrong", base + i);
    }
  }
  return 0;
}
