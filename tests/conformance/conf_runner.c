/* conf_runner.c — the interpreter of the differential conformance fuzzer
 * (tests/conformance/fuzz.py, docs/design.md §4/§5, issue 9).
 *
 *   conf_runner SCRIPT        run SCRIPT (one op per line) in the current
 *                             directory, log to fd 3
 *   conf_runner --stat NAME   print "size hash" of NAME on stdout (what an
 *                             exec'ed program sees of a file)
 *
 * Every op logs one line "<step> <op> <ret> <errno> [data]" to fd 3 with the
 * raw write system call, so the shim never sees (or defers) the log. errno is
 * set to a sentinel before each call and logged after success too: a call
 * that succeeds must leave errno alone. Lines are compared by fuzz.py between
 * a plain run and runs under LD_PRELOAD=libiowq.so; a hang is seen there as a
 * missing line (the driver kills the process group after its timeout).
 *
 * Slots: fd slots 0..7 (S), FILE* slots 0..3 (P), files are names in the
 * current directory. Every blocking op is bounded (timed joins, receive
 * timeouts, sigtimedwait), so a plain run never hangs.
 */
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <mqueue.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#define LOG_FD 250
#define NSLOT 8
#define NFILE 4
#define SENTINEL 7777
#define MAXBUF (1 << 20)

extern char** environ;

static int fds[NSLOT];
static char slot_name[NSLOT][32]; /* file a slot was opened on ("" = none) */
static FILE* fps[NFILE];
static int step;
static const char* self_path;
static int peer_cmd_pipe = -1, peer_cmd_sock = -1, peer_reply = -1;
static pid_t peer_pid = -1;
/* Names whose mtime was explicitly set after the last write of any kind:
 * only those mtimes are compared (others are "now"). */
static char explicit_mt[8][32];
static int stdio_used;

static unsigned char buf[MAXBUF];
static unsigned char data[MAXBUF];

/* ---- log ---------------------------------------------------------------- */
static void raw_write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    long r = syscall(SYS_write, fd, p, n);
    if (r <= 0) return;
    p += r;
    n -= (size_t)r;
  }
}

static void logf_(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char* fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  raw_write_all(LOG_FD, line, (size_t)n);
}

static uint64_t fnv(const unsigned char* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

/* "<len>:<hash>:<first bytes>" of data read */
static const char* desc(const unsigned char* p, long n) {
  static char s[128];
  if (n <= 0) return "-";
  char head[17];
  int k = n < 16 ? (int)n : 16;
  for (int i = 0; i < k; i++) head[i] = (p[i] >= 33 && p[i] < 127) ? (char)p[i] : '.';
  head[k] = 0;
  snprintf(s, sizeof s, "%ld:%016llx:%s", n, (unsigned long long)fnv(p, (size_t)n), head);
  return s;
}

static void fill(int tag, size_t len) {
  if (len > MAXBUF) len = MAXBUF;
  for (size_t i = 0; i < len; i++) data[i] = (unsigned char)('a' + (tag * 7 + i) % 26);
  if (len) data[len - 1] = '\n';
}

/* ---- explicit-mtime bookkeeping ----------------------------------------- */
static void mt_clear_all(void) { memset(explicit_mt, 0, sizeof explicit_mt); }
static void mt_set(const char* name) {
  if (stdio_used || !name[0]) return;
  for (int i = 0; i < 8; i++)
    if (!strcmp(explicit_mt[i], name)) return;
  for (int i = 0; i < 8; i++)
    if (!explicit_mt[i][0]) {
      snprintf(explicit_mt[i], 32, "%s", name);
      return;
    }
}
static int mt_is(const char* name) {
  for (int i = 0; i < 8; i++)
    if (name[0] && !strcmp(explicit_mt[i], name)) return 1;
  return 0;
}
static void mt_drop(const char* name) {
  for (int i = 0; i < 8; i++)
    if (!strcmp(explicit_mt[i], name)) explicit_mt[i][0] = 0;
}

/* ---- helpers -------------------------------------------------------------- */
static int S(const char* a) {
  int s = atoi(a);
  return (s >= 0 && s < NSLOT) ? s : 0;
}
static int FD(const char* a) { return fds[S(a)]; }

/* A read op on a blocking pipe, socket or FIFO with nothing to read would
 * wait forever, plain as well: the generator does not track every failed op
 * (a dup3 from a closed slot leaves the target a socket), so it can draw a
 * read on a slot it thinks is a file (plain runs hung: seeds 6881, 7348,
 * 12634, v5). Such a read is logged as "idle" and not made; poll with a zero
 * timeout answers the same plain and under the shim. */
static int read_would_hang(int fd) {
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) return 0;
  if (!S_ISSOCK(st.st_mode) && !S_ISFIFO(st.st_mode)) return 0;
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0 && (fl & O_NONBLOCK)) return 0; /* fl < 0: fcntl filtered, ask poll */
  struct pollfd pf = {fd, POLLIN, 0};
  return poll(&pf, 1, 0) == 0;
}
#define SKIP_IF_IDLE(fd)             \
  do {                               \
    if (read_would_hang(fd)) {       \
      logf_("%d %s idle", step, op); \
      return;                        \
    }                                \
  } while (0)
static int P(const char* a) {
  int p = atoi(a);
  return (p >= 0 && p < NFILE) ? p : 0;
}

static int parse_flags(const char* s) {
  int f = 0, acc = O_RDWR;
  if (strstr(s, "rdonly")) acc = O_RDONLY;
  if (strstr(s, "wronly")) acc = O_WRONLY;
  if (strstr(s, "creat")) f |= O_CREAT;
  if (strstr(s, "trunc")) f |= O_TRUNC;
  if (strstr(s, "append")) f |= O_APPEND;
  if (strstr(s, "nonblock")) f |= O_NONBLOCK;
  if (strstr(s, "excl")) f |= O_EXCL;
  if (strstr(s, "cloexec")) f |= O_CLOEXEC;
  return f | acc;
}

/* "10,20,30" -> iovecs over data (write) or buf (read) */
static int parse_iov(const char* s, struct iovec* iov, unsigned char* base) {
  int n = 0;
  size_t off = 0;
  char tmp[128];
  snprintf(tmp, sizeof tmp, "%s", s);
  for (char *save, *t = strtok_r(tmp, ",", &save); t && n < 8; t = strtok_r(NULL, ",", &save)) {
    size_t l = (size_t)atol(t);
    if (off + l > MAXBUF) l = 0;
    iov[n].iov_base = base + off;
    iov[n].iov_len = l;
    off += l;
    n++;
  }
  return n;
}
static size_t iov_total(const struct iovec* iov, int n) {
  size_t t = 0;
  for (int i = 0; i < n; i++) t += iov[i].iov_len;
  return t;
}

static void set_slot(int s, int fd, const char* name) {
  fds[s] = fd;
  snprintf(slot_name[s], sizeof slot_name[s], "%s", name ? name : "");
}

static struct timespec deadline_in(int ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

static void msleep(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* ---- peer: a forked process that reports what it sees of the files ---- */
static void describe_files(char* out, size_t cap) {
  size_t o = 0;
  for (int i = 0; i < 4; i++) {
    char name[8];
    snprintf(name, sizeof name, "f%d", i);
    int fd = open(name, O_RDONLY);
    if (fd < 0) {
      o += (size_t)snprintf(out + o, cap - o, "%s:none ", name);
      continue;
    }
    long tot = 0;
    uint64_t h = 1469598103934665603ull;
    for (;;) {
      long r = read(fd, buf, 65536);
      if (r <= 0) break;
      for (long k = 0; k < r; k++) h = (h ^ buf[k]) * 1099511628211ull;
      tot += r;
    }
    close(fd);
    o += (size_t)snprintf(out + o, cap - o, "%s:%ld:%016llx ", name, tot, (unsigned long long)h);
    if (o >= cap) break;
  }
}

static void peer_main(int cmd_pipe, int cmd_sock, int reply) {
  for (;;) {
    struct pollfd p[2] = {{cmd_pipe, POLLIN, 0}, {cmd_sock, POLLIN, 0}};
    int r = poll(p, 2, 20000);
    if (r <= 0) _exit(0);
    char c = 0;
    int fd = (p[0].revents & (POLLIN | POLLHUP)) ? cmd_pipe : cmd_sock;
    if (read(fd, &c, 1) != 1) _exit(0);
    if (c == 'q') _exit(0);
    char out[512];
    if (c == 'l') { /* "l<name>\n": wait for the file's flock, then report it */
      char name[32];
      int k = 0;
      while (k < 31 && read(fd, &name[k], 1) == 1 && name[k] != '\n') k++;
      name[k] = 0;
      int lf = open(name, O_RDONLY);
      /* the program may hold the lock for good (a flock op before): the
       * default SIGALRM ends the peer instead of a hang at the end */
      alarm(5);
      if (lf >= 0) flock(lf, LOCK_EX);
      alarm(0);
      struct stat st;
      long size = lf >= 0 && fstat(lf, &st) == 0 ? (long)st.st_size : -1;
      if (lf >= 0) close(lf); /* releases the lock */
      int n = snprintf(out, sizeof out, "locked-size=%ld\n", size);
      raw_write_all(reply, out, (size_t)n);
      continue;
    }
    describe_files(out, sizeof out - 2);
    size_t n = strlen(out);
    out[n++] = '\n';
    raw_write_all(reply, out, n);
  }
}

static void start_peer(void) {
  int cp[2], cs[2], rp[2];
  if (pipe2(cp, O_CLOEXEC) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cs) || pipe2(rp, O_CLOEXEC))
    return;
  pid_t pid = fork();
  if (pid == 0) {
    close(LOG_FD);
    close(cp[1]);
    close(cs[0]);
    close(rp[0]);
    peer_main(cp[0], cs[1], rp[1]);
  }
  close(cp[0]);
  close(cs[1]);
  close(rp[1]);
  peer_pid = pid;
  peer_cmd_pipe = dup3(cp[1], 240, O_CLOEXEC) >= 0 ? 240 : -1;
  peer_cmd_sock = dup3(cs[0], 241, O_CLOEXEC) >= 0 ? 241 : -1;
  peer_reply = dup3(rp[0], 242, O_CLOEXEC) >= 0 ? 242 : -1;
  close(cp[1]);
  close(cs[0]);
  close(rp[0]);
}

/* ---- signal-driven ops ------------------------------------------------------ */
static volatile sig_atomic_t handler_hits;
static int handler_wfd = -1;
static void handler_write_byte(int sig) {
  (void)sig;
  handler_hits++;
  if (handler_wfd >= 0) {
    int e = errno;
    (void)!write(handler_wfd, "H", 1);
    errno = e;
  }
}

static sigjmp_buf jb;
static pid_t jb_tid; /* the thread that set jb: the only one that may jump to it */
static void handler_jump(int sig) {
  if ((pid_t)syscall(SYS_gettid) != jb_tid) {
    /* Another thread took the process-directed signal: it is main's */
    syscall(SYS_tgkill, getpid(), jb_tid, sig);
    return;
  }
  siglongjmp(jb, 1);
}

struct later {
  int delay_ms, sig, wfd;
};
/* After delay: send sig to the process (0 = none), wait, write a byte.
 * The sender blocks the signal first: the kernel gives a process-directed
 * signal to a thread that does not block it, and main may block it for a
 * moment (glibc's pthread_create blocks every signal around clone; on a
 * loaded machine main can be preempted there past the delay). The sender
 * then took it itself: longjmp_recv's handler siglongjmp'ed this thread onto
 * main's stack, where it went on as main beside main (status 139,
 * regress/wb_exit_sigsegv_sandboxed.conf). Blocked here, it waits for main. */
static void* later_thread(void* arg) {
  struct later* l = arg;
  if (l->sig) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, l->sig);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
  }
  msleep(l->delay_ms);
  if (l->sig) kill(getpid(), l->sig);
  msleep(l->delay_ms);
  if (l->wfd >= 0) (void)!write(l->wfd, "L", 1);
  return NULL;
}

