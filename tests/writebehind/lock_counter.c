/* lock_counter.c — taking or releasing a lock tells other processes the
 * data is there (docs/design.md §5: flock, fcntl locks and lockf wait for every
 * pending write).
 *
 * Usage: lock_counter flock_data|flock_file|lockf_file|fcntl_file. Two
 * processes each add 1 to a decimal counter in a file 3000 times, each
 * read-modify-write under the lock named by the mode (on the data fd itself
 * or on a separate lock file). Each process opens its own fds (flock locks
 * belong to the open file description). The counter must end at 6000: a
 * write still pending when the lock is released is lost to the other side.
 */
#include "wb.h"

#include <sys/file.h>
#include <sys/wait.h>

#define ROUNDS 3000

static const char* mode;

static void take(int lfd, int on) {
  int r;
  if (!strcmp(mode, "flock_data") || !strcmp(mode, "flock_file")) {
    r = flock(lfd, on ? LOCK_EX : LOCK_UN);
  } else if (!strcmp(mode, "lockf_file")) {
    /* lockf locks from the fd's offset on: the lock file is never
         * written, its offset stays 0 */
    r = lockf(lfd, on ? F_LOCK : F_ULOCK, 0);
  } else {
    struct flock fl = {.l_type = on ? F_WRLCK : F_UNLCK, .l_whence = SEEK_SET};
    r = fcntl(lfd, F_SETLKW, &fl);
  }
  if (r != 0) ct_fail("%s %s: %s", mode, on ? "lock" : "unlock", strerror(errno));
}

static void adder(const char* data, const char* lockp) {
  int fd = open(data, O_RDWR | O_CLOEXEC);
  int lfd = lockp ? open(lockp, O_RDWR | O_CLOEXEC) : fd;
  if (fd < 0 || lfd < 0) ct_fail("open: %s", strerror(errno));
  for (int i = 0; i < ROUNDS; i++) {
    take(lfd, 1);
    char buf[32] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) ct_fail("round %d: pread returned %zd", i, n);
    long v = strtol(buf, NULL, 10);
    int len = snprintf(buf, sizeof buf, "%010ld\n", v + 1);
    if (pwrite(fd, buf, (size_t)len, 0) != len) ct_fail("round %d: pwrite: %s", i, strerror(errno));
    take(lfd, 0);
  }
}

int main(int argc, char** argv) {
  ct_name = "lock_counter";
  CT_CHECK(argc == 2, "usage: lock_counter flock_data|flock_file|lockf_file|fcntl_file");
  mode = argv[1];
  ct_start_watchdog(50);
  const char* tmp = getenv("CONTRACT_TMPDIR");
  char data[512], lockp[512];
  snprintf(data, sizeof data, "%s/counter", tmp ? tmp : "/tmp");
  snprintf(lockp, sizeof lockp, "%s/counter.lock", tmp ? tmp : "/tmp");
  int fd = open(data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int lfd = open(lockp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CT_CHECK(fd >= 0 && lfd >= 0, "create: %s", strerror(errno));
  CT_CHECK(write(fd, "0000000000\n", 11) == 11, "init write");
  close(fd);
  close(lfd);
  const char* lp = strcmp(mode, "flock_data") ? lockp : NULL;
  ct_step = "adding";
  pid_t kids[2];
  for (int k = 0; k < 2; k++) {
    kids[k] = fork();
    CT_CHECK(kids[k] >= 0, "fork: %s", strerror(errno));
    if (kids[k] == 0) {
      alarm(45);
      adder(data, lp);
      exit(0);
    }
  }
  for (int k = 0; k < 2; k++) {
    int st;
    CT_CHECK(waitpid(kids[k], &st, 0) == kids[k], "waitpid");
    CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "adder %d failed (status 0x%x)", k, st);
  }
  ct_step = "verify";
  size_t n;
  char* got = wb_slurp(data, &n);
  long v = strtol(got, NULL, 10);
  if (v != 2 * ROUNDS) ct_fail("counter is %ld, want %d (updates lost across the lock)", v, 2 * ROUNDS);
  free(got);
  return 0;
}
