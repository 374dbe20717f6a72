/* tests/shim/fork_footprint.c — prints the minor page faults a fork child
 * takes between fork() and its first instruction of its own (atfork child
 * handlers included). check_fork_footprint.py runs it plain and under the
 * shim: the shim's fork handlers must not fault in memory nobody used. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  int p[2];
  if (pipe(p) != 0) return 1;
  pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) {
    struct rusage ru;
    long v = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : -1;
    _exit(write(p[1], &v, sizeof v) == (ssize_t)sizeof v ? 0 : 1);
  }
  long v = -1;
  ssize_t n = read(p[0], &v, sizeof v);
  int st = 0;
  if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || n != (ssize_t)sizeof v || v < 0)
    return 1;
  printf("%ld\n", v);
  return 0;
}
