/* control_files.c — files of proc (and sysfs, cgroup...) are control
 * interfaces, never written behind (docs/design.md §5 "Eligible"): a write there
 * acts, or fails, at once.
 *   /proc/self/comm          renamed by write(2): prctl(PR_GET_NAME) sees
 *                            the new name right after;
 *   /proc/self/oom_score_adj "5000" is out of range: write fails EINVAL.
 */
#include "wb.h"

#include <sys/prctl.h>

int main(void) {
  ct_name = "control_files";
  ct_start_watchdog(30);
  ct_step = "comm";
  int fd = open("/proc/self/comm", O_WRONLY | O_CLOEXEC);
  CT_CHECK(fd >= 0, "open comm: %s", strerror(errno));
  CT_CHECK(write(fd, "wbrenamed", 9) == 9, "write comm: %s", strerror(errno));
  char name[32] = {0};
  CT_CHECK(prctl(PR_GET_NAME, name) == 0, "prctl");
  if (strcmp(name, "wbrenamed"))
    ct_fail("PR_GET_NAME is '%s' after writing /proc/self/comm, want 'wbrenamed'", name);
  close(fd);
  ct_step = "oom_score_adj";
  fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  CT_CHECK(fd >= 0, "open oom_score_adj: %s", strerror(errno));
  errno = 0;
  ssize_t r = write(fd, "5000", 4);
  if (r != -1 || errno != EINVAL)
    ct_fail("write(\"5000\") returned %zd (%s), want -1 EINVAL", r, strerrorname_np(errno));
  close(fd);
  return 0;
}
