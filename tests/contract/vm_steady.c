/* vm_steady.c — contract: the address space a program sees shrinks only when
 * the program itself gives memory back (docs/design.md §4 "invisible").
 *
 * A program that measures itself (/proc/self/statm) and sets RLIMIT_AS just
 * above that (conformance class wb-rlimit-as-thread-room) must find the same
 * room later as without the shim. glibc gives a thread its own malloc arena
 * at its first malloc or free: it maps 128 MiB and unmaps the unaligned
 * 64 MiB of it right after. A shim thread doing that (or a program thread
 * that never calls malloc, when the shim frees something on it) while the
 * program reads statm makes the program count memory that is gone a moment
 * later.
 *
 * The program never unmaps anything: from the start of main it samples
 * VmSize in a tight loop while it writes to a file (the shim's threads start
 * and work) and starts threads that only block in read() (no malloc: without
 * the shim they never get an arena); any sample below the one before fails.
 * The window is a few microseconds, so the program runs itself again as
 * kRuns fresh processes (the shim starts its threads anew in each).
 */
#include "contract.h"

#include <sys/wait.h>

enum { kRuns = 30, kThreads = 6, kSamplesPerThread = 2000 };

static long vm_pages(void) {
  char b[128];
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) ct_fail("open statm: %s", strerror(errno));
  ssize_t n = read(fd, b, sizeof b - 1);
  close(fd);
  if (n <= 0) ct_fail("read statm");
  b[n] = 0;
  return strtol(b, NULL, 10);
}

static int g_pipe[2];

static void* blocked_reader(void* arg) {
  (void)arg;
  char c;
  while (read(g_pipe[0], &c, 1) < 0 && errno == EINTR) {
  }
  return NULL;
}

static int child(void) {
  ct_name = "vm_steady.child";
  char path[256];
  int fd = ct_tmpfile(path, "f");
  unlink(path);
  static char buf[4096];
  memset(buf, 'v', sizeof buf);
  if (pipe2(g_pipe, O_CLOEXEC) != 0) ct_fail("pipe2");
  pthread_t t[kThreads];
  long prev = vm_pages();
  for (int i = 0; i < kThreads; i++) {
    ct_step = "thread start";
    if (pthread_create(&t[i], NULL, blocked_reader, NULL) != 0) ct_fail("pthread_create");
    prev = vm_pages(); /* the stack the program mapped itself */
    ct_step = "sampling";
    for (int s = 0; s < kSamplesPerThread; s++) {
      if (s % 64 == 0) ct_write_all(fd, buf, sizeof buf, "file write");
      long v = vm_pages();
      if (v < prev)
        ct_fail("VmSize fell from %ld to %ld pages (%ld KiB) while the program unmapped nothing", prev, v,
                (prev - v) * 4);
      prev = v;
    }
  }
  ct_step = "end";
  ct_write_all(g_pipe[1], "xxxxxxxx", kThreads, "pipe");
  for (int i = 0; i < kThreads; i++) pthread_join(t[i], NULL);
  close(fd);
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) return child();
  ct_name = "vm_steady";
  ct_start_watchdog(50);
  for (int r = 0; r < kRuns; r++) {
    ct_step = "run";
    pid_t pid = fork();
    if (pid < 0) ct_fail("fork: %s", strerror(errno));
    if (pid == 0) {
      execl("/proc/self/exe", argv[0], "child", (char*)NULL);
      _exit(127);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) ct_fail("waitpid: %s", strerror(errno));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) ct_fail("run %d of %d: status 0x%x", r + 1, kRuns, st);
  }
  return 0;
}
