// tests/shim/resolve_check.cpp — preloaded by check_resolve.py: real::resolve()
// (one walk of the loaded objects' hash tables, shim/sys/libc.cpp) must find
// for every name exactly what dlsym(RTLD_NEXT) finds from the same object.
// Prints "resolve_check: N names, D differ, E elsewhere" (E: found in an
// object other than libc) and exits 99 at once when one differs.
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sys/libc.hpp"

__attribute__((constructor)) static void resolve_check() {
  iowq::shim::real::resolve();
  const char* names[64];
  void* addrs[64];
  size_t n = iowq::shim::real::resolved(names, addrs, 64);
  int differ = 0, elsewhere = 0;
  for (size_t i = 0; i < n; ++i) {
    void* want = dlsym(RTLD_NEXT, strcmp(names[i], "fcntl64") == 0 && !addrs[i] ? "fcntl" : names[i]);
    if (want && want != addrs[i]) {
      fprintf(stderr, "resolve_check: %s: walk %p, dlsym %p\n", names[i], addrs[i], want);
      ++differ;
    }
    Dl_info info;
    if (want && dladdr(want, &info) && info.dli_fname && !strstr(info.dli_fname, "libc.so")) ++elsewhere;
  }
  fprintf(stderr, "resolve_check: %zu names, %d differ, %d elsewhere\n", n, differ, elsewhere);
  if (differ) _exit(99);
}
