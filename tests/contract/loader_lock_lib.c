/* loader_lock_lib.c — libloaderlock.so for loader_lock: its constructor runs
 * inside dlopen, which holds the dynamic loader's lock meanwhile, and waits
 * there until told to go on. The fds come from the environment
 * (LOADER_LOCK_FDS="ready go"). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void hold_the_loader(void) {
  const char* fds = getenv("LOADER_LOCK_FDS");
  int ready, go;
  if (!fds || sscanf(fds, "%d %d", &ready, &go) != 2) return;
  char c = 'r';
  if (write(ready, &c, 1) != 1) return;
  (void)!read(go, &c, 1);
}
