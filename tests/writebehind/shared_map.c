/* shared_map.c — memory shared with another process tells it things with
 * no system call (docs/design.md §5: while the process holds a writable shared
 * mapping, write-behind drains and stays off).
 *
 * Usage: shared_map file|anon. The parent writes a data file (small writes,
 * no sync point) after creating a writable MAP_SHARED mapping (of a file,
 * or anonymous shared with a forked child), then stores a flag in the
 * mapping. The child, polling the flag (bounded), reads the data file at
 * once: it must be complete. The report must count the switch-off.
 */
#include "wb.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define WRITES 20000

int main(int argc, char** argv) {
  ct_name = "shared_map";
  CT_CHECK(argc == 2, "usage: shared_map file|anon");
  ct_start_watchdog(50);
  char path[256], mpath[256];
  int fd = ct_tmpfile(path, "shmdata");
  volatile long* flag;
  if (!strcmp(argv[1], "file")) {
    int mfd = ct_tmpfile(mpath, "shmflag");
    CT_CHECK(ftruncate(mfd, 4096) == 0, "ftruncate");
    flag = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  } else {
    flag = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  }
  CT_CHECK(flag != MAP_FAILED, "mmap: %s", strerror(errno));
  *flag = 0;
  pid_t kid = fork();
  CT_CHECK(kid >= 0, "fork");
  if (kid == 0) {
    alarm(40);
    for (long spins = 0; *flag == 0; spins++) {
      if (spins > 2000000000L) _exit(2);
      sched_yield();
    }
    /* freeze the parent, its pool included, then look */
    pid_t pp = getppid();
    if (kill(pp, SIGSTOP) != 0) _exit(5);
    char sp[64], state = 0;
    snprintf(sp, sizeof sp, "/proc/%d/stat", (int)pp);
    for (long tries = 0; state != 'T' && tries < 1000000; tries++) {
      FILE* f = fopen(sp, "re");
      if (!f || fscanf(f, "%*d %*s %c", &state) != 1) _exit(6);
      fclose(f);
    }
    struct stat st;
    int bad = stat(path, &st) != 0 || st.st_size != (off_t)(*flag);
    kill(pp, SIGCONT);
    _exit(bad ? 4 : 0);
  }
  char buf[64];
  long total = 0;
  for (int i = 0; i < WRITES; i++) {
    size_t len = 1 + (size_t)((i * 7) % 60);
    wb_fill(buf, 3, (uint64_t)total, len);
    CT_CHECK(write(fd, buf, len) == (ssize_t)len, "write");
    total += (long)len;
  }
  *flag = total; /* tells the child, no syscall */
  int st;
  CT_CHECK(waitpid(kid, &st, 0) == kid, "waitpid");
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    ct_fail("the child saw the flag before the data (status 0x%x)", st);
  return 0;
}
