/* close_all_fds.c — contract: a program that closes every fd above 2 at start
 * (daemons, shells) keeps working, and the shim holds no fds of its own in
 * steady state (docs/design.md §4: "opens no file descriptors of its own in steady
 * state", fd cache invalidated by close_range).
 *
 * close_range(3, ~0U, 0) (fallback: close() loop), then file and pipe I/O,
 * then /proc/self/fd must list only 0, 1, 2, the fds this program opened and
 * the directory fd used for listing. Repeated after the pool is warm.
 */
#include "contract.h"

#include <dirent.h>
#include <sys/resource.h>
#include <sys/syscall.h>

static void close_all_above_2(void) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0) return;
#endif
  struct rlimit rl;
  long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (long)rl.rlim_cur : 65536;
  for (long fd = 3; fd < max; fd++) close((int)fd);
}

static void check_fds(const int* mine, int nmine, const char* when) {
  ct_step = when;
  DIR* d = opendir("/proc/self/fd");
  CT_CHECK(d, "opendir /proc/self/fd: %s", strerror(errno));
  int dfd = dirfd(d);
  struct dirent* e;
  char extra[1024] = "";
  for (int guard = 0; (e = readdir(d)) != NULL && guard < 100000; guard++) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    int known = fd <= 2 || fd == dfd;
    for (int i = 0; i < nmine; i++) known |= fd == mine[i];
    if (!known) {
      char link[64], target[256];
      snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
      ssize_t n = readlink(link, target, sizeof target - 1);
      target[n > 0 ? n : 0] = 0;
      size_t used = strlen(extra);
      snprintf(extra + used, sizeof extra - used, " %d->%s", fd, target);
    }
  }
  closedir(d);
  CT_CHECK(extra[0] == 0, "fds the program did not open:%s", extra);
}

static void do_io(int* mine) {
  char path[256], buf[4096], back[4096];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (char)(i * 31 + 7);
  int fd = ct_tmpfile(path, "io");
  unlink(path);
  for (int i = 0; i < 64; i++) ct_write_all(fd, buf, sizeof buf, "file");
  for (int i = 0; i < 64; i++) {
    ssize_t r = pread(fd, back, sizeof back, (off_t)i * (off_t)sizeof back);
    CT_CHECK(r == (ssize_t)sizeof back && memcmp(buf, back, sizeof back) == 0, "file read back %d: %zd", i,
             r);
  }
  int p[2];
  CT_CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
  for (int i = 0; i < 32; i++) {
    ct_write_all(p[1], buf, 1000, "pipe");
    CT_CHECK(ct_read_all(p[0], back, 1000, "pipe") == 1000 && memcmp(buf, back, 1000) == 0,
             "pipe round trip %d", i);
  }
  mine[0] = fd;
  mine[1] = p[0];
  mine[2] = p[1];
}

int main(void) {
  ct_name = "close_all_fds";
  ct_step = "close_range";
  close_all_above_2();
  ct_start_watchdog(30);

  int mine[6];
  ct_step = "I/O after closing every fd";
  do_io(mine);
  check_fds(mine, 3, "fd listing after the first I/O");
  do_io(mine + 3);
  check_fds(mine, 6, "fd listing after the second I/O");

  /* And again after closing everything with the pool warm. */
  ct_step = "close_range with the pool warm";
  close_all_above_2();
  do_io(mine);
  check_fds(mine, 3, "fd listing after the second close_range");
  return 0;
}
