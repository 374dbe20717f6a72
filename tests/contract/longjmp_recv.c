/* longjmp_recv.c — contract: leaving a blocked recv() by siglongjmp out of a
 * signal handler loses nothing and leaves the shim working (docs/design.md §4: a
 * worker never touches a caller's buffer after the caller left).
 *
 * Thread T sets a sigsetjmp point and recv()s on a silent socketpair; main
 * sends it SIGUSR1, whose handler siglongjmp()s back. T then tells main (a
 * write on a pipe) that it is back, main sends "msg", and T's next recv()
 * must get "msg" (a leftover pooled recv consumed it), twice over; T
 * acknowledges each message on the pipe.
 */
#include "contract.h"

#include <setjmp.h>
#include <sys/socket.h>
#include <sys/syscall.h>

static sigjmp_buf jb;
static int sv[2], back[2];
static atomic_int tid;

static void on_usr1(int sig) {
  (void)sig;
  siglongjmp(jb, 1);
}

static void* thread_main(void* arg) {
  (void)arg;
  char buf[16];
  atomic_store(&tid, (int)syscall(SYS_gettid));
  for (int round = 0; round < 2; round++) {
    if (sigsetjmp(jb, 1) == 0) {
      ssize_t r = recv(sv[0], buf, sizeof buf, 0);
      ct_fail("round %d: recv returned %zd before the signal", round, r);
    }
    /* Back from the handler: tell main, then take the next message. */
    if (write(back[1], "b", 1) != 1) ct_fail("write back: %s", strerror(errno));
    ssize_t r = recv(sv[0], buf, sizeof buf, 0);
    if (r != 3 || memcmp(buf, "msg", 3) != 0)
      ct_fail("round %d: recv after siglongjmp got %zd (message lost?)", round, r);
    if (write(back[1], "g", 1) != 1) ct_fail("write got: %s", strerror(errno));
  }
  return NULL;
}

int main(void) {
  ct_name = "longjmp_recv";
  ct_start_watchdog(30);
  struct sigaction sa = {0};
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  CT_CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
  CT_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
  CT_CHECK(pipe2(back, O_CLOEXEC) == 0, "pipe2");
  pthread_t t;
  CT_CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0, "pthread_create");
  for (long k = 0; atomic_load(&tid) == 0 && k < 100000000L; k++) sched_yield();
  char c;
  for (int round = 0; round < 2; round++) {
    ct_step = round ? "round 1: waiting for T to block" : "round 0: waiting for T to block";
    ct_wait_sleeping(atomic_load(&tid));
    CT_CHECK(pthread_kill(t, SIGUSR1) == 0, "pthread_kill");
    ct_step = "waiting for T to come back from the handler";
    CT_EXPECT_RET(read(back[0], &c, 1), 1, "read back");
    ct_step = "sending the next message";
    CT_EXPECT_RET(send(sv[1], "msg", 3, 0), 3, "send msg");
    ct_step = "waiting for T to get the message";
    CT_EXPECT_RET(read(back[0], &c, 1), 1, "read got");
  }
  pthread_join(t, NULL);
  return 0;
}
