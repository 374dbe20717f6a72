/* sigsys_pending.c — contract: a SIGSYS the program blocks and sends to
 * itself stays pending, as plain, under write-behind too (docs/design.md §5
 * "The net"; issues 9 and 12): taken by sigtimedwait, sigwaitinfo, sigwait
 * and signalfd, seen by sigpending, the mask reads back with SIGSYS in it, a
 * new thread inherits it, exec hands mask and pending signal on (from a
 * vfork child too, unless it set its own mask); a thread
 * that leaves SIGSYS open runs the program's handler for a process-directed
 * one. Data written before and after is complete at exit.
 *
 * Under the net SIGSYS stays open in the real mask (a trap with it blocked
 * kills the process): the kill was delivered to the net's handler, which ran
 * the program's SIG_DFL, and the process died of SIGSYS; the mask read back
 * without SIGSYS.
 *
 * Each case runs in a fork child (write-behind goes off for good in it).
 * The signals a program sends itself come after pending data landed (kill
 * and its kin wait for it); case 9's comes from a timer while writes are
 * pending.
 */
#include "contract.h"

#include <semaphore.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <threads.h>

#define HALF (64 * 1024)
#define NCASES 13
#define ROUNDS 40
#define BLOCK 4096

static const char* self_exe;
static char data_path[NCASES][256];
static sigset_t sys_set;

static void fill(char* b, size_t n, int part) {
  for (size_t i = 0; i < n; i++) b[i] = (char)('a' + (i * 7 + (size_t)part) % 26);
}

static void write_half(const char* path, int part) {
  static char buf[HALF];
  fill(buf, sizeof buf, part);
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  CT_CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
  for (size_t off = 0; off < sizeof buf; off += BLOCK)
    CT_EXPECT_RET(write(fd, buf + off, BLOCK), BLOCK, "write");
  close(fd);
}

static int sys_pending(void) {
  sigset_t p;
  CT_CHECK(sigpending(&p) == 0, "sigpending");
  return sigismember(&p, SIGSYS);
}

/* case 9: a timer's SIGSYS comes while writes are pending (the blocks
 * written meanwhile are part 2). */
static void timer_while_writing(const char* path) {
  ct_step = "timer SIGSYS while writing";
  timer_t tid;
  struct sigevent ev = {0};
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = SIGSYS;
  ev.sigev_value.sival_int = 4242;
  CT_CHECK(timer_create(CLOCK_MONOTONIC, &ev, &tid) == 0, "timer_create: %s", strerror(errno));
  static char buf[BLOCK];
  fill(buf, sizeof buf, 2);
  int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  CT_CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
  struct itimerspec its = {{0, 0}, {0, 2000000}};
  CT_CHECK(timer_settime(tid, 0, &its, NULL) == 0, "timer_settime");
  const int64_t end = ct_now_ns() + 20000000000LL;
  long n = 0;
  while (!sys_pending()) {
    CT_CHECK(ct_now_ns() < end, "the timer's SIGSYS is not pending after 20 s (%ld writes)", n);
    CT_EXPECT_RET(write(fd, buf, sizeof buf), sizeof buf, "write");
    n++;
  }
  close(fd);
  siginfo_t si;
  CT_EXPECT_RET(sigwaitinfo(&sys_set, &si), SIGSYS, "sigwaitinfo");
  CT_CHECK(si.si_code == SI_TIMER && si.si_value.sival_int == 4242, "sigwaitinfo: code %d value %d",
           si.si_code, si.si_value.sival_int);
  timer_delete(tid);
}

static void expect_mask_blocked(const char* who) {
  sigset_t cur;
  CT_CHECK(pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0, "pthread_sigmask read");
  CT_CHECK(sigismember(&cur, SIGSYS) == 1, "%s: pthread_sigmask reads SIGSYS back open", who);
  CT_CHECK(sigprocmask(SIG_BLOCK, NULL, &cur) == 0, "sigprocmask read");
  CT_CHECK(sigismember(&cur, SIGSYS) == 1, "%s: sigprocmask reads SIGSYS back open", who);
}

static void expect_pending(int want) {
  sigset_t p;
  CT_CHECK(sigpending(&p) == 0, "sigpending");
  CT_CHECK(sigismember(&p, SIGSYS) == want, "sigpending: SIGSYS %s", want ? "not pending" : "pending");
}

