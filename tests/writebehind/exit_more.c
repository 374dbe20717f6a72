/* exit_more.c — ways out of a process that lose nothing (docs/design.md §5
 * "Signals and exits lose nothing").
 *
 * Usage: exit_more MODE. Each round forks a child that writes files in
 * small writes (no sync point) and leaves by MODE; the parent checks that
 * what the child was told was written is in the files.
 *   quick_exit    quick_exit(0) (libc ends it with an internal _exit);
 *   execveat      execveat(AT_FDCWD, "/bin/true") (no libc exec wrapper);
 *   handler_exit  a SIGTERM handler calls exit(0) while the main thread is
 *                 in the middle of its writes (possibly inside one); the
 *                 handler first sends the parent how many writes returned;
 *   threads       three threads keep writing while the main thread calls
 *                 exit(0); every 32 writes each reports its count on a
 *                 pipe (a write that returned must be in the file);
 *   sigterm       raise(SIGTERM) with the default action: the child dies of
 *                 SIGTERM (same status as plain) with everything written;
 *   resethand     a SIGTERM handler with SA_RESETHAND, installed before the
 *                 first write, runs once (raise): SIGTERM is SIG_DFL again,
 *                 and the second raise ends the child, everything written;
 *   resethand_late  the same, the handler installed once write-behind has
 *                 data pending (it took the SIG_DFL signals then).
 */
#include "wb.h"

#include <sys/wait.h>

#define ROUNDS 5
#define PIECE 48

static const char* mode;
static const char* paths0;
static int report_fd = -1;
static volatile long done_writes; /* writes of the main thread that returned */
static pthread_t main_thread;

static void writes(int fd, unsigned seed, long n, volatile long* count) {
  char buf[PIECE];
  for (long i = 0; i < n; i++) {
    wb_fill(buf, seed, (uint64_t)i * PIECE, PIECE);
    if (write(fd, buf, PIECE) != PIECE) _exit(3);
    if (count) *count = i + 1;
  }
}

static void on_term(int sig) {
  (void)sig;
  long n = done_writes;
  if (write(report_fd, &n, sizeof n) != sizeof n) _exit(5);
  exit(0);
}

static void* killer(void* arg) {
  (void)arg;
  for (long spins = 0; done_writes < 20000 && spins < 100000000; spins++) sched_yield();
  pthread_kill(main_thread, SIGTERM); /* not kill(): that is a sync point */
  return NULL;
}

struct writer {
  int fd, pipe;
  unsigned seed;
};

static void* writer_main(void* arg) {
  struct writer* w = arg;
  char buf[PIECE];
  for (long i = 0;; i++) {
    wb_fill(buf, w->seed, (uint64_t)i * PIECE, PIECE);
    if (write(w->fd, buf, PIECE) != PIECE) return NULL; /* exit under way, fd gone: stop */
    if ((i + 1) % 32 == 0) {
      long n = i + 1;
      if (write(w->pipe, &n, sizeof n) != sizeof n) return NULL;
    }
  }
}

static int open_out(const char* p) {
  int fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) _exit(2);
  return fd;
}

static volatile sig_atomic_t once;
static void on_once(int sig) {
  (void)sig;
  once++;
}

static void resethand(int late) {
  int fd = open_out(paths0);
  struct sigaction sa = {.sa_handler = on_once, .sa_flags = SA_RESETHAND};
  sigemptyset(&sa.sa_mask);
  char buf[PIECE];
  for (long i = 0; i < 20000; i++) {
    if (i == (late ? 100 : 0) && sigaction(SIGTERM, &sa, NULL) != 0) _exit(10);
    wb_fill(buf, 1, (uint64_t)i * PIECE, PIECE);
    if (write(fd, buf, PIECE) != PIECE) _exit(3);
  }
  raise(SIGTERM);
  if (once != 1) _exit(11);
  struct sigaction now;
  if (sigaction(SIGTERM, NULL, &now) != 0 || now.sa_handler != SIG_DFL) _exit(12);
  raise(SIGTERM);
  _exit(6);
}

