/* seccomp_routes.c — contract: a sandbox the program sets up is never
 * bypassed nor tripped by the shim, whichever way the program enters it
 * (docs/design.md §4 "seccomp"). One route per run (argv[1]):
 *
 *   strict_syscall  a thread enters SECCOMP_MODE_STRICT with syscall(SYS_seccomp)
 *                   and blocks in read on a pipe: it gets the bytes (any other
 *                   syscall in that thread would kill it).
 *   filter_syscall  syscall(SYS_seccomp) sets a filter failing fsync with EPERM on
 *                   the main thread: fsync fails with EPERM there (a pool worker is
 *                   not under the filter), and in a thread the main thread makes
 *                   afterwards (it inherits the filter), which also feeds a
 *                   blocking pipe read of the main thread.
 *   filter_prctl    the same filter through syscall(SYS_prctl, PR_SET_SECCOMP).
 *   inherit         the same filter through libc's prctl(); the inheriting thread.
 *   libseccomp      the same filter through libseccomp's seccomp_load (dlopen'ed;
 *                   skips without libseccomp.so.2).
 *   asm             the same filter set by a new thread with its own syscall
 *                   instruction (no libc: the shim cannot see it; x86-64 only).
 *   tsync_threads   a TSYNC filter that kills the process on prctl; a thread made
 *                   before it then creates a thread, which writes to a pipe and
 *                   ends; both end (no thread may make a prctl it did not ask for).
 *   fork            a filter that kills the process on prctl (through syscall()),
 *                   then fork: the child (under the filter too) writes to a pipe
 *                   and exits 0.
 *   passthrough     syscall() with every other number is libc's: six arguments (the
 *                   sixth on the stack: mmap's offset), errno, and the seccomp
 *                   calls that enter no sandbox (a query, a filter flag probe).
 *   tsync           SECCOMP_FILTER_FLAG_TSYNC: every thread, the shim's too, gets a
 *                   filter that kills the process on clone/clone3 and fails fsync
 *                   and the positioned writes with EPERM, after a file write and a
 *                   pread (the pool, where there is one, is running). Then fsync
 *                   fails with EPERM, a blocking pipe read fed by a thread made
 *                   before the filter gets its bytes (no thread may be created
 *                   now), and the file holds what was written before the filter.
 */
#include "contract.h"

#include <dlfcn.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int g_file = -1;

static void set_filter(const char* route) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_fsync, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_fdatasync, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
  ct_step = "set the filter";
  CT_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
  long r;
  errno = ERANGE; /* a successful call leaves errno alone */
  if (!strcmp(route, "filter_syscall"))
    r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
  else if (!strcmp(route, "asm"))
    r = ct_hidden_seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog);
  else if (!strcmp(route, "filter_prctl"))
    r = syscall(SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
  else
    r = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
  if (r != 0 && errno == EINVAL) ct_skip("seccomp filters not supported");
  CT_CHECK(r == 0, "%s: %s", route, strerror(errno));
  CT_CHECK(errno == ERANGE, "%s succeeded but changed errno to %s", route, strerrorname_np(errno));
}

/* libseccomp through dlopen: no build dependency on its headers. */
static void set_filter_libseccomp(void) {
  void* h = dlopen("libseccomp.so.2", RTLD_NOW);
  if (!h) ct_skip("no libseccomp.so.2");
  void* (*init)(uint32_t) = (void* (*)(uint32_t))dlsym(h, "seccomp_init");
  int (*rule_add)(void*, uint32_t, int, unsigned, ...) =
      (int (*)(void*, uint32_t, int, unsigned, ...))dlsym(h, "seccomp_rule_add");
  int (*load)(void*) = (int (*)(void*))dlsym(h, "seccomp_load");
  CT_CHECK(init && rule_add && load, "libseccomp symbols");
  ct_step = "seccomp_load";
  void* ctx = init(0x7fff0000U); /* SCMP_ACT_ALLOW */
  CT_CHECK(ctx, "seccomp_init");
  const uint32_t eperm = 0x00050000U | EPERM; /* SCMP_ACT_ERRNO(EPERM) */
  CT_CHECK(rule_add(ctx, eperm, SYS_fsync, 0) == 0 && rule_add(ctx, eperm, SYS_fdatasync, 0) == 0,
           "seccomp_rule_add");
  int r = load(ctx);
  CT_CHECK(r == 0, "seccomp_load: %s", strerror(-r));
}