static int make_chan(const char* kind, int sv[2]) {
  if (!strcmp(kind, "sock")) return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
  return pipe2(sv, O_CLOEXEC);
}

/* sig_read KIND SIG DISP: blocking read on a fresh pipe/socketpair while a
 * signal arrives. DISP: restart (SA_RESTART handler writing a byte into the
 * channel), norestart (same without SA_RESTART), ign (SIG_IGN; a thread
 * writes the byte later). */
/* The kernel's struct sigaction, for raw rt_sigaction (raw_sig_read). */
struct ksigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)(void);
  uint64_t mask;
};
#if defined(__x86_64__)
#define KSA_RESTORER 0x04000000UL
void conf_restorer(void);
__asm__(
    ".pushsection .text\n.globl conf_restorer\n.type conf_restorer,@function\nconf_restorer:\n"
    "  movq $15, %rax\n  syscall\n.popsection\n");
#else
#define KSA_RESTORER 0UL
#define conf_restorer NULL
#endif

/* Install sa with libc's sigaction, or (raw) with syscall(SYS_rt_sigaction)
 * the shim never sees; old gets the previous action either way. */
static void set_action(int raw, int sig, const struct sigaction* sa, struct sigaction* old) {
  if (!raw) {
    sigaction(sig, sa, old);
    return;
  }
  struct ksigaction k = {sa->sa_handler, (unsigned long)sa->sa_flags, NULL, 0}, ko;
  if (KSA_RESTORER) {
    k.flags |= KSA_RESTORER;
    k.restorer = conf_restorer;
  }
  memset(&ko, 0, sizeof ko);
  syscall(SYS_rt_sigaction, sig, &k, &ko, sizeof k.mask);
  if (old) {
    memset(old, 0, sizeof *old);
    old->sa_handler = ko.handler;
    old->sa_flags = (int)(ko.flags & ~KSA_RESTORER);
  }
}
static void restore_action(int raw, int sig, const struct sigaction* old) {
  if (!raw) {
    sigaction(sig, old, NULL);
    return;
  }
  struct sigaction sa = *old;
  set_action(1, sig, &sa, NULL);
}

static void op_sig_read(const char* kind, const char* signame, const char* disp, int raw) {
  int sv[2];
  if (make_chan(kind, sv)) {
    logf_("%d sig_read setup-failed %d", step, errno);
    return;
  }
  int sig = !strcmp(signame, "cancel") ? SIGRTMIN + 3 : !strcmp(signame, "usr1") ? SIGUSR1 : SIGALRM;
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  if (!strcmp(disp, "ign")) {
    sa.sa_handler = SIG_IGN;
  } else {
    sa.sa_handler = handler_write_byte;
    sa.sa_flags = !strcmp(disp, "restart") ? SA_RESTART : 0;
  }
  handler_wfd = sv[1];
  handler_hits = 0;
  set_action(raw, sig, &sa, &old);
  /* what libc's sigaction reports now (raw: the shim never saw the change) */
  struct sigaction q;
  memset(&q, 0, sizeof q);
  sigaction(sig, NULL, &q);
  struct later l = {40, sig, !strcmp(disp, "ign") ? sv[1] : -1};
  pthread_t t;
  int have_t = pthread_create(&t, NULL, later_thread, &l) == 0;
  errno = SENTINEL;
  long r = have_t ? read(sv[0], buf, 16) : -2;
  int e = errno;
  char got[64];
  snprintf(got, sizeof got, "%s", desc(buf, r));
  if (have_t) pthread_join(t, NULL);
  /* whatever the handler wrote and the read did not take */
  struct pollfd p = {sv[0], POLLIN, 0};
  long rest = poll(&p, 1, 0) == 1 ? read(sv[0], buf, 16) : 0;
  logf_("%d %s %ld %d %s hits=%d rest=%ld q=%s%s", step, raw ? "raw_sig_read" : "sig_read", r, e, got,
        (int)handler_hits, rest,
        q.sa_handler == SIG_IGN   ? "ign"
        : q.sa_handler == SIG_DFL ? "dfl"
                                  : "hdl",
        (q.sa_flags & SA_RESTART) ? ",restart" : "");
  restore_action(raw, sig, &old);
  handler_wfd = -1;
  close(sv[0]);
  close(sv[1]);
}

/* sigwait_rt HOW: the cancel signal, blocked, sent to the process, must reach
 * sigtimedwait / signalfd exactly as without the shim. sigwait_sig SIG HOW
 * (regress scripts only, not drawn): the same with SIG (sys, usr1, term,
 * rt3), logged as its number. */
static void op_sigwait(const char* how, int sig, const char* name) {
  sigset_t set, oldset;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, &oldset);
  kill(getpid(), sig);
  long r;
  int e;
  if (!strcmp(how, "signalfd")) {
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    struct pollfd p = {sfd, POLLIN, 0};
    r = -1;
    errno = SENTINEL;
    if (sfd >= 0 && poll(&p, 1, 2000) == 1) {
      struct signalfd_siginfo si;
      r = read(sfd, &si, sizeof si) == (long)sizeof si ? (long)si.ssi_signo : -1;
    }
    e = errno;
    if (sfd >= 0) close(sfd);
  } else {
    struct timespec ts = {2, 0};
    errno = SENTINEL;
    r = sigtimedwait(&set, NULL, &ts);
    e = errno;
  }
  if (r > 0 && sig >= SIGRTMIN) r -= SIGRTMIN;
  pthread_sigmask(SIG_SETMASK, &oldset, NULL);
  logf_("%d %s %ld %d", step, name, r, e);
}

/* cancel_read KIND: a thread blocked in read (pipe/sock) or looping on pread
 * of a cached file is cancelled; it must end within 3 s. */
struct reader {
  int fd, file;
};
static void* reader_thread(void* arg) {
  struct reader* rd = arg;
  char b[64];
  if (rd->file) {
    for (long i = 0; i < 100000000L; i++) (void)!pread(rd->fd, b, sizeof b, 0);
  } else {
    (void)!read(rd->fd, b, sizeof b);
  }
  return (void*)1;
}
static void op_cancel_read(const char* kind) {
  int sv[2] = {-1, -1};
  struct reader rd = {-1, 0};
  if (!strcmp(kind, "file")) {
    rd.fd = open(".cancel_file", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    (void)!pwrite(rd.fd, "0123456789", 10, 0);
    rd.file = 1;
  } else {
    if (make_chan(kind, sv)) return;
    rd.fd = sv[0];
  }
  pthread_t t;
  if (pthread_create(&t, NULL, reader_thread, &rd)) {
    logf_("%d cancel_read nothread", step);
  } else {
    msleep(30);
    pthread_cancel(t);
    struct timespec dl = deadline_in(3000);
    void* res = NULL;
    int j = pthread_timedjoin_np(t, &res, &dl);
    logf_("%d cancel_read %s %s", step, j ? "HANG" : "joined",
          res == PTHREAD_CANCELED ? "cancelled" : "returned");
    if (j) /* leave the stuck thread behind; end the script here */
      _exit(3);
  }
  if (rd.file) {
    close(rd.fd);
    unlink(".cancel_file");
  } else {
    close(sv[0]);
    close(sv[1]);
  }
}

/* longjmp_recv: a handler siglongjmps out of a blocking recv; the next
 * message must go to the next recv. */
static void op_longjmp_recv(void) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) return;
  struct timeval tv = {3, 0};
  setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler_jump;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR2, &sa, &old);
  volatile int jumped = 0;
  pthread_t t;
  struct later l = {40, SIGUSR2, -1};
  jb_tid = (pid_t)syscall(SYS_gettid);
  if (sigsetjmp(jb, 1) == 0) {
    if (pthread_create(&t, NULL, later_thread, &l)) {
      logf_("%d longjmp_recv nothread", step);
      goto out;
    }
    if (getenv("CONF_LONGJMP_LATE_UNBLOCK")) {
      /* tests/conformance/longjmp_main.sh: main keeps the signal blocked past
       * the sender's delay, as when it is preempted inside pthread_create
       * (glibc blocks every signal around clone) on a loaded machine. */
      sigset_t usr2, old_mask;
      sigemptyset(&usr2);
      sigaddset(&usr2, SIGUSR2);
      pthread_sigmask(SIG_BLOCK, &usr2, &old_mask);
      msleep(150);
      pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    }
    (void)!recv(sv[0], buf, 16, 0);
  } else {
    jumped = 1;
  }
  pthread_join(t, NULL);
  (void)!send(sv[1], "NEXT", 4, 0);
  errno = SENTINEL;
  long r = recv(sv[0], buf, 16, 0);
  /* main=0: another thread took the jump and goes on as main, on main's stack */
  logf_("%d longjmp_recv %ld %d %s jumped=%d main=%d", step, r, errno, desc(buf, r), jumped,
        (long)syscall(SYS_gettid) == (long)getpid());
out:
  sigaction(SIGUSR2, &old, NULL);
  close(sv[0]);
  close(sv[1]);
}

/* many_readers N KIND: N threads blocked in read on their own channel, then
 * main writes one byte to each; all must finish. */
struct mr {
  int fd;
  long got;
};
static void* mr_thread(void* arg) {
  struct mr* m = arg;
  char b[4];
  m->got = read(m->fd, b, sizeof b);
  return NULL;
}
static void op_many_readers(int n, const char* kind) {
  if (n > 64) n = 64;
  int ch[64][2];
  struct mr m[64];
  pthread_t t[64];
  int made = 0;
  for (int i = 0; i < n; i++) {
    if (make_chan(kind, ch[i])) break;
    m[i].fd = ch[i][0];
    m[i].got = -9;
    if (pthread_create(&t[i], NULL, mr_thread, &m[i])) {
      close(ch[i][0]);
      close(ch[i][1]);
      break;
    }
    made++;
  }
  msleep(30);
  long wrote = 0;
  for (int i = made - 1; i >= 0; i--) wrote += write(ch[i][1], "x", 1);
  int joined = 0, ok = 0;
  struct timespec dl = deadline_in(4000);
  for (int i = 0; i < made; i++) {
    if (pthread_timedjoin_np(t[i], NULL, &dl) == 0) {
      joined++;
      ok += m[i].got == 1;
    }
  }
  logf_("%d many_readers made=%d wrote=%ld joined=%d ok=%d", step, made == n, wrote, joined, ok);
  if (joined != made) _exit(3);
  for (int i = 0; i < made; i++) {
    close(ch[i][0]);
    close(ch[i][1]);
  }
}

/* trickle_recv: a thread sends 100 bytes every 150 ms five times; a
 * recv(MSG_WAITALL) of 500 bytes must get all of them (a stall timeout is
 * "no progress", not a deadline). */
static void* trickle_thread(void* arg) {
  int fd = *(int*)arg;
  memset(data, 't', 100);
  for (int i = 0; i < 5; i++) {
    msleep(150);
    (void)!send(fd, data, 100, 0);
  }
  return NULL;
}
static void op_trickle_recv(void) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) return;
  pthread_t t;
  if (pthread_create(&t, NULL, trickle_thread, &sv[1])) {
    logf_("%d trickle_recv nothread", step);
  } else {
    errno = SENTINEL;
    long r = recv(sv[0], buf, 500, MSG_WAITALL);
    logf_("%d trickle_recv %ld %d", step, r, errno);
    pthread_join(t, NULL);
  }
  close(sv[0]);
  close(sv[1]);
}

