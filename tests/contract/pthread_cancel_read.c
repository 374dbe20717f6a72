/* pthread_cancel_read.c — contract: read() stays a cancellation point, and no
 * one touches the cancelled caller's buffer afterwards (docs/design.md §4 "Same
 * threading behaviour"; pitfall 12: a worker may still hold the buffer).
 *
 * Thread T blocks in read(pipe, heapbuf, 64) with heapbuf filled with a
 * pattern; main pthread_cancel()s it: join returns PTHREAD_CANCELED and the
 * pattern is intact. Main then writes "data" and reads it back itself: the
 * cancelled read must not have consumed it, and heapbuf must still hold the
 * pattern (no late write into a dead caller's buffer).
 */
#include "contract.h"

#include <poll.h>

#define BUFSZ 64
#define PATTERN 0xA5

static int pfd[2];
static atomic_int tid;
static atomic_int returned;

static void* reader(void* arg) {
  unsigned char* buf = arg;
  atomic_store(&tid, (int)gettid());
  long r = read(pfd[0], buf, BUFSZ);
  atomic_store(&returned, 1); /* only reached if the read was not cancelled */
  (void)r;
  return NULL;
}

static void check_pattern(const unsigned char* buf, const char* when) {
  for (int i = 0; i < BUFSZ; i++)
    CT_CHECK(buf[i] == PATTERN, "cancelled thread's buffer modified %s (byte %d = %#x)", when, i, buf[i]);
}

int main(void) {
  ct_name = "pthread_cancel_read";
  ct_start_watchdog(30);
  if (pipe2(pfd, O_CLOEXEC) != 0) ct_fail("pipe2: %s", strerror(errno));

  ct_step = "warm-up";
  char c;
  ct_write_all(pfd[1], "w", 1, "warm-up");
  CT_EXPECT_RET(read(pfd[0], &c, 1), 1, "warm-up read");

  for (int round = 0; round < 3; round++) {
    unsigned char* buf = malloc(BUFSZ);
    CT_CHECK(buf, "malloc");
    memset(buf, PATTERN, BUFSZ);
    atomic_store(&tid, 0);
    pthread_t th;
    if (pthread_create(&th, NULL, reader, buf) != 0) ct_fail("pthread_create");
    ct_step = "waiting for the reader to block";
    while (atomic_load(&tid) == 0) sched_yield();
    ct_wait_sleeping(atomic_load(&tid));

    ct_step = "cancel + join";
    CT_CHECK(pthread_cancel(th) == 0, "pthread_cancel");
    void* res = NULL;
    CT_CHECK(pthread_join(th, &res) == 0, "pthread_join");
    CT_CHECK(res == PTHREAD_CANCELED, "join returned %p, want PTHREAD_CANCELED", res);
    CT_CHECK(!atomic_load(&returned), "read returned instead of being cancelled");
    check_pattern(buf, "by the time join returned");

    ct_step = "main writes and reads back";
    ct_write_all(pfd[1], "data", 4, "data");
    struct pollfd p = {.fd = pfd[0], .events = POLLIN};
    CT_CHECK(poll(&p, 1, 5000) == 1, "\"data\" not readable: consumed by the cancelled read?");
    char back[BUFSZ];
    long r = read(pfd[0], back, sizeof back);
    CT_CHECK(r == 4 && memcmp(back, "data", 4) == 0, "read back %ld bytes, want \"data\"", r);
    check_pattern(buf, "after the pipe got data");
    free(buf);
  }
  return 0;
}