static void take_timed(int want_code) {
  struct timespec ts = {5, 0};
  siginfo_t si;
  int got = sigtimedwait(&sys_set, &si, &ts);
  CT_CHECK(got == SIGSYS, "sigtimedwait %d (%s), want SIGSYS", got, strerror(errno));
  CT_CHECK(si.si_pid == getpid(), "sigtimedwait: from pid %d", (int)si.si_pid);
  CT_CHECK(si.si_code == want_code, "sigtimedwait: si_code %d, want %d", si.si_code, want_code);
}

/* SIG_BLOCK, or SIG_SETMASK in the odd cases (while data is pending, a
 * libc call the net traps) */
static int use_setmask;
static void block_sys(void) {
  ct_step = "SIGSYS blocked";
  sigset_t m;
  CT_CHECK(pthread_sigmask(SIG_BLOCK, NULL, &m) == 0, "pthread_sigmask read");
  sigaddset(&m, SIGSYS);
  CT_CHECK(pthread_sigmask(use_setmask ? SIG_SETMASK : SIG_BLOCK, use_setmask ? &m : &sys_set, NULL) == 0,
           "pthread_sigmask");
  expect_mask_blocked("after block");
}

/* case 4: the thread with SIGSYS open runs the program's handler */
static sem_t handled;
static volatile pid_t handler_tid, open_tid;
static int wake_pipe[2];
static void on_sys(int sig) {
  (void)sig;
  handler_tid = gettid();
  sem_post(&handled);
}
static void* open_thread(void* arg) {
  (void)arg;
  open_tid = gettid();
  sem_post(&handled);
  char c;
  while (read(wake_pipe[0], &c, 1) < 0 && errno == EINTR) {
  }
  return NULL;
}

/* cases 5 and 6: a second thread blocks (or inherits the block) and waits */
static sem_t go;
static void* waiting_thread(void* arg) {
  const int inherit = (int)(intptr_t)arg;
  if (!inherit) CT_CHECK(sem_wait(&go) == 0, "sem_wait (main blocked)");
  if (inherit) {
    expect_mask_blocked("new thread");
    ct_step = "thread: pthread_kill(self), sigwait";
    CT_EXPECT_RET(pthread_kill(pthread_self(), SIGSYS), 0, "pthread_kill");
    int sig = 0;
    CT_EXPECT_RET(sigwait(&sys_set, &sig), 0, "sigwait");
    CT_CHECK(sig == SIGSYS, "sigwait: %d", sig);
  } else {
    block_sys();
    ct_step = "thread: kill(process), sigtimedwait";
    CT_EXPECT_RET(kill(getpid(), SIGSYS), 0, "kill");
    take_timed(SI_USER);
  }
  expect_pending(0);
  return NULL;
}

/* case 12: threads made by a thread that blocks SIGSYS (pthread_create and
 * C11 thrd_create) block it from their first instruction: a kill right
 * after the creation waits for main's sigtimedwait. Each round in a fork
 * child, where main still has the write-behind net on. */
static void* starting_thread(void* arg) {
  (void)arg;
  expect_mask_blocked("new thread");
  return NULL;
}
static int starting_thrd(void* arg) {
  starting_thread(arg);
  return 0;
}
static void thread_then_kill(int i) {
  ct_step = "a thread made, then kill, sigtimedwait";
  pthread_t t;
  thrd_t ct;
  if (i & 1)
    CT_CHECK(thrd_create(&ct, starting_thrd, NULL) == thrd_success, "thrd_create");
  else
    CT_CHECK(pthread_create(&t, NULL, starting_thread, NULL) == 0, "pthread_create");
  CT_EXPECT_RET(kill(getpid(), SIGSYS), 0, "kill");
  take_timed(SI_USER);
  if (i & 1)
    thrd_join(ct, NULL);
  else
    pthread_join(t, NULL);
}
/* fn(arg) in a fork child, which then exits (pending data lands, the shim
 * writes the child's report); fails unless it exits 0. */
