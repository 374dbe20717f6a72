/* efbig_stepaside.c — under a file size limit, a write crossing it returns
 * its partial count and then EFBIG at the write itself, with SIGXFSZ in the
 * calling thread, exactly as without the shim: write-behind steps aside
 * while RLIMIT_FSIZE is in force (a deferred EFBIG could not give back the
 * partial count).
 *
 * Phases: (0) no limit: small writes (write-behind takes them); (1)
 * setrlimit(RLIMIT_FSIZE, 100000) with SIGXFSZ ignored: 4 KiB writes up to
 * and across the limit — 24 full, one of 1696, then -1/EFBIG; pwrite and
 * writev across it likewise; (2) a SIGXFSZ handler runs in the writing
 * thread before the failing write returns; (3) the limit lifted again:
 * writes past 100000 succeed (write-behind back on); (4) a child execs this
 * program with the limit already set before exec (inherited, set with the
 * raw syscall so no interposer saw it) and repeats phase 1 there.
 */
#include "wb.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define LIMIT 100000
#define SEED 5

static volatile sig_atomic_t xfsz_count;
static volatile pid_t xfsz_tid;

static void on_xfsz(int sig) {
  (void)sig;
  xfsz_count++;
  xfsz_tid = gettid();
}

static void set_limit(rlim_t cur) {
  struct rlimit rl;
  CT_CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0, "getrlimit: %s", strerror(errno));
  rl.rlim_cur = cur;
  CT_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit: %s", strerror(errno));
}

/* Phase 1 on `path` (empty): the file ends with exactly LIMIT stream bytes. */
static void cross_limit(const char* path) {
  char buf[4096];
  int fd = open(path, O_RDWR | O_TRUNC | O_CLOEXEC);
  CT_CHECK(fd >= 0, "open: %s", strerror(errno));
  size_t off = 0;
  for (int i = 0; i < 24; i++, off += sizeof buf) {
    wb_fill(buf, SEED, off, sizeof buf);
    CT_EXPECT_RET(write(fd, buf, sizeof buf), sizeof buf, "write below the limit");
  }
  wb_fill(buf, SEED, off, sizeof buf);
  CT_EXPECT_RET(write(fd, buf, sizeof buf), LIMIT - 24 * 4096, "write across the limit");
  CT_EXPECT_ERR(write(fd, buf, sizeof buf), EFBIG, "write at the limit");
  CT_EXPECT_ERR(write(fd, buf, 1), EFBIG, "1-byte write at the limit");

  /* pwrite across: the bytes below the limit are rewritten (same data). */
  wb_fill(buf, SEED, LIMIT - 1000, sizeof buf);
  CT_EXPECT_RET(pwrite(fd, buf, sizeof buf, LIMIT - 1000), 1000, "pwrite across the limit");
  CT_EXPECT_ERR(pwrite(fd, buf, 10, LIMIT), EFBIG, "pwrite at the limit");
  /* writev across: 10 of 2 x 10 bytes. */
  CT_EXPECT_RET(lseek(fd, LIMIT - 10, SEEK_SET), LIMIT - 10, "lseek");
  wb_fill(buf, SEED, LIMIT - 10, 20);
  struct iovec iov[2] = {{buf, 10}, {buf + 10, 10}};
  CT_EXPECT_RET(writev(fd, iov, 2), 10, "writev across the limit");
  CT_EXPECT_ERR(writev(fd, iov, 2), EFBIG, "writev at the limit");
  CT_EXPECT_RET(lseek(fd, 0, SEEK_CUR), LIMIT, "offset after the failed writes");
  CT_CHECK(close(fd) == 0, "close: %s", strerror(errno));
  wb_expect_stream(path, SEED, LIMIT);
}

static int inherited(const char* path) {
  ct_name = "efbig_stepaside(inherited)";
  ct_step = "phase 4: limit inherited across exec";
  struct rlimit rl;
  CT_CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur == LIMIT, "limit not inherited");
  cross_limit(path);
  return 0;
}

int main(int argc, char** argv) {
  ct_name = "efbig_stepaside";
  if (argc == 3 && !strcmp(argv[1], "inherited")) return inherited(argv[2]);
  ct_start_watchdog(50);
  char path[256], path0[256];
  char buf[4096];

  ct_step = "phase 0: no limit";
  int fd0 = ct_tmpfile(path0, "efbig0");
  for (size_t off = 0; off < 2 * LIMIT; off += 1000) {
    wb_fill(buf, SEED, off, 1000);
    CT_EXPECT_RET(write(fd0, buf, 1000), 1000, "write without a limit");
  }
  CT_CHECK(close(fd0) == 0, "close: %s", strerror(errno));
  wb_expect_stream(path0, SEED, 2 * LIMIT);

  ct_step = "phase 1: across the limit, SIGXFSZ ignored";
  int fd = ct_tmpfile(path, "efbig");
  close(fd);
  signal(SIGXFSZ, SIG_IGN);
  set_limit(LIMIT);
  cross_limit(path);

  ct_step = "phase 2: SIGXFSZ handler in the writing thread";
  struct sigaction sa = {0};
  sa.sa_handler = on_xfsz;
  sigemptyset(&sa.sa_mask);
  CT_CHECK(sigaction(SIGXFSZ, &sa, NULL) == 0, "sigaction: %s", strerror(errno));
  fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  CT_CHECK(fd >= 0, "open: %s", strerror(errno));
  CT_EXPECT_ERR(write(fd, buf, 100), EFBIG, "append at the limit");
  CT_CHECK(xfsz_count == 1, "SIGXFSZ handler ran %d times before write returned, want 1", (int)xfsz_count);
  CT_CHECK(xfsz_tid == gettid(), "SIGXFSZ ran in thread %d, not the writer %d", (int)xfsz_tid, (int)gettid());
  signal(SIGXFSZ, SIG_IGN);

  ct_step = "phase 3: limit lifted";
  set_limit(RLIM_INFINITY);
  for (size_t off = LIMIT; off < 3 * LIMIT; off += 1000) {
    wb_fill(buf, SEED, off, 1000);
    CT_EXPECT_RET(write(fd, buf, 1000), 1000, "write after the limit was lifted");
  }
  CT_CHECK(close(fd) == 0, "close: %s", strerror(errno));
  wb_expect_stream(path, SEED, 3 * LIMIT);

  ct_step = "phase 4: child with the limit set before exec";
  pid_t pid = fork();
  CT_CHECK(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    alarm(30);
    struct rlimit rl;
    getrlimit(RLIMIT_FSIZE, &rl);
    rl.rlim_cur = LIMIT;
    if (syscall(SYS_prlimit64, 0, RLIMIT_FSIZE, &rl, NULL) != 0) _exit(2);
    char* av[] = {argv[0], "inherited", path, NULL};
    execv("/proc/self/exe", av);
    _exit(127);
  }
  int st;
  CT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
  CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed (status 0x%x)", st);
  wb_expect_stream(path, SEED, LIMIT);
  unlink(path);
  unlink(path0);
  return 0;
}