/* stall_peer recv|send MS: a peer that stalls: the other end of a fresh
 * socketpair never writes nor reads. A recv of 100 bytes, or a send of
 * MAXBUF bytes (more than the socket buffer takes), with SO_RCVTIMEO /
 * SO_SNDTIMEO of MS milliseconds: -1 EAGAIN, or the part that fit. */
static void op_stall_peer(const char* how, int ms) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
    logf_("%d stall_peer skip", step);
    return;
  }
  int snd = !strcmp(how, "send");
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  setsockopt(sv[0], SOL_SOCKET, snd ? SO_SNDTIMEO : SO_RCVTIMEO, &tv, sizeof tv);
  errno = SENTINEL;
  long r = snd ? send(sv[0], data, MAXBUF, 0) : recv(sv[0], buf, 100, 0);
  int e = errno;
  close(sv[0]);
  close(sv[1]);
  logf_("%d stall_peer %ld %d", step, r, e);
}

/* threads N S LEN: N threads pwrite LEN bytes each at offset i*LEN of slot S */
struct tw {
  int fd, i;
  size_t len;
  long r;
};
static void* tw_thread(void* arg) {
  struct tw* w = arg;
  unsigned char b[4096];
  /* O_APPEND ignores the offset: the threads' order is the scheduler's, so
     * they all write the same bytes and the file is the same in any order */
  int append = (fcntl(w->fd, F_GETFL) & O_APPEND) != 0;
  for (size_t k = 0; k < w->len && k < sizeof b; k++)
    b[k] = (unsigned char)('A' + ((append ? 0 : w->i) + k) % 26);
  w->r = pwrite(w->fd, b, w->len > sizeof b ? sizeof b : w->len, (off_t)(w->i * w->len));
  return NULL;
}
static void op_threads(int n, int fd, size_t len) {
  if (n > 16) n = 16;
  struct tw w[16];
  pthread_t t[16];
  int made = 0;
  for (int i = 0; i < n; i++) {
    w[i] = (struct tw){fd, i, len, -9};
    if (pthread_create(&t[i], NULL, tw_thread, &w[i])) break;
    made++;
  }
  long sum = 0;
  for (int i = 0; i < made; i++) {
    pthread_join(t[i], NULL);
    sum += w[i].r;
  }
  logf_("%d threads made=%d sum=%ld", step, made == n, sum);
}

/* thread_exit_writes S: a thread writes to S and then calls exit(); main
 * waits. Everything written must be in the file. */
static void* exit_thread(void* arg) {
  int fd = *(int*)arg;
  fill(9, 3000);
  for (int i = 0; i < 10; i++) (void)!write(fd, data, 3000);
  exit(0);
}

/* send_big: a blocking send of 1 MiB to a reader thread that takes 64 KiB
 * every 10 ms: plain the whole count. */
static void* slow_reader(void* arg) {
  int fd = *(int*)arg;
  static unsigned char rb[65536];
  long tot = 0;
  while (tot < (1 << 20)) {
    msleep(10);
    long r = read(fd, rb, sizeof rb);
    if (r <= 0) break;
    tot += r;
  }
  return (void*)tot;
}

static void sigterm_exit_handler(int sig) {
  (void)sig;
  exit(0);
}

/* unshare_write NAME: a thread with its own fd table (unshare(CLONE_FILES))
 * closes the lowest fd it has of the script's and opens NAME on that number,
 * then writes: the bytes must go to NAME, not to the process's file. */
struct uw {
  int fd;
  const char* name;
  long r;
};
static void* unshare_thread(void* arg) {
  struct uw* u = arg;
  if (unshare(CLONE_FILES) != 0) {
    u->r = -2;
    return NULL;
  }
  close(u->fd);
  int fd = open(u->name, O_WRONLY | O_CREAT | O_APPEND, 0644);
  u->r = fd == u->fd ? write(fd, "UNSHARED\n", 9) : -3;
  if (fd >= 0) close(fd);
  /* The private table's copies (pipe ends included) would otherwise live on
   * until the kernel frees the table, after pthread_join has returned: a
   * later poll of a pipe whose other end the program closed would race. Raw,
   * so that the shim does not take these closes for the process's. */
  syscall(SYS_close_range, 0U, ~0U, 0U);
  return NULL;
}

/* seccomp_write FD: a thread enters SECCOMP_MODE_STRICT (read, write, exit,
 * sigreturn only) and writes to a file the process opened: plain it works. */
static void* seccomp_thread(void* arg) {
  int fd = *(int*)arg;
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0) return (void*)-1;
  (void)!write(fd, "SECCOMP\n", 8);
  syscall(SYS_exit, 0);
  return NULL;
}

/* spawn_stat NAME HOW: another program (this one, --stat) reports the file */
static void op_spawn_stat(const char* name, const char* how) {
  int p[2];
  if (pipe2(p, O_CLOEXEC)) return;
  char* argv[] = {(char*)self_path, (char*)"--stat", (char*)name, NULL};
  pid_t pid = -1;
  errno = SENTINEL;
  if (!strcmp(how, "spawn")) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    if (posix_spawn(&pid, self_path, &fa, NULL, argv, environ)) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
  } else if (!strcmp(how, "vfork")) {
    pid = vfork();
    if (pid == 0) {
      dup2(p[1], 1);
      execve(self_path, argv, environ);
      _exit(127);
    }
  } else if (!strcmp(how, "system")) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' --stat %s", self_path, name);
    fflush(stdout);
    int save = dup(1);
    dup2(p[1], 1);
    int st = system(cmd);
    dup2(save, 1);
    close(save);
    close(p[1]);
    long r = read(p[0], buf, 200);
    logf_("%d spawn_stat %d %s", step, st, desc(buf, r));
    close(p[0]);
    return;
  } else {
    pid = fork();
    if (pid == 0) {
      dup2(p[1], 1);
      execve(self_path, argv, environ);
      _exit(127);
    }
  }
  close(p[1]);
  long tot = 0, r;
  while (tot < 200 && (r = read(p[0], buf + tot, 200 - (size_t)tot)) > 0) tot += r;
  int st = -1;
  if (pid > 0) waitpid(pid, &st, 0);
  logf_("%d spawn_stat %d %s", step, st, desc(buf, tot));
  close(p[0]);
}

/* fork_child S TAG LEN HOW: a child writes LEN bytes to S then leaves by HOW */
static void op_fork_child(int fd, int tag, size_t len, const char* how) {
  fill(tag, len);
  pid_t pid = fork();
  if (pid == 0) {
    (void)!write(fd, data, len);
    if (!strcmp(how, "exit")) exit(0);
    if (!strcmp(how, "quick_exit")) quick_exit(0);
    _exit(0);
  }
  int st = -1;
  if (pid > 0) waitpid(pid, &st, 0);
  logf_("%d fork_child %d", step, pid > 0 ? st : -1);
}

static void op_stat_out(const char* opname, long r, int e, const struct stat* st, const char* name) {
  if (r != 0) {
    logf_("%d %s %ld %d", step, opname, r, e);
    return;
  }
  if (mt_is(name))
    logf_("%d %s 0 %d size=%lld mode=%o nlink=%ld mtime=%lld.%09ld", step, opname, e, (long long)st->st_size,
          st->st_mode & 07777, (long)st->st_nlink, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
  else
    logf_("%d %s 0 %d size=%lld mode=%o nlink=%ld", step, opname, e, (long long)st->st_size,
          st->st_mode & 07777, (long)st->st_nlink);
}

/* ---- generator v4 ops (daemons, sandboxes, loopback, shared memory, spawns) -- */

/* Read what a child writes to fd until EOF or 3 s without data; NUL-ended,
 * trailing newline dropped. */
static long read_reply(int fd, char* out, long cap) {
  long tot = 0;
  struct pollfd p = {fd, POLLIN, 0};
  while (tot < cap - 1 && poll(&p, 1, 3000) == 1) {
    long k = read(fd, out + tot, (size_t)(cap - 1 - tot));
    if (k <= 0) break;
    tot += k;
  }
  while (tot > 0 && out[tot - 1] == '\n') tot--;
  out[tot] = 0;
  return tot;
}

/* daemon_write S TAG LEN HOW: a child daemon()s (fork + setsid: the
 * grandchild runs on in a new session), the grandchild writes LEN bytes to S
 * and leaves by HOW (exit/_exit). The parent waits for the grandchild's end
 * (EOF on a pipe only it holds), then looks at the file. */
static void op_daemon_write(int fd, int tag, size_t len, const char* how) {
  int p[2];
  if (pipe2(p, O_CLOEXEC)) return;
  fill(tag, len);
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    if (daemon(1, 1) != 0) _exit(2);
    long w = write(fd, data, len);
    char m[64];
    int k = snprintf(m, sizeof m, "w=%ld sid=%d", w, getsid(0) == getpid());
    (void)!write(p[1], m, (size_t)k);
    if (!strcmp(how, "exit")) exit(0);
    _exit(0);
  }
  close(p[1]);
  int st = -1;
  if (pid > 0) waitpid(pid, &st, 0);
  char rep[128];
  read_reply(p[0], rep, sizeof rep);
  close(p[0]);
  struct stat sb;
  long size = fstat(fd, &sb) == 0 ? (long)sb.st_size : -1;
  logf_("%d daemon_write %d %s size=%ld", step, st, rep[0] ? rep : "NO-REPLY", size);
}

/* seccomp_filter CALL VIA: the process (this thread and every thread and
 * child made later) gets a filter that fails CALL with EPERM (VIA: prctl,
 * the seccomp syscall, or tsync: the seccomp syscall for every thread at
 * once, which the generator does not draw), then a blocking pipe read fed
 * by a thread 40 ms later, then CALL itself is tried. The filter stays for
 * the rest of the script. */
#include <linux/filter.h>
#include <stddef.h>
#include <sys/utsname.h>
static int filter_nrs(const char* call, int nr[2]) {
  nr[0] = nr[1] = -1;
  if (!strcmp(call, "getppid"))
    nr[0] = SYS_getppid;
  else if (!strcmp(call, "uname"))
    nr[0] = SYS_uname;
  else if (!strcmp(call, "fcntl"))
    nr[0] = SYS_fcntl;
  else if (!strcmp(call, "fsync"))
    nr[0] = SYS_fsync, nr[1] = SYS_fdatasync;
  else if (!strcmp(call, "pread"))
    nr[0] = SYS_pread64, nr[1] = SYS_preadv;
  else if (!strcmp(call, "ftruncate"))
    nr[0] = SYS_ftruncate;
  else if (!strcmp(call, "madvise"))
    nr[0] = SYS_madvise;
  else
    return -1;
  return 0;
}
static long probe_call(const char* call) {
  struct utsname u;
  char c;
  if (!strcmp(call, "getppid")) return getppid() > 0 ? 0 : -1;
  if (!strcmp(call, "uname")) return uname(&u);
  if (!strcmp(call, "fcntl")) return fcntl(1, F_GETFD) >= 0 ? 0 : -1;
  if (!strcmp(call, "fsync")) return fsync(-1);
  if (!strcmp(call, "pread")) return pread(0, &c, 1, 0);
  if (!strcmp(call, "ftruncate")) return ftruncate(-1, 0);
  if (!strcmp(call, "madvise")) return madvise(buf, 4096, MADV_NORMAL);
  return -9;
}
static void op_seccomp_filter(const char* call, const char* via) {
  int nr[2];
  if (filter_nrs(call, nr)) {
    logf_("%d seccomp_filter bad-call", step);
    return;
  }
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr[0], 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr[1], 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
  errno = SENTINEL;
  long r = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (r == 0)
    r = !strcmp(via, "syscall") ? syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)
        : !strcmp(via, "tsync")
            ? syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog)
            : prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
  int e = errno;
  int sv[2];
  long rr = -9;
  if (pipe2(sv, O_CLOEXEC) == 0) {
    struct later l = {40, 0, sv[1]};
    pthread_t t;
    if (pthread_create(&t, NULL, later_thread, &l) == 0) {
      rr = read(sv[0], buf, 16);
      pthread_join(t, NULL);
    }
    close(sv[0]);
    close(sv[1]);
  }
  errno = SENTINEL;
  long pr = probe_call(call);
  logf_("%d seccomp_filter %ld %d read=%ld probe=%ld %d", step, r, e, rr, pr, errno);
}

