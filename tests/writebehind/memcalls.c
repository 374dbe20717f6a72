/* memcalls.c — memory calls made while write-behind data is in flight
 * (docs/design.md §5 "The net") behave as plain and never trap.
 *
 * Writes 16 MiB behind (one worker: IOWQ_BOUND_MAX=1, so it stays in flight
 * for milliseconds), then maps, protects, remaps and unmaps anonymous memory
 * 200 times, checking every result, and moves a mapping with
 * mremap(MREMAP_DONTUNMAP) to a free address given as a hint (where the
 * kernel puts it), then closes the file. Plain: the calls work. Under the shim the case also asserts, from the report, that at most
 * two calls trapped (close and stat may race the drain's disarming): the
 * interposers of mmap, mprotect, mremap and munmap make the call from the
 * shim's text while the net is armed instead of through libc's wrapper,
 * which trapped each time (a SIGSYS round trip per call: git unmaps every
 * object it read).
 */
#include "wb.h"

#include <sys/mman.h>

#define PIECE (64 * 1024)
#define PIECES 256
#define ROUNDS 200

static char piece[PIECE];

int main(void) {
  ct_name = "memcalls";
  ct_start_watchdog(50);
  char path[256];
  int fd = ct_tmpfile(path, "mem");
  wb_fill(piece, 7, 0, sizeof piece);
  ct_step = "write";
  for (int i = 0; i < PIECES; i++)
    CT_CHECK(write(fd, piece, sizeof piece) == (ssize_t)sizeof piece, "write: %s", strerror(errno));
  ct_step = "memory calls";
  for (int i = 0; i < ROUNDS; i++) {
    char* p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CT_CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    p[0] = 1;
    p[4096] = 2;
    CT_CHECK(mprotect(p, 4096, PROT_READ) == 0, "mprotect: %s", strerror(errno));
    /* one mapping again: mremap cannot span two */
    CT_CHECK(mprotect(p, 4096, PROT_READ | PROT_WRITE) == 0, "mprotect: %s", strerror(errno));
    char* q = mremap(p, 8192, 16384, MREMAP_MAYMOVE);
    CT_CHECK(q != MAP_FAILED, "mremap: %s", strerror(errno));
    CT_CHECK(q[0] == 1 && q[4096] == 2, "mremap lost the contents");
    CT_CHECK(munmap(q, 16384) == 0, "munmap: %s", strerror(errno));
    /* Errors as plain: EINVAL for an unaligned address. */
    errno = 0;
    CT_CHECK(munmap(q + 1, 4096) == -1 && errno == EINVAL, "munmap(unaligned) errno %d", errno);
  }
  /* mremap(MREMAP_DONTUNMAP) takes a new address as a hint (Linux 5.7+): a
   * free one is where the kernel puts the mapping. */
  ct_step = "mremap hint";
  char* p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  char* hint = mmap(NULL, 16 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CT_CHECK(p != MAP_FAILED && hint != MAP_FAILED && munmap(hint, 16 * 4096) == 0, "mmap: %s",
           strerror(errno));
  hint += 8 * 4096;
  char* q = mremap(p, 4096, 4096, MREMAP_MAYMOVE | 4 /* MREMAP_DONTUNMAP */, hint);
  if (q == MAP_FAILED)
    CT_CHECK(errno == EINVAL, "mremap(DONTUNMAP): %s", strerror(errno)); /* old kernel */
  else
    CT_CHECK(q == hint, "mremap(DONTUNMAP) ignored the address hint: %p, not %p", (void*)q, (void*)hint);
  ct_step = "close";
  CT_CHECK(close(fd) == 0, "close: %s", strerror(errno));
  struct stat st;
  CT_CHECK(stat(path, &st) == 0 && st.st_size == (off_t)PIECE * PIECES, "size %lld", (long long)st.st_size);
  unlink(path);
  return 0;
}
