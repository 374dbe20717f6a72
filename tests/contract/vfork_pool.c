/* vfork_pool.c — contract: a vfork child never starts or marks the pool it
 * shares (in memory) with its parent (docs/design.md §4 "Process lifecycle": vfork
 * children pass straight through).
 *
 * A file is written, synced and dropped from the page cache, so a read of it
 * waits for the disk. The first such read happens in a vfork child; the
 * parent's next ones must still complete (they hung when auto mode sent
 * such reads to a pool started on first need: the child had started it, and
 * its manager thread died with the child). Run in pool mode (the parent's
 * reads go to the pool, the child's run in the child) and in auto mode
 * (every read runs in the caller).
 */
#include "contract.h"

#include <sys/wait.h>

#define FILE_SZ (4 << 20)

static void drop_cache(int fd) {
  CT_CHECK(fdatasync(fd) == 0, "fdatasync: %s", strerror(errno));
  CT_CHECK(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0, "fadvise");
}

int main(void) {
  ct_name = "vfork_pool";
  ct_start_watchdog(30);
  char path[256];
  static char buf[1 << 16];
  ct_step = "writing the file";
  int fd = ct_tmpfile(path, "data");
  memset(buf, 'v', sizeof buf);
  for (int i = 0; i < FILE_SZ / (int)sizeof buf; i++) ct_write_all(fd, buf, sizeof buf, "data");
  drop_cache(fd);

  ct_step = "vfork child reads an uncached block";
  pid_t pid = vfork();
  if (pid == 0) {
    char b[4096];
    ssize_t r = pread(fd, b, sizeof b, 0);
    _exit(r == (ssize_t)sizeof b && b[0] == 'v' ? 0 : 3);
  }
  CT_CHECK(pid > 0, "vfork: %s", strerror(errno));
  int st;
  CT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
  CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);

  ct_step = "parent reads uncached blocks after the child exited";
  drop_cache(fd);
  for (off_t off = 1 << 20; off < FILE_SZ; off += 1 << 20) {
    char b[4096];
    CT_EXPECT_RET(pread(fd, b, sizeof b, off), sizeof b, "parent pread");
    CT_CHECK(b[0] == 'v', "parent pread data");
  }
  close(fd);
  unlink(path);
  return 0;
}
