/* loader_lock.c — contract: an interposed call never waits for the dynamic
 * loader's lock where the plain call would not (docs/design.md §4 "Start-up").
 *
 * Plain sigprocmask takes no lock. The shim looks up some real functions on
 * their first call; with dlsym that takes the loader's lock, which dlopen
 * holds while a library's constructor runs, and which exit() takes too: a
 * signal handler calling exit() during such a first call deadlocked
 * (wb.exit_in_close hung once in ~30 runs). Here another thread holds the
 * lock inside dlopen while this one makes its first sigprocmask and
 * pthread_sigmask calls; they must return at once.
 */
#include "contract.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>

static const char* lib;

static void* opener(void* arg) {
  (void)arg;
  return dlopen(lib, RTLD_NOW | RTLD_LOCAL);
}

int main(int argc, char** argv) {
  ct_name = "loader_lock";
  ct_start_watchdog(20);
  CT_CHECK(argc == 2, "usage: loader_lock LIB");
  lib = argv[1];
  int ready[2], go[2];
  CT_CHECK(pipe(ready) == 0 && pipe(go) == 0, "pipe");
  char env[64];
  snprintf(env, sizeof env, "%d %d", ready[1], go[0]);
  setenv("LOADER_LOCK_FDS", env, 1);

  ct_step = "another thread holds the loader's lock inside dlopen";
  pthread_t t;
  CT_CHECK(pthread_create(&t, NULL, opener, NULL) == 0, "pthread_create");
  char c;
  CT_CHECK(read(ready[0], &c, 1) == 1, "constructor did not start");

  ct_step = "first sigprocmask and pthread_sigmask while it is held";
  alarm(5);  /* SIGALRM's default action: a call stuck on the lock fails the test */
  sigset_t none, old;
  sigemptyset(&none);
  CT_CHECK(sigprocmask(SIG_BLOCK, &none, &old) == 0, "sigprocmask");
  CT_CHECK(pthread_sigmask(SIG_BLOCK, &none, &old) == 0, "pthread_sigmask");
  alarm(0);

  CT_CHECK(write(go[1], "g", 1) == 1, "release the constructor");
  void* h;
  CT_CHECK(pthread_join(t, &h) == 0 && h != NULL, "dlopen: %s", dlerror());
  return 0;
}
