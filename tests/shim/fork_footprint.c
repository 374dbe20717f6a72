/* tests/shim/fork_footprint.c — prints the minor page faults one fork child
 * takes from fork() to _exit() (atfork handlers and the shim's _exit
 * included), averaged over several children. check_fork_footprint.py runs
 * it plain and under the shim: the shim must not make every child fault in
 * memory it does not need (blocks of per-thread counters nobody used, the
 * dynamic linker's tables for a symbol lookup). */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

enum { kChildren = 20 };

int main(void) {
  for (int i = 0; i < kChildren; ++i) {
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) _exit(0);
    int st = 0;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 1;
  }
  struct rusage ru;
  if (getrusage(RUSAGE_CHILDREN, &ru) != 0) return 1;
  printf("%ld\n", ru.ru_minflt / kChildren);
  return 0;
}
