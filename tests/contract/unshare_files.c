/* unshare_files.c — contract: a thread with its own fd table
 * (unshare(CLONE_FILES)) has its calls run on its own fds (docs/design.md §4).
 *
 * main opens file A as fd N. Thread T unshares its fd table, puts file B on
 * fd N (dup2), and writes to and reads from fd N: the data must land in B.
 * A pool worker executing T's write used the process's fd N, i.e. file A.
 */
#include "contract.h"

#include <sched.h>
#include <sys/stat.h>

static int nfd;
static char path_b[256];

static void* thread_main(void* arg) {
  (void)arg;
  if (unshare(CLONE_FILES) != 0) ct_skip("unshare(CLONE_FILES): %s", strerror(errno));
  int b = open(path_b, O_RDWR | O_CLOEXEC);
  if (b < 0) ct_fail("open B: %s", strerror(errno));
  if (dup2(b, nfd) != nfd) ct_fail("dup2: %s", strerror(errno));
  close(b);
  for (int i = 0; i < 50; i++)
    if (write(nfd, "thread-data\n", 12) != 12) ct_fail("write on the thread's fd: %s", strerror(errno));
  char buf[16];
  if (pread(nfd, buf, 12, 0) != 12 || memcmp(buf, "thread-data\n", 12) != 0)
    ct_fail("pread on the thread's fd did not read file B");
  close(nfd);
  return NULL;
}

int main(void) {
  ct_name = "unshare_files";
  ct_start_watchdog(20);
  char path_a[256];
  nfd = ct_tmpfile(path_a, "a");
  int b = ct_tmpfile(path_b, "b");
  close(b);
  /* main's own use of fd N first, so the shim has it cached as file A. */
  CT_EXPECT_RET(write(nfd, "", 0), 0, "main write 0 bytes");
  pthread_t t;
  CT_CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0, "pthread_create");
  pthread_join(t, NULL);
  struct stat sa, sb;
  CT_CHECK(fstat(nfd, &sa) == 0, "fstat A");
  CT_CHECK(stat(path_b, &sb) == 0, "stat B");
  CT_CHECK(sa.st_size == 0, "file A (main's fd %d) got %lld bytes written by the thread's fd %d", nfd,
           (long long)sa.st_size, nfd);
  CT_CHECK(sb.st_size == 600, "file B holds %lld bytes, want 600", (long long)sb.st_size);
  unlink(path_a);
  unlink(path_b);
  return 0;
}
