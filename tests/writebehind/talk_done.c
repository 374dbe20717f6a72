/* talk_done.c — telling another process "done" lets it see the data
 * (docs/design.md §5: a write or send to a pipe or socket, kill, ... waits for every
 * pending write).
 *
 * Usage: talk_done pipe|socket|kill|fprintf. A child writes a file in many
 * small writes (no sync point), then tells the parent by the named means:
 *   pipe     write(2) of "done" on a pipe;
 *   socket   send(2) on a socketpair;
 *   kill     kill(parent, SIGUSR1);
 *   fprintf  fprintf + fflush on a FILE over the pipe (stdio's internal
 *            write, which no interposer sees).
 * The parent stops the child as soon as it is told (SIGSTOP freezes the
 * shim's workers too), checks the file, then lets the child go. The child
 * must not exit before (exit would write everything anyway).
 */
#include "wb.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define WRITES 20000
#define SEED 5
/* then a burst of large writes to NBURST more files, which the pool's
 * one bound worker (IOWQ_BOUND_MAX=1) writes one chunk at a time, more
 * slowly than the copies are made: data is surely pending at "done" */
#define NBURST 32
#define BURST_FILE (512u << 10)
#define BURST_PIECE 65536

static size_t stream_len(void) {
  size_t n = 0;
  for (int i = 0; i < WRITES; i++) n += 1 + (size_t)((i * 13) % 50);
  return n;
}

int main(int argc, char** argv) {
  ct_name = "talk_done";
  CT_CHECK(argc == 2, "usage: talk_done pipe|socket|kill|fprintf");
  const char* mode = argv[1];
  ct_start_watchdog(50);
  char path[256];
  int fd = ct_tmpfile(path, "talk");
  close(fd);
  int tell[2], bye[2];
  if (!strcmp(mode, "socket"))
    CT_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, tell) == 0, "socketpair");
  else
    CT_CHECK(pipe2(tell, O_CLOEXEC) == 0, "pipe");
  CT_CHECK(pipe2(bye, O_CLOEXEC) == 0, "pipe");
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigprocmask(SIG_BLOCK, &usr1, NULL);
  pid_t parent = getpid();
  pid_t kid = fork();
  CT_CHECK(kid >= 0, "fork");
  if (kid == 0) {
    /* a failing parent leaves it stopped: die with the parent */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    alarm(45);
    int w = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (w < 0) _exit(2);
    /* the burst files' opens come first: an open waits for everything */
    int bf[NBURST];
    for (int b = 0; b < NBURST; b++) {
      char bp[300];
      snprintf(bp, sizeof bp, "%s.%d", path, b);
      bf[b] = open(bp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (bf[b] < 0) _exit(2);
    }
    char buf[64];
    size_t off = 0;
    for (int i = 0; i < WRITES; i++) {
      size_t len = 1 + (size_t)((i * 13) % 50);
      wb_fill(buf, SEED, off, len);
      if (write(w, buf, len) != (ssize_t)len) _exit(3);
      off += len;
    }
    char* big = malloc(BURST_PIECE);
    if (!big) _exit(2);
    memset(big, 'b', BURST_PIECE);
    for (unsigned k = 0; k < BURST_FILE / BURST_PIECE; k++)
      for (int b = 0; b < NBURST; b++)
        if (write(bf[b], big, BURST_PIECE) != BURST_PIECE) _exit(3);
    int r = 0;
    if (!strcmp(mode, "pipe")) {
      r = write(tell[1], "done", 4) == 4 ? 0 : -1;
    } else if (!strcmp(mode, "socket")) {
      r = send(tell[1], "done", 4, 0) == 4 ? 0 : -1;
    } else if (!strcmp(mode, "kill")) {
      r = kill(parent, SIGUSR1);
    } else {
      FILE* f = fdopen(tell[1], "w");
      r = f && fprintf(f, "done") == 4 && fflush(f) == 0 ? 0 : -1;
    }
    if (r != 0) _exit(4);
    char c;
    if (read(bye[0], &c, 1) != 1) _exit(5);
    exit(0); /* writes the shim's report */
  }
  ct_step = "waiting for done";
  if (!strcmp(mode, "kill")) {
    int sig;
    CT_CHECK(sigwait(&usr1, &sig) == 0 && sig == SIGUSR1, "sigwait");
  } else {
    char buf[8];
    ssize_t n = 0;
    for (int guard = 0; n < 4 && guard < 100; guard++) {
      ssize_t r = read(tell[0], buf + n, 4 - (size_t)n);
      CT_CHECK(r > 0, "read done: %zd", r);
      n += r;
    }
    CT_CHECK(n == 4 && !memcmp(buf, "done", 4), "bad message");
  }
  /* Freeze the child, pool threads included: what it has not written by
     * now stays unwritten while the file is checked. */
  CT_CHECK(kill(kid, SIGSTOP) == 0, "SIGSTOP");
  int st;
  CT_CHECK(waitpid(kid, &st, WUNTRACED) == kid && WIFSTOPPED(st), "waitpid(WUNTRACED)");
  ct_step = "verify (child stopped)";
  for (int b = 0; b < NBURST; b++) {
    char bp[300];
    struct stat sb;
    snprintf(bp, sizeof bp, "%s.%d", path, b);
    CT_CHECK(stat(bp, &sb) == 0, "stat %s: %s", bp, strerror(errno));
    if ((size_t)sb.st_size != BURST_FILE)
      ct_fail("told done, but %s has %lld of %u bytes", bp, (long long)sb.st_size, BURST_FILE);
  }
  wb_expect_stream(path, SEED, stream_len());
  CT_CHECK(kill(kid, SIGCONT) == 0, "SIGCONT");
  CT_CHECK(write(bye[1], "x", 1) == 1, "bye");
  CT_CHECK(waitpid(kid, &st, 0) == kid, "waitpid");
  CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", st);
  return 0;
}
