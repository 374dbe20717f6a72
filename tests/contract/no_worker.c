/* no_worker.c — contract: when the pool cannot create a worker, the call runs
 * in the caller — never a hang (docs/design.md §4 "never broken").
 *
 * The program lowers RLIMIT_AS (soft limit) to its current size plus 160 KiB:
 * no thread stack fits any more (the pool's take 256 KiB), so no worker can
 * start. Then file writes
 * and reads, and a pipe write and read, must behave exactly as without the
 * shim (the plain calls need no memory). Under the shim in pool mode the
 * pool's manager exists already (started by the constructor) and every call
 * needs a worker it cannot get. The watchdog thread is started before the
 * limit is set.
 */
#include "contract.h"

#include <sys/resource.h>
#include <sys/stat.h>

static long vm_size_kb(void) {
  FILE* f = fopen("/proc/self/status", "re");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmSize:", 7) == 0) kb = strtol(line + 7, NULL, 10);
  if (f) fclose(f);
  return kb;
}

int main(void) {
  ct_name = "no_worker";
  ct_start_watchdog(30);
  char path[256];
  int fd = ct_tmpfile(path, "f");
  int pp[2];
  CT_CHECK(pipe2(pp, O_CLOEXEC) == 0, "pipe2");
  static char buf[4096], back[4096];
  memset(buf, 'z', sizeof buf);

  ct_step = "lower RLIMIT_AS";
  struct rlimit old, rl;
  CT_CHECK(getrlimit(RLIMIT_AS, &old) == 0, "getrlimit");
  long kb = vm_size_kb();
  CT_CHECK(kb > 0, "VmSize not found");
  rl = old;
  rl.rlim_cur = (rlim_t)(kb + 160) * 1024;
  CT_CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit: %s", strerror(errno));

  ct_step = "file writes";
  for (int i = 0; i < 50; i++) CT_EXPECT_RET(write(fd, buf, sizeof buf), (long)sizeof buf, "write");
  ct_step = "file reads";
  CT_EXPECT_RET(pread(fd, back, sizeof back, 4096 * 7), (long)sizeof back, "pread");
  CT_CHECK(memcmp(back, buf, sizeof buf) == 0, "pread data differs");
  ct_step = "pipe";
  CT_EXPECT_RET(write(pp[1], buf, 100), 100, "pipe write");
  CT_EXPECT_RET(read(pp[0], back, sizeof back), 100, "pipe read");

  ct_step = "restore RLIMIT_AS";
  CT_CHECK(setrlimit(RLIMIT_AS, &old) == 0, "setrlimit restore: %s", strerror(errno));
  struct stat st;
  CT_CHECK(fstat(fd, &st) == 0 && st.st_size == 50 * 4096, "file size %ld, want %d", (long)st.st_size,
           50 * 4096);
  close(fd);
  unlink(path);
  return 0;
}
