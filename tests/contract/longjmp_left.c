/* longjmp_left.c — contract: a call left by siglongjmp out of a signal
 * handler is over at once, not at the thread's next interposed call
 * (docs/design.md §4: a worker never touches a caller's buffer after the call
 * returned; the program's own blocking calls are not disturbed by the
 * shim's signal).
 *
 * Thread T blocks in recv() on a silent socketpair, in a frame of its own;
 * main sends it SIGUSR1, whose handler siglongjmp()s out. From then on T
 * makes only raw system calls (no interposer runs on T):
 *   "data":  T fills the stack where recv's frame was and tells main, which
 *            sends "msg". The message must stay queued (a leftover pooled
 *            recv would take it) and T's stack must stay intact (that recv
 *            would write "msg" into it).
 *   "sleep": T sleeps 2.5 s in ppoll; with a stall timeout of 1 s armed
 *            around the abandoned recv, nothing may cut that sleep short
 *            with EINTR (as the plain program sees none).
 */
#include "contract.h"

#include <poll.h>
#include <setjmp.h>
#include <sys/socket.h>
#include <sys/syscall.h>

static sigjmp_buf jb;
static int sv[2], back[2];
static atomic_int tid;
static const char* what;

static void on_usr1(int sig) {
  (void)sig;
  siglongjmp(jb, 1);
}

__attribute__((noinline)) static void blocked_recv(void) {
  char buf[256];
  ssize_t r = recv(sv[0], buf, sizeof buf, 0);
  ct_fail("recv returned %zd before the signal", r);
}

/* Covers the stack recv's frame used; all 'A' unless someone wrote into it. */
__attribute__((noinline)) static void after_jump_data(void) {
  volatile char area[8192];
  for (int i = 0; i < (int)sizeof area; i++) area[i] = 'A';
  if (syscall(SYS_write, back[1], "b", 1) != 1) ct_fail("write back: %s", strerror(errno));
  /* Bounded poll: plain, the message is queued as soon as main sent it. */
  char peek[8];
  long r = -1;
  for (int64_t end = ct_now_ns() + 5000000000LL; ct_now_ns() < end;) {
    r = syscall(SYS_recvfrom, sv[0], peek, sizeof peek, MSG_PEEK | MSG_DONTWAIT, NULL, NULL);
    if (r == 3) break;
    sched_yield();
  }
  if (r != 3) ct_fail("\"msg\" never stayed queued (recv result %ld): taken by the abandoned recv", r);
  int bad = 0;
  for (int i = 0; i < (int)sizeof area; i++) bad += area[i] != 'A';
  if (bad) ct_fail("%d stack bytes overwritten after the recv was left", bad);
}

static void after_jump_sleep(void) {
  struct timespec ts = {2, 500000000};
  long r = syscall(SYS_ppoll, NULL, 0, &ts, NULL, 8);
  if (r != 0) ct_fail("ppoll(2.5 s) after the jump: %ld (%s), want 0", r, strerrorname_np(errno));
  if (syscall(SYS_write, back[1], "b", 1) != 1) ct_fail("write back: %s", strerror(errno));
}

static void* thread_main(void* arg) {
  (void)arg;
  atomic_store(&tid, (int)syscall(SYS_gettid));
  if (sigsetjmp(jb, 1) == 0) blocked_recv();
  if (strcmp(what, "data") == 0)
    after_jump_data();
  else
    after_jump_sleep();
  return NULL;
}

int main(int argc, char** argv) {
  ct_name = "longjmp_left";
  what = argc > 1 ? argv[1] : "data";
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
  ct_step = "waiting for T to block in recv";
  ct_wait_sleeping(atomic_load(&tid));
  CT_CHECK(pthread_kill(t, SIGUSR1) == 0, "pthread_kill");
  char c;
  ct_step = "waiting for T to come back from the handler";
  CT_EXPECT_RET(read(back[0], &c, 1), 1, "read back");
  if (strcmp(what, "data") == 0) {
    ct_step = "sending the message";
    CT_EXPECT_RET(send(sv[1], "msg", 3, 0), 3, "send msg");
  }
  pthread_join(t, NULL);
  return 0;
}
