/* proc_blocking.c — contract: a read of a procfs "regular" file that blocks
 * (/proc/kmsg: until the kernel logs something) stays interruptible as
 * without the shim (docs/design.md §4 "Same signal behaviour"): a SIGALRM handler
 * without SA_RESTART makes it return EINTR. Such files are regular only in
 * name; the shim must not treat them as disk files (whose waits it does not
 * interrupt).
 *
 * Needs read access to /proc/kmsg (root); skips otherwise. Pending messages
 * are drained first (O_NONBLOCK), then the read blocks.
 */
#include "contract.h"

static volatile sig_atomic_t alarms;
static void on_alarm(int s) {
  (void)s;
  alarms++;
}

int main(void) {
  ct_name = "proc_blocking";
  ct_start_watchdog(30);
  int fd = open("/proc/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) ct_skip("open /proc/kmsg: %s", strerror(errno));
  static char buf[8192];
  ct_step = "drain";
  for (int i = 0; i < 100000 && read(fd, buf, sizeof buf) > 0; i++) {
  }
  int fl = fcntl(fd, F_GETFL);
  CT_CHECK(fl >= 0 && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == 0, "fcntl: %s", strerror(errno));

  struct sigaction sa = {0};
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART: the read must end with EINTR */
  CT_CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
  ct_step = "blocking read interrupted by SIGALRM";
  for (int tries = 0; tries < 20; tries++) {
    alarms = 0;
    alarm(1);
    long r = read(fd, buf, sizeof buf);
    alarm(0);
    if (r > 0) continue; /* the kernel logged something meanwhile: again */
    CT_CHECK(r == -1 && errno == EINTR, "read returned %ld (%s), want -1/EINTR", r,
             r < 0 ? strerrorname_np(errno) : "-");
    CT_CHECK(alarms == 1, "handler ran %d times", (int)alarms);
    return 0;
  }
  ct_fail("the kernel kept logging: no blocking read in 20 tries");
}