static void expect_fsync_denied(const char* where) {
  ct_step = where;
  errno = 0;
  CT_EXPECT_ERR(fsync(g_file), EPERM, "fsync under the filter");
  CT_EXPECT_ERR(fdatasync(g_file), EPERM, "fdatasync under the filter");
}

/* ---- strict_syscall ----------------------------------------------------- */
struct strict_arg {
  int rfd, repfd;
  atomic_int failed;
};
static void* strict_thread(void* p) {
  struct strict_arg* a = p;
  pid_t tid = gettid();
  (void)!write(a->repfd, &tid, sizeof tid);
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL) != 0) {
    atomic_store(&a->failed, 1);
    char m = 'E';
    (void)!write(a->repfd, &m, 1);
    return NULL;
  }
  char b[8];
  long n = read(a->rfd, b, sizeof b);
  char m = (char)('0' + (n < 0 ? 0 : n > 9 ? 9 : n));
  (void)!write(a->repfd, &m, 1);
  syscall(SYS_exit, 0); /* strict mode: no exit_group, no pthread teardown */
  return NULL;
}
static void route_strict(void) {
  int data[2], rep[2];
  CT_CHECK(pipe2(data, O_CLOEXEC) == 0 && pipe2(rep, O_CLOEXEC) == 0, "pipe2");
  struct strict_arg a = {data[0], rep[1], 0};
  pthread_t t = ct_spawn_masked(strict_thread, &a);
  ct_step = "wait for the strict thread to block in read";
  pid_t tid;
  CT_EXPECT_RET(read(rep[0], &tid, sizeof tid), sizeof tid, "the strict thread's tid");
  ct_wait_sleeping_or(tid, &a.failed);
  char probe;
  ct_write_all(data[1], "ab", 2, "feed the strict thread");
  ct_step = "the strict thread's report";
  CT_EXPECT_RET(read(rep[0], &probe, 1), 1, "report");
  if (probe == 'E') ct_skip("seccomp strict mode not permitted");
  CT_CHECK(probe == '2', "the strict thread read %c bytes, want 2", probe);
  pthread_join(t, NULL);
}

/* ---- filters on the main thread, inherited by a thread made after ------- */
struct feed_arg {
  int wfd;
  int fsync_errno;
  long fsync_ret;
};
static void* feed_thread(void* p) {
  struct feed_arg* a = p;
  errno = 0;
  a->fsync_ret = fsync(g_file);
  a->fsync_errno = errno;
  (void)!write(a->wfd, "xy", 2);
  return NULL;
}
static void route_filter(const char* route) {
  if (!strcmp(route, "libseccomp"))
    set_filter_libseccomp();
  else
    set_filter(route);
  expect_fsync_denied("fsync on the sandboxed thread");
  int data[2];
  CT_CHECK(pipe2(data, O_CLOEXEC) == 0, "pipe2");
  struct feed_arg a = {data[1], 0, 0};
  pthread_t t;
  ct_step = "a thread made by the sandboxed thread";
  CT_CHECK(pthread_create(&t, NULL, feed_thread, &a) == 0, "pthread_create");
  char b[4];
  CT_EXPECT_RET(read(data[0], b, sizeof b), 2, "blocking read fed by the inheriting thread");
  pthread_join(t, NULL);
  errno = a.fsync_errno;
  CT_EXPECT_ERR(a.fsync_ret, EPERM, "fsync on the inheriting thread");
}

