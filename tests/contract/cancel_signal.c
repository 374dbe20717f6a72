/* cancel_signal.c — contract: the pool's cancel signal (SIGRTMIN+3 by
 * default) stays usable by the pool whatever the program does with it, and
 * the program keeps working with the signal as if the shim were not there
 * (docs/design.md §4 "The cancel signal is protected from the program").
 *
 * The program installs its own handler for SIGRTMIN+3 with sigaction, reads
 * it back, raises the signal (its handler must run, on its thread), replaces
 * the handler with signal(), checks the old one is returned, and blocks the
 * signal in its own threads with sigprocmask. Then, with argv[1] ==
 * "expect-stall" (run with IOWQ_STALL_MS=150), a recv on a silent socketpair
 * must still be cancelled by the pool with ETIMEDOUT — the pool's signal
 * reached its worker despite all of the above.
 */
#include "contract.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t hits, hits2;
static volatile pid_t hit_tid;
static void on_sig(int s) {
  (void)s;
  hits++;
  hit_tid = (pid_t)syscall(SYS_gettid);
}
static void on_sig2(int s) {
  (void)s;
  hits2++;
}

int main(int argc, char** argv) {
  ct_name = "cancel_signal";
  ct_start_watchdog(20);
  int expect_stall = argc > 1 && strcmp(argv[1], "expect-stall") == 0;
  int sig = SIGRTMIN + 3;

  ct_step = "sigaction install and read back";
  struct sigaction sa = {0}, old = {0};
  sa.sa_handler = on_sig;
  sigemptyset(&sa.sa_mask);
  CT_CHECK(sigaction(sig, &sa, &old) == 0, "sigaction: %s", strerror(errno));
  CT_CHECK(old.sa_handler == SIG_DFL, "initial disposition is not SIG_DFL");
  struct sigaction now = {0};
  CT_CHECK(sigaction(sig, NULL, &now) == 0 && now.sa_handler == on_sig, "read-back handler differs");

  ct_step = "raise reaches the program's handler on the raising thread";
  CT_CHECK(raise(sig) == 0, "raise: %s", strerror(errno));
  CT_CHECK(hits == 1, "handler ran %d times, want 1", (int)hits);
  CT_CHECK(hit_tid == (pid_t)syscall(SYS_gettid), "handler ran on another thread");

  ct_step = "signal() replaces it and returns the old handler";
  CT_CHECK(signal(sig, on_sig2) == on_sig, "signal() did not return the old handler");
  CT_CHECK(raise(sig) == 0 && hits2 == 1 && hits == 1, "new handler not used");

  ct_step = "SIG_IGN is honoured";
  CT_CHECK(signal(sig, SIG_IGN) == on_sig2, "signal(SIG_IGN) old handler differs");
  CT_CHECK(raise(sig) == 0 && hits2 == 1 && hits == 1, "ignored signal ran a handler");

  ct_step = "the program blocks the signal in its thread";
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  CT_CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0, "sigprocmask: %s", strerror(errno));

  if (expect_stall) {
    ct_step = "the pool still cancels a stalled recv (ETIMEDOUT)";
    int sv[2];
    CT_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
    char c;
    ssize_t r = recv(sv[0], &c, 1, 0);
    CT_CHECK(r == -1 && errno == ETIMEDOUT, "recv returned %zd/%s, want -1/ETIMEDOUT", r,
             r < 0 ? strerror(errno) : "-");
    close(sv[0]);
    close(sv[1]);
  }
  return 0;
}
