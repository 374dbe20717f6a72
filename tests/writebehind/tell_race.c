/* tell_race.c — several threads each write their own file and, every few
 * writes, tell another process on a shared pipe how many writes returned;
 * that process checks at once that the file holds at least that much
 * (docs/design.md §5: a write to a pipe is a call that talks to another
 * process, so what the writer wrote before it lands first).
 *
 * The race it guards: a sync in one thread (its own "tell") forgot a file
 * whose next chunk another thread was queueing at that moment (the file's
 * bit in the active bitmap cleared after the writer had set it, before the
 * writer counted the chunk queued). Every later sync skipped that file: the
 * tells went out before the data, and an exit lost it (wb.exit_threads saw
 * "0 bytes, but 96 writes of 48 returned" about once in 100 runs). Small
 * chunks (IOWQ_WB_MAX_BYTES) and frequent tells make the window wide.
 */
#include "wb.h"

#define THREADS 4
#define PIECE 48
#define WRITES 6000
#define EVERY 4

struct writer {
  int fd, pipe;
  unsigned k;
};

struct msg {
  unsigned k;
  long n;
};

static void* writer_main(void* arg) {
  struct writer* w = arg;
  char buf[PIECE];
  for (long i = 0; i < WRITES; i++) {
    wb_fill(buf, w->k + 1, (uint64_t)i * PIECE, PIECE);
    if (write(w->fd, buf, PIECE) != PIECE) _exit(3);
    if ((i + 1) % EVERY == 0) {
      struct msg m = {w->k, i + 1};
      if (write(w->pipe, &m, sizeof m) != (ssize_t)sizeof m) _exit(4);
    }
  }
  return NULL;
}

int main(void) {
  ct_name = "tell_race";
  ct_start_watchdog(100);
  char paths[THREADS][256];
  int rfd[THREADS];
  for (int k = 0; k < THREADS; k++) {
    close(ct_tmpfile(paths[k], "f"));
    rfd[k] = open(paths[k], O_RDONLY | O_CLOEXEC);
    CT_CHECK(rfd[k] >= 0, "open %s", paths[k]);
  }
  int p[2];
  CT_CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
  pid_t pid = fork();
  CT_CHECK(pid >= 0, "fork");
  if (pid == 0) {
    close(p[0]);
    static struct writer ws[THREADS];
    pthread_t t[THREADS];
    for (unsigned k = 0; k < THREADS; k++) {
      ws[k] = (struct writer){open(paths[k], O_WRONLY | O_CLOEXEC), p[1], k};
      if (ws[k].fd < 0 || pthread_create(&t[k], NULL, writer_main, &ws[k]) != 0) _exit(2);
    }
    for (int k = 0; k < THREADS; k++) pthread_join(t[k], NULL);
    exit(0);
  }
  close(p[1]);
  /* The tells: each must find its data in the file when it arrives. A
   * message is 16 bytes, under PIPE_BUF: never split. */
  long tells = 0;
  struct msg m;
  for (long guard = 0; guard < (long)THREADS * WRITES; guard++) {
    ssize_t r = read(p[0], &m, sizeof m);
    if (r == 0) break;
    CT_CHECK(r == (ssize_t)sizeof m && m.k < THREADS, "read a tell: %zd", r);
    struct stat st;
    CT_CHECK(fstat(rfd[m.k], &st) == 0, "fstat");
    if (st.st_size < m.n * PIECE)
      ct_fail("tell %ld: thread %u said %ld writes of %d returned, the file holds %lld bytes", tells, m.k,
              m.n, PIECE, (long long)st.st_size);
    tells++;
  }
  int status;
  CT_CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
  CT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
  CT_CHECK(tells == (long)THREADS * (WRITES / EVERY), "%ld tells, want %d", tells,
           THREADS * (WRITES / EVERY));
  for (unsigned k = 0; k < THREADS; k++) {
    size_t len;
    char* got = wb_slurp(paths[k], &len);
    CT_CHECK(len == (size_t)WRITES * PIECE, "file %u: %zu bytes, want %d", k, len, WRITES * PIECE);
    for (size_t i = 0; i < len; i++)
      if (got[i] != wb_byte(k + 1, i)) ct_fail("file %u: byte %zu differs from the stream", k, i);
    free(got);
    close(rfd[k]);
    unlink(paths[k]);
  }
  return 0;
}
