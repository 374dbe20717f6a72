/* sigpipe_caller.c — contract: SIGPIPE raised by a write reaches the CALLING
 * thread, exactly as without the shim (docs/design.md §4 "Same signal behaviour").
 *
 * From a non-main thread: write() to a pipe whose read end is closed and
 * send() without MSG_NOSIGNAL on a socket whose peer is closed must
 *   - with a handler: run the handler on the calling thread (gettid() equal),
 *     once, and return -1/EPIPE;
 *   - with SIG_IGN: return -1/EPIPE, no handler;
 *   - with SIG_DFL (in a forked child): kill the process with SIGPIPE.
 * send(MSG_NOSIGNAL) returns -1/EPIPE without a signal.
 */
#include "contract.h"

#include <sys/socket.h>
#include <sys/wait.h>

static atomic_int handler_tid;
static atomic_int handler_calls;

static void on_sigpipe(int sig) {
  (void)sig;
  atomic_store(&handler_tid, (int)gettid());
  atomic_fetch_add(&handler_calls, 1);
}

enum target { PIPE_WRITE, SOCK_SEND, SOCK_SEND_NOSIGNAL };

struct job {
  enum target target;
  int fd;
  int tid;
  long ret;
  int err;
};

/* Makes a broken pipe or a socket with a closed peer; returns the write end. */
static int make_broken(enum target t) {
  int fds[2];
  if (t == PIPE_WRITE) {
    if (pipe2(fds, O_CLOEXEC) != 0) ct_fail("pipe2: %s", strerror(errno));
  } else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    ct_fail("socketpair: %s", strerror(errno));
  }
  close(fds[0]);
  return fds[1];
}

static void* writer(void* arg) {
  struct job* j = arg;
  static const char msg[] = "payload";
  j->tid = (int)gettid();
  errno = 0;
  if (j->target == PIPE_WRITE)
    j->ret = write(j->fd, msg, sizeof msg);
  else
    j->ret = send(j->fd, msg, sizeof msg, j->target == SOCK_SEND_NOSIGNAL ? MSG_NOSIGNAL : 0);
  j->err = errno;
  return NULL;
}

static void set_disposition(void (*h)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = h;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGPIPE, &sa, NULL) != 0) ct_fail("sigaction: %s", strerror(errno));
}

/* Runs one broken write on a fresh thread and checks the outcome. */
static void run_case(enum target t, int with_handler, const char* what) {
  struct job j = {.target = t, .fd = make_broken(t)};
  pthread_t th;
  ct_step = what;
  atomic_store(&handler_tid, 0);
  atomic_store(&handler_calls, 0);
  set_disposition(with_handler ? on_sigpipe : SIG_IGN);
  if (pthread_create(&th, NULL, writer, &j) != 0) ct_fail("pthread_create");
  pthread_join(th, NULL);
  close(j.fd);

  if (j.ret != -1 || j.err != EPIPE) ct_fail("got %ld/%s, want -1/EPIPE", j.ret, strerrorname_np(j.err));
  int calls = atomic_load(&handler_calls);
  int want_calls = with_handler && t != SOCK_SEND_NOSIGNAL ? 1 : 0;
  if (calls != want_calls) ct_fail("SIGPIPE handler ran %d times, want %d", calls, want_calls);
  if (want_calls && atomic_load(&handler_tid) != j.tid)
    ct_fail("SIGPIPE delivered to tid %d, the calling thread is %d (main %d)", atomic_load(&handler_tid),
            j.tid, (int)getpid());
}

/* SIG_DFL: the process dies of SIGPIPE. Done in a child so we survive it. */
static void run_default(enum target t, const char* what) {
  ct_step = what;
  pid_t pid = fork();
  if (pid < 0) ct_fail("fork: %s", strerror(errno));
  if (pid == 0) {
    alarm(20);
    set_disposition(SIG_DFL);
    struct job j = {.target = t, .fd = make_broken(t)};
    pthread_t th;
    if (pthread_create(&th, NULL, writer, &j) != 0) _exit(3);
    pthread_join(th, NULL);
    _exit(2); /* survived: the signal was lost */
  }
  int st;
  if (waitpid(pid, &st, 0) != pid) ct_fail("waitpid: %s", strerror(errno));
  if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGPIPE)
    ct_fail("child status %#x, want killed by SIGPIPE%s", st,
            WIFEXITED(st) && WEXITSTATUS(st) == 2 ? " (it survived the write)" : "");
}

int main(void) {
  ct_name = "sigpipe_caller";
  ct_start_watchdog(30);
  /* Twice each: the second round runs with the pool already warm. */
  for (int round = 0; round < 2; round++) {
    run_case(PIPE_WRITE, 1, "pipe write, handler");
    run_case(PIPE_WRITE, 0, "pipe write, SIG_IGN");
    run_case(SOCK_SEND, 1, "send, handler");
    run_case(SOCK_SEND, 0, "send, SIG_IGN");
    run_case(SOCK_SEND_NOSIGNAL, 1, "send MSG_NOSIGNAL, handler");
  }
  run_default(PIPE_WRITE, "pipe write, SIG_DFL");
  run_default(SOCK_SEND, "send, SIG_DFL");
  return 0;
}
