/* stdio_order.c — stdio and write(2) mixed on stdout/stderr redirected to
 * files give the same bytes as without the shim (docs/design.md §5: stderr's file
 * is never written behind, whichever fd reaches it; stdout's file is, and
 * stdio's internal writes to it stay in order).
 *
 * Usage: stdio_order split|same. The program runs itself twice as a child
 * ("child MODE OUT ERR"): once with LD_PRELOAD removed (the reference) and
 * once with the environment it has (the shim under .iowq), and compares
 * the files byte for byte.
 *   split  stdout > out, stderr > err (two files);
 *   same   stdout and stderr > one file (`prog > log 2>&1`).
 * The child interleaves write(1), printf (fully buffered: flushed by libc
 * when full, with an internal write), fprintf(stderr) (unbuffered),
 * write(2), putchar, fwrite, puts and an occasional long printf.
 */
#include "wb.h"

#include <sys/wait.h>

extern char** environ;

static void child(void) {
  char buf[128];
  static char big[6000];
  memset(big, 'B', sizeof big - 2);
  big[sizeof big - 2] = '\n';
  for (int i = 0; i < 4000; i++) {
    int n = snprintf(buf, sizeof buf, "w%d\n", i);
    if (write(1, buf, (size_t)n) != n) _exit(3);
    printf("p%d\n", i);
    if (i % 3 == 0) fprintf(stderr, "e%d\n", i);
    if (i % 5 == 0) {
      n = snprintf(buf, sizeof buf, "x%d\n", i);
      if (write(2, buf, (size_t)n) != n) _exit(3);
    }
    if (i % 7 == 0) putchar('c');
    if (i % 11 == 0) fwrite("fw\n", 1, 3, stdout);
    if (i % 13 == 0) puts("puts");
    if (i % 101 == 0) fputs(big, stdout);
  }
  exit(0);
}

static void run(const char* self, const char* mode, const char* out, const char* err, int plain) {
  pid_t p = fork();
  CT_CHECK(p >= 0, "fork");
  if (p == 0) {
    int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = strcmp(mode, "same") ? open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644) : dup(o);
    if (o < 0 || e < 0 || dup2(o, 1) != 1 || dup2(e, 2) != 2) _exit(2);
    if (plain) unsetenv("LD_PRELOAD");
    char* av[] = {(char*)self, "child", NULL};
    execve(self, av, environ);
    _exit(2);
  }
  int st;
  CT_CHECK(waitpid(p, &st, 0) == p, "waitpid");
  CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s child status 0x%x", plain ? "plain" : "shim", st);
}

static void same_file(const char* a, const char* b) {
  size_t na, nb;
  char *x = wb_slurp(a, &na), *y = wb_slurp(b, &nb);
  size_t k = 0;
  while (k < na && k < nb && x[k] == y[k]) k++;
  if (na != nb || k != na) ct_fail("%s (%zu bytes) and %s (%zu bytes) differ at byte %zu", a, na, b, nb, k);
  free(x);
  free(y);
}

int main(int argc, char** argv) {
  if (argc == 2 && !strcmp(argv[1], "child")) child();
  ct_name = "stdio_order";
  CT_CHECK(argc == 2, "usage: stdio_order split|same");
  ct_start_watchdog(50);
  const char* tmp = getenv("CONTRACT_TMPDIR");
  char o1[512], e1[512], o2[512], e2[512];
  snprintf(o1, sizeof o1, "%s/ref.out", tmp ? tmp : "/tmp");
  snprintf(e1, sizeof e1, "%s/ref.err", tmp ? tmp : "/tmp");
  snprintf(o2, sizeof o2, "%s/shim.out", tmp ? tmp : "/tmp");
  snprintf(e2, sizeof e2, "%s/shim.err", tmp ? tmp : "/tmp");
  char self[512];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  CT_CHECK(n > 0, "readlink");
  self[n] = 0;
  ct_step = "plain run";
  run(self, argv[1], o1, e1, 1);
  ct_step = "run as given";
  run(self, argv[1], o2, e2, 0);
  ct_step = "compare";
  same_file(o1, o2);
  if (strcmp(argv[1], "same")) same_file(e1, e2);
  return 0;
}
