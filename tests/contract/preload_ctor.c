/* preload_ctor.c — contract: another preloaded library doing I/O in its
 * constructor and destructor works, in both LD_PRELOAD orders (docs/design.md §4:
 * calls before the shim is initialised pass straight through; pitfall 5).
 *
 * Run with LD_PRELOAD containing libctor.so (preload_ctor_lib.c): checks
 * what libctor's constructor saw and the file it wrote, does its own I/O,
 * then a forked child registers a destructor fd and exit()s: the parent
 * checks the destructor's writes all arrived.
 */
#include "contract.h"

#include <dlfcn.h>
#include <sys/wait.h>

#define CTOR_FILE_TEXT "written by libctor's constructor\n"
#define DTOR_TEXT "written by libctor's destructor\n"

int main(void) {
  ct_name = "preload_ctor";
  ct_start_watchdog(30);
  int (*result)(const char**, const char**) =
      (int (*)(const char**, const char**))dlsym(RTLD_DEFAULT, "ctor_contract_result");
  void (*set_dtor_fd)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "ctor_contract_set_dtor_fd");
  CT_CHECK(result && set_dtor_fd, "libctor.so is not preloaded (LD_PRELOAD=%s)",
           getenv("LD_PRELOAD") ? getenv("LD_PRELOAD") : "");

  ct_step = "constructor's I/O";
  const char *msg, *path;
  CT_CHECK(result(&msg, &path), "%s", msg);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  CT_CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
  static char data[64 * 1024];
  size_t n = ct_read_all(fd, data, sizeof data, "ctor file");
  close(fd);
  size_t len = strlen(CTOR_FILE_TEXT);
  CT_CHECK(n == 200 * len, "constructor's file has %zu bytes, want %zu", n, 200 * len);
  for (size_t off = 0; off < n; off += len)
    CT_CHECK(memcmp(data + off, CTOR_FILE_TEXT, len) == 0, "ctor file differs at %zu", off);
  unlink(path);

  ct_step = "main's own I/O";
  char mpath[256];
  fd = ct_tmpfile(mpath, "main");
  for (int i = 0; i < 100; i++) ct_write_all(fd, "main\n", 5, "main file");
  CT_CHECK(pread(fd, data, sizeof data, 0) == 500, "main file size wrong");
  close(fd);
  unlink(mpath);

  ct_step = "destructor's I/O at exit";
  char dpath[256];
  int dfd = ct_tmpfile(dpath, "dtor");
  pid_t pid = fork();
  CT_CHECK(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    alarm(20);
    set_dtor_fd(dfd);
    ct_write_all(dfd, "child\n", 6, "child"); /* the child's pool is in use at exit */
    exit(0);
  }
  int st;
  CT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
  CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
  n = (size_t)pread(dfd, data, sizeof data, 0);
  size_t dlen = strlen(DTOR_TEXT);
  CT_CHECK(n == 6 + 100 * dlen, "destructor file has %zu bytes, want %zu", n, 6 + 100 * dlen);
  for (size_t off = 6; off < n; off += dlen)
    CT_CHECK(memcmp(data + off, DTOR_TEXT, dlen) == 0, "destructor file differs at %zu", off);
  close(dfd);
  unlink(dpath);
  return 0;
}
