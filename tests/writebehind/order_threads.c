/* order_threads.c — write-behind keeps every appended record, whole and in
 * each writer's order (docs/design.md §5: per-file order; O_APPEND as without it).
 *
 * 8 threads append numbered fixed-size records to each of 4 files, round
 * robin over the files, with write() and (every third record) a 3-piece
 * writev(). Afterwards each file holds every record of every thread exactly
 * once, none torn (a checksum over the record), and each thread's records in
 * its order. Modes (argv[1]):
 *   own      each thread opens each file itself with O_APPEND;
 *   shared   one O_APPEND fd per file, shared by all threads;
 *   shared_pos  one fd per file without O_APPEND: the kernel's f_pos lock
 *            keeps concurrent writes on one fd from overlapping.
 */
#include "wb.h"

#include <sys/uio.h>

#define THREADS 8
#define FILES 4
#define RECS 1500 /* per thread per file */
#define RECSZ 48

static char paths[FILES][256];
static int shared_fd[FILES];
static int mode; /* 0 own, 1 shared, 2 shared_pos */
static atomic_int go;

/* "t=T f=F s=SSSSSS <pad> cCCCCCCCC\n": checksum over the first 38 bytes. */
static void make_rec(char* rec, int t, int f, int s) {
  char head[64];
  snprintf(head, sizeof head, "t=%d f=%d s=%06d ", t, f, s);
  size_t h = strlen(head);
  memcpy(rec, head, h);
  for (size_t k = h; k < 38; k++) rec[k] = (char)('a' + (t * 7 + s + (int)k) % 26);
  uint32_t sum = 2166136261u;
  for (int k = 0; k < 38; k++) sum = (sum ^ (unsigned char)rec[k]) * 16777619u;
  snprintf(rec + 38, 11, "c%08x", sum);
  rec[47] = '\n';
}

static void* writer(void* arg) {
  int t = (int)(intptr_t)arg;
  int fds[FILES];
  for (int f = 0; f < FILES; f++) {
    if (mode == 0) {
      fds[f] = open(paths[f], O_WRONLY | O_APPEND | O_CLOEXEC);
      CT_CHECK(fds[f] >= 0, "open %s: %s", paths[f], strerror(errno));
    } else {
      fds[f] = shared_fd[f];
    }
  }
  for (long spin = 0; !atomic_load(&go) && spin < 2000000000L; spin++) sched_yield();
  char rec[RECSZ + 1];
  for (int s = 0; s < RECS; s++) {
    for (int f = 0; f < FILES; f++) {
      make_rec(rec, t, f, s);
      ssize_t r;
      if (s % 3 == 2) {
        struct iovec iov[3] = {{rec, 5}, {rec + 5, 30}, {rec + 35, RECSZ - 35}};
        r = writev(fds[f], iov, 3);
      } else {
        r = write(fds[f], rec, RECSZ);
      }
      /* A short count would tear the record for any reader. */
      CT_CHECK(r == RECSZ, "thread %d file %d record %d: write returned %zd (%s)", t, f, s, r,
               r < 0 ? strerrorname_np(errno) : "short");
    }
  }
  if (mode == 0)
    for (int f = 0; f < FILES; f++) CT_CHECK(close(fds[f]) == 0, "close: %s", strerror(errno));
  return NULL;
}

static void verify(int f) {
  size_t len;
  char* data = wb_slurp(paths[f], &len);
  CT_CHECK(len == (size_t)THREADS * RECS * RECSZ, "file %d: %zu bytes, want %d", f, len,
           THREADS * RECS * RECSZ);
  int next[THREADS] = {0};
  char want[RECSZ + 1];
  for (size_t off = 0; off < len; off += RECSZ) {
    int t = -1, ff = -1, s = -1;
    if (sscanf(data + off, "t=%d f=%d s=%d ", &t, &ff, &s) != 3 || t < 0 || t >= THREADS)
      ct_fail("file %d offset %zu: not a record start (torn or misplaced): %.48s", f, off, data + off);
    make_rec(want, t, f, s < 0 ? 0 : s);
    if (ff != f || memcmp(data + off, want, RECSZ) != 0)
      ct_fail("file %d offset %zu: torn or corrupt record: %.48s", f, off, data + off);
    if (s != next[t])
      ct_fail(
          "file %d offset %zu: thread %d record %d where %d was due (lost, "
          "duplicated or reordered)",
          f, off, t, s, next[t]);
    next[t]++;
  }
  for (int t = 0; t < THREADS; t++)
    CT_CHECK(next[t] == RECS, "file %d: thread %d has %d records, want %d", f, t, next[t], RECS);
  free(data);
}

int main(int argc, char** argv) {
  ct_name = "order_threads";
  const char* m = argc > 1 ? argv[1] : "own";
  mode = !strcmp(m, "own") ? 0 : !strcmp(m, "shared") ? 1 : !strcmp(m, "shared_pos") ? 2 : -1;
  CT_CHECK(mode >= 0, "usage: order_threads own|shared|shared_pos");
  ct_start_watchdog(50);
  ct_step = "setup";
  for (int f = 0; f < FILES; f++) {
    int fd = ct_tmpfile(paths[f], "order");
    if (mode == 0) {
      close(fd);
    } else {
      close(fd);
      shared_fd[f] = open(paths[f], O_WRONLY | O_CLOEXEC | (mode == 1 ? O_APPEND : 0));
      CT_CHECK(shared_fd[f] >= 0, "open: %s", strerror(errno));
    }
  }
  ct_step = "writers";
  pthread_t th[THREADS];
  for (int t = 0; t < THREADS; t++)
    CT_CHECK(pthread_create(&th[t], NULL, writer, (void*)(intptr_t)t) == 0, "pthread_create");
  atomic_store(&go, 1);
  for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
  if (mode != 0)
    for (int f = 0; f < FILES; f++) CT_CHECK(close(shared_fd[f]) == 0, "close: %s", strerror(errno));
  ct_step = "verify";
  for (int f = 0; f < FILES; f++) {
    verify(f);
    unlink(paths[f]);
  }
  return 0;
}
