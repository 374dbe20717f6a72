/* fork_child.c — contract: fork gives the child fresh, working I/O and leaves
 * the parent's running (docs/design.md §4 "Process lifecycle": child gets fresh,
 * empty pools; pitfall 9: locks held at fork, dead threads).
 *
 * Part 1: the parent writes a file through the shim (so a pool has workers),
 * forks; the child writes and reads back its own file and a pipe, and exits
 * 0; the parent keeps writing; every byte of both files is checked.
 * Part 2: thread R is blocked in read() on a pipe (a worker holds the read
 * under the shim) while thread F forks; the child does file and pipe I/O and
 * exits 0 (must not hang on the inherited in-flight read); then the parent
 * feeds R, which gets exactly its bytes.
 */
#include "contract.h"

#include <sys/wait.h>

#define RECS 2000
#define RECSZ 32

static void make_rec(char* rec, char tag, int i) {
  snprintf(rec, RECSZ + 1, "%c%08d-abcdefghijklmnopqrstu\n", tag, i);
}

static void write_recs(int fd, char tag, int from, int to) {
  char rec[RECSZ + 1];
  for (int i = from; i < to; i++) {
    make_rec(rec, tag, i);
    ct_write_all(fd, rec, RECSZ, "record");
  }
}

static int verify_recs(const char* path, char tag, int n, char* why, size_t whylen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return snprintf(why, whylen, "open %s: %s", path, strerror(errno)), 0;
  static char data[RECS * RECSZ + 16];
  size_t got = ct_read_all(fd, data, sizeof data, "verify");
  close(fd);
  if (got != (size_t)n * RECSZ)
    return snprintf(why, whylen, "%s: %zu bytes, want %d", path, got, n * RECSZ), 0;
  char rec[RECSZ + 1];
  for (int i = 0; i < n; i++) {
    make_rec(rec, tag, i);
    if (memcmp(data + (size_t)i * RECSZ, rec, RECSZ) != 0)
      return snprintf(why, whylen, "%s: record %d differs", path, i), 0;
  }
  return 1;
}

/* The child's work: own file and pipe; exit status 0 = all correct. */
static int child_io(void) {
  char path[256], why[256];
  alarm(20); /* SIG_DFL: a hang kills the child, the parent reports it */
  int fd = ct_tmpfile(path, "child");
  write_recs(fd, 'C', 0, RECS);
  close(fd);
  int ok = verify_recs(path, 'C', RECS, why, sizeof why);
  unlink(path);
  if (!ok) {
    fprintf(stderr, "fork_child: child: %s\n", why);
    return 2;
  }
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return 3;
  ct_write_all(p[1], "child-pipe", 10, "child pipe");
  char buf[16];
  if (read(p[0], buf, sizeof buf) != 10 || memcmp(buf, "child-pipe", 10) != 0) {
    fprintf(stderr, "fork_child: child: pipe read back wrong\n");
    return 4;
  }
  return 0;
}

static void wait_child(pid_t pid, const char* what) {
  int st;
  if (waitpid(pid, &st, 0) != pid) ct_fail("waitpid: %s", strerror(errno));
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    ct_fail("%s: child status %#x (%s %d)", what, st, WIFSIGNALED(st) ? "signal" : "exit",
            WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

static int rpipe[2];
static atomic_int rtid;
static char rbuf[32];
static long rret;

static void* blocked_reader(void* arg) {
  (void)arg;
  atomic_store(&rtid, (int)gettid());
  rret = read(rpipe[0], rbuf, sizeof rbuf);
  return NULL;
}

static void* forker(void* arg) {
  pid_t* out = arg;
  pid_t pid = fork();
  if (pid == 0) exit(child_io()); /* exit(), not _exit(): the shim's exit path runs in the child */
  *out = pid;
  return NULL;
}

int main(void) {
  ct_name = "fork_child";
  ct_start_watchdog(40);
  char path[256], why[256];

  ct_step = "part 1: parent writes, forks, keeps writing";
  int fd = ct_tmpfile(path, "parent");
  write_recs(fd, 'P', 0, RECS / 2);
  pid_t pid = fork();
  if (pid < 0) ct_fail("fork: %s", strerror(errno));
  if (pid == 0) exit(child_io()); /* exit(), not _exit(): the shim's exit path runs in the child */
  write_recs(fd, 'P', RECS / 2, RECS);
  wait_child(pid, "part 1");
  close(fd);
  CT_CHECK(verify_recs(path, 'P', RECS, why, sizeof why), "parent file: %s", why);
  unlink(path);

  ct_step = "part 2: fork while another thread is blocked in read";
  if (pipe2(rpipe, O_CLOEXEC) != 0) ct_fail("pipe2: %s", strerror(errno));
  pthread_t rt, ft;
  if (pthread_create(&rt, NULL, blocked_reader, NULL) != 0) ct_fail("pthread_create");
  while (atomic_load(&rtid) == 0) sched_yield();
  ct_wait_sleeping(atomic_load(&rtid));
  pid_t pid2 = -1;
  if (pthread_create(&ft, NULL, forker, &pid2) != 0) ct_fail("pthread_create");
  pthread_join(ft, NULL);
  CT_CHECK(pid2 > 0, "fork from thread failed");
  wait_child(pid2, "part 2");

  ct_step = "part 2: feeding the blocked reader";
  ct_write_all(rpipe[1], "for-the-reader", 14, "feed");
  pthread_join(rt, NULL);
  CT_CHECK(rret == 14 && memcmp(rbuf, "for-the-reader", 14) == 0,
           "blocked reader got %ld bytes, want \"for-the-reader\"", rret);

  ct_step = "part 2: parent I/O after the fork";
  fd = ct_tmpfile(path, "after");
  write_recs(fd, 'A', 0, RECS);
  close(fd);
  CT_CHECK(verify_recs(path, 'A', RECS, why, sizeof why), "parent file after fork: %s", why);
  unlink(path);
  return 0;
}
