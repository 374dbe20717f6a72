/* ofd_errors.c — a deferred write error is reported once per open file
 * description, as the kernel reports writeback errors (docs/design.md §5
 * "Errors"), and one failure drops no unrelated data.
 *
 * Usage: ofd_errors DIR MODE — DIR is a tiny filesystem (with_small_fs.sh).
 * A = open(DIR/data), C = dup(A) (one description), B = open(DIR/data) (a
 * second one). Another process fills the filesystem between two writes on
 * A (wb_fill_behind_back: plain, the second is short and the rest fails
 * with ENOSPC; write-behind, which takes a write only when the filesystem
 * has room, does not see that fill and takes it whole — the residual of
 * docs/design.md §5 "A full disk"). "Deferred" below: no write on A
 * failed, so the error is still to come.
 *   two_opens   lseek/fstat/ioctl(FIONREAD)/fcntl on A take nothing; fsync(C)
 *               reports ENOSPC iff deferred, fsync(A) then 0 (C's
 *               description); fsync(B) ENOSPC once under write-behind (its
 *               own description: the kernel's errseq rule; plain's
 *               synchronous error never reaches B), then 0; a description
 *               opened after that (D) is told nothing; every close 0.
 *   close_dup   close(C) returns 0 while A remains (the description can
 *               still be told through A); fsync(A) then reports iff deferred.
 *   close_last  close(C) 0; close(A), its last fd, reports iff deferred.
 *   moved       fsync(C) reports iff deferred; close(C) 0; fsync(A) 0 (the
 *               description was told, whichever of its fds remains).
 *   other_write after the failure is known (lseek(A) waits for it), B
 *               pwrites 100 bytes at offset 0 (room needed: none): they
 *               are written, never failed with A's error (B's writes did
 *               not fail; plain, only A's write did); fsync(B) then
 *               reports it under write-behind (errseq), fsync(A) iff
 *               deferred.
 *   no_kcmp     kcmp() filtered to EPERM on this thread (seccomp), so the
 *               shim cannot tell descriptions apart: every fd of the file
 *               counts as one (docs/design.md §5): fsync(C) reports iff
 *               deferred, then fsync(A), fsync(B) and every close 0.
 *   later_writes after the failure, pwrite of 100 bytes at offset 0 (room
 *               needed: none) through A: it may report the deferred error
 *               once (then it is repeated), but it lands: the file starts
 *               with those bytes (page-cache semantics: a failed write does
 *               not drop the writes queued after it).
 */
#include "wb.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

static const char* mode;

/* r must be `ok`, or -1/ENOSPC when may_fail; returns 1 if it was ENOSPC. */
static int ok_or_enospc(long r, long ok, int may_fail, const char* what) {
  if (r == -1 && errno == ENOSPC && may_fail) return 1;
  if (r != ok)
    ct_fail("%s: %s: got %ld (%s), want %ld%s", mode, what, r, r < 0 ? strerrorname_np(errno) : "-", ok,
            may_fail ? " or -1/ENOSPC" : "");
  return 0;
}

static void expect_enospc_iff(long r, long ok, int want_err, const char* what) {
  int got = ok_or_enospc(r, ok, 1, what);
  if (got != want_err)
    ct_fail("%s: %s: %s, want %s", mode, what, got ? "-1/ENOSPC" : "success",
            want_err ? "-1/ENOSPC (the deferred error, once for this description)"
                     : "success (no error for this description)");
}

/* kcmp fails with EPERM on this thread from now on; 0 when it does. */
static int filter_kcmp(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_kcmp, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof f / sizeof f[0], f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) return -1;
  pid_t p = getpid();
  return syscall(SYS_kcmp, p, p, 0, 0, 1) == -1 && errno == EPERM ? 0 : -1;
}

