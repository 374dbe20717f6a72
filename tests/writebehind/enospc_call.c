/* enospc_call.c — on a full filesystem a write fails at the call, exactly
 * as plain (docs/design.md §5 "A full disk"): the kernel's page cache
 * charges the space at write time, so a program can tell a deferred ENOSPC.
 *
 * Usage: enospc_call DIR MODE — DIR is a tiny filesystem (with_small_fs.sh).
 *   write|pwrite|writev|pwritev  fill DIR/a with 1..3000-byte calls of that
 *              kind: every call returns its full count until one returns
 *              short (then the next returns -1/ENOSPC) or -1/ENOSPC; fsync
 *              and close then return 0 and the file holds exactly the bytes
 *              the calls accepted.
 *   two_files  the same, alternating between DIR/a and DIR/b (one
 *              filesystem, two files).
 *   threads    the same from 4 threads at once, each to its own file.
 *   big_plain  64000 bytes to DIR/a in 1000-byte writes, then one 1 MiB
 *              write to DIR/b (more than write-behind takes, so it runs
 *              plain): it is short, and DIR/a keeps all its bytes (the
 *              write of DIR/b did not take the room DIR/a's came first to).
 *   fallocate  the same with fallocate(DIR/b) of the free space less 32 KiB
 *              instead of the big write: -1/ENOSPC, DIR/a complete.
 */
#include "wb.h"

#include <sys/uio.h>

#define SEED 5

static size_t free_bytes(const char* dir) {
  struct statvfs sv;
  CT_CHECK(statvfs(dir, &sv) == 0, "statvfs(%s): %s", dir, strerror(errno));
  return (size_t)sv.f_bavail * sv.f_frsize;
}

static int open_in(const char* dir, const char* name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CT_CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
  return fd;
}

/* One call of `kind` writing buf[0..n) at *pos (the fd's position moves
 * with it for write/writev; pwrite/pwritev give the offset). */
static ssize_t one_write(const char* kind, int fd, const char* buf, size_t n, off_t pos) {
  struct iovec v[2] = {{(void*)buf, n / 2}, {(void*)(buf + n / 2), n - n / 2}};
  if (!strcmp(kind, "pwrite")) return pwrite(fd, buf, n, pos);
  if (!strcmp(kind, "writev")) return writev(fd, v, 2);
  if (!strcmp(kind, "pwritev")) return pwritev(fd, v, 2, pos);
  return write(fd, buf, n);
}

/* Fills the filesystem through fds[0..nfd) in turn; checks the failure
 * comes at the call. acc[i]: bytes accepted by fds[i]. */
static void fill(const char* kind, const int* fds, int nfd, const char* stream, size_t total, size_t* acc) {
  size_t all = 0;
  for (int i = 0; i < nfd; i++) acc[i] = 0;
  for (int i = 0; i < 1000000; i++) {
    int k = i % nfd;
    size_t len = 1 + (size_t)((i * 617) % 3000);
    CT_CHECK(all + len <= total, "the filesystem took %zu bytes and is still not full", all);
    ssize_t r = one_write(kind, fds[k], stream + all, len, (off_t)acc[k]);
    if (r == (ssize_t)len) {
      acc[k] += len;
      all += len;
      continue;
    }
    if (r >= 0) {  // short: the filesystem is full now; the rest fails
      CT_CHECK(r > 0, "%s %d returned 0 of %zu", kind, i, len);
      acc[k] += (size_t)r;
      all += (size_t)r;
      ssize_t r2 = one_write(kind, fds[k], stream + all, len - (size_t)r, (off_t)acc[k]);
      if (r2 != -1 || errno != ENOSPC)
        ct_fail("%s %d: after a short count (%zd of %zu), the rest returned %zd (%s), want -1/ENOSPC", kind,
                i, r, len, r2, r2 < 0 ? strerrorname_np(errno) : "-");
    } else {
      CT_CHECK(errno == ENOSPC, "%s %d: -1/%s, want ENOSPC", kind, i, strerrorname_np(errno));
    }
    return;
  }
  ct_fail("never full");
}

/* fsync and close return 0 (no error was left for later) and the file is
 * exactly the n bytes of `want`. */
static void settle(int fd, const char* dir, const char* name, const char* want, size_t n) {
  CT_CHECK(fsync(fd) == 0, "fsync(%s): %s, want 0: the write's error was not reported at the call", name,
           strerrorname_np(errno));
  CT_CHECK(close(fd) == 0, "close(%s): %s", name, strerrorname_np(errno));
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  wb_expect_file(path, want, n);
}

