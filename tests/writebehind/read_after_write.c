/* read_after_write.c — a read of a file sees every write made before it,
 * through any fd (docs/design.md §5: any I/O on the file is a sync point; mmap too).
 *
 * fd1 writes a stream of 1..200-byte pieces; fd2 (opened separately, before
 * the writes) follows with read() at its own offset, pread() at the start of
 * the last piece, and readv()/preadv() now and then; every result must be
 * exactly the stream's bytes. Then a fresh mmap() of the file sees the
 * whole stream. Modes (argv[1]):
 *   fds      the above (the contract as written);
 *   stdio    a FILE opened for reading before the writes reads after them
 *            (glibc's fread() calls read() internally, where no interposer
 *            sees it);
 *   mapped   a MAP_SHARED mapping made before the writes is read after them
 *            (a memory access is no call at all).
 * Without the shim all three hold: the page cache is the one copy.
 */
#include "wb.h"

#include <sys/mman.h>
#include <sys/uio.h>

#define PIECES 6000
#define SEED 4

static size_t piece_len(int i) { return 1 + (size_t)((i * 37) % 200); }

static void expect_bytes(const char* got, uint64_t off, size_t n, const char* what, int i) {
  for (size_t k = 0; k < n; k++)
    if (got[k] != wb_byte(SEED, off + k))
      ct_fail("piece %d: %s: byte %llu is stale or wrong", i, what, (unsigned long long)(off + k));
}

static void run_fds(const char* path, int fd1) {
  int fd2 = open(path, O_RDONLY | O_CLOEXEC);
  CT_CHECK(fd2 >= 0, "open: %s", strerror(errno));
  char buf[256], got[256];
  uint64_t off = 0, rpos = 0;
  for (int i = 0; i < PIECES; i++) {
    size_t len = piece_len(i);
    wb_fill(buf, SEED, off, len);
    CT_CHECK(write(fd1, buf, len) == (ssize_t)len, "write: %s", strerror(errno));
    off += len;
    if (i % 3 == 0) { /* pread of the piece just written */
      ssize_t r = pread(fd2, got, len, (off_t)(off - len));
      CT_CHECK(r == (ssize_t)len, "piece %d: pread = %zd, want %zu", i, r, len);
      expect_bytes(got, off - len, len, "pread", i);
    }
    if (i % 5 == 0) { /* read() at fd2's offset: everything up to off */
      size_t want = off - rpos > sizeof got ? sizeof got : off - rpos;
      ssize_t r = read(fd2, got, sizeof got);
      CT_CHECK(r == (ssize_t)want, "piece %d: read = %zd, want %zu", i, r, want);
      expect_bytes(got, rpos, want, "read", i);
      rpos += want;
    }
    if (i % 11 == 0) { /* vectored reads of the last piece */
      struct iovec iov[2] = {{got, len / 2}, {got + len / 2, len - len / 2}};
      ssize_t r = preadv(fd2, iov, 2, (off_t)(off - len));
      CT_CHECK(r == (ssize_t)len, "piece %d: preadv = %zd, want %zu", i, r, len);
      expect_bytes(got, off - len, len, "preadv", i);
    }
  }
  ct_step = "mmap after writes";
  char* m = mmap(NULL, off, PROT_READ, MAP_SHARED, fd2, 0);
  CT_CHECK(m != MAP_FAILED, "mmap: %s", strerror(errno));
  expect_bytes(m, 0, off, "mmap", PIECES);
  munmap(m, off);
  close(fd2);
}

static void run_stdio(const char* path, int fd1) {
  FILE* f = fopen(path, "rbe");
  CT_CHECK(f, "fopen: %s", strerror(errno));
  setvbuf(f, NULL, _IONBF, 0); /* every fread() is a read() of the file */
  char buf[256], got[256];
  uint64_t off = 0, rpos = 0;
  for (int i = 0; i < PIECES; i++) {
    size_t len = piece_len(i);
    wb_fill(buf, SEED, off, len);
    CT_CHECK(write(fd1, buf, len) == (ssize_t)len, "write: %s", strerror(errno));
    off += len;
    size_t want = off - rpos > sizeof got ? sizeof got : off - rpos;
    size_t r = fread(got, 1, want, f);
    clearerr(f); /* a short read sets EOF; the file grows */
    CT_CHECK(r == want, "piece %d: fread = %zu, want %zu (stale read)", i, r, want);
    expect_bytes(got, rpos, want, "fread", i);
    rpos += want;
  }
  fclose(f);
}

static void run_mapped(int fd1) {
  size_t total = 0;
  for (int i = 0; i < PIECES; i++) total += piece_len(i);
  /* The file must cover the mapping; the writes then overwrite it. */
  CT_CHECK(ftruncate(fd1, (off_t)total) == 0, "ftruncate: %s", strerror(errno));
  char* m = mmap(NULL, total, PROT_READ, MAP_SHARED, fd1, 0);
  CT_CHECK(m != MAP_FAILED, "mmap: %s", strerror(errno));
  char buf[256];
  uint64_t off = 0;
  for (int i = 0; i < PIECES; i++) {
    size_t len = piece_len(i);
    wb_fill(buf, SEED, off, len);
    CT_CHECK(write(fd1, buf, len) == (ssize_t)len, "write: %s", strerror(errno));
    expect_bytes(m + off, off, len, "existing mapping", i);
    off += len;
  }
  munmap(m, total);
}

int main(int argc, char** argv) {
  ct_name = "read_after_write";
  const char* mode = argc > 1 ? argv[1] : "fds";
  ct_start_watchdog(50);
  char path[256];
  int fd1 = ct_tmpfile(path, "raw");
  ct_step = mode;
  if (!strcmp(mode, "fds"))
    run_fds(path, fd1);
  else if (!strcmp(mode, "stdio"))
    run_stdio(path, fd1);
  else if (!strcmp(mode, "mapped"))
    run_mapped(fd1);
  else
    ct_fail("usage: read_after_write fds|stdio|mapped");
  CT_CHECK(close(fd1) == 0, "close: %s", strerror(errno));
  unlink(path);
  return 0;
}
