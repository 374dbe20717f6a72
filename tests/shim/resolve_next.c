/* tests/shim/resolve_next.c — a second preload after resolve_check: it
 * defines names the shim resolves, so the next definition is no longer
 * libc's. sendmmsg is a plain function (the walk must find it here),
 * recvmmsg an ifunc (the walk must leave it to dlsym). Never called. */
#define _GNU_SOURCE
#include <sys/socket.h>

int sendmmsg(int fd, struct mmsghdr* v, unsigned n, int flags) {
  (void)fd, (void)v, (void)n, (void)flags;
  return -1;
}

static int my_recvmmsg(int fd, struct mmsghdr* v, unsigned n, int flags, struct timespec* t) {
  (void)fd, (void)v, (void)n, (void)flags, (void)t;
  return -1;
}
typedef int recvmmsg_fn(int, struct mmsghdr*, unsigned, int, struct timespec*);
__attribute__((used)) static recvmmsg_fn* resolve_recvmmsg(void) { return my_recvmmsg; }
int recvmmsg(int, struct mmsghdr*, unsigned, int, struct timespec*)
    __attribute__((ifunc("resolve_recvmmsg")));