static void in_child(void (*fn)(int), int arg, const char* what) {
  pid_t pid = fork();
  CT_CHECK(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    fn(arg);
    exit(0);
  }
  int st;
  CT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
  CT_CHECK(!WIFSIGNALED(st), "%s %d: died of signal %d (SIGSYS is %d)", what, arg, WTERMSIG(st), SIGSYS);
  CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s %d failed (status %#x)", what, arg, st);
}

static void threads_then_kill(void) {
  for (int i = 0; i < ROUNDS; i++) {
    ct_step = "a round (odd: thrd_create)";
    in_child(thread_then_kill, i, "round");
  }
}

static void run_case(int c) {
  ct_name = "sigsys_pending[child]";
  const char* path = data_path[c];
  use_setmask = c & 1;
  write_half(path, 0);  // pending under write-behind when the signal comes
  static sigset_t none;
  sigemptyset(&none);
  switch (c) {
    case 0:
      block_sys();
      ct_step = "kill, sigtimedwait";
      CT_EXPECT_RET(kill(getpid(), SIGSYS), 0, "kill");
      take_timed(SI_USER);
      break;
    case 1: {
      block_sys();
      ct_step = "pthread_kill(self), signalfd";
      CT_EXPECT_RET(pthread_kill(pthread_self(), SIGSYS), 0, "pthread_kill");
      int sfd = signalfd(-1, &sys_set, SFD_CLOEXEC);
      CT_CHECK(sfd >= 0, "signalfd: %s", strerror(errno));
      struct signalfd_siginfo si;
      CT_EXPECT_RET(read(sfd, &si, sizeof si), sizeof si, "read signalfd");
      CT_CHECK(si.ssi_signo == SIGSYS && si.ssi_code == SI_TKILL && si.ssi_pid == (uint32_t)getpid(),
               "signalfd: signo %u code %d pid %u", si.ssi_signo, si.ssi_code, si.ssi_pid);
      close(sfd);
      break;
    }
    case 2: {
      block_sys();
      ct_step = "sigqueue, sigpending, sigwaitinfo";
      union sigval v = {.sival_int = 7777};
      CT_EXPECT_RET(sigqueue(getpid(), SIGSYS, v), 0, "sigqueue");
      expect_pending(1);
      expect_mask_blocked("after sigqueue");
      siginfo_t si;
      CT_EXPECT_RET(sigwaitinfo(&sys_set, &si), SIGSYS, "sigwaitinfo");
      CT_CHECK(si.si_code == SI_QUEUE && si.si_value.sival_int == 7777, "sigwaitinfo: code %d value %d",
               si.si_code, si.si_value.sival_int);
      break;
    }
    case 3:
      block_sys();
      ct_step = "raw tgkill, sigtimedwait";
      CT_EXPECT_RET(syscall(SYS_tgkill, getpid(), gettid(), SIGSYS), 0, "tgkill");
      take_timed(SI_USER);  // glibc's sigtimedwait folds SI_TKILL into SI_USER
      break;
    case 4: {
      ct_step = "handler, a thread with SIGSYS open";
      CT_CHECK(sem_init(&handled, 0, 0) == 0 && pipe(wake_pipe) == 0, "sem_init/pipe");
      struct sigaction a = {0};
      a.sa_handler = on_sys;
      a.sa_flags = SA_RESTART;
      CT_CHECK(sigaction(SIGSYS, &a, NULL) == 0, "sigaction");
      pthread_t t;
      CT_CHECK(pthread_create(&t, NULL, open_thread, NULL) == 0, "pthread_create");
      CT_CHECK(sem_wait(&handled) == 0, "sem_wait (thread up)");
      block_sys();
      ct_step = "kill, the open thread's handler";
      CT_EXPECT_RET(kill(getpid(), SIGSYS), 0, "kill");
      struct timespec dl;
      clock_gettime(CLOCK_REALTIME, &dl);
      dl.tv_sec += 10;
      CT_CHECK(sem_timedwait(&handled, &dl) == 0, "the handler did not run: %s", strerror(errno));
      CT_CHECK(handler_tid == open_tid, "the handler ran on %d, not on the open thread %d", (int)handler_tid,
               (int)open_tid);
      expect_pending(0);
      CT_EXPECT_RET(write(wake_pipe[1], "x", 1), 1, "wake");
      pthread_join(t, NULL);
      break;
    }
    case 5:
    case 6: {
      // 6: the new thread inherits main's block; 5: it blocks itself once
      // main has (both block: the process-directed kill must wait).
      CT_CHECK(sem_init(&go, 0, 0) == 0, "sem_init");
      if (c == 6) block_sys();
      pthread_t t;
      CT_CHECK(pthread_create(&t, NULL, waiting_thread, (void*)(intptr_t)(c == 6)) == 0, "pthread_create");
      if (c == 5) {
        block_sys();
        sem_post(&go);
      }
      pthread_join(t, NULL);
      break;
    }
    case 7:
    case 8: {
      block_sys();
      if (c == 8) {
        ct_step = "kill before exec";
        CT_EXPECT_RET(kill(getpid(), SIGSYS), 0, "kill");
        expect_pending(1);
      }
      ct_step = "exec";
      char arg[16];
      snprintf(arg, sizeof arg, "%d", c);
      execl(self_exe, self_exe, "exec", arg, path, (char*)NULL);
      ct_fail("execl: %s", strerror(errno));
    }
    case 9:
      block_sys();
      timer_while_writing(path);
      break;
    case 12:
      block_sys();
      threads_then_kill();
      break;
    case 10:
    case 11: {
      // a vfork child execs with main's mask (10) or with its own, SIGSYS
      // open (11); main's mask is main's either way
      block_sys();
      ct_step = "vfork, exec";
      char arg[16];
      snprintf(arg, sizeof arg, "%d", c);
      pid_t pid = vfork();
      if (pid == 0) {
        if (c == 11) pthread_sigmask(SIG_SETMASK, &none, NULL);
        execl(self_exe, self_exe, "exec", arg, path, (char*)NULL);
        _exit(126);
      }
      CT_CHECK(pid > 0, "vfork: %s", strerror(errno));
      int st;
      CT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
      CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the exec'ed vfork child failed (status %#x)", st);
      expect_mask_blocked("after the vfork child");
      expect_pending(0);
      return;  // the exec'ed child wrote the second half
    }
  }
  ct_step = "after";
  expect_mask_blocked("after");
  expect_pending(0);
  write_half(path, 1);  // written behind (or not), complete at exit
}

/* The exec'ed image: the mask (and case 8's pending signal) came along. */
static int after_exec(int c, const char* path) {
  ct_step = "exec'ed: mask";
  if (c == 11) {
    sigset_t cur;
    CT_CHECK(pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0 && sigismember(&cur, SIGSYS) == 0,
             "after exec: SIGSYS blocked, the vfork child had opened it");
    write_half(path, 1);
    return 0;
  }
  expect_mask_blocked("after exec");
  if (c == 8) {
    expect_pending(1);
    take_timed(SI_USER);
  } else {
    expect_pending(0);
    ct_step = "exec'ed: kill, sigtimedwait";
    CT_EXPECT_RET(kill(getpid(), SIGSYS), 0, "kill");
    take_timed(SI_USER);
  }
  expect_pending(0);
  write_half(path, 1);
  return 0;
}

/* part 0 (HALF), part 2 blocks (case 9), part 1 (HALF) */
static void check_data(int c) {
  static char want[3][HALF], got[HALF];
  for (int p = 0; p < 3; p++) fill(want[p], HALF, p);
  int fd = open(data_path[c], O_RDONLY | O_CLOEXEC);
  CT_CHECK(fd >= 0, "case %d: open data: %s", c, strerror(errno));
  struct stat st;
  CT_CHECK(fstat(fd, &st) == 0, "fstat");
  const off_t size = st.st_size;
  CT_CHECK(size >= 2 * HALF && size % BLOCK == 0 && (c == 9 || size == 2 * HALF),
           "case %d: %lld bytes at exit", c, (long long)size);
  for (off_t off = 0; off < size; off += BLOCK) {
    const int part = off < HALF ? 0 : off >= size - HALF ? 1 : 2;
    const size_t at = part == 1 ? (size_t)(off - (size - HALF)) : part == 0 ? (size_t)off : 0;
    CT_EXPECT_RET(pread(fd, got, BLOCK, off), BLOCK, "pread");
    CT_CHECK(memcmp(got, want[part] + at, BLOCK) == 0, "case %d: data at %lld differ", c, (long long)off);
  }
  close(fd);
  unlink(data_path[c]);
}

int main(int argc, char** argv) {
  ct_name = "sigsys_pending";
  sigemptyset(&sys_set);
  sigaddset(&sys_set, SIGSYS);
  self_exe = "/proc/self/exe";
  if (argc == 4 && !strcmp(argv[1], "exec")) {
    ct_start_watchdog(30);
    return after_exec(atoi(argv[2]), argv[3]);
  }
  ct_start_watchdog(50);
  for (int c = 0; c < NCASES; c++) {
    snprintf(data_path[c], sizeof data_path[c], "%s/sigsys_pending.%d.%d", ct_tmpdir(), (int)getpid(), c);
    unlink(data_path[c]);
  }
  for (int c = 0; c < NCASES; c++) {
    ct_step = "a case";
    in_child(run_case, c, "case");
    check_data(c);
  }
  return 0;
}
