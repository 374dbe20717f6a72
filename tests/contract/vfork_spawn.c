/* vfork_spawn.c — contract: vfork()/posix_spawn() children work and see the
 * parent's data (docs/design.md §4 "Process lifecycle": vfork/posix_spawn children
 * pass straight through; §5: nothing pending is lost).
 *
 *  1. vfork+execve and posix_spawn of /bin/sh -c 'echo ok > FILE': FILE is "ok\n".
 *  2. A vfork child that write()s to a pipe and dup2()s before execve: the
 *     parent reads "pre-exec\n" then the exec'ed shell's "post-exec\n".
 *  3. The parent writes a file (fd left open, no sync point), then spawns
 *     /bin/cat FILE (posix_spawn and vfork): cat's output is exactly what was
 *     written. Under IOWQ_WRITE_BEHIND=1 this proves spawning waits for it.
 */
#include "contract.h"

#include <spawn.h>
#include <sys/wait.h>

extern char** environ;

#define RECS 3000
#define RECSZ 24

static void wait_ok(pid_t pid, const char* what) {
  int st;
  if (waitpid(pid, &st, 0) != pid) ct_fail("%s: waitpid: %s", what, strerror(errno));
  CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: child status %#x", what, st);
}

static void expect_file(const char* path, const char* want) {
  char buf[64];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  CT_CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
  size_t n = ct_read_all(fd, buf, sizeof buf - 1, path);
  close(fd);
  buf[n] = 0;
  CT_CHECK(strcmp(buf, want) == 0, "%s holds \"%s\", want \"%s\"", path, buf, want);
}

/* Reads the pipe to EOF into buf; returns the length. */
static size_t drain(int fd, char* buf, size_t cap) { return ct_read_all(fd, buf, cap, "child output"); }

static void echo_ok_cases(void) {
  char path[256], cmd[300];
  int fd = ct_tmpfile(path, "echo");
  close(fd);
  snprintf(cmd, sizeof cmd, "echo ok > '%s'", path);
  char* argv[] = {"/bin/sh", "-c", cmd, NULL};

  ct_step = "vfork+execve sh -c 'echo ok > file'";
  pid_t pid = vfork();
  if (pid == 0) {
    execve(argv[0], argv, environ);
    _exit(127);
  }
  CT_CHECK(pid > 0, "vfork: %s", strerror(errno));
  wait_ok(pid, ct_step);
  expect_file(path, "ok\n");

  ct_step = "posix_spawn sh -c 'echo ok > file'";
  CT_CHECK(truncate(path, 0) == 0, "truncate: %s", strerror(errno));
  int rc = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
  CT_CHECK(rc == 0, "posix_spawn: %s", strerror(rc));
  wait_ok(pid, ct_step);
  expect_file(path, "ok\n");
  unlink(path);
}

static void vfork_child_writes(void) {
  ct_step = "vfork child writes to a pipe before exec";
  int p[2];
  CT_CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
  char* argv[] = {"/bin/sh", "-c", "echo post-exec", NULL};
  pid_t pid = vfork();
  if (pid == 0) {
    static const char pre[] = "pre-exec\n";
    if (write(p[1], pre, sizeof pre - 1) != (ssize_t)(sizeof pre - 1)) _exit(2);
    if (dup2(p[1], 1) != 1) /* dup2 clears O_CLOEXEC on the copy */
      _exit(3);
    execve(argv[0], argv, environ);
    _exit(127);
  }
  CT_CHECK(pid > 0, "vfork: %s", strerror(errno));
  close(p[1]);
  char buf[64];
  size_t n = drain(p[0], buf, sizeof buf - 1);
  close(p[0]);
  wait_ok(pid, ct_step);
  buf[n] = 0;
  CT_CHECK(strcmp(buf, "pre-exec\npost-exec\n") == 0, "pipe got \"%s\", want pre-exec + post-exec", buf);
}

static void make_rec(char* rec, int i) { snprintf(rec, RECSZ + 1, "rec %08d of parent.\n", i); }

/* Parent writes FILE (no sync point), child cats it through a pipe. */
static void cat_case(int use_vfork) {
  ct_step = use_vfork ? "vfork+execve cat of parent-written file" : "posix_spawn cat of parent-written file";
  char path[256], rec[RECSZ + 1];
  int fd = ct_tmpfile(path, "cat");
  for (int i = 0; i < RECS; i++) {
    make_rec(rec, i);
    ct_write_all(fd, rec, RECSZ, "record");
  }
  int p[2];
  CT_CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
  char* argv[] = {"/bin/cat", path, NULL};
  pid_t pid;
  if (use_vfork) {
    pid = vfork();
    if (pid == 0) {
      if (dup2(p[1], 1) != 1) _exit(3);
      execve(argv[0], argv, environ);
      _exit(127);
    }
    CT_CHECK(pid > 0, "vfork: %s", strerror(errno));
  } else {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    CT_CHECK(rc == 0, "posix_spawn: %s", strerror(rc));
  }
  close(p[1]);
  static char out[RECS * RECSZ + 64];
  size_t n = drain(p[0], out, sizeof out);
  close(p[0]);
  wait_ok(pid, ct_step);
  CT_CHECK(n == (size_t)RECS * RECSZ, "cat saw %zu bytes of %d written before the spawn", n, RECS * RECSZ);
  for (int i = 0; i < RECS; i++) {
    make_rec(rec, i);
    CT_CHECK(memcmp(out + (size_t)i * RECSZ, rec, RECSZ) == 0, "cat saw record %d wrong", i);
  }
  close(fd);
  unlink(path);
}

int main(void) {
  ct_name = "vfork_spawn";
  ct_start_watchdog(40);
  echo_ok_cases();
  vfork_child_writes();
  cat_case(0);
  cat_case(1);
  return 0;
}
