/* cancel_noncancel.c — contract: a call that is not a cancellation point in
 * glibc does not become one under the shim (docs/design.md §4 "Same threading
 * behaviour"). posix_fallocate and sendfile are not cancellation points; a
 * thread with a cancel pending completes them and is cancelled only at the
 * next cancellation point. (fallocate, fsync and copy_file_range are.)
 *
 * In pool mode these run as bound work and the caller waits for the pool,
 * with cancellation acted upon on entry: the thread was cancelled inside
 * posix_fallocate, before the call ran.
 */
#include "contract.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/sendfile.h>

static atomic_int go;
static int fd_a, fd_b;
static volatile int done_fallocate, done_sendfile;

static void* body(void* arg) {
  (void)arg;
  while (!atomic_load(&go)) {
  }  // a busy wait is not a cancellation point: the cancel stays pending
  int e = posix_fallocate(fd_a, 0, 1 << 16);
  done_fallocate = e == 0 ? 1 : -e;
  off_t off = 0;
  ssize_t r = sendfile(fd_b, fd_a, &off, 4096);
  done_sendfile = r == 4096 ? 1 : -2;
  pthread_testcancel();
  return NULL;
}

int main(void) {
  ct_name = "cancel_noncancel";
  ct_start_watchdog(30);
  char pa[256], pb[256];
  fd_a = ct_tmpfile(pa, "a");
  fd_b = ct_tmpfile(pb, "b");
  ct_write_all(fd_a, "x", 1, "a");

  ct_step = "cancel pending, then posix_fallocate and sendfile";
  pthread_t t;
  CT_CHECK(pthread_create(&t, NULL, body, NULL) == 0, "pthread_create");
  CT_CHECK(pthread_cancel(t) == 0, "pthread_cancel");
  atomic_store(&go, 1);
  void* ret;
  CT_CHECK(pthread_join(t, &ret) == 0, "pthread_join");
  CT_CHECK(ret == PTHREAD_CANCELED, "thread not cancelled at pthread_testcancel");
  CT_CHECK(done_fallocate == 1, "posix_fallocate did not complete (%d): it acted on the cancel",
           done_fallocate);
  CT_CHECK(done_sendfile == 1, "sendfile did not complete (%d): it acted on the cancel", done_sendfile);
  close(fd_a);
  close(fd_b);
  unlink(pa);
  unlink(pb);
  return 0;
}
