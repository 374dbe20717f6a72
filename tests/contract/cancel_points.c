/* cancel_points.c — contract: every interposed call that is a cancellation
 * point in glibc stays one on every path (docs/design.md §4 "Same threading
 * behaviour"): the inline RWF_NOWAIT read of a cached file, the MSG_DONTWAIT
 * socket try, write-behind, and the pool.
 *
 * For each call kind a thread loops on a call that never blocks (pread of a
 * cached file, pwrite/write to a file, send+recv on a socketpair with room),
 * with deferred cancellation; main pthread_cancel()s it: join must return
 * PTHREAD_CANCELED. A call path that is not a cancellation point loops
 * forever and the watchdog fails the test.
 */
#include "contract.h"

#include <sys/socket.h>
#include <sys/uio.h>

enum { K_PREAD, K_READ, K_PWRITE, K_WRITE, K_WRITEV, K_SENDRECV, K_COUNT };
static const char* names[K_COUNT] = {"pread", "read", "pwrite", "write", "writev", "send+recv"};

static int file_fd, sv[2];
static atomic_long loops;

static void* looper(void* arg) {
  int kind = (int)(intptr_t)arg;
  char buf[512];
  memset(buf, 'x', sizeof buf);
  for (;;) {
    long r = 0;
    switch (kind) {
      case K_PREAD: r = pread(file_fd, buf, sizeof buf, 0); break;
      case K_READ:
        r = read(file_fd, buf, sizeof buf);
        if (r == 0) r = lseek(file_fd, 0, SEEK_SET) == 0 ? 1 : -1;
        break;
      case K_PWRITE: r = pwrite(file_fd, buf, sizeof buf, 0); break;
      case K_WRITE:
        r = write(file_fd, buf, sizeof buf);
        if (r > 0 && lseek(file_fd, 0, SEEK_SET) != 0) r = -1;
        break;
      case K_WRITEV: {
        struct iovec v = {buf, sizeof buf};
        r = writev(file_fd, &v, 1);
        if (r > 0 && lseek(file_fd, 0, SEEK_SET) != 0) r = -1;
        break;
      }
      case K_SENDRECV:
        r = send(sv[0], buf, 16, 0);
        if (r == 16) r = recv(sv[1], buf, 16, 0);
        break;
    }
    if (r <= 0) ct_fail("%s returned %ld (%s)", names[kind], r, strerror(errno));
    atomic_fetch_add(&loops, 1);
  }
  return NULL;
}

int main(void) {
  ct_name = "cancel_points";
  ct_start_watchdog(40);
  char path[256];
  file_fd = ct_tmpfile(path, "f");
  char block[4096];
  memset(block, 'a', sizeof block);
  ct_write_all(file_fd, block, sizeof block, "fill");
  CT_CHECK(lseek(file_fd, 0, SEEK_SET) == 0, "lseek");
  CT_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %s", strerror(errno));

  for (int k = 0; k < K_COUNT; k++) {
    ct_step = names[k];
    atomic_store(&loops, 0);
    pthread_t th;
    if (pthread_create(&th, NULL, looper, (void*)(intptr_t)k) != 0) ct_fail("pthread_create");
    /* Let it loop a while, so the cancel lands mid-loop. */
    while (atomic_load(&loops) < 200) sched_yield();
    CT_CHECK(pthread_cancel(th) == 0, "pthread_cancel");
    void* res = NULL;
    CT_CHECK(pthread_join(th, &res) == 0, "pthread_join");
    CT_CHECK(res == PTHREAD_CANCELED, "join returned %p, want PTHREAD_CANCELED", res);
    CT_CHECK(lseek(file_fd, 0, SEEK_SET) == 0, "lseek");
  }
  return 0;
}
