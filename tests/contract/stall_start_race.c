/* stall_start_race.c — contract: the stall timeout holds for every blocking
 * call of a process, also when the call comes while another thread starts the
 * process's stall thread, and in a child forked during that start
 * (docs/design.md §4, IOWQ_STALL_MS).
 *
 * A forked child has no stall thread: its first armed call starts one. Each
 * round forks a fresh child C (so a start happens in every round) in which two
 * threads leave a spin barrier together:
 *   stall_start_race threads  both threads recv() on their own idle
 *       socketpair; each must return -1/ETIMEDOUT (the second one must not
 *       run without a deadline because the first one is starting the thread).
 *   stall_start_race fork     thread A recv()s on an idle socketpair (its arm
 *       starts the stall thread) while thread B forks grandchildren in a tight
 *       loop; every grandchild's recv() on an idle socketpair must return
 *       -1/ETIMEDOUT (a fork during the start must not leave the grandchild
 *       unable to start its own stall thread).
 *   stall_start_race take     as fork, but the parent never made an armed
 *       call: C's first one also takes the shim's stall signal over (its
 *       sigaction), so the grandchildren are forked during that take too.
 * Run only under the shim with IOWQ_STALL_MS (plain recv never times out).
 * A call that lost its deadline would wait forever: C and the grandchildren
 * run under alarm() with SIGALRM at SIG_DFL, so it fails as "killed by
 * SIGALRM" instead of hanging; the watchdog guards the whole run.
 */
#include "contract.h"

#include <sys/socket.h>
#include <sys/wait.h>

enum { kRounds = 40, kForks = 12, kAlarm = 5 };

static atomic_int ready;
static int fds_a[2], fds_b[2];
static int fork_mode, take_first = 1;

static void barrier(void) {
  atomic_fetch_add(&ready, 1);
  while (atomic_load(&ready) < 2) {
  }
}

/* recv on an idle socket: must be cut off by the stall timeout. Returns 0 when it was. */
static int recv_times_out(int fd) {
  char c;
  errno = 0;
  long r = recv(fd, &c, 1, 0);
  return (r == -1 && errno == ETIMEDOUT) ? 0 : 1;
}

static void* second(void* arg) {
  (void)arg;
  barrier();
  if (!fork_mode) return (void*)(intptr_t)recv_times_out(fds_b[0]);
  pid_t kids[kForks];
  for (int i = 0; i < kForks; ++i) {
    kids[i] = fork();
    if (kids[i] == 0) {
      alarm(kAlarm);
      _exit(recv_times_out(fds_b[0]) ? 3 : 0);
    }
    if (kids[i] < 0) return (void*)(intptr_t)4;
  }
  intptr_t bad = 0;
  for (int i = 0; i < kForks; ++i) {
    int st;
    while (waitpid(kids[i], &st, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) bad = WIFSIGNALED(st) ? 100 + WTERMSIG(st) : 5;
  }
  return (void*)bad;
}

/* One round, in a fresh child: exit code 0 when every recv timed out. */
static int round_child(void) {
  alarm(kAlarm + 2);
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_a) != 0 ||
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_b) != 0)
    return 6;
  pthread_t t;
  if (pthread_create(&t, NULL, second, NULL) != 0) return 7;
  barrier();
  int a = recv_times_out(fds_a[0]);
  void* b;
  pthread_join(t, &b);
  if (a) return 8;
  return (int)(intptr_t)b;
}

int main(int argc, char** argv) {
  ct_name = "stall_start_race";
  if (argc == 2 && strcmp(argv[1], "threads") == 0)
    fork_mode = 0;
  else if (argc == 2 && strcmp(argv[1], "fork") == 0)
    fork_mode = 1;
  else if (argc == 2 && strcmp(argv[1], "take") == 0)
    fork_mode = 1, take_first = 0;
  else
    ct_fail("usage: stall_start_race threads|fork|take");
  ct_start_watchdog(50);
  signal(SIGALRM, SIG_DFL);
  /* One armed call here first: the shim takes its stall signal on the first
   * one, and the children inherit it taken (a fork during that take is
   * raced by the take mode). */
  if (take_first) {
    ct_step = "first recv";
    CT_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_a) == 0, "socketpair: %s",
             strerror(errno));
    CT_CHECK(recv_times_out(fds_a[0]) == 0, "first recv: did not return -1/ETIMEDOUT");
    close(fds_a[0]);
    close(fds_a[1]);
  }
  for (int round = 0; round < kRounds; ++round) {
    ct_step = "round";
    pid_t pid = fork();
    CT_CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) _exit(round_child());
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(st))
      ct_fail("round %d: child killed by signal %d (a recv lost its stall timeout)", round, WTERMSIG(st));
    int code = WEXITSTATUS(st);
    if (code > 100 && code != 100 + SIGALRM)
      ct_fail(
          "round %d: a grandchild was killed by signal %d (the shim's stall signal at its default action?)",
          round, code - 100);
    if (code == 100 + SIGALRM)
      ct_fail(
          "round %d: a grandchild forked during the start was killed by SIGALRM "
          "(its recv lost its stall timeout)",
          round);
    if (code == 3 || code == 8 || code == 1)
      ct_fail("round %d: a recv did not return -1/ETIMEDOUT (code %d)", round, code);
    CT_CHECK(code == 0, "round %d: child exited with %d", round, code);
  }
  printf("stall_start_race: %d rounds ok\n", kRounds);
  return 0;
}
