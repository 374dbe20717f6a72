/* blockall.c — write-behind: glibc functions that block every signal
 * internally (system, popen, raise, abort's raise, pthread_kill, a thread's end) while
 * another thread writes behind (docs/design.md §5 "The net").
 *
 * While data is pending the net makes every system call of a program thread
 * trap with SIGSYS; a trap while the thread has SIGSYS blocked is fatal (the
 * kernel kills the process with SIGSYS). glibc blocks all signals inside
 * these functions with a raw rt_sigprocmask: when the net was disarmed at
 * that moment and another thread's write arms it before the function
 * unblocks, the process died.
 * Usage: blockall system|raise|pthread_kill|threads|abort.
 */
#include "wb.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

static atomic_int stop;
static char path[256];

static void* writer(void* arg) {
  int fd = *(int*)arg;
  char buf[512];
  memset(buf, 'w', sizeof buf);
  /* Many short bursts: the net arms and disarms all the time. */
  for (long i = 0; !atomic_load(&stop) && i < 2000000; i++) {
    if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) ct_fail("write: %s", strerror(errno));
    if (i % 64 == 63 && fdatasync(fd) != 0) ct_fail("fdatasync: %s", strerror(errno));
  }
  return NULL;
}

static void* short_thread(void* arg) { return arg; }

static volatile sig_atomic_t hits;
static void on_usr1(int s) {
  (void)s;
  hits++;
}

int main(int argc, char** argv) {
  ct_name = "blockall";
  ct_start_watchdog(60);
  const char* what = argc > 1 ? argv[1] : "system";
  int fd = ct_tmpfile(path, "blockall");
  signal(SIGUSR1, on_usr1);
  pthread_t t;
  CT_CHECK(pthread_create(&t, NULL, writer, &fd) == 0, "pthread_create");
  ct_step = what;
  if (!strcmp(what, "system")) {
    for (int i = 0; i < 60; i++) CT_CHECK(system("exit 3") == 3 << 8, "system status");
    for (int i = 0; i < 30; i++) {
      FILE* p = popen("echo x", "r");
      CT_CHECK(p != NULL, "popen: %s", strerror(errno));
      char b[8] = {0};
      CT_CHECK(fgets(b, sizeof b, p) && b[0] == 'x', "popen read");
      CT_CHECK(pclose(p) == 0, "pclose");
    }
  } else if (!strcmp(what, "raise") || !strcmp(what, "pthread_kill")) {
    for (int i = 0; i < 20000; i++) {
      if (what[0] == 'r')
        CT_CHECK(raise(SIGUSR1) == 0, "raise");
      else
        CT_CHECK(pthread_kill(pthread_self(), SIGUSR1) == 0, "pthread_kill");
    }
    CT_CHECK(hits == 20000, "handler ran %d times", (int)hits);
  } else if (!strcmp(what, "threads")) {
    /* glibc blocks every signal while a thread ends (after its start routine) */
    for (int i = 0; i < 3000; i++) {
      pthread_t s;
      CT_CHECK(pthread_create(&s, NULL, short_thread, NULL) == 0, "pthread_create");
      CT_CHECK(pthread_join(s, NULL) == 0, "pthread_join");
    }
  } else if (!strcmp(what, "abort")) {
    /* abort in a child, many times: each must die of SIGABRT. */
    for (int i = 0; i < 40; i++) {
      pid_t c = fork();
      if (c == 0) {
        pthread_t t2;
        atomic_store(&stop, 0);
        if (pthread_create(&t2, NULL, writer, &fd) != 0) _exit(2);
        for (volatile int k = 0; k < 20000 * (i % 8); k++) {
        }
        abort();
      }
      CT_CHECK(c > 0, "fork");
      int st;
      CT_CHECK(waitpid(c, &st, 0) == c, "waitpid");
      CT_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "child status %#x, want SIGABRT", st);
    }
  }
  atomic_store(&stop, 1);
  pthread_join(t, NULL);
  close(fd);
  unlink(path);
  return 0;
}