static void* asm_thread(void* p) {
  route_filter(p);
  return NULL;
}

/* ---- tsync ----------------------------------------------------------------- */
struct echo_arg {
  int go, out;
};
static void* echo_thread(void* p) {
  struct echo_arg* a = p;
  char c;
  if (read(a->go, &c, 1) == 1) (void)!write(a->out, "pq", 2);
  return NULL;
}
static void route_tsync(void) {
  ct_step = "before the filter";
  static const char text[] = "written before the sandbox\n";
  ct_write_all(g_file, text, sizeof text - 1, "file write");
  char b[64];
  CT_EXPECT_RET(pread(g_file, b, 4, 0), 4, "pread before the filter");
  int go[2], out[2];
  CT_CHECK(pipe2(go, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0, "pipe2");
  struct echo_arg e = {go[0], out[1]};
  pthread_t t = ct_spawn_masked(echo_thread, &e);
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 7, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 6, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_fsync, 4, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_fdatasync, 3, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pwrite64, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pwritev, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
  ct_step = "set the TSYNC filter";
  CT_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
  if (r == -1 && errno == EINVAL) ct_skip("seccomp TSYNC not supported");
  CT_CHECK(r == 0, "seccomp(TSYNC) returned %ld (%s)", r,
           r == -1 ? strerror(errno) : "thread that could not sync");
  expect_fsync_denied("fsync under the TSYNC filter");
  ct_step = "blocking read fed by a thread made before the filter";
  ct_write_all(go[1], "g", 1, "go");
  CT_EXPECT_RET(read(out[0], b, sizeof b), 2, "blocking pipe read");
  ct_step = "the file holds what was written before the filter";
  CT_EXPECT_RET(pread(g_file, b, sizeof b, 0), sizeof text - 1, "pread of the file");
  CT_CHECK(memcmp(b, text, sizeof text - 1) == 0, "file content differs");
  pthread_join(t, NULL);
}

/* A filter (through syscall()) that kills the process on prctl. */
static void kill_prctl(unsigned flags) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_prctl, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
  ct_step = "set the filter killing prctl";
  CT_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  CT_CHECK(r == 0, "seccomp returned %ld (%s)", r, r == -1 ? strerror(errno) : "thread that could not sync");
}