static void child(char paths[3][256], int pipes[3][2]) {
  alarm(30);
  main_thread = pthread_self();
  if (!strcmp(mode, "quick_exit")) {
    writes(open_out(paths[0]), 1, 20000, NULL);
    quick_exit(0);
  }
  if (!strcmp(mode, "execveat")) {
    writes(open_out(paths[0]), 1, 20000, NULL);
    char* av[] = {"/bin/true", NULL};
    execveat(AT_FDCWD, "/bin/true", av, (char*[]){NULL}, 0);
    _exit(127);
  }
  if (!strcmp(mode, "sigterm")) {
    writes(open_out(paths[0]), 1, 20000, NULL);
    /* the program's view stays SIG_DFL */
    struct sigaction old;
    if (sigaction(SIGTERM, NULL, &old) != 0 || old.sa_handler != SIG_DFL) _exit(8);
    if (signal(SIGTERM, SIG_DFL) != SIG_DFL) _exit(9);
    raise(SIGTERM);
    _exit(6);
  }
  paths0 = paths[0];
  if (!strncmp(mode, "resethand", 9)) resethand(!strcmp(mode, "resethand_late"));
  if (!strcmp(mode, "handler_exit")) {
    report_fd = pipes[0][1];
    struct sigaction sa = {.sa_handler = on_term};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    pthread_t t;
    if (pthread_create(&t, NULL, killer, NULL) != 0) _exit(4);
    writes(open_out(paths[0]), 1, 200000000, &done_writes);
    _exit(7); /* the handler's exit ends it first */
  }
  /* threads */
  static struct writer ws[3];
  for (int k = 0; k < 3; k++) {
    ws[k] = (struct writer){open_out(paths[k]), pipes[k][1], (unsigned)(k + 1)};
    pthread_t t;
    if (pthread_create(&t, NULL, writer_main, &ws[k]) != 0) _exit(4);
  }
  char buf[PIECE];
  for (long spins = 0; spins < 20000; spins++) /* let them run a while */
    wb_fill(buf, 9, 0, PIECE);
  exit(0);
}

/* Reads the last count a child reported on `fd` (0 when none). */
static long last_count(int fd) {
  long n = 0, v;
  for (long guard = 0; guard < 100000000; guard++) {
    ssize_t r = read(fd, &v, sizeof v);
    if (r != (ssize_t)sizeof v) break;
    n = v;
  }
  return n;
}

/* The file holds a prefix of stream `seed` of at least `min` pieces. */
static void expect_prefix(const char* path, unsigned seed, long min) {
  size_t len;
  char* got = wb_slurp(path, &len);
  if ((long)(len / PIECE) < min)
    ct_fail("%s: %zu bytes, but %ld writes of %d returned (%ld bytes lost)", path, len, min, PIECE,
            min * PIECE - (long)len);
  for (size_t k = 0; k < len; k++)
    if (got[k] != wb_byte(seed, k)) ct_fail("%s: byte %zu differs from the stream", path, k);
  free(got);
}

int main(int argc, char** argv) {
  ct_name = "exit_more";
  CT_CHECK(argc == 2,
           "usage: exit_more quick_exit|execveat|handler_exit|threads|sigterm|resethand|resethand_late");
  mode = argv[1];
  ct_start_watchdog(55);
  {
    /* Children leaving by quick_exit, exec or a signal write no shim
         * report: this write shows in the parent's that write-behind runs
         * here (that the children's writes went behind shows as lost data
         * without the fixes). */
    char mp[256];
    int m = ct_tmpfile(mp, "marker");
    CT_CHECK(write(m, "marker", 6) == 6, "marker write");
    close(m);
    unlink(mp);
  }
  for (int round = 0; round < ROUNDS; round++) {
    ct_step = mode;
    char paths[3][256];
    int pipes[3][2];
    for (int k = 0; k < 3; k++) {
      close(ct_tmpfile(paths[k], "exitmore"));
      CT_CHECK(pipe2(pipes[k], O_CLOEXEC) == 0, "pipe");
    }
    pid_t pid = fork();
    CT_CHECK(pid >= 0, "fork");
    if (pid == 0) {
      for (int k = 0; k < 3; k++) close(pipes[k][0]);
      child(paths, pipes);
    }
    for (int k = 0; k < 3; k++) close(pipes[k][1]);
    long counts[3];
    for (int k = 0; k < 3; k++) counts[k] = last_count(pipes[k][0]);
    int st;
    CT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    if (!strcmp(mode, "sigterm") || !strncmp(mode, "resethand", 9)) {
      if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGTERM)
        ct_fail("child status 0x%x, want killed by SIGTERM", st);
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      ct_fail("round %d: child status 0x%x", round, st);
    }
    if (!strcmp(mode, "threads")) {
      for (int k = 0; k < 3; k++) expect_prefix(paths[k], (unsigned)(k + 1), counts[k]);
    } else if (!strcmp(mode, "handler_exit")) {
      CT_CHECK(counts[0] > 0, "the handler reported nothing");
      expect_prefix(paths[0], 1, counts[0]);
    } else {
      expect_prefix(paths[0], 1, 20000);
    }
    for (int k = 0; k < 3; k++) {
      close(pipes[k][0]);
      unlink(paths[k]);
    }
  }
  return 0;
}