/* seccomp_strict_read KIND VIA: a thread enters SECCOMP_MODE_STRICT (via
 * prctl or the seccomp syscall) and does a blocking read on a pipe/socket
 * the main thread writes 30 ms later; it reports over another pipe. */
struct strict_arg {
  int rfd, repfd, via;
};
static void* strict_read_thread(void* arg) {
  struct strict_arg* s = arg;
  long r = s->via ? syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL)
                  : prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT);
  if (r != 0) return (void*)-1;
  char b[8];
  long n = read(s->rfd, b, sizeof b);
  char m[2] = {(char)('0' + (n > 9 ? 9 : n < 0 ? 0 : n)), '\n'};
  (void)!write(s->repfd, m, 2);
  syscall(SYS_exit, 0);
  return NULL;
}
static void op_seccomp_strict_read(const char* kind, const char* via) {
  int sv[2], rp[2];
  if (make_chan(kind, sv)) return;
  if (pipe2(rp, O_CLOEXEC)) {
    close(sv[0]);
    close(sv[1]);
    return;
  }
  struct strict_arg s = {sv[0], rp[1], !strcmp(via, "syscall")};
  pthread_t t;
  if (pthread_create(&t, NULL, strict_read_thread, &s)) {
    logf_("%d seccomp_strict_read nothread", step);
  } else {
    msleep(30);
    (void)!write(sv[1], "ab", 2);
    struct timespec dl = deadline_in(3000);
    int j = pthread_timedjoin_np(t, NULL, &dl);
    char rep[16] = "";
    struct pollfd p = {rp[0], POLLIN, 0};
    if (poll(&p, 1, 0) == 1 && read(rp[0], rep, 1) == 1) rep[1] = 0; /* one digit */
    logf_("%d seccomp_strict_read %s got=%s", step, j ? "HANG" : "joined", rep[0] ? rep : "none");
    if (j) _exit(3);
  }
  close(sv[0]);
  close(sv[1]);
  close(rp[0]);
  close(rp[1]);
}

/* net_check FAMILY SIDE: a loopback listener (AF_UNIX abstract or
 * 127.0.0.1), a forked peer. SIDE accept: the peer connects 20 ms later and
 * the program blocks in accept; connect: the peer accepts and the program
 * connects. The program then sends "c" and the peer answers with what it
 * sees of the files (like peer_check). */
#include <netinet/in.h>
#include <sys/un.h>
static int net_listener(const char* fam, struct sockaddr_storage* ss, socklen_t* sl) {
  int tcp = !strcmp(fam, "tcp");
  int l = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l < 0) return -1;
  memset(ss, 0, sizeof *ss);
  if (tcp) {
    struct sockaddr_in* in = (struct sockaddr_in*)ss;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *sl = sizeof *in;
  } else {
    struct sockaddr_un* un = (struct sockaddr_un*)ss;
    un->sun_family = AF_UNIX;
    int k = snprintf(un->sun_path + 1, sizeof un->sun_path - 1, "iowq-conf-%d-%d", (int)getpid(), step);
    *sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)k);
  }
  if (bind(l, (struct sockaddr*)ss, *sl) || listen(l, 4) || getsockname(l, (struct sockaddr*)ss, sl)) {
    close(l);
    return -1;
  }
  struct timeval tv = {3, 0};
  setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return l;
}
static void net_serve(int c) { /* the peer's side of a connection */
  char cmd;
  struct pollfd p = {c, POLLIN, 0};
  if (poll(&p, 1, 3000) == 1 && read(c, &cmd, 1) == 1) {
    char out[512];
    describe_files(out, sizeof out - 2);
    size_t n = strlen(out);
    out[n++] = '\n';
    raw_write_all(c, out, n);
  }
}
static void op_net_check(const char* fam, const char* side) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  int l = net_listener(fam, &ss, &sl);
  if (l < 0) {
    logf_("%d net_check setup-failed", step);
    return;
  }
  int acc = !strcmp(side, "accept");
  pid_t pid = fork();
  if (pid == 0) {
    int c;
    if (acc) {
      close(l);
      msleep(20);
      c = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (c < 0 || connect(c, (struct sockaddr*)&ss, sl)) _exit(2);
    } else {
      c = accept(l, NULL, NULL);
      if (c < 0) _exit(2);
    }
    net_serve(c);
    _exit(0);
  }
  long r;
  int e, c = -1;
  errno = SENTINEL;
  if (acc) {
    c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    r = c >= 0 ? 0 : -1;
  } else {
    c = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    r = c >= 0 ? connect(c, (struct sockaddr*)&ss, sl) : -1;
  }
  e = errno;
  char rep[512] = "";
  long w = -9;
  if (r == 0) {
    w = write(c, "c", 1);
    read_reply(c, rep, sizeof rep);
  }
  if (c >= 0) close(c);
  close(l);
  int st = -1;
  if (pid > 0) waitpid(pid, &st, 0);
  logf_("%d net_check %ld %d w=%ld st=%d %s", step, r, e, w, st, rep[0] ? rep : "NO-REPLY");
}

/* shm_map S TAG LEN: a MAP_SHARED writable map of slot S's file (grown to
 * LEN first if shorter) is written, then a forked child reads the file with
 * pread and reports; the program reads it back too. */
static void op_shm_map(int fd, int tag, size_t len) {
  struct stat sb;
  errno = SENTINEL;
  if (fstat(fd, &sb)) {
    logf_("%d shm_map -1 %d", step, errno);
    return;
  }
  long tr = (size_t)sb.st_size < len ? ftruncate(fd, (off_t)len) : 0;
  void* m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) {
    logf_("%d shm_map tr=%ld map=-1 %d", step, tr, errno);
    return;
  }
  fill(tag, len);
  memcpy(m, data, len / 2 + 1);
  int p[2];
  if (pipe2(p, O_CLOEXEC)) {
    munmap(m, len);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    long k = pread(fd, buf, len, 0);
    const char* d = desc(buf, k);
    raw_write_all(p[1], d, strlen(d));
    _exit(0);
  }
  close(p[1]);
  char rep[128];
  read_reply(p[0], rep, sizeof rep);
  close(p[0]);
  if (pid > 0) waitpid(pid, NULL, 0);
  munmap(m, len);
  long k = pread(fd, buf, len, 0);
  logf_("%d shm_map tr=%ld child=%s self=%s", step, tr, rep[0] ? rep : "NO-REPLY", desc(buf, k));
}

/* shm_anon KIND LEN: a memfd or a POSIX shm object (not a file of the
 * directory) gets LEN bytes by write(), is read through a map, and a forked
 * child writes through a shared map made before the fork; the program then
 * reads with pread. */
static void op_shm_anon(const char* kind, size_t len) {
  char name[64];
  snprintf(name, sizeof name, "/iowq-conf-%d-%d", (int)getpid(), step);
  errno = SENTINEL;
  int fd = !strcmp(kind, "memfd") ? memfd_create("conf", MFD_CLOEXEC)
                                  : shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    logf_("%d shm_anon -1 %d", step, errno);
    return;
  }
  if (strcmp(kind, "memfd")) shm_unlink(name);
  fill(3, len);
  long w = write(fd, data, len);
  char got[128] = "-";
  void* m = mmap(NULL, len + 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m != MAP_FAILED) snprintf(got, sizeof got, "%s", desc(m, (long)len));
  if (m != MAP_FAILED) {
    pid_t pid = fork();
    if (pid == 0) {
      memcpy(m, "CHILD", 5);
      _exit(0);
    }
    if (pid > 0) waitpid(pid, NULL, 0);
    munmap(m, len + 4096);
  }
  long k = pread(fd, buf, len + 10, 0);
  logf_("%d shm_anon w=%ld map=%s after=%s", step, w, got, desc(buf, k));
  close(fd);
}

/* The peer's one-line answer into buf (at most cap bytes, newline dropped). */
static long read_peer_line(long cap) {
  long tot = 0;
  struct pollfd p = {peer_reply, POLLIN, 0};
  while (tot < cap && poll(&p, 1, 3000) == 1) {
    long k = read(peer_reply, buf + tot, (size_t)(cap - tot));
    if (k <= 0) break;
    tot += k;
    if (buf[tot - 1] == '\n') break;
  }
  buf[tot > 0 ? tot - 1 : 0] = 0;
  return tot;
}

/* peer_check_raw KIND: as peer_check, but "check" goes with the raw write
 * system call (syscall(SYS_write)), which no interposer sees. */
static void op_peer_check(const char* kind, int raw) {
  int cfd = !strcmp(kind, "sock") ? peer_cmd_sock : peer_cmd_pipe;
  errno = SENTINEL;
  long r = raw ? syscall(SYS_write, cfd, "c", 1) : write(cfd, "c", 1);
  int e = errno;
  long tot = read_peer_line(500);
  logf_("%d %s %ld %d %s", step, raw ? "peer_check_raw" : "peer_check", r, e,
        tot > 0 ? (char*)buf : "NO-REPLY");
}

/* popen_stat NAME r|w: r: popen() of this program's --stat NAME, read its
 * answer; w: popen("cat >> NAME", "w") and write 100 bytes into it. */
static void op_popen(const char* name, const char* how) {
  char cmd[600];
  int rd = !strcmp(how, "r");
  if (rd)
    snprintf(cmd, sizeof cmd, "'%s' --stat %s", self_path, name);
  else
    snprintf(cmd, sizeof cmd, "cat >> %s", name);
  errno = SENTINEL;
  FILE* f = popen(cmd, rd ? "re" : "we");
  if (!f) {
    logf_("%d popen_stat -1 %d", step, errno);
    return;
  }
  long n;
  if (rd) {
    n = (long)fread(buf, 1, 200, f);
  } else {
    fill(11, 100);
    n = (long)fwrite(data, 1, 100, f);
  }
  /* The child may end before pclose's flush reaches the pipe (a seccomp
   * filter the child inherited fails the shell's redirection): SIGPIPE
   * would then end this process or not by a race, plain as well (seed
   * 5613, v5, route_all, 1 run in 4): it is ignored for the flush. */
  struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe;
  sigemptyset(&ign.sa_mask);
  sigaction(SIGPIPE, &ign, &old_pipe);
  int st = pclose(f);
  sigaction(SIGPIPE, &old_pipe, NULL);
  logf_("%d popen_stat %ld %d %s", step, n, st, rd ? desc(buf, n) : "-");
}

/* spawn_fa NAME read|append: posix_spawn with file actions. read: the
 * child's stdin is NAME opened by the action, it reports it (--stat
 * /dev/stdin) on a pipe; append: its stdout is NAME opened O_APPEND by the
 * action and it writes 100 bytes there (--emit). */
