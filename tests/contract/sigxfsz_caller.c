/* sigxfsz_caller.c — contract: RLIMIT_FSIZE behaves as without the shim
 * (docs/design.md §4 "Same signal behaviour", "Same results").
 *
 * With RLIMIT_FSIZE = LIMIT, from a non-main thread:
 *   - a write that crosses the limit returns the partial count up to it, no signal;
 *   - a write at/after the limit raises SIGXFSZ on the CALLING thread and
 *     returns -1/EFBIG (handler installed), or -1/EFBIG with SIG_IGN;
 *   - with SIG_DFL the process dies of SIGXFSZ (forked child).
 * The limit is restored before exit so the shim's report can be written.
 */
#include "contract.h"

#include <sys/resource.h>
#include <sys/wait.h>

#define LIMIT 4096

static atomic_int handler_tid;
static atomic_int handler_calls;

static void on_sigxfsz(int sig) {
  (void)sig;
  atomic_store(&handler_tid, (int)gettid());
  atomic_fetch_add(&handler_calls, 1);
}

static void set_disposition(void (*h)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = h;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGXFSZ, &sa, NULL) != 0) ct_fail("sigaction: %s", strerror(errno));
}

struct job {
  int fd;
  size_t len;
  int tid;
  long ret;
  int err;
};

static void* writer(void* arg) {
  static char buf[3 * LIMIT];
  struct job* j = arg;
  memset(buf, 'z', sizeof buf);
  j->tid = (int)gettid();
  errno = 0;
  j->ret = write(j->fd, buf, j->len);
  j->err = errno;
  return NULL;
}

static struct job run_write(int fd, size_t len) {
  struct job j = {.fd = fd, .len = len};
  pthread_t th;
  if (pthread_create(&th, NULL, writer, &j) != 0) ct_fail("pthread_create");
  pthread_join(th, NULL);
  return j;
}

static void set_fsize(rlim_t cur, const struct rlimit* orig) {
  struct rlimit rl = {cur, orig->rlim_max};
  if (setrlimit(RLIMIT_FSIZE, &rl) != 0) ct_fail("setrlimit(RLIMIT_FSIZE): %s", strerror(errno));
}

int main(void) {
  ct_name = "sigxfsz_caller";
  ct_start_watchdog(30);
  struct rlimit orig;
  if (getrlimit(RLIMIT_FSIZE, &orig) != 0) ct_fail("getrlimit: %s", strerror(errno));
  if (orig.rlim_max != RLIM_INFINITY && orig.rlim_max < LIMIT)
    ct_skip("RLIMIT_FSIZE hard limit %lu too small", (unsigned long)orig.rlim_max);

  char path[256];
  int fd = ct_tmpfile(path, "fsize");
  unlink(path);
  set_disposition(on_sigxfsz);
  set_fsize(LIMIT, &orig);

  ct_step = "write below the limit";
  struct job j = run_write(fd, 1000);
  CT_CHECK(j.ret == 1000, "got %ld/%s, want 1000", j.ret, strerrorname_np(j.err));

  ct_step = "write crossing the limit";
  j = run_write(fd, 2 * LIMIT);
  CT_CHECK(j.ret == LIMIT - 1000, "got %ld/%s, want partial %d", j.ret, strerrorname_np(j.err), LIMIT - 1000);
  CT_CHECK(atomic_load(&handler_calls) == 0, "SIGXFSZ raised by a partial write");

  ct_step = "write at the limit, handler";
  j = run_write(fd, 10);
  CT_CHECK(j.ret == -1 && j.err == EFBIG, "got %ld/%s, want -1/EFBIG", j.ret, strerrorname_np(j.err));
  CT_CHECK(atomic_load(&handler_calls) == 1, "SIGXFSZ handler ran %d times, want 1",
           atomic_load(&handler_calls));
  CT_CHECK(atomic_load(&handler_tid) == j.tid, "SIGXFSZ delivered to tid %d, the calling thread is %d",
           atomic_load(&handler_tid), j.tid);

  ct_step = "write at the limit, SIG_IGN";
  set_disposition(SIG_IGN);
  atomic_store(&handler_calls, 0);
  j = run_write(fd, 10);
  CT_CHECK(j.ret == -1 && j.err == EFBIG, "got %ld/%s, want -1/EFBIG", j.ret, strerrorname_np(j.err));
  CT_CHECK(atomic_load(&handler_calls) == 0, "handler ran under SIG_IGN");

  ct_step = "file size";
  off_t end = lseek(fd, 0, SEEK_END);
  CT_CHECK(end == LIMIT, "file size %ld, want %d", (long)end, LIMIT);

  ct_step = "write at the limit, SIG_DFL";
  pid_t pid = fork();
  if (pid < 0) ct_fail("fork: %s", strerror(errno));
  if (pid == 0) {
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore);
    alarm(20);
    set_disposition(SIG_DFL);
    run_write(fd, 10);
    _exit(2);
  }
  int st;
  if (waitpid(pid, &st, 0) != pid) ct_fail("waitpid: %s", strerror(errno));
  CT_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGXFSZ, "child status %#x, want killed by SIGXFSZ", st);

  set_fsize(orig.rlim_cur, &orig);
  close(fd);
  return 0;
}
