// core/src/debug.cpp — the failure path of IOWQ_CHECK (see debug.hpp).
#include "debug.hpp"

#include <cstdlib>
#include <cstring>

#include "sys.hpp"

namespace iowq::detail {

void check_failed(const char* what, const char* expr, const char* file, int line) noexcept {
  // No stdio, no allocation: the check may fire in submit() inside a signal
  // handler, or with the pool's lock held.
  char num[16];
  int n = 0;
  unsigned v = line > 0 ? static_cast<unsigned>(line) : 0;
  do num[sizeof num - 1 - n++] = static_cast<char>('0' + v % 10); while ((v /= 10) && n < 15);
  const char* parts[] = {"iowq: invariant failed: ", what, ": ", expr, " (", file, ":",
                         num + sizeof num - n, ")\n"};
  size_t lens[] = {0, 0, 0, 0, 0, 0, 0, static_cast<size_t>(n), 0};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; ++i) {
    size_t len = lens[i] ? lens[i] : strlen(parts[i]);
    sys::write_all(2, parts[i], len);
  }
  abort();
}

}  // namespace iowq::detail
