/* fork_order.c — fork is a sync point and a child's writes on an inherited
 * fd land in order (docs/design.md §5: fork and exit wait for everything).
 *
 * The parent writes part A (many small writes), forks; the child writes part
 * B through the same fd (shared offset) and exits; the parent waits for it
 * and writes part C. The file must be A B C. Rounds: the child leaves with
 * exit(0), with _exit(0), and by writing with pwrite at the offset it got
 * from lseek (so its data does not depend on the shared offset alone).
 */
#include "wb.h"

#include <sys/wait.h>

#define PART_WRITES 2000

/* Part `tag`, write i: 1..40 bytes. */
static size_t piece(char* buf, char tag, int i) {
  size_t len = 1 + (size_t)((i * 13) % 40);
  for (size_t k = 0; k < len; k++) buf[k] = (char)(tag + (char)((i + (int)k) % 20));
  return len;
}

static size_t write_part(int fd, char tag, int positioned, char* img, size_t at) {
  char buf[64];
  off_t off = 0;
  if (positioned) {
    off = lseek(fd, 0, SEEK_CUR);
    CT_CHECK(off == (off_t)at, "child: lseek = %lld, want %zu", (long long)off, at);
  }
  for (int i = 0; i < PART_WRITES; i++) {
    size_t len = piece(buf, tag, i);
    ssize_t r = positioned ? pwrite(fd, buf, len, off) : write(fd, buf, len);
    CT_CHECK(r == (ssize_t)len, "part %c write %d: %zd (%s)", tag, i, r,
             r < 0 ? strerrorname_np(errno) : "short");
    memcpy(img + at, buf, len);
    at += len;
    off += (off_t)len;
  }
  if (positioned) /* leave the shared offset after B, as the plain writes do */
    CT_CHECK(lseek(fd, off, SEEK_SET) == off, "lseek: %s", strerror(errno));
  return at;
}

static void round_(int how) {
  static const char* names[] = {"child exit(0)", "child _exit(0)", "child pwrite+exit"};
  ct_step = names[how];
  char path[256];
  int fd = ct_tmpfile(path, "fork");
  static char img[3 * PART_WRITES * 64];
  size_t n = write_part(fd, 'A', 0, img, 0);
  size_t after_a = n;
  pid_t pid = fork();
  CT_CHECK(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    alarm(30);
    write_part(fd, 'a' + 1, how == 2, img, after_a);
    if (how == 1) _exit(0);
    exit(0);
  }
  int st;
  CT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
  CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed (status 0x%x)", st);
  /* The parent's image of B: the same pieces the child wrote. */
  char buf[64];
  for (int i = 0; i < PART_WRITES; i++) {
    size_t len = piece(buf, 'a' + 1, i);
    memcpy(img + n, buf, len);
    n += len;
  }
  off_t cur = lseek(fd, 0, SEEK_CUR);
  CT_CHECK(cur == (off_t)n, "parent after child: lseek = %lld, want %zu", (long long)cur, n);
  n = write_part(fd, 'C', 0, img, n);
  CT_CHECK(close(fd) == 0, "close: %s", strerror(errno));
  wb_expect_file(path, img, n);
  unlink(path);
}

int main(void) {
  ct_name = "fork_order";
  ct_start_watchdog(50);
  for (int how = 0; how < 3; how++) round_(how);
  return 0;
}
