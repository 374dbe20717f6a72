/* last_thread.c — contract: the process ends exactly when and how it would
 * without the shim, whatever threads the shim keeps (docs/design.md §4
 * "Process lifecycle"; issue 9).
 *
 * glibc's rule: the last thread it counts (main and pthread_create's) to end
 * through glibc calls exit(0): atexit handlers, stdio flushed. A thread that
 * leaves by the raw exit syscall (the only way out of seccomp strict mode)
 * stays counted: exit() then never runs, buffered stdio output is lost, and
 * the process ends with its last thread, with the status main's end left.
 *
 * `last_thread SCENARIO`: a forked child plays the scenario with its stdout
 * on a pipe (fully buffered); the parent checks the child's status and every
 * byte it wrote, and kills it after 20 s (a hang fails, it does not linger).
 *   raw_stdio   a strict-mode thread leaves raw; main pthread_exits with
 *               printf output buffered: status 0, not flushed, no atexit
 *   filter      main sets a seccomp filter (prctl), then pthread_exits:
 *               glibc's exit(0): status 0, atexit runs, stdio flushed
 *   raw_filter  both (the thread leaves raw without strict mode, which a
 *               filter excludes): status 0, not flushed, no atexit
 *   main_raw    main leaves by the raw exit syscall (code 3); its last
 *               thread returns: the process's status is the last thread's
 *               (0, glibc's), not flushed, no atexit
 *   thread_last main pthread_exits, a thread ends last by returning:
 *               glibc's exit(0) in that thread: atexit, flushed
 *   raw_file    raw_stdio with 300 KB written to a file first (write-behind:
 *               nothing lost when the process ends without exit())
 *   rlimit      after a strict-mode thread, RLIMIT_AS = size + 2 MiB: a
 *               write, then pthread_create still succeeds (glibc reuses the
 *               ended thread's stack; the shim's threads must not take it)
 */
#include "contract.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static char path[256];
static pthread_t main_thread;

static void say(const char* s) { (void)!write(1, s, strlen(s)); }
static void at_exit(void) { say("atexit\n"); }

static void* strict_thread(void* arg) {
  (void)arg;
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0) return (void*)1;
  say("strict\n");
  syscall(SYS_exit, 0);
  return NULL;
}

/* Under a filter strict mode cannot be entered: the raw exit alone. */
static void* raw_thread(void* arg) {
  (void)arg;
  say("raw\n");
  syscall(SYS_exit, 0);
  return NULL;
}

static void join_new(void* (*fn)(void*)) {
  pthread_t t;
  void* r = NULL;
  CT_CHECK(pthread_create(&t, NULL, fn, NULL) == 0, "pthread_create");
  CT_CHECK(pthread_join(t, &r) == 0 && r == NULL, "the thread that leaves raw");
}
static void strict_and_join(void) { join_new(strict_thread); }

static void filter_getppid(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
  CT_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "no_new_privs");
  CT_CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0, "seccomp filter: %s", strerror(errno));
  CT_CHECK(getppid() == -EPERM, "getppid under the filter: not denied"); /* glibc: no errno */
}

/* Some routed file I/O, so that the shim's threads exist. */
static void file_io(size_t n) {
  static char buf[300000];
  memset(buf, 'f', sizeof buf);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CT_CHECK(fd >= 0, "open %s", path);
  ct_write_all(fd, buf, n < sizeof buf ? n : sizeof buf, "file");
  close(fd);
}

static void* after_main(void* arg) {
  (void)arg;
  /* main's tid word is cleared however it ends: this join waits for it. */
  CT_CHECK(pthread_join(main_thread, NULL) == 0, "join main");
  say("thread\n");
  printf("buffered\n");
  return NULL;
}

static void* nothing(void* arg) { return arg; }