static void op_spawn_fa(const char* name, const char* how) {
  int p[2];
  if (pipe2(p, O_CLOEXEC)) return;
  int rd = !strcmp(how, "read");
  char* argv_r[] = {(char*)self_path, (char*)"--stat", (char*)"/dev/stdin", NULL};
  char* argv_w[] = {(char*)self_path, (char*)"--emit", NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (rd) {
    posix_spawn_file_actions_addopen(&fa, 0, name, O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  } else {
    posix_spawn_file_actions_addopen(&fa, 1, name, O_WRONLY | O_APPEND | O_CREAT, 0644);
  }
  posix_spawn_file_actions_addclose(&fa, p[0]);
  pid_t pid = -1;
  int e = posix_spawn(&pid, self_path, &fa, NULL, rd ? argv_r : argv_w, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  char rep[128] = "";
  if (e == 0 && rd) read_reply(p[0], rep, sizeof rep);
  close(p[0]);
  int st = -1;
  if (e == 0) waitpid(pid, &st, 0);
  logf_("%d spawn_fa %d %d %s", step, e, st, rep[0] ? rep : "-");
}

/* thread_after_write S TAG LEN: write LEN bytes to S, then a new thread
 * looks at the file (fstat, pread from 0) and writes 10 bytes itself. */
struct taw {
  int fd;
  long size, w;
  char got[128];
};
static void* taw_thread(void* arg) {
  struct taw* t = arg;
  static unsigned char tb[200000];
  struct stat sb;
  t->size = fstat(t->fd, &sb) == 0 ? (long)sb.st_size : -1;
  long k = pread(t->fd, tb, sizeof tb, 0);
  snprintf(t->got, sizeof t->got, "%s", desc(tb, k));
  t->w = write(t->fd, "THREAD-10\n", 10);
  return NULL;
}
static void op_thread_after_write(int fd, int tag, size_t len) {
  fill(tag, len);
  long w = write(fd, data, len);
  struct taw t = {fd, -9, -9, "-"};
  pthread_t th;
  if (pthread_create(&th, NULL, taw_thread, &t)) {
    logf_("%d thread_after_write %ld nothread", step, w);
    return;
  }
  pthread_join(th, NULL);
  logf_("%d thread_after_write %ld size=%ld got=%s w=%ld", step, w, t.size, t.got, t.w);
}

/* libc_thread_check KIND S TAG LEN (v5): a thread made by KIND (thrd:
 * C11 thrd_create; timer: a timer_create SIGEV_THREAD callback; mq: an
 * mq_notify SIGEV_THREAD callback; clone: libc's clone() with CLONE_VM and
 * CLONE_THREAD, no CLONE_SETTLS) waits for "go"; LEN bytes are written to
 * S; the thread then sends "check" to the peer with the raw write system
 * call, and the peer's answer is logged. */
static sem_t ltc_go, ltc_told;
static long ltc_r = -9;
static int ltc_clone_go;
static pid_t ltc_clone_tid;
static void ltc_tell(void) { ltc_r = syscall(SYS_write, peer_cmd_pipe, "c", 1); }
static void ltc_notify(union sigval v) {
  (void)v;
  while (sem_wait(&ltc_go) != 0) {
  }
  ltc_tell();
  /* glibc runs a SIGEV_THREAD callback (mq_notify's, timer_create's) on a
   * detached thread with every signal open, and that thread lives on a while
   * after it told us. A later op's process-directed signal (sigwait_rt's
   * SIGRTMIN+3, blocked in main only) then went to it and ended the process,
   * plain or not (regress/wb_sigwait_cancel_signal.conf): nothing of ours
   * runs here any more, so it blocks them all before the program goes on. */
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  sem_post(&ltc_told);
}
static int ltc_thrd(void* arg) {
  ltc_notify((union sigval){.sival_ptr = arg});
  return 0;
}
static int ltc_clone(void* arg) {
  (void)arg;
  while (__atomic_load_n(&ltc_clone_go, __ATOMIC_ACQUIRE) == 0)
    syscall(SYS_futex, &ltc_clone_go, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
  ltc_tell();
  return 0;
}
static void op_libc_thread_check(const char* kind, int fd, int tag, size_t len) {
  static char stack[256 << 10] __attribute__((aligned(16)));
  int ok = sem_init(&ltc_go, 0, 0) == 0 && sem_init(&ltc_told, 0, 0) == 0;
  ltc_r = -9;
  thrd_t th;
  timer_t tm;
  mqd_t q = (mqd_t)-1;
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD;
  sev.sigev_notify_function = ltc_notify;
  if (!strcmp(kind, "thrd")) {
    ok = ok && thrd_create(&th, ltc_thrd, NULL) == thrd_success;
  } else if (!strcmp(kind, "timer")) {
    struct itimerspec its = {{0, 0}, {0, 1000000}};
    ok = ok && timer_create(CLOCK_MONOTONIC, &sev, &tm) == 0 && timer_settime(tm, 0, &its, NULL) == 0;
  } else if (!strcmp(kind, "mq")) {
    char name[64];
    struct mq_attr at = {0, 1, 8, 0, {0}};
    snprintf(name, sizeof name, "/iowq-conf-%d", (int)getpid());
    q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &at);
    if (q != (mqd_t)-1) mq_unlink(name);
    ok = ok && q != (mqd_t)-1 && mq_notify(q, &sev) == 0 && mq_send(q, "x", 1, 0) == 0;
  } else {
    ltc_clone_go = 0;
    ltc_clone_tid = 1;
    int fl = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
             CLONE_CHILD_CLEARTID;
    ok = ok && clone(ltc_clone, stack + sizeof stack, fl, NULL, NULL, NULL, &ltc_clone_tid) > 0;
  }
  fill(tag, len);
  long w = write(fd, data, len);
  if (!ok) {
    logf_("%d libc_thread_check %ld nothread", step, w);
    return;
  }
  if (!strcmp(kind, "clone")) {
    __atomic_store_n(&ltc_clone_go, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &ltc_clone_go, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    /* CLONE_CHILD_CLEARTID: zeroed and woken (shared futex) at its exit */
    for (pid_t v; (v = __atomic_load_n(&ltc_clone_tid, __ATOMIC_ACQUIRE)) != 0;)
      syscall(SYS_futex, &ltc_clone_tid, FUTEX_WAIT, v, NULL, NULL, 0);
  } else {
    sem_post(&ltc_go);
    /* Bounded: a SIGEV_THREAD notification glibc could not start a thread
     * for (rlimit_nothreads before it) never comes (a plain run hung: seed
     * 353, v5). */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 3;
    int got;
    while ((got = sem_timedwait(&ltc_told, &dl)) != 0 && errno == EINTR) {
    }
    if (got != 0) {
      if (!strcmp(kind, "timer")) timer_delete(tm);
      if (q != (mqd_t)-1) mq_close(q);
      logf_("%d libc_thread_check %ld no-notification", step, w);
      return;
    }
    if (!strcmp(kind, "thrd")) thrd_join(th, NULL);
    if (!strcmp(kind, "timer")) timer_delete(tm);
  }
  if (q != (mqd_t)-1) mq_close(q);
  long tot = read_peer_line(500);
  logf_("%d libc_thread_check %ld %ld %s", step, w, ltc_r, tot > 0 ? (char*)buf : "NO-REPLY");
}

/* aio S TAG LEN OFF read|write (v5): glibc's AIO helper is made by a first
 * request (aio_read of 0 bytes) and idles; LEN bytes are written to S; then
 * an aio_read of 200 bytes at OFF, or an aio_write of 64 bytes at OFF, is
 * polled to its end (aio_error) and logged with what it read. */
static void op_aio(int fd, int tag, size_t len, long off, const char* how) {
  /* Files only: on a socket or pipe glibc's helper blocks in read() until
   * data comes, which nothing here sends (a plain run hung: seed 296, v5). */
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    logf_("%d aio not-a-file", step);
    return;
  }
  struct aiocb cb;
  memset(&cb, 0, sizeof cb);
  cb.aio_fildes = fd;
  cb.aio_sigevent.sigev_notify = SIGEV_NONE;
  cb.aio_buf = buf;
  cb.aio_nbytes = 0;
  int first = aio_read(&cb);
  for (long g = 0; first == 0 && aio_error(&cb) == EINPROGRESS && g < 100000000; g++) sched_yield();
  if (first == 0) aio_return(&cb);
  fill(tag, len);
  long w = write(fd, data, len);
  int rd = !strcmp(how, "read");
  static unsigned char mine[64];
  memset(mine, 'A' + tag % 26, sizeof mine);
  memset(&cb, 0, sizeof cb);
  cb.aio_fildes = fd;
  cb.aio_sigevent.sigev_notify = SIGEV_NONE;
  cb.aio_buf = rd ? buf : mine;
  cb.aio_nbytes = rd ? 200 : sizeof mine;
  cb.aio_offset = off;
  errno = SENTINEL;
  int r = rd ? aio_read(&cb) : aio_write(&cb);
  int e = errno;
  long ret = -9;
  int err = -9;
  if (r == 0) {
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) { /* bounded in time: 3 s */
      if ((err = aio_error(&cb)) != EINPROGRESS) break;
      clock_gettime(CLOCK_MONOTONIC, &t);
      if (t.tv_sec - t0.tv_sec >= 3) break;
      sched_yield();
    }
    if (err == EINPROGRESS) {
      aio_cancel(fd, &cb);
      logf_("%d aio %ld %d still-in-progress", step, w, r);
      return;
    }
    ret = aio_return(&cb);
  }
  logf_("%d aio %ld %d %d %d %ld %s", step, w, r, r ? e : 0, err, ret, rd ? desc(buf, ret) : "-");
}

/* sendfile_peer S LEN HOW: sendfile or splice from slot S's file (offset 0,
 * the fd's own offset untouched) into a pipe a forked child drains and
 * reports. */
static void op_sendfile_peer(int fd, size_t len, const char* how) {
  int p[2], rp[2];
  if (pipe2(p, O_CLOEXEC)) return;
  if (pipe2(rp, O_CLOEXEC)) {
    close(p[0]);
    close(p[1]);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(p[1]);
    long tot = 0, k;
    uint64_t h = 1469598103934665603ull;
    struct pollfd q = {p[0], POLLIN, 0};
    while (poll(&q, 1, 3000) == 1 && (k = read(p[0], buf, 65536)) > 0) {
      for (long i = 0; i < k; i++) h = (h ^ buf[i]) * 1099511628211ull;
      tot += k;
    }
    char m[64];
    int n = snprintf(m, sizeof m, "%ld:%016llx", tot, (unsigned long long)h);
    raw_write_all(rp[1], m, (size_t)n);
    _exit(0);
  }
  close(p[0]);
  close(rp[1]);
  errno = SENTINEL;
  long r;
  if (!strcmp(how, "splice")) {
    loff_t off = 0;
    r = splice(fd, &off, p[1], NULL, len, 0);
  } else {
    off_t off = 0;
    r = sendfile(p[1], fd, &off, len);
  }
  int e = errno;
  close(p[1]);
  char rep[128];
  read_reply(rp[0], rep, sizeof rep);
  close(rp[0]);
  if (pid > 0) waitpid(pid, NULL, 0);
  logf_("%d sendfile_peer %ld %d peer=%s", step, r, e, rep[0] ? rep : "NO-REPLY");
}

/* trunc_race S: two threads pwrite 512-byte blocks all over [0, 8192) while
 * a third ftruncates to 8192 four times: any order gives the same file.
 * An O_APPEND slot (pwrite would append) is replaced by a fresh open. */
struct trw {
  int fd, who;
  long sum;
};
static void* trunc_race_thread(void* arg) {
  struct trw* t = arg;
  unsigned char b[512];
  t->sum = 0;
  if (t->who == 2) {
    for (int i = 0; i < 4; i++) t->sum += ftruncate(t->fd, 8192);
    return NULL;
  }
  for (int i = 0; i < 8; i++) {
    memset(b, 'A' + t->who * 8 + i, sizeof b);
    t->sum += pwrite(t->fd, b, sizeof b, (off_t)((t->who * 8 + i) * 512));
  }
  return NULL;
}
static void op_trunc_race(int s) {
  int fd = fds[s], own = -1;
  int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
  /* fl < 0: fcntl refused (a seccomp filter), so O_APPEND is unknown and the
   * pwrites might append (a nondeterministic plain run: seed 14801, v5) */
  if (fd >= 0 && (fl < 0 || (fl & O_APPEND) || (fl & O_ACCMODE) == O_RDONLY)) {
    if (!slot_name[s][0]) {
      logf_("%d trunc_race skip", step);
      return;
    }
    fd = own = open(slot_name[s], O_RDWR | O_CLOEXEC);
  }
  struct trw t[3];
  pthread_t th[3];
  int made = 0;
  for (int i = 0; i < 3; i++) t[i] = (struct trw){fd, i, -9};
  for (int i = 0; i < 3; i++) {
    if (pthread_create(&th[i], NULL, trunc_race_thread, &t[i])) break;
    made++;
  }
  for (int i = 0; i < made; i++) pthread_join(th[i], NULL);
  struct stat sb;
  long size = fstat(fd, &sb) == 0 ? (long)sb.st_size : -1;
  long k = pread(fd, buf, 9000, 0);
  logf_("%d trunc_race made=%d %ld %ld %ld size=%ld %s", step, made, t[0].sum, t[1].sum, t[2].sum, size,
        desc(buf, k));
  if (own >= 0) close(own);
}

/* sig_exec SIG PDISP CDISP HOW: the program sets SIG to PDISP (ign, dfl,
 * hdl), then twice a child (vfork or fork) sets CDISP (dfl, ign, keep) and
 * execs this program's --sigstate, which reports whether the kernel has SIG
 * ignored or blocked; then the program reads SIG's action back. SIG_IGN
 * crosses exec, a handler does not. */
static void noop_handler(int sig) { (void)sig; }
static int parse_sig(const char* s) {
  return !strcmp(s, "pipe")     ? SIGPIPE
         : !strcmp(s, "hup")    ? SIGHUP
         : !strcmp(s, "xfsz")   ? SIGXFSZ
         : !strcmp(s, "term")   ? SIGTERM
         : !strcmp(s, "cancel") ? SIGRTMIN + 3
                                : SIGUSR1;
}
static void op_sig_exec(const char* signame, const char* pdisp, const char* cdisp, const char* how) {
  int sig = parse_sig(signame);
  struct sigaction sa, old, q;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = !strcmp(pdisp, "ign") ? SIG_IGN : !strcmp(pdisp, "dfl") ? SIG_DFL : noop_handler;
  sigaction(sig, &sa, &old);
  char res[2][32];
  char sigarg[16];
  snprintf(sigarg, sizeof sigarg, "%d", sig);
  char* argv[] = {(char*)self_path, (char*)"--sigstate", sigarg, NULL};
  for (int i = 0; i < 2; i++) {
    int p[2];
    snprintf(res[i], sizeof res[i], "none");
    if (pipe2(p, O_CLOEXEC)) continue;
    pid_t pid = !strcmp(how, "vfork") ? vfork() : fork();
    if (pid == 0) {
      if (strcmp(cdisp, "keep")) {
        struct sigaction c;
        memset(&c, 0, sizeof c);
        sigemptyset(&c.sa_mask);
        c.sa_handler = !strcmp(cdisp, "ign") ? SIG_IGN : SIG_DFL;
        sigaction(sig, &c, NULL);
      }
      dup2(p[1], 1);
      execve(self_path, argv, environ);
      _exit(127);
    }
    close(p[1]);
    read_reply(p[0], res[i], sizeof res[i]);
    close(p[0]);
    if (pid > 0) waitpid(pid, NULL, 0);
  }
  memset(&q, 0, sizeof q);
  sigaction(sig, NULL, &q);
  logf_("%d sig_exec %s %s now=%s", step, res[0], res[1],
        q.sa_handler == SIG_IGN   ? "ign"
        : q.sa_handler == SIG_DFL ? "dfl"
                                  : "hdl");
  sigaction(sig, &old, NULL);
}

/* --sigstate SIG: the kernel's view of SIG in this process */
static int sigstate_main(int sig) {
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  unsigned long long ign = 0, blk = 0, cgt = 0;
  while (f && fgets(line, sizeof line, f)) {
    if (!strncmp(line, "SigIgn:", 7)) ign = strtoull(line + 7, NULL, 16);
    if (!strncmp(line, "SigBlk:", 7)) blk = strtoull(line + 7, NULL, 16);
    if (!strncmp(line, "SigCgt:", 7)) cgt = strtoull(line + 7, NULL, 16);
  }
  if (f) fclose(f);
  unsigned long long bit = 1ull << (sig - 1);
  printf("ign=%d,blk=%d,cgt=%d\n", !!(ign & bit), !!(blk & bit), !!(cgt & bit));
  return 0;
}

/* --emit: 100 bytes to stdout with write() (spawn_fa append) */
static int emit_main(void) {
  fill(17, 100);
  return write(1, data, 100) == 100 ? 0 : 1;
}

/* An op that reuses a slot closes what the slot held. That close can report
 * a deferred write-behind error (docs/design.md §5), so it is a step line of
 * its own, "<step> hidden_close <ret> <errno>", logged whether it fails or
 * not (plain and shim logs stay aligned), and errno is put back for the op. */
static void hidden_close(int fd) {
  if (fd < 0) return;
  errno = SENTINEL;
  long r = close(fd);
  logf_("%d hidden_close %ld %d", step, r, errno);
  errno = SENTINEL;
}

/* ---- the interpreter ---------------------------------------------------------- */
#define IS(x) (!strcmp(op, x))
#define LOGR(r) logf_("%d %s %ld %d", step, op, (long)(r), errno)
#define LOGRD(r, p) logf_("%d %s %ld %d %s", step, op, (long)(r), errno, desc(p, (long)(r)))

static int is_write_op(const char* op) {
  static const char* w[] = {"write",
                            "pwrite",
                            "writev",
                            "pwritev",
                            "pwritev2",
                            "ftruncate",
                            "fallocate",
                            "posix_fallocate",
                            "copy_file_range",
                            "sendfile",
                            "fork_child",
                            "threads",
                            "printf",
                            "eprintf",
                            "write1",
                            "write2",
                            "fprintf",
                            "fputs",
                            "fwrite",
                            "fflush",
                            "fclose",
                            "fopen", /* "w" truncates: the mtime is now's (seed 13525, v5) */
                            "open",
                            "openat",
                            "thread_exit_writes",
                            "peer_flock",
                            "unshare_write",
                            "seccomp_write",
                            "vfork_write",
                            "daemon_write",
                            "shm_map",
                            "popen_stat",
                            "spawn_fa",
                            "thread_after_write",
                            "trunc_race",
                            "libc_thread_check",
                            "aio",
                            NULL};
  for (int i = 0; w[i]; i++)
    if (!strcmp(op, w[i])) return 1;
  return 0;
}

static void* exit_from_thread(void* arg) {
  (void)arg;
  exit(0);
}

static int ended;
static void end_script(const char* how) {
  ended = 1;
  /* which names' mtimes fuzz.py may compare after exit */
  char names[256] = "";
  for (int i = 0; i < 8; i++)
    if (explicit_mt[i][0]) {
      strcat(names, " ");
      strcat(names, explicit_mt[i]);
    }
  logf_("%d end %s mt:%s", step, how, names);
  if (peer_cmd_pipe >= 0) (void)!write(peer_cmd_pipe, "q", 1);
  if (peer_pid > 0) waitpid(peer_pid, NULL, 0);
  if (!strcmp(how, "_exit")) _exit(0);
  if (!strcmp(how, "quick_exit")) quick_exit(0);
  if (!strcmp(how, "sigterm")) {
    signal(SIGTERM, SIG_DFL);
    kill(getpid(), SIGTERM);
    for (int i = 0; i < 200; i++) msleep(10);
    _exit(4);
  }
  if (!strcmp(how, "pthread_exit")) pthread_exit(NULL); /* last thread: process exits 0 */
  if (!strcmp(how, "sigterm_exit")) {                   /* a handler that calls exit() */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = sigterm_exit_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    kill(getpid(), SIGTERM);
    for (int i = 0; i < 200; i++) msleep(10);
    _exit(4);
  }
  if (!strcmp(how, "execve") || !strcmp(how, "execveat")) {
    /* the image is replaced by one that only exits 0: nothing pending may be lost */
    char* argv[] = {(char*)"true", NULL};
    if (!strcmp(how, "execve"))
      execve("/bin/true", argv, environ);
    else
      execveat(AT_FDCWD, "/bin/true", argv, environ, 0);
    _exit(5);
  }
  if (!strcmp(how, "thread_exit")) {
    pthread_t t;
    if (pthread_create(&t, NULL, exit_from_thread, NULL) == 0) pthread_join(t, NULL);
  }
  if (!strcmp(how, "return")) return; /* main returns 0 */
  exit(0);
}

static void run_op(char* line) {
  char* a[10] = {0};
  int n = 0;
  for (char *save, *t = strtok_r(line, " \t\n", &save); t && n < 10; t = strtok_r(NULL, " \t\n", &save))
    a[n++] = t;
  if (n == 0 || a[0][0] == '#') return;
  for (int i = n; i < 10; i++) a[i] = (char*)"0";
  const char* op = a[0];
  if (is_write_op(op)) {
    mt_clear_all();
    if (IS("printf") || IS("eprintf") || IS("fprintf") || IS("fputs") || IS("fwrite")) stdio_used = 1;
  }
  struct iovec iov[8];
  struct stat st;
  long r;
  errno = SENTINEL;

  if (IS("open") || IS("openat")) {
    int s = S(a[1]);
    if (fds[s] >= 0) hidden_close(fds[s]);
    r = IS("open") ? open(a[2], parse_flags(a[3]), 0644) : openat(AT_FDCWD, a[2], parse_flags(a[3]), 0644);
    int e = errno;
    set_slot(s, (int)r, r >= 0 ? a[2] : NULL);
    logf_("%d %s %d %d", step, op, r >= 0 ? 0 : -1, e);
  } else if (IS("close")) {
    int s = S(a[1]);
    r = close(fds[s]);
    LOGR(r);
    set_slot(s, -1, NULL);
  } else if (IS("write")) {
    fill(atoi(a[2]), (size_t)atol(a[3]));
    r = write(FD(a[1]), data, (size_t)atol(a[3]));
    LOGR(r);
  } else if (IS("pwrite")) {
    fill(atoi(a[2]), (size_t)atol(a[3]));
    r = pwrite(FD(a[1]), data, (size_t)atol(a[3]), atol(a[4]));
    LOGR(r);
  } else if (IS("writev") || IS("pwritev") || IS("pwritev2")) {
    int k = parse_iov(a[3], iov, data);
    fill(atoi(a[2]), iov_total(iov, k));
    if (IS("writev"))
      r = writev(FD(a[1]), iov, k);
    else if (IS("pwritev"))
      r = pwritev(FD(a[1]), iov, k, atol(a[4]));
    else
      r = pwritev2(FD(a[1]), iov, k, atol(a[4]), !strcmp(a[5], "append") ? RWF_APPEND : 0);
    LOGR(r);
  } else if (IS("read")) {
    SKIP_IF_IDLE(FD(a[1]));
    r = read(FD(a[1]), buf, (size_t)atol(a[2]));
    LOGRD(r, buf);
  } else if (IS("pread")) {
    r = pread(FD(a[1]), buf, (size_t)atol(a[2]), atol(a[3]));
    LOGRD(r, buf);
  } else if (IS("readv") || IS("preadv") || IS("preadv2")) {
    if (!IS("preadv") && (!IS("preadv2") || atol(a[3]) == -1)) SKIP_IF_IDLE(FD(a[1]));
    int k = parse_iov(a[2], iov, buf);
    if (IS("readv"))
      r = readv(FD(a[1]), iov, k);
    else if (IS("preadv"))
      r = preadv(FD(a[1]), iov, k, atol(a[3]));
    else
      r = preadv2(FD(a[1]), iov, k, atol(a[3]), 0);
    LOGRD(r, buf);
  } else if (IS("lseek")) {
    int wh = !strcmp(a[3], "end") ? SEEK_END : !strcmp(a[3], "cur") ? SEEK_CUR : SEEK_SET;
    r = lseek(FD(a[1]), atol(a[2]), wh);
    LOGR(r);
  } else if (IS("ftruncate")) {
    r = ftruncate(FD(a[1]), atol(a[2]));
    LOGR(r);
  } else if (IS("fallocate")) {
    int mode = !strcmp(a[2], "keep")    ? FALLOC_FL_KEEP_SIZE
               : !strcmp(a[2], "punch") ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
               : !strcmp(a[2], "zero")  ? FALLOC_FL_ZERO_RANGE
                                        : 0;
    r = fallocate(FD(a[1]), mode, atol(a[3]), atol(a[4]));
    LOGR(r);
  } else if (IS("posix_fallocate")) {
    int e = posix_fallocate(FD(a[1]), atol(a[2]), atol(a[3]));
    logf_("%d %s %d %d", step, op, e, errno);
  } else if (IS("fstat")) {
    int s = S(a[1]);
    r = fstat(fds[s], &st);
    op_stat_out(op, r, errno, &st, slot_name[s]);
  } else if (IS("stat")) {
    r = stat(a[1], &st);
    op_stat_out(op, r, errno, &st, a[1]);
  } else if (IS("futimens") || IS("utimensat")) {
    struct timespec ts[2] = {{atol(a[2]), 123456789}, {atol(a[2]), 123456789}};
    const char* name = IS("futimens") ? slot_name[S(a[1])] : a[1];
    r = IS("futimens") ? futimens(FD(a[1]), ts) : utimensat(AT_FDCWD, a[1], ts, 0);
    LOGR(r);
    if (r == 0) mt_set(name);
  } else if (IS("fchmod")) {
    r = fchmod(FD(a[1]), (mode_t)strtol(a[2], NULL, 8));
    LOGR(r);
  } else if (IS("flock")) {
    int how = !strcmp(a[2], "sh") ? LOCK_SH : !strcmp(a[2], "un") ? LOCK_UN : LOCK_EX;
    r = flock(FD(a[1]), how | LOCK_NB);
    LOGR(r);
  } else if (IS("lockf")) {
    int how = !strcmp(a[2], "ulock") ? F_ULOCK : !strcmp(a[2], "test") ? F_TEST : F_TLOCK;
    r = lockf(FD(a[1]), how, atol(a[3]));
    LOGR(r);
  } else if (IS("fcntl_lock")) {
    struct flock fl = {0};
    fl.l_type = !strcmp(a[2], "rd") ? F_RDLCK : !strcmp(a[2], "un") ? F_UNLCK : F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = atol(a[3]);
    fl.l_len = atol(a[4]);
    r = fcntl(FD(a[1]), F_SETLK, &fl);
    LOGR(r);
  } else if (IS("dup") || IS("dup2") || IS("dup3") || IS("dupfd_cloexec")) {
    int s = S(a[1]), d = S(a[2]), target = 60 + d;
    if (IS("dup"))
      r = dup(fds[s]);
    else if (IS("dup2"))
      r = dup2(fds[s], target);
    else if (IS("dup3"))
      r = dup3(fds[s], target, O_CLOEXEC);
    else
      r = fcntl(fds[s], F_DUPFD_CLOEXEC, target);
    int e = errno;
    logf_("%d %s %d %d", step, op, r >= 0 ? 0 : -1, e);
    if (r >= 0 && d != s) {
      if (fds[d] >= 0 && fds[d] != r) hidden_close(fds[d]);
      set_slot(d, (int)r, slot_name[s]);
    }
  } else if (IS("close_range")) {
    r = close_range(60, 69, 0);
    LOGR(r);
    for (int s = 0; s < NSLOT; s++)
      if (fds[s] >= 60 && fds[s] <= 69) set_slot(s, -1, NULL);
  } else if (IS("rename")) {
    r = rename(a[1], a[2]);
    LOGR(r);
    if (r == 0) {
      mt_drop(a[2]);
      if (mt_is(a[1])) {
        mt_drop(a[1]);
        mt_set(a[2]);
      }
      for (int s = 0; s < NSLOT; s++)
        if (!strcmp(slot_name[s], a[2]))
          slot_name[s][0] = 0;
        else if (!strcmp(slot_name[s], a[1]))
          snprintf(slot_name[s], 32, "%s", a[2]);
    }
  } else if (IS("unlink")) {
    r = unlink(a[1]);
    LOGR(r);
    mt_drop(a[1]);
    for (int s = 0; s < NSLOT; s++)
      if (!strcmp(slot_name[s], a[1])) slot_name[s][0] = 0;
  } else if (IS("link")) {
    r = link(a[1], a[2]);
    LOGR(r);
    mt_clear_all(); /* two names, one inode: keep it simple */
  } else if (IS("mmap_read")) {
    int fd = FD(a[1]);
    r = fstat(fd, &st);
    if (r == 0) {
      size_t len = (size_t)st.st_size < (size_t)atol(a[2]) ? (size_t)st.st_size : (size_t)atol(a[2]);
      if (len == 0) {
        logf_("%d %s empty %d", step, op, errno);
        return;
      }
      void* m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
      if (m == MAP_FAILED) {
        LOGR(-1);
        return;
      }
      logf_("%d %s 0 %d %s", step, op, errno, desc(m, (long)len));
      munmap(m, len);
    } else {
      LOGR(r);
    }
  } else if (IS("fsync")) {
    r = fsync(FD(a[1]));
    LOGR(r);
  } else if (IS("fdatasync")) {
    r = fdatasync(FD(a[1]));
    LOGR(r);
  } else if (IS("copy_file_range")) {
    r = copy_file_range(FD(a[1]), NULL, FD(a[2]), NULL, (size_t)atol(a[3]), 0);
    LOGR(r);
  } else if (IS("sendfile")) {
    r = sendfile(FD(a[1]), FD(a[2]), NULL, (size_t)atol(a[3]));
    LOGR(r);
  } else if (IS("splice_read")) {
    SKIP_IF_IDLE(FD(a[1]));
    int p[2];
    if (pipe(p)) {
      LOGR(-1);
      return;
    }
    errno = SENTINEL;
    r = splice(FD(a[1]), NULL, p[1], NULL, (size_t)atol(a[2]) > 60000 ? 60000 : (size_t)atol(a[2]), 0);
    int e = errno;
    long got = r > 0 ? read(p[0], buf, (size_t)r) : 0;
    logf_("%d %s %ld %d %s", step, op, r, e, desc(buf, got));
    close(p[0]);
    close(p[1]);
  } else if (IS("pipe") || IS("socketpair")) {
    int s = S(a[1]), d = S(a[2]), sv[2];
    if (fds[s] >= 0) hidden_close(fds[s]);
    if (fds[d] >= 0 && d != s) hidden_close(fds[d]);
    set_slot(s, -1, NULL);
    set_slot(d, -1, NULL);
    r = IS("pipe") ? pipe(sv) : socketpair(AF_UNIX, !strcmp(a[3], "dgram") ? SOCK_DGRAM : SOCK_STREAM, 0, sv);
    LOGR(r);
    if (r == 0) {
      set_slot(s, sv[0], NULL);
      set_slot(d, sv[1], NULL);
    }
  } else if (IS("send")) {
    fill(atoi(a[2]), (size_t)atol(a[3]));
    r = send(FD(a[1]), data, (size_t)atol(a[3]), MSG_DONTWAIT);
    LOGR(r);
  } else if (IS("recv")) {
    int fl = !strcmp(a[3], "peek") ? MSG_PEEK : 0;
    r = recv(FD(a[1]), buf, (size_t)atol(a[2]), fl | MSG_DONTWAIT);
    LOGRD(r, buf);
  } else if (IS("poll_read")) {
    /* read only what is there: a plain blocking read that cannot hang */
    struct pollfd p = {FD(a[1]), POLLIN, 0};
    int pr = poll(&p, 1, 0);
    errno = SENTINEL;
    r = pr == 1 ? read(FD(a[1]), buf, (size_t)atol(a[2])) : -100;
    LOGRD(r, buf);
  } else if (IS("zero_read_dgram")) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv)) {
      LOGR(-1);
      return;
    }
    (void)!send(sv[1], "DGRAM", 5, 0);
    errno = SENTINEL;
    r = read(sv[0], buf, 0);
    int e = errno;
    long r2 = recv(sv[0], buf, 16, MSG_DONTWAIT);
    logf_("%d %s %ld %d then=%s", step, op, r, e, desc(buf, r2));
    close(sv[0]);
    close(sv[1]);
  } else if (IS("fopen")) {
    int p = P(a[1]);
    if (fps[p]) fclose(fps[p]);
    fps[p] = fopen(a[2], a[3]);
    logf_("%d %s %d %d", step, op, fps[p] ? 0 : -1, errno);
  } else if (IS("fdopen")) {
    int p = P(a[1]), s = S(a[2]);
    if (fps[p]) fclose(fps[p]);
    fps[p] = fds[s] >= 0 ? fdopen(dup(fds[s]), a[3]) : NULL;
    logf_("%d %s %d %d", step, op, fps[p] ? 0 : -1, errno);
  } else if (IS("fprintf") || IS("fputs") || IS("fwrite")) {
    FILE* f = fps[P(a[1])];
    if (!f) {
      logf_("%d %s nofile", step, op);
      return;
    }
    size_t len = (size_t)atol(a[3]);
    fill(atoi(a[2]), len);
    data[len] = 0;
    if (IS("fprintf"))
      r = fprintf(f, "[%d]%s", step, (char*)data);
    else if (IS("fputs"))
      r = fputs((char*)data, f) >= 0 ? 0 : -1;
    else
      r = (long)fwrite(data, 1, len, f);
    LOGR(r);
  } else if (IS("fflush") || IS("fclose")) {
    int p = P(a[1]);
    if (!fps[p]) {
      logf_("%d %s nofile", step, op);
      return;
    }
    r = IS("fflush") ? fflush(fps[p]) : fclose(fps[p]);
    LOGR(r);
    if (IS("fclose")) fps[p] = NULL;
  } else if (IS("redirect")) { /* stdout (and stderr with "both") onto slot S */
    fflush(stdout);
    r = dup2(FD(a[1]), 1);
    if (r >= 0 && !strcmp(a[2], "both")) r = dup2(FD(a[1]), 2);
    logf_("%d %s %d %d", step, op, r >= 0 ? 0 : -1, errno);
  } else if (IS("printf") || IS("eprintf")) {
    size_t len = (size_t)atol(a[2]);
    fill(atoi(a[1]), len);
    data[len] = 0;
    r = IS("printf") ? printf("<%d>%s", step, (char*)data) : fprintf(stderr, "<%d>%s", step, (char*)data);
    LOGR(r);
  } else if (IS("write1") || IS("write2")) {
    char m[64];
    int k = snprintf(m, sizeof m, "{%d:%s}\n", step, a[1]);
    r = write(IS("write1") ? 1 : 2, m, (size_t)k);
    LOGR(r);
  } else if (IS("peer_check") || IS("peer_check_raw")) {
    op_peer_check(a[1], IS("peer_check_raw"));
  } else if (IS("fork_child")) {
    op_fork_child(FD(a[1]), atoi(a[2]), (size_t)atol(a[3]), a[4]);
  } else if (IS("spawn_stat")) {
    op_spawn_stat(a[1], a[2]);
  } else if (IS("sig_read")) {
    op_sig_read(a[1], a[2], a[3], 0);
  } else if (IS("raw_sig_read")) {
    op_sig_read(a[1], a[2], a[3], 1);
  } else if (IS("sigwait_rt")) {
    op_sigwait(a[1], SIGRTMIN + 3, "sigwait_rt");
  } else if (IS("sigwait_sig")) {
    const char* which = a[1];
    int sig = !strcmp(which, "sys")    ? SIGSYS
              : !strcmp(which, "usr1") ? SIGUSR1
              : !strcmp(which, "term") ? SIGTERM
                                       : SIGRTMIN + 3;
    op_sigwait(a[2], sig, "sigwait_sig");
  } else if (IS("cancel_read")) {
    op_cancel_read(a[1]);
  } else if (IS("longjmp_recv")) {
    op_longjmp_recv();
  } else if (IS("many_readers")) {
    op_many_readers(atoi(a[1]), a[2]);
  } else if (IS("stall_peer")) {
    op_stall_peer(a[1], atoi(a[2]));
  } else if (IS("trickle_recv")) {
    op_trickle_recv();
  } else if (IS("threads")) {
    op_threads(atoi(a[1]), FD(a[2]), (size_t)atol(a[3]));
  } else if (IS("rlimit_fsize")) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {(rlim_t)atol(a[1]), (rlim_t)atol(a[1])};
    r = setrlimit(RLIMIT_FSIZE, &rl);
    LOGR(r);
  } else if (IS("rlimit_nothreads")) {
    /* no room for another thread stack: every pthread_create fails */
    struct rlimit rl;
    getrlimit(RLIMIT_AS, &rl);
    long vm = 0;
    FILE* f = fopen("/proc/self/statm", "r");
    if (f) {
      if (fscanf(f, "%ld", &vm) != 1) vm = 0;
      fclose(f);
    }
    rl.rlim_cur = (rlim_t)vm * 4096 + (2u << 20);
    errno = SENTINEL;
    r = vm > 0 ? setrlimit(RLIMIT_AS, &rl) : -1;
    LOGR(r);
  } else if (IS("rlimit_nproc")) {
    /* rlimit_nproc [N]: N tasks at most (0: no new task at all, threads nor processes,
     * with memory to spare), RLIMIT_NPROC under a real uid that is not root (the kernel does not apply the limit to root
     * or to a task with CAP_SYS_RESOURCE/CAP_SYS_ADMIN). setresuid reaches every
     * thread (glibc's setxid broadcast: the shim's threads too). The saved uid stays 0
     * and the filesystem uid goes back to 0 (this thread only), so the script's files
     * are reached as before. Under uid 0 outside a namespace only; else logged -1. */
    rlim_t lim = (rlim_t)atol(a[1]); /* a missing argument reads "0" */
    struct rlimit rl = {lim, lim};
    errno = SENTINEL;
    r = getuid() == 0 ? setrlimit(RLIMIT_NPROC, &rl) : -1;
    /* a uid of this run's own: the kernel counts the tasks of a uid system-wide */
    uid_t uid = (uid_t)(1000000 + getpid());
    if (r == 0) r = setresuid(uid, uid, 0);
    if (r == 0) setfsuid(0);
    LOGR(r);
  } else if (IS("thread_exit_writes")) {
    int fd = FD(a[1]);
    logf_("%d %s start", step, op);
    pthread_t t;
    static int tfd;
    tfd = fd;
    if (pthread_create(&t, NULL, exit_thread, &tfd) == 0) {
      pthread_join(t, NULL); /* never returns: the thread exits the process */
    }
    logf_("%d %s nothread", step, op);
  } else if (IS("unshare_write")) {
    int s = S(a[1]);
    struct uw u = {fds[s], a[2], -9};
    pthread_t t;
    if (fds[s] < 0 || pthread_create(&t, NULL, unshare_thread, &u)) {
      logf_("%d %s skip", step, op);
      return;
    }
    pthread_join(t, NULL);
    logf_("%d %s %ld", step, op, u.r);
  } else if (IS("seccomp_write")) {
    int fd = open(a[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pthread_t t;
    if (fd < 0 || pthread_create(&t, NULL, seccomp_thread, &fd)) {
      logf_("%d %s skip", step, op);
      if (fd >= 0) close(fd);
      return;
    }
    struct timespec dl = deadline_in(3000);
    int j = pthread_timedjoin_np(t, NULL, &dl);
    logf_("%d %s %s", step, op, j ? "HANG" : "joined");
    close(fd);
  } else if (IS("vfork_write")) {
    /* a vfork child writes to the slot and leaves; the parent goes on */
    int fd = FD(a[1]);
    fill(atoi(a[2]), (size_t)atol(a[3]));
    pid_t pid = vfork();
    if (pid == 0) {
      (void)!write(fd, data, (size_t)atol(a[3]));
      _exit(0);
    }
    int wst = -1;
    if (pid > 0) waitpid(pid, &wst, 0);
    logf_("%d %s %d", step, op, wst);
  } else if (IS("send_big")) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
      LOGR(-1);
      return;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, slow_reader, &sv[1])) {
      logf_("%d %s nothread", step, op);
    } else {
      static unsigned char big[1 << 20];
      memset(big, 'B', sizeof big);
      errno = SENTINEL;
      r = send(sv[0], big, sizeof big, 0);
      int e = errno;
      void* got = NULL;
      pthread_join(t, &got);
      logf_("%d %s %ld %d got=%ld", step, op, r, e, (long)got);
    }
    close(sv[0]);
    close(sv[1]);
  } else if (IS("peer_flock")) {
    /* hold the file's flock, tell the peer to wait for it, write, unlock:
         * the peer must see the written size once it gets the lock */
    int s = S(a[1]);
    if (fds[s] < 0 || !slot_name[s][0] || peer_cmd_pipe < 0) {
      logf_("%d %s skip", step, op);
      return;
    }
    int lr = flock(fds[s], LOCK_EX | LOCK_NB);
    char cmd[40];
    int cmd_len = snprintf(cmd, sizeof cmd, "l%s\n", slot_name[s]);
    (void)!write(peer_cmd_pipe, cmd, (size_t)cmd_len);
    msleep(30);
    fill(atoi(a[2]), (size_t)atol(a[3]));
    long w = write(fds[s], data, (size_t)atol(a[3]));
    flock(fds[s], LOCK_UN);
    long tot = read_peer_line(100);
    logf_("%d %s lock=%d wrote=%ld %s", step, op, lr, w, tot > 0 ? (char*)buf : "NO-REPLY");
  } else if (IS("daemon_write")) {
    op_daemon_write(FD(a[1]), atoi(a[2]), (size_t)atol(a[3]), a[4]);
  } else if (IS("seccomp_filter")) {
    op_seccomp_filter(a[1], a[2]);
  } else if (IS("seccomp_strict_read")) {
    op_seccomp_strict_read(a[1], a[2]);
  } else if (IS("net_check")) {
    op_net_check(a[1], a[2]);
  } else if (IS("shm_map")) {
    op_shm_map(FD(a[1]), atoi(a[2]), (size_t)atol(a[3]));
  } else if (IS("shm_anon")) {
    op_shm_anon(a[1], (size_t)atol(a[2]));
  } else if (IS("popen_stat")) {
    op_popen(a[1], a[2]);
  } else if (IS("spawn_fa")) {
    op_spawn_fa(a[1], a[2]);
  } else if (IS("thread_after_write")) {
    op_thread_after_write(FD(a[1]), atoi(a[2]), (size_t)atol(a[3]));
  } else if (IS("libc_thread_check")) {
    op_libc_thread_check(a[1], FD(a[2]), atoi(a[3]), (size_t)atol(a[4]));
  } else if (IS("aio")) {
    op_aio(FD(a[1]), atoi(a[2]), (size_t)atol(a[3]), atol(a[4]), a[5]);
  } else if (IS("sendfile_peer")) {
    op_sendfile_peer(FD(a[1]), (size_t)atol(a[2]), a[3]);
  } else if (IS("trunc_race")) {
    op_trunc_race(S(a[1]));
  } else if (IS("sig_exec")) {
    op_sig_exec(a[1], a[2], a[3], a[4]);
  } else if (IS("end")) {
    end_script(a[1]);
  } else {
    logf_("%d %s unknown-op", step, op);
  }
}

