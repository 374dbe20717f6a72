/* exec_flush.c — contract: nothing written before exec is lost (docs/design.md §4
 * "exec and exit (nothing pending is lost)", §5 exec* waits for everything).
 *
 * A forked child writes many small chunks to a file and then execv()s
 * /bin/cat FILE with stdout on a pipe; the parent reads the pipe to EOF and
 * compares it with the chunks. The child's exec happens with its writes
 * possibly still pending (pool, or write-behind under IOWQ_WRITE_BEHIND=1).
 * A second round does the same with writev() and pwrite() chunks.
 */
#include "contract.h"

#include <sys/uio.h>
#include <sys/wait.h>

#define CHUNKS 20000

/* Chunk i: variable length 1..37 bytes, content depends on i. */
static size_t make_chunk(char* buf, int i) {
  size_t len = 1 + (size_t)(i * 7 % 37);
  for (size_t k = 0; k < len; k++) buf[k] = (char)('a' + (i + (int)k) % 26);
  return len;
}

static size_t total_len(void) {
  char buf[64];
  size_t t = 0;
  for (int i = 0; i < CHUNKS; i++) t += make_chunk(buf, i);
  return t;
}

static void child(const char* path, int outfd, int how) {
  alarm(20);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) _exit(2);
  char buf[64];
  off_t off = 0;
  for (int i = 0; i < CHUNKS; i++) {
    size_t len = make_chunk(buf, i);
    ssize_t r;
    if (how == 0) {
      r = write(fd, buf, len);
    } else if (i % 2) {
      struct iovec iov[2] = {{buf, len / 2}, {buf + len / 2, len - len / 2}};
      r = pwritev(fd, iov, 2, off);
    } else {
      r = pwrite(fd, buf, len, off);
    }
    if (r != (ssize_t)len) _exit(3);
    off += (off_t)len;
  }
  /* fd stays open: exec (O_CLOEXEC) is the only sync point. */
  if (dup2(outfd, 1) != 1) _exit(4);
  char* argv[] = {"/bin/cat", (char*)path, NULL};
  execv(argv[0], argv);
  _exit(127);
}

static void run(int how) {
  ct_step = how == 0 ? "write chunks then exec cat" : "pwrite/pwritev chunks then exec cat";
  char path[256];
  int fd = ct_tmpfile(path, "exec");
  close(fd);
  int p[2];
  CT_CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
  pid_t pid = fork();
  CT_CHECK(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) child(path, p[1], how);
  close(p[1]);
  size_t want = total_len();
  char* out = malloc(want + 64);
  CT_CHECK(out, "malloc");
  size_t n = ct_read_all(p[0], out, want + 64, "cat output");
  close(p[0]);
  int st;
  CT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
  CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child/cat status %#x", st);
  CT_CHECK(n == want, "cat printed %zu bytes, %zu were written before exec", n, want);
  char buf[64];
  size_t at = 0;
  for (int i = 0; i < CHUNKS; i++) {
    size_t len = make_chunk(buf, i);
    CT_CHECK(memcmp(out + at, buf, len) == 0, "chunk %d (offset %zu) differs", i, at);
    at += len;
  }
  free(out);
  unlink(path);
}

int main(void) {
  ct_name = "exec_flush";
  ct_start_watchdog(40);
  run(0);
  run(1);
  return 0;
}
