/* preload_ctor_lib.c — libctor.so, a second preloaded library for
 * preload_ctor: its constructor does file and pipe I/O (possibly before
 * libiowq's constructor ran), its destructor writes at exit (possibly after
 * libiowq's destructor ran). docs/design.md §4: calls made before the shim is
 * initialised pass straight through; pitfall 5.
 *
 * Exports ctor_contract_result() (what the constructor saw) and
 * ctor_contract_set_dtor_fd() (where the destructor writes).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CTOR_FILE_TEXT "written by libctor's constructor\n"
#define CTOR_REPEAT 200

static char result[512] = "constructor did not run";
static int ok;
static char file_path[256];
static int dtor_fd = -1;

static int fail(const char* what) {
  snprintf(result, sizeof result, "constructor: %s: %s", what, strerror(errno));
  return 0;
}

static int ctor_io(void) {
  const char* dir = getenv("CONTRACT_TMPDIR");
  snprintf(file_path, sizeof file_path, "%s/preload_ctor.lib.XXXXXX", dir && *dir ? dir : "/tmp");
  int fd = mkostemp(file_path, O_CLOEXEC);
  if (fd < 0) return fail("mkostemp");
  size_t len = strlen(CTOR_FILE_TEXT);
  for (int i = 0; i < CTOR_REPEAT; i++)
    if (write(fd, CTOR_FILE_TEXT, len) != (ssize_t)len) return fail("write file");
  char buf[64];
  if (pread(fd, buf, len, (off_t)len * 3) != (ssize_t)len || memcmp(buf, CTOR_FILE_TEXT, len) != 0)
    return fail("pread file");
  if (close(fd) != 0) return fail("close file");

  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return fail("pipe2");
  if (write(p[1], "ctor-pipe", 9) != 9) return fail("write pipe");
  if (read(p[0], buf, sizeof buf) != 9 || memcmp(buf, "ctor-pipe", 9) != 0) return fail("read pipe");
  close(p[0]);
  close(p[1]);
  snprintf(result, sizeof result, "ok");
  return 1;
}

__attribute__((constructor)) static void ctor(void) { ok = ctor_io(); }

__attribute__((destructor)) static void dtor(void) {
  if (dtor_fd >= 0) {
    static const char msg[] = "written by libctor's destructor\n";
    for (int i = 0; i < 100; i++)
      if (write(dtor_fd, msg, sizeof msg - 1) != (ssize_t)(sizeof msg - 1)) _exit(5);
  }
}

/* Returns 1 and the constructor's file if its I/O was right, else 0. */
__attribute__((visibility("default"))) int ctor_contract_result(const char** msg, const char** path) {
  *msg = result;
  *path = file_path;
  return ok;
}

__attribute__((visibility("default"))) void ctor_contract_set_dtor_fd(int fd) { dtor_fd = fd; }
