/* wb.h — helpers shared by the write-behind tests in tests/writebehind/.
 *
 * Each program encodes one point of the write-behind contract (docs/design.md §5) as
 * plain kernel behaviour: it passes without the shim (".plain") and must
 * pass the same under LD_PRELOAD=libiowq.so with IOWQ_WRITE_BEHIND=1
 * (".iowq"), where run_contract.py also checks from the JSON report that
 * write-behind really took writes. Exit status: 0 pass, 1 fail (one line on
 * stderr), 77 skip. The failure/skip/watchdog machinery is contract.h's.
 *
 * Verification reads files with stdio: fopen() is a path sync point, and
 * fread()'s libc-internal read() is invisible to the shim, so what is
 * checked is the kernel's view of the file, not the shim's.
 */
#ifndef IOWQ_WB_H
#define IOWQ_WB_H

#include "contract.h"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

/* Byte `i` of the deterministic test stream number `seed`. */
static inline char wb_byte(unsigned seed, uint64_t i) {
  uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)seed << 32);
  x ^= x >> 29;
  return (char)('!' + (x % 90));
}

__attribute__((unused)) static void wb_fill(char* buf, unsigned seed, uint64_t off, size_t n) {
  for (size_t k = 0; k < n; k++) buf[k] = wb_byte(seed, off + k);
}

/* A number in [0, n) from the xorshift64 stream `*state` (seeded non-zero):
 * the same sequence in every run, with and without the shim. */
__attribute__((unused)) static uint32_t wb_rnd(uint64_t* state, uint32_t n) {
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *state = x;
  return (uint32_t)(x % n);
}

/* Reads the whole file at `path` with stdio (see above); returns a malloc'ed
 * buffer (NUL-terminated) and its length in *len. */
__attribute__((unused)) static char* wb_slurp(const char* path, size_t* len) {
  FILE* f = fopen(path, "rbe");
  if (!f) ct_fail("fopen(%s): %s", path, strerror(errno));
  size_t cap = 1 << 16, n = 0;
  char* buf = malloc(cap + 1);
  CT_CHECK(buf, "malloc");
  for (int guard = 0; guard < 1 << 20; guard++) {
    if (n == cap) {
      cap *= 2;
      buf = realloc(buf, cap + 1);
      CT_CHECK(buf, "realloc");
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
  }
  CT_CHECK(!ferror(f), "fread(%s): %s", path, strerror(errno));
  fclose(f);
  buf[n] = 0;
  *len = n;
  return buf;
}

/* Fails unless the file at `path` holds exactly want[0..n). */
__attribute__((unused)) static void wb_expect_file(const char* path, const char* want, size_t n) {
  size_t got;
  char* buf = wb_slurp(path, &got);
  if (got != n) ct_fail("%s: %zu bytes, want %zu", path, got, n);
  for (size_t k = 0; k < n; k++)
    if (buf[k] != want[k])
      ct_fail("%s: byte %zu is 0x%02x, want 0x%02x", path, k, (unsigned char)buf[k], (unsigned char)want[k]);
  free(buf);
}

/* Fails unless the file at `path` is exactly `n` bytes of stream `seed`. */
__attribute__((unused)) static void wb_expect_stream(const char* path, unsigned seed, size_t n) {
  size_t got;
  char* buf = wb_slurp(path, &got);
  if (got != n) ct_fail("%s: %zu bytes, want %zu", path, got, n);
  for (size_t k = 0; k < n; k++)
    if (buf[k] != wb_byte(seed, k)) ct_fail("%s: byte %zu differs from the stream", path, k);
  free(buf);
}

/* For a tiny filesystem at `dir` (with_small_fs.sh): a malloc'ed stream
 * `seed` of twice its free space and then some, its length in *total. */
__attribute__((unused)) static char* wb_overfill_stream(const char* dir, unsigned seed, size_t* total) {
  struct statvfs sv;
  CT_CHECK(statvfs(dir, &sv) == 0, "statvfs(%s): %s", dir, strerror(errno));
  uint64_t cap = (uint64_t)sv.f_bavail * sv.f_frsize;
  CT_CHECK(cap > 0 && cap <= (64u << 20), "%s: %llu bytes free; want a tiny filesystem", dir,
           (unsigned long long)cap);
  *total = (size_t)(2 * cap + 65536);
  char* stream = malloc(*total);
  CT_CHECK(stream, "malloc");
  wb_fill(stream, seed, 0, *total);
  return stream;
}

/* A deferred write that fails: the residual of docs/design.md §5 "A full
 * disk". Write-behind takes a write only when its filesystem has room for
 * it, reading the free space (fstatfs) when the file's first write is taken
 * and again only once half the room it found is charged; what another
 * process takes in between is not seen. So: a first write of 100 bytes
 * (the shim reads the room), another process fills the filesystem (fork
 * waits for the 100 bytes), then one write of 8000 bytes, which the page
 * left after the 100 cannot hold. Plain (and if write-behind saw the full
 * disk) that write is short and the rest fails with ENOSPC at the call:
 * returns 1. Under write-behind it is taken whole and fails later: returns
 * 0. *accepted: the bytes the writes accepted. */
__attribute__((unused)) static int wb_fill_behind_back(const char* dir, int fd, const char* stream,
                                                       size_t* accepted) {
  CT_CHECK(write(fd, stream, 100) == 100, "first write: %s", strerror(errno));
  char path[512];
  snprintf(path, sizeof path, "%s/filler", dir);
  pid_t p = fork();
  CT_CHECK(p >= 0, "fork: %s", strerror(errno));
  if (p == 0) {
    /* O_SYNC: never written behind, so the child meets the full disk itself */
    int f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_SYNC | O_CLOEXEC, 0644);
    if (f < 0) _exit(2);
    static char block[4096];
    for (int i = 0; i < 1 << 16; i++)
      if (write(f, block, sizeof block) != (ssize_t)sizeof block) _exit(0);
    _exit(3);
  }
  int st;
  CT_CHECK(waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0, "filler child: status %d", st);
  *accepted = 100;
  ssize_t r = write(fd, stream + 100, 8000);
  if (r == -1) {
    CT_CHECK(errno == ENOSPC, "write after the fill: %s, want ENOSPC", strerrorname_np(errno));
    return 1;
  }
  CT_CHECK(r > 0, "write after the fill returned 0");
  *accepted += (size_t)r;
  if (r == 8000) return 0;
  r = write(fd, stream + *accepted, 8000 - (size_t)(*accepted - 100));
  CT_CHECK(r == -1 && errno == ENOSPC, "write after a short one: %zd (%s), want -1/ENOSPC", r,
           r < 0 ? strerrorname_np(errno) : "-");
  return 1;
}

#endif