/* ---- tsync_threads ------------------------------------------------------------ */
struct maker_arg {
  int go, out;
};
static void* writer_thread(void* p) {
  (void)!write(*(int*)p, "ok", 2);
  return NULL;
}
static void* maker_thread(void* p) {
  struct maker_arg* a = p;
  char c;
  if (read(a->go, &c, 1) != 1) return NULL;
  pthread_t t;
  if (pthread_create(&t, NULL, writer_thread, &a->out) == 0) pthread_join(t, NULL);
  return NULL;
}
static void route_tsync_threads(void) {
  char c0;
  CT_EXPECT_RET(pread(g_file, &c0, 1, 0), 0, "pread before the filter");
  int go[2], out[2];
  CT_CHECK(pipe2(go, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0, "pipe2");
  struct maker_arg a = {go[0], out[1]};
  pthread_t t;
  CT_CHECK(pthread_create(&t, NULL, maker_thread, &a) == 0, "pthread_create");
  kill_prctl(SECCOMP_FILTER_FLAG_TSYNC);
  ct_step = "a thread made before the filter creates one";
  ct_write_all(go[1], "g", 1, "go");
  char b[4];
  CT_EXPECT_RET(read(out[0], b, sizeof b), 2, "what the new thread wrote");
  pthread_join(t, NULL);
}

/* ---- fork ------------------------------------------------------------------- */
static void route_fork(void) {
  int p[2];
  CT_CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2");
  char c0;
  CT_EXPECT_RET(pread(g_file, &c0, 1, 0), 0, "pread before the filter");
  kill_prctl(0);
  ct_step = "fork under the filter";
  pid_t c = fork();
  CT_CHECK(c >= 0, "fork: %s", strerror(errno));
  if (c == 0) {
    _exit(write(p[1], "ok", 2) == 2 ? 0 : 3);
  }
  int st;
  CT_CHECK(waitpid(c, &st, 0) == c, "waitpid");
  CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s %d",
           WIFEXITED(st) ? "exited" : "killed by signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
  char b[4];
  CT_EXPECT_RET(read(p[0], b, sizeof b), 2, "what the child wrote");
}

/* ---- passthrough ------------------------------------------------------------ */
static void route_passthrough(void) {
  ct_step = "syscall() passes every other number through";
  char page[4096];
  memset(page, 'a', sizeof page);
  ct_write_all(g_file, page, sizeof page, "first page");
  memset(page, 'b', sizeof page);
  ct_write_all(g_file, page, sizeof page, "second page");
  /* every argument as a long: the sixth goes on the stack, where an int
   * leaves the slot's upper half to chance (clang stores 32 bits there) */
  const char* m = (const char*)syscall(SYS_mmap, NULL, 4096L, (long)PROT_READ, (long)MAP_SHARED, (long)g_file, 4096L);
  CT_CHECK(m != MAP_FAILED, "syscall(SYS_mmap) at offset 4096: %s", strerror(errno));
  CT_CHECK(m[0] == 'b' && m[4095] == 'b', "mmap's sixth argument (offset) lost: got '%c'", m[0]);
  CT_EXPECT_RET(syscall(SYS_munmap, m, 4096), 0, "syscall(SYS_munmap)");
  CT_EXPECT_RET(syscall(SYS_getppid), getppid(), "syscall(SYS_getppid)");
  errno = 0;
  CT_EXPECT_ERR(syscall(SYS_close, -1), EBADF, "syscall(SYS_close, -1)");
  unsigned action = SECCOMP_RET_ERRNO;
  CT_EXPECT_RET(syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action), 0, "seccomp GET_ACTION_AVAIL");
  errno = 0;
  CT_EXPECT_ERR(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, NULL), EFAULT,
                "seccomp TSYNC probe without a program");
  errno = 0;
  CT_EXPECT_ERR(syscall(SYS_prctl, PR_SET_SECCOMP, 77, 0, 0, 0), EINVAL, "prctl(PR_SET_SECCOMP, bad mode)");
  CT_EXPECT_RET(syscall(SYS_prctl, PR_GET_SECCOMP, 0, 0, 0, 0), 0, "prctl(PR_GET_SECCOMP)");
  /* None of them sandboxed anything: this thread's calls still go where they went. */
  char b[4];
  CT_EXPECT_RET(pread(g_file, b, 4, 4096), 4, "pread after the passthrough calls");
}

int main(int argc, char** argv) {
  ct_name = "seccomp_routes";
  const char* route = argc > 1 ? argv[1] : "";
  ct_start_watchdog(30);
  char path[256];
  g_file = ct_tmpfile(path, "f");
  unlink(path);
  if (!strcmp(route, "strict_syscall"))
    route_strict();
  else if (!strcmp(route, "filter_syscall") || !strcmp(route, "filter_prctl") || !strcmp(route, "inherit") ||
           !strcmp(route, "libseccomp") || !strcmp(route, "asm")) {
    char c;
    CT_EXPECT_RET(pread(g_file, &c, 1, 0), 0, "pread before the filter");
    if (!strcmp(route, "asm")) {
      pthread_t t;
      CT_CHECK(pthread_create(&t, NULL, asm_thread, (void*)route) == 0, "pthread_create");
      pthread_join(t, NULL);
    } else {
      route_filter(route);
    }
  } else if (!strcmp(route, "tsync_threads"))
    route_tsync_threads();
  else if (!strcmp(route, "fork"))
    route_fork();
  else if (!strcmp(route, "passthrough"))
    route_passthrough();
  else if (!strcmp(route, "tsync"))
    route_tsync();
  else
    ct_fail("unknown route '%s'", route);
  return 0;
}
