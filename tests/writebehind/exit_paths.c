/* exit_paths.c — nothing pending is lost when a process ends or execs
 * (docs/design.md §5: exec*, exit, _exit and the end of main wait for everything).
 *
 * Each case is a child that writes two files in many small writes (fds left
 * open, no sync point) and then leaves by:
 *   _exit      _exit(0) right after the writes (no atexit, no destructors);
 *   exit       exit(0) from a second thread while the main thread is parked;
 *   return     returning from main (the child is this program re-exec'ed);
 *   exec       execv("/bin/true");
 *   exec_sh    execve("/bin/sh -c 'exit 0'") with an explicit environment.
 * The parent waits for the child and checks both files are complete.
 */
#include "wb.h"

#include <sys/wait.h>

#define WRITES 15000

extern char** environ;

/* Writes the two files' streams (seeds 1 and 2) interleaved. */
static void write_files(const char* p1, const char* p2) {
  int fd1 = open(p1, O_WRONLY | O_TRUNC | O_CLOEXEC);
  int fd2 = open(p2, O_WRONLY | O_TRUNC); /* not CLOEXEC: survives exec */
  if (fd1 < 0 || fd2 < 0) _exit(2);
  char buf[64];
  size_t off = 0;
  for (int i = 0; i < WRITES; i++) {
    size_t len = 1 + (size_t)((i * 11) % 60);
    wb_fill(buf, 1, off, len);
    if (write(fd1, buf, len) != (ssize_t)len) _exit(3);
    wb_fill(buf, 2, off, len);
    if (write(fd2, buf, len) != (ssize_t)len) _exit(3);
    off += len;
  }
}

static size_t stream_len(void) {
  size_t n = 0;
  for (int i = 0; i < WRITES; i++) n += 1 + (size_t)((i * 11) % 60);
  return n;
}

static void* exit_thread(void* arg) {
  (void)arg;
  exit(0);
}

static void child(const char* how, const char* self, const char* p1, const char* p2) {
  alarm(30);
  if (!strcmp(how, "return")) {
    char* av[] = {(char*)self, "child-return", (char*)p1, (char*)p2, NULL};
    execv("/proc/self/exe", av);
    _exit(127);
  }
  write_files(p1, p2);
  if (!strcmp(how, "_exit")) _exit(0);
  if (!strcmp(how, "exit")) {
    pthread_t t;
    if (pthread_create(&t, NULL, exit_thread, NULL) != 0) _exit(4);
    for (;;) pause(); /* the other thread's exit() ends the process */
  }
  if (!strcmp(how, "exec")) {
    char* av[] = {"/bin/true", NULL};
    execv(av[0], av);
  } else if (!strcmp(how, "exec_sh")) {
    char* av[] = {"/bin/sh", "-c", "exit 0", NULL};
    execve(av[0], av, environ);
  }
  _exit(127);
}

int main(int argc, char** argv) {
  ct_name = "exit_paths";
  if (argc == 4 && !strcmp(argv[1], "child-return")) {
    write_files(argv[2], argv[3]);
    return 0; /* the case under test */
  }
  ct_start_watchdog(50);
  static const char* hows[] = {"_exit", "exit", "return", "exec", "exec_sh"};
  size_t n = stream_len();
  for (size_t h = 0; h < sizeof hows / sizeof hows[0]; h++) {
    ct_step = hows[h];
    char p1[256], p2[256];
    close(ct_tmpfile(p1, "exit1"));
    close(ct_tmpfile(p2, "exit2"));
    pid_t pid = fork();
    CT_CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) child(hows[h], argv[0], p1, p2);
    int st;
    CT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
    CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed (status 0x%x)", st);
    wb_expect_stream(p1, 1, n);
    wb_expect_stream(p2, 2, n);
    unlink(p1);
    unlink(p2);
  }
  return 0;
}
