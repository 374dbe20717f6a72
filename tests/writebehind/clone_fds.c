/* clone_fds.c — a libc clone() child with its own fd table (CLONE_VM and
 * CLONE_THREAD, no CLONE_FILES, no CLONE_SETTLS) reads a file the program
 * wrote: it sees every byte (docs/design.md §5 "The net": such a child runs
 * on its creator's thread-local block, and an fd number it uses may be
 * another file, or a pipe, in the program's table).
 *
 * The child is made before any data is pending and waits for "go". In its
 * own table it puts the file on the fd number that is a pipe in the
 * program's (which the program has used, so the shim knows it as a pipe).
 * The program writes the file in many small writes (no sync point), says
 * go; the child preads the whole file with the raw system call.
 */
#include "wb.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>

#define WRITES 20000
#define SEED 12

static int g_go, g_pipe_fd, g_file_fd;
static pid_t g_tid = 1;
static long g_got = -9;
static char g_buf[1 << 20];

static int child(void* arg) {
  (void)arg;
  /* its own table: the file where the program has its pipe */
  if (syscall(SYS_dup2, g_file_fd, g_pipe_fd) != g_pipe_fd) return 0;
  while (__atomic_load_n(&g_go, __ATOMIC_ACQUIRE) == 0)
    syscall(SYS_futex, &g_go, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
  g_got = syscall(SYS_pread64, g_pipe_fd, g_buf, sizeof g_buf, 0);
  return 0;
}

static size_t stream_len(void) {
  size_t n = 0;
  for (int i = 0; i < WRITES; i++) n += 1 + (size_t)((i * 13) % 50);
  return n;
}

int main(void) {
  ct_name = "clone_fds";
  ct_start_watchdog(50);
  char path[256];
  g_file_fd = ct_tmpfile(path, "clonefds");
  int p[2];
  CT_CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
  g_pipe_fd = p[0];
  char c = 'x';
  CT_CHECK(write(p[1], &c, 1) == 1 && read(p[0], &c, 1) == 1, "pipe round trip");
  static char stack[256 << 10] __attribute__((aligned(16)));
  int fl = CLONE_VM | CLONE_FS | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | CLONE_CHILD_CLEARTID;
  CT_CHECK(clone(child, stack + sizeof stack, fl, NULL, NULL, NULL, &g_tid) > 0, "clone: %s",
           strerror(errno));
  const size_t total = stream_len();
  char buf[64];
  size_t off = 0;
  for (int i = 0; i < WRITES; i++) {
    size_t len = 1 + (size_t)((i * 13) % 50);
    wb_fill(buf, SEED, off, len);
    CT_CHECK(write(g_file_fd, buf, len) == (ssize_t)len, "write: %s", strerror(errno));
    off += len;
  }
  __atomic_store_n(&g_go, 1, __ATOMIC_RELEASE);
  syscall(SYS_futex, &g_go, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  /* CLONE_CHILD_CLEARTID: zeroed and woken (shared futex) at its exit */
  for (pid_t v; (v = __atomic_load_n(&g_tid, __ATOMIC_ACQUIRE)) != 0;)
    syscall(SYS_futex, &g_tid, FUTEX_WAIT, v, NULL, NULL, 0);
  CT_CHECK(g_got == (long)total, "the child read %ld of %zu bytes", g_got, total);
  for (size_t k = 0; k < total; k++)
    if (g_buf[k] != wb_byte(SEED, k)) ct_fail("the child read byte %zu wrong", k);
  return 0;
}