static void child(const char* s) {
  CT_CHECK(atexit(at_exit) == 0, "atexit");
  main_thread = pthread_self();
  if (!strcmp(s, "raw_stdio")) {
    file_io(100);
    printf("buffered\n");
    strict_and_join();
    pthread_exit(NULL);
  } else if (!strcmp(s, "filter")) {
    file_io(100); /* the shim's threads first */
    filter_getppid();
    printf("buffered\n");
    pthread_exit(NULL);
  } else if (!strcmp(s, "raw_filter")) {
    file_io(100);
    filter_getppid();
    printf("buffered\n");
    join_new(raw_thread);
    pthread_exit(NULL);
  } else if (!strcmp(s, "main_raw") || !strcmp(s, "thread_last")) {
    file_io(100);
    pthread_t t;
    CT_CHECK(pthread_create(&t, NULL, after_main, NULL) == 0, "pthread_create");
    if (!strcmp(s, "main_raw")) syscall(SYS_exit, 3);
    pthread_exit(NULL);
  } else if (!strcmp(s, "raw_file")) {
    file_io(300000);
    strict_and_join();
    pthread_exit(NULL);
  } else if (!strcmp(s, "rlimit")) {
    strict_and_join();
    long pages = 0;
    FILE* f = fopen("/proc/self/statm", "re");
    CT_CHECK(f && fscanf(f, "%ld", &pages) == 1, "statm");
    fclose(f);
    struct rlimit rl;
    CT_CHECK(getrlimit(RLIMIT_AS, &rl) == 0, "getrlimit");
    rl.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (2u << 20);
    CT_CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit");
    file_io(70000);
    pthread_t t;
    int e = pthread_create(&t, NULL, nothing, NULL);
    say(e == 0 ? "created\n" : "nothread\n");
    if (e == 0) pthread_join(t, NULL);
    exit(0);
  }
  ct_fail("unknown scenario %s", s);
}

struct want {
  const char* scenario;
  int status;
  const char* out;
  size_t file; /* size of the file at the end, (size_t)-1: not checked */
};
static const struct want wants[] = {
    {"raw_stdio", 0, "strict\n", 100},
    {"filter", 0, "atexit\nbuffered\n", 100},
    {"raw_filter", 0, "raw\n", 100},
    {"main_raw", 0, "thread\n", 100},
    {"thread_last", 0, "thread\natexit\nbuffered\n", 100},
    {"raw_file", 0, "strict\n", 300000},
    {"rlimit", 0, "strict\ncreated\natexit\n", 70000},
};

int main(int argc, char** argv) {
  ct_name = "last_thread";
  CT_CHECK(argc == 2, "usage: last_thread SCENARIO");
  const struct want* w = NULL;
  for (size_t i = 0; i < sizeof wants / sizeof wants[0]; i++)
    if (!strcmp(wants[i].scenario, argv[1])) w = &wants[i];
  CT_CHECK(w, "unknown scenario %s", argv[1]);
  ct_step = w->scenario;
  snprintf(path, sizeof path, "%s/last_thread.%d", ct_tmpdir(), (int)getpid());
  int p[2];
  CT_CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2");
  fflush(NULL);
  pid_t pid = fork();
  CT_CHECK(pid >= 0, "fork");
  if (pid == 0) {
    CT_CHECK(dup2(p[1], 1) == 1, "dup2");
    close(p[0]);
    child(w->scenario);
  }
  close(p[1]);
  /* Bounded wait for the child's end: a hang fails here. */
  int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
  CT_CHECK(pfd >= 0, "pidfd_open: %s", strerror(errno));
  struct pollfd pl = {pfd, POLLIN, 0};
  int r;
  do r = poll(&pl, 1, 20000);
  while (r < 0 && errno == EINTR);
  if (r == 0) {
    /* What each of its threads is doing, for the failure report. */
    char cmd[160];
    snprintf(cmd, sizeof cmd,
             "for t in /proc/%d/task/*; do echo \"$t $(cat $t/comm) $(cut -d' ' -f3 $t/stat) "
             "$(cat $t/wchan) $(cat $t/syscall)\"; done >&2",
             (int)pid);
    (void)!system(cmd);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ct_fail("the child did not end within 20 s");
  }
  int st = 0;
  CT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
  char out[256];
  size_t n = ct_read_all(p[0], out, sizeof out - 1, "child's output");
  out[n] = 0;
  struct stat sb;
  long size = stat(path, &sb) == 0 ? (long)sb.st_size : -1;
  unlink(path);
  CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == w->status, "child status 0x%x, want exit %d (output %s)", st,
           w->status, out);
  CT_CHECK(!strcmp(out, w->out), "child wrote \"%s\", want \"%s\"", out, w->out);
  CT_CHECK(size == (long)w->file, "file size %ld, want %zu", size, w->file);
  return 0;
}