static int stat_main(const char* name) {
  int fd = open(name, O_RDONLY);
  if (fd < 0) {
    printf("none\n");
    return 0;
  }
  long tot = 0;
  uint64_t h = 1469598103934665603ull;
  for (;;) {
    long r = read(fd, buf, 65536);
    if (r <= 0) break;
    for (long k = 0; k < r; k++) h = (h ^ buf[k]) * 1099511628211ull;
    tot += r;
  }
  printf("%ld:%016llx\n", tot, (unsigned long long)h);
  return 0;
}

/* --dump: every regular file in the current directory, for the final compare */
#include <dirent.h>
static int cmp_str(const void* a, const void* b) { return strcmp(*(char* const*)a, *(char* const*)b); }
static int dump_main(void) {
  DIR* d = opendir(".");
  char* names[256];
  int n = 0;
  struct dirent* e;
  while (d && n < 256 && (e = readdir(d)))
    if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
  if (d) closedir(d);
  qsort(names, (size_t)n, sizeof names[0], cmp_str);
  for (int i = 0; i < n; i++) {
    struct stat st;
    if (lstat(names[i], &st) || !S_ISREG(st.st_mode)) continue;
    int fd = open(names[i], O_RDONLY);
    uint64_t h = 1469598103934665603ull;
    long tot = 0, r;
    while (fd >= 0 && (r = read(fd, buf, 65536)) > 0) {
      for (long k = 0; k < r; k++) h = (h ^ buf[k]) * 1099511628211ull;
      tot += r;
    }
    if (fd >= 0) close(fd);
    printf("%s size=%lld read=%ld hash=%016llx mode=%o nlink=%ld mtime=%lld.%09ld\n", names[i],
           (long long)st.st_size, tot, (unsigned long long)h, st.st_mode & 07777, (long)st.st_nlink,
           (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  }
  return 0;
}

int main(int argc, char** argv) {
  self_path = "/proc/self/exe";
  static char exe[4096];
  long k = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (k > 0) {
    exe[k] = 0;
    self_path = exe;
  }
  if (argc == 2 && !strcmp(argv[1], "--dump")) return dump_main();
  if (argc == 3 && !strcmp(argv[1], "--stat")) return stat_main(argv[2]);
  if (argc == 3 && !strcmp(argv[1], "--sigstate")) return sigstate_main(atoi(argv[2]));
  if (argc == 2 && !strcmp(argv[1], "--emit")) return emit_main();
  if (argc != 2) {
    fprintf(stderr, "usage: conf_runner SCRIPT | --stat NAME\n");
    return 2;
  }
  if (dup3(3, LOG_FD, O_CLOEXEC) < 0) {
    fprintf(stderr, "conf_runner: fd 3 (log) is not open\n");
    return 2;
  }
  close(3);
  FILE* sf = fopen(argv[1], "re");
  if (!sf) {
    perror(argv[1]);
    return 2;
  }
  static char script[1 << 16];
  size_t n = fread(script, 1, sizeof script - 1, sf);
  fclose(sf);
  script[n] = 0;
  for (int i = 0; i < NSLOT; i++) set_slot(i, -1, NULL);
  start_peer();
  char* save = NULL;
  for (char* line = strtok_r(script, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char copy[512];
    snprintf(copy, sizeof copy, "%s", line);
    run_op(copy);
    step++;
    if (ended) return 0;
  }
  end_script("return");
  return 0;
}