struct filler {
  pthread_t t;
  const char *dir, *stream;
  size_t total, acc;
  int fd;
};

static void* fill_thread(void* p) {
  struct filler* f = p;
  fill("write", &f->fd, 1, f->stream, f->total, &f->acc);
  return NULL;
}

int main(int argc, char** argv) {
  ct_name = "enospc_call";
  CT_CHECK(argc == 3,
           "usage: enospc_call DIR write|pwrite|writev|pwritev|two_files|threads|big_plain|fallocate");
  const char *dir = argv[1], *mode = argv[2];
  ct_start_watchdog(50);
  ct_step = "setup";
  size_t total;
  char* stream = wb_overfill_stream(dir, SEED, &total);
  size_t free0 = free_bytes(dir);
  ct_step = mode;
  if (!strcmp(mode, "two_files")) {
    int fds[2] = {open_in(dir, "a"), open_in(dir, "b")};
    size_t acc[2];
    fill("write", fds, 2, stream, total, acc);
    /* the stream went out in turns: rebuild what each file got */
    char* want[2] = {malloc(total), malloc(total)};
    size_t got[2] = {0, 0}, all = 0;
    for (int i = 0; got[0] < acc[0] || got[1] < acc[1]; i++) {
      int k = i % 2;
      size_t len = 1 + (size_t)((i * 617) % 3000);
      if (len > acc[k] - got[k]) len = acc[k] - got[k];
      memcpy(want[k] + got[k], stream + all, len);
      got[k] += len;
      all += len;
      if (got[k] == acc[k] && got[1 - k] == acc[1 - k]) break;
    }
    settle(fds[0], dir, "a", want[0], acc[0]);
    settle(fds[1], dir, "b", want[1], acc[1]);
    free(want[0]);
    free(want[1]);
  } else if (!strcmp(mode, "threads")) {
    struct filler f[4];
    char name[4][8];
    for (int i = 0; i < 4; i++) {
      snprintf(name[i], sizeof name[i], "t%d", i);
      f[i] = (struct filler){.dir = dir, .stream = stream, .total = total, .fd = open_in(dir, name[i])};
      CT_CHECK(pthread_create(&f[i].t, NULL, fill_thread, &f[i]) == 0, "pthread_create");
    }
    for (int i = 0; i < 4; i++) CT_CHECK(pthread_join(f[i].t, NULL) == 0, "pthread_join");
    for (int i = 0; i < 4; i++) settle(f[i].fd, dir, name[i], stream, f[i].acc);
  } else if (!strcmp(mode, "big_plain") || !strcmp(mode, "fallocate")) {
    int a = open_in(dir, "a"), b = open_in(dir, "b");
    const size_t na = 64000;
    CT_CHECK(free0 >= na + 65536, "%zu bytes free, want more", free0);
    for (size_t off = 0; off < na; off += 1000)
      CT_CHECK(write(a, stream + off, 1000) == 1000, "write(a) at %zu: %s", off, strerror(errno));
    if (!strcmp(mode, "big_plain")) {
      size_t nb = 1 << 20;
      char* big = malloc(nb);
      CT_CHECK(big, "malloc");
      memset(big, 'B', nb);
      ssize_t r = write(b, big, nb);
      CT_CHECK(r > 0 && (size_t)r <= free0 - na, "write(b, 1 MiB): %zd (%s), want short, at most %zu", r,
               r < 0 ? strerrorname_np(errno) : "-", free0 - na);
      settle(b, dir, "b", big, (size_t)r);
      free(big);
    } else {
      int r = fallocate(b, 0, 0, (off_t)(free0 - 32768));
      CT_CHECK(r == -1 && errno == ENOSPC,
               "fallocate(b, %zu): %d (%s), want -1/ENOSPC (a's %zu bytes came first)", free0 - 32768, r,
               r < 0 ? strerrorname_np(errno) : "-", na);
      close(b);
    }
    settle(a, dir, "a", stream, na);
  } else {
    int fd = open_in(dir, "a");
    size_t acc;
    fill(mode, &fd, 1, stream, total, &acc);
    CT_CHECK(acc > free0 / 2, "only %zu of %zu free bytes were taken", acc, free0);
    settle(fd, dir, "a", stream, acc);
  }
  free(stream);
  return 0;
}
