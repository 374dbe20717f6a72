/* atomic_save.c — the write-tmp-then-rename idiom: another process that
 * opens the final name right after rename() sees the complete new content
 * (docs/design.md §5: rename* waits for every pending write).
 *
 * The program writes a temporary file in many small writes (fd left open,
 * no fsync: rename is the only sync point), renames it over the final name,
 * then lets another process read the final name:
 *   reader   a /bin/sh started BEFORE the writes, without LD_PRELOAD, waiting
 *            on a pipe; after rename() the program writes one byte to that
 *            pipe (a pipe write is no sync point of the file) and the reader
 *            execs cat FINAL into a second pipe;
 *   exec     fork + exec of /bin/cat FINAL after rename (the brief's idiom).
 * The bytes cat prints must be the whole new content. Each way runs twice:
 * with the fd still open at rename(), and closed first, then renameat().
 */
#include "wb.h"

#include <sys/wait.h>

#define WRITES 20000

extern char** environ;

static size_t content(char* buf, unsigned seed) {
  size_t n = 0;
  for (int i = 0; i < WRITES; i++) n += 1 + (size_t)((i * 29) % 31);
  if (buf) wb_fill(buf, seed, 0, n);
  return n;
}

/* environ without LD_PRELOAD: the reader must not depend on the shim. */
static char** env_without_preload(void) {
  static char* env[512];
  int n = 0;
  for (char** e = environ; *e && n < 511; e++)
    if (strncmp(*e, "LD_PRELOAD=", 11) != 0) env[n++] = *e;
  env[n] = NULL;
  return env;
}

/* Starts `argv` with stdin from *go_w's pipe (if go_w) and stdout to a pipe
 * whose read end it returns. */
static int spawn_reader(char* const argv[], int* go_w, pid_t* pid) {
  int out[2], go[2];
  CT_CHECK(pipe2(out, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
  if (go_w) CT_CHECK(pipe2(go, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
  *pid = fork();
  CT_CHECK(*pid >= 0, "fork: %s", strerror(errno));
  if (*pid == 0) {
    alarm(30);
    if (dup2(out[1], 1) != 1 || (go_w && dup2(go[0], 0) != 0)) _exit(126);
    execve(argv[0], argv, env_without_preload());
    _exit(127);
  }
  close(out[1]);
  if (go_w) {
    close(go[0]);
    *go_w = go[1];
  }
  return out[0];
}

static void expect_output(int rd, pid_t pid, const char* want, size_t n) {
  char* got = malloc(n + 4096);
  CT_CHECK(got, "malloc");
  size_t len = ct_read_all(rd, got, n + 4096, "reader pipe");
  close(rd);
  int st;
  CT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
  CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "reader failed (status 0x%x)", st);
  CT_CHECK(len == n, "the other process read %zu bytes, want %zu (incomplete file)", len, n);
  CT_CHECK(memcmp(got, want, n) == 0, "the other process read different bytes");
  free(got);
}

static void round_(int how, int close_first, unsigned seed) {
  char tmp[256], final[300];
  snprintf(final, sizeof final, "%s/atomic_save.final.%d", ct_tmpdir(), how * 2 + close_first);
  /* An old version the new content replaces. */
  int old = open(final, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CT_CHECK(old >= 0, "open final: %s", strerror(errno));
  ct_write_all(old, "old version\n", 12, "old");
  CT_CHECK(close(old) == 0, "close: %s", strerror(errno));

  int go = -1, rd = -1;
  pid_t pid = 0;
  char* sh_argv[] = {"/bin/sh", "-c", "read x && exec cat \"$1\"", "sh", final, NULL};
  if (how == 0) rd = spawn_reader(sh_argv, &go, &pid);

  size_t n = content(NULL, seed);
  char* want = malloc(n);
  CT_CHECK(want, "malloc");
  content(want, seed);
  int fd = ct_tmpfile(tmp, "save");
  size_t at = 0;
  for (int i = 0; i < WRITES; i++) {
    size_t len = 1 + (size_t)((i * 29) % 31);
    CT_CHECK(write(fd, want + at, len) == (ssize_t)len, "write: %s", strerror(errno));
    at += len;
  }
  if (close_first) CT_CHECK(close(fd) == 0, "close: %s", strerror(errno));
  if (close_first)
    CT_CHECK(renameat(AT_FDCWD, tmp, AT_FDCWD, final) == 0, "renameat: %s", strerror(errno));
  else
    CT_CHECK(rename(tmp, final) == 0, "rename: %s", strerror(errno));

  if (how == 0) {
    ct_write_all(go, "g\n", 2, "go pipe");
    close(go);
  } else {
    char* cat_argv[] = {"/bin/cat", final, NULL};
    rd = spawn_reader(cat_argv, NULL, &pid);
  }
  expect_output(rd, pid, want, n);
  if (!close_first) CT_CHECK(close(fd) == 0, "close: %s", strerror(errno));
  unlink(final);
  free(want);
}

int main(void) {
  ct_name = "atomic_save";
  ct_start_watchdog(50);
  static const char* steps[] = {"reader started before, fd open", "reader started before, closed",
                                "exec cat after rename, fd open", "exec cat after rename, closed"};
  for (int r = 0; r < 4; r++) {
    ct_step = steps[r];
    round_(r / 2, r % 2, 10 + (unsigned)r);
  }
  return 0;
}
