/* pthread_exit_main.c — contract: when main calls pthread_exit and the last
 * program thread ends, the process exits with status 0 and runs its atexit
 * handlers, as without the shim (docs/design.md §4 "Process lifecycle"): the shim's
 * own threads (pool workers, manager) must not keep it alive.
 *
 * main does routed I/O (workers start in pool mode), starts one thread that
 * does more I/O and returns, and calls pthread_exit. The atexit handler
 * writes "bye" to the pipe the runner does not see; the exit status is the
 * check (no watchdog thread here: it would keep the process alive itself;
 * the runner's timeout catches a hang).
 */
#include "contract.h"

static int pp[2];
static char path[256];

static void bye(void) {
  /* Reached only through exit(): unlink the file as proof and say so. */
  unlink(path);
  fprintf(stderr, "pthread_exit_main: atexit ran\n");
}

static void* worker(void* arg) {
  (void)arg;
  char c;
  ct_write_all(pp[1], "w", 1, "thread write");
  if (read(pp[0], &c, 1) != 1) ct_fail("thread read: %s", strerror(errno));
  return NULL;
}

int main(void) {
  ct_name = "pthread_exit_main";
  CT_CHECK(pipe2(pp, O_CLOEXEC) == 0, "pipe2");
  int fd = ct_tmpfile(path, "f");
  ct_write_all(fd, "x", 1, "file");
  ct_write_all(pp[1], "m", 1, "main write");
  char c;
  CT_EXPECT_RET(read(pp[0], &c, 1), 1, "main read");
  CT_CHECK(atexit(bye) == 0, "atexit");
  pthread_t t;
  CT_CHECK(pthread_create(&t, NULL, worker, NULL) == 0, "pthread_create");
  pthread_detach(t);
  pthread_exit(NULL);
}