int main(int argc, char** argv) {
  ct_name = "ofd_errors";
  CT_CHECK(argc == 3, "usage: ofd_errors DIR two_opens|close_dup|close_last|moved|later_writes");
  const char* dir = argv[1];
  mode = argv[2];
  const int wb = getenv("IOWQ_WRITE_BEHIND") != NULL;
  ct_start_watchdog(50);
  ct_step = "setup";
  size_t total;
  char* stream = wb_overfill_stream(dir, 11, &total);
  char path[512];
  snprintf(path, sizeof path, "%s/data", dir);
  int a = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CT_CHECK(a >= 0, "open %s: %s", path, strerror(errno));
  int c = dup(a);
  CT_CHECK(c >= 0, "dup: %s", strerror(errno));
  int b = open(path, O_RDWR | O_CLOEXEC);
  CT_CHECK(b >= 0, "open %s: %s", path, strerror(errno));

  if (!strcmp(mode, "no_kcmp") && filter_kcmp() != 0) {
    fprintf(stderr, "ofd_errors: SKIP: cannot filter kcmp with seccomp: %s\n", strerror(errno));
    return 77;
  }
  ct_step = "fill";
  size_t accepted;
  int err_at_write = wb_fill_behind_back(dir, a, stream, &accepted);
  const int deferred = !err_at_write;
  ct_step = mode;
  if (!strcmp(mode, "two_opens")) {
    struct stat st;
    int n = 0;
    ok_or_enospc(lseek(a, 0, SEEK_CUR), (long)accepted, 0, "lseek(A)");
    ok_or_enospc(fstat(a, &st), 0, 0, "fstat(A)");
    ok_or_enospc(ioctl(a, FIONREAD, &n), 0, 0, "ioctl(A, FIONREAD)");
    CT_CHECK(fcntl(a, F_GETFL) >= 0, "fcntl(A, F_GETFL): %s", strerror(errno));
    expect_enospc_iff(fsync(c), 0, deferred, "fsync(C), C = dup(A)");
    expect_enospc_iff(fsync(a), 0, 0, "fsync(A) after fsync(C)");
    expect_enospc_iff(fsync(b), 0, wb, "fsync(B), a second open of the file");
    expect_enospc_iff(fsync(b), 0, 0, "second fsync(B)");
    int d = open(path, O_RDWR | O_CLOEXEC);
    CT_CHECK(d >= 0, "open %s: %s", path, strerror(errno));
    expect_enospc_iff(fsync(d), 0, 0, "fsync(D), opened after the error was reported");
    expect_enospc_iff(close(d), 0, 0, "close(D)");
    expect_enospc_iff(close(c), 0, 0, "close(C)");
    expect_enospc_iff(close(a), 0, 0, "close(A)");
    expect_enospc_iff(close(b), 0, 0, "close(B)");
  } else if (!strcmp(mode, "no_kcmp")) {
    expect_enospc_iff(close(c), 0, 0, "close(C) while A remains");
    expect_enospc_iff(fsync(a), 0, deferred, "fsync(A)");
    expect_enospc_iff(fsync(b), 0, 0, "fsync(B): without kcmp, the same description as A");
    expect_enospc_iff(close(a), 0, 0, "close(A)");
    expect_enospc_iff(close(b), 0, 0, "close(B)");
  } else if (!strcmp(mode, "close_dup")) {
    expect_enospc_iff(close(c), 0, 0, "close(C) while A remains");
    expect_enospc_iff(fsync(a), 0, deferred, "fsync(A)");
    expect_enospc_iff(close(a), 0, 0, "close(A)");
    close(b);
  } else if (!strcmp(mode, "close_last")) {
    expect_enospc_iff(close(c), 0, 0, "close(C) while A remains");
    expect_enospc_iff(close(a), 0, deferred, "close(A), the description's last fd");
    close(b);
  } else if (!strcmp(mode, "moved")) {
    expect_enospc_iff(fsync(c), 0, deferred, "fsync(C)");
    expect_enospc_iff(close(c), 0, 0, "close(C)");
    expect_enospc_iff(fsync(a), 0, 0, "fsync(A) after the description was told through C");
    expect_enospc_iff(close(a), 0, 0, "close(A)");
    close(b);
  } else if (!strcmp(mode, "other_write")) {
    char z[100];
    memset(z, 'Z', sizeof z);
    ok_or_enospc(lseek(a, 0, SEEK_CUR), (long)accepted, 0, "lseek(A)");
    expect_enospc_iff(pwrite(b, z, sizeof z, 0), sizeof z, 0, "pwrite(B) at 0 after A's write failed");
    expect_enospc_iff(fsync(b), 0, wb, "fsync(B)");
    expect_enospc_iff(fsync(a), 0, deferred, "fsync(A)");
    close(c);
    close(a);
    close(b);
    size_t len;
    char* data = wb_slurp(path, &len);
    CT_CHECK(len >= sizeof z && !memcmp(data, z, sizeof z), "B's write at 0 did not land");
    free(data);
  } else if (!strcmp(mode, "later_writes")) {
    char z[100];
    memset(z, 'Z', sizeof z);
    ssize_t r = pwrite(a, z, sizeof z, 0);
    if (r == -1 && errno == ENOSPC && deferred) r = pwrite(a, z, sizeof z, 0); /* the report */
    CT_CHECK(r == (ssize_t)sizeof z, "pwrite at 0 after the failure: %zd (%s)", r,
             r < 0 ? strerrorname_np(errno) : "short");
    ok_or_enospc(fsync(a), 0, 1, "fsync(A)");
    close(c);
    close(a);
    close(b);
    size_t len;
    char* data = wb_slurp(path, &len);
    CT_CHECK(len >= sizeof z, "the file has %zu bytes", len);
    for (size_t k = 0; k < sizeof z; k++)
      if (data[k] != 'Z')
        ct_fail("byte %zu is '%c', want 'Z': a write queued after the failed one was dropped", k, data[k]);
    for (size_t k = sizeof z; k < len; k++)
      if (data[k] != stream[k]) ct_fail("byte %zu differs from what was written", k);
    free(data);
  } else {
    ct_fail("unknown mode %s", mode);
  }
  free(stream);
  unlink(path);
  return 0;
}
