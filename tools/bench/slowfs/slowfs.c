/* tools/bench/slowfs/slowfs.c — iowq-slowfs: a FUSE passthrough filesystem
 * that answers every request late, like storage across a network.
 *
 *   iowq-slowfs [options] BACKING_DIR MOUNTPOINT
 *     --latency=T          delay of every request (default 1ms); T is a number
 *                          with ns, us, ms or s (a bare number is ms)
 *     --write-latency=T    WRITE requests
 *     --read-latency=T     READ and READDIR requests
 *     --fsync-latency=T    FSYNC / FSYNCDIR requests
 *     --meta-latency=T     everything else: lookup, getattr, create, open,
 *                          flush, release, setattr (chmod, utimens...), rename...
 *     --max-inflight=N     at most N requests served at once (default: no cap
 *                          but the thread limit, --threads)
 *     --threads=N          libfuse worker threads at most (default 64)
 *     --writeback-cache    ask the kernel for writeback_cache (it then buffers
 *                          writes in the page cache and sends them later, large)
 *     --stats=PATH         JSON request counts, written when unmounted
 *     --die-with-parent    unmount (lazily) and exit when the parent dies
 *
 * Requests are served by many threads at once, each request delayed by its
 * kind's latency from the moment a thread picked it up, so N requests in
 * flight take one latency, not N. Data, modes, owners and timestamps pass
 * straight through to BACKING_DIR (umask 0 here: the kernel already applied
 * the caller's). Built on libfuse's high-level (path) API, so each name is its
 * own node to the kernel: after link(), the first name's cached st_nlink is
 * stale for up to attr_timeout (1 s). Runs in the foreground; unmount with `fusermount3 -u` or
 * `umount`, or send SIGTERM/SIGINT. Exit 0 after a clean unmount, 1 on errors,
 * 2 on usage errors. */
#define FUSE_USE_VERSION 312
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"

static int g_root = -1;              /* fd of the backing directory */
static long long g_lat[kClassCount]; /* ns per latency class */
static int g_writeback;
static int g_cap; /* --max-inflight, 0 = none */
static sem_t g_cap_sem;

/* ---- every request goes through begin()/end() -------------------------- */
struct req {
  enum kind kind;
  struct timespec t0;
};

static struct req begin(enum kind k) {
  struct req r = {k, {0, 0}};
  if (g_cap) {
    while (sem_wait(&g_cap_sem) != 0 && errno == EINTR) {
    }
  }
  stats_enter(k);
  clock_gettime(CLOCK_MONOTONIC, &r.t0);
  return r;
}

/* Sleeps out the rest of the request's latency, then lets the reply go. */
static int end(struct req r, int result) {
  long long ns = g_lat[kind_class(r.kind)];
  if (ns > 0) {
    struct timespec until = r.t0;
    until.tv_sec += ns / 1000000000LL;
    until.tv_nsec += ns % 1000000000LL;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec += 1;
      until.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR) {
    }
  }
  stats_leave();
  if (g_cap) sem_post(&g_cap_sem);
  return result;
}

#define ERR(x) ((x) < 0 ? -errno : 0)

/* FUSE paths start with '/': relative to the backing directory fd. */
static const char* rel(const char* path) {
  while (*path == '/') ++path;
  return *path ? path : ".";
}

/* ---- operations ------------------------------------------------------------ */
static int sf_getattr(const char* path, struct stat* st, struct fuse_file_info* fi) {
  struct req r = begin(K_GETATTR);
  int rc = fi ? fstat((int)fi->fh, st) : fstatat(g_root, rel(path), st, AT_SYMLINK_NOFOLLOW);
  return end(r, ERR(rc));
}

static int sf_readlink(const char* path, char* buf, size_t size) {
  struct req r = begin(K_READLINK);
  ssize_t n = readlinkat(g_root, rel(path), buf, size - 1);
  if (n >= 0) buf[n] = 0;
  return end(r, n < 0 ? -errno : 0);
}

static int sf_mknod(const char* path, mode_t mode, dev_t dev) {
  struct req r = begin(K_CREATE);
  int rc = S_ISFIFO(mode) ? mkfifoat(g_root, rel(path), mode) : mknodat(g_root, rel(path), mode, dev);
  return end(r, ERR(rc));
}

static int sf_mkdir(const char* path, mode_t mode) {
  struct req r = begin(K_CREATE);
  return end(r, ERR(mkdirat(g_root, rel(path), mode)));
}

static int sf_unlink(const char* path) {
  struct req r = begin(K_REMOVE);
  return end(r, ERR(unlinkat(g_root, rel(path), 0)));
}

static int sf_rmdir(const char* path) {
  struct req r = begin(K_REMOVE);
  return end(r, ERR(unlinkat(g_root, rel(path), AT_REMOVEDIR)));
}

static int sf_symlink(const char* target, const char* path) {
  struct req r = begin(K_CREATE);
  return end(r, ERR(symlinkat(target, g_root, rel(path))));
}

static int sf_rename(const char* from, const char* to, unsigned int flags) {
  struct req r = begin(K_RENAME);
  return end(r, ERR(renameat2(g_root, rel(from), g_root, rel(to), flags)));
}

static int sf_link(const char* from, const char* to) {
  struct req r = begin(K_CREATE);
  return end(r, ERR(linkat(g_root, rel(from), g_root, rel(to), 0)));
}

static int sf_chmod(const char* path, mode_t mode, struct fuse_file_info* fi) {
  struct req r = begin(K_SETATTR);
  int rc = fi ? fchmod((int)fi->fh, mode) : fchmodat(g_root, rel(path), mode, 0);
  return end(r, ERR(rc));
}

static int sf_chown(const char* path, uid_t uid, gid_t gid, struct fuse_file_info* fi) {
  struct req r = begin(K_SETATTR);
  int rc = fi ? fchown((int)fi->fh, uid, gid) : fchownat(g_root, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW);
  return end(r, ERR(rc));
}

static int sf_truncate(const char* path, off_t size, struct fuse_file_info* fi) {
  struct req r = begin(K_SETATTR);
  int rc;
  if (fi) {
    rc = ftruncate((int)fi->fh, size);
  } else {
    int fd = openat(g_root, rel(path), O_WRONLY | O_CLOEXEC);
    rc = fd < 0 ? -1 : ftruncate(fd, size);
    if (fd >= 0) {
      int e = errno;
      close(fd);
      errno = e;
    }
  }
  return end(r, ERR(rc));
}

static int sf_utimens(const char* path, const struct timespec tv[2], struct fuse_file_info* fi) {
  struct req r = begin(K_SETATTR);
  int rc = fi ? futimens((int)fi->fh, tv) : utimensat(g_root, rel(path), tv, AT_SYMLINK_NOFOLLOW);
  return end(r, ERR(rc));
}

/* With writeback_cache the kernel reads pages of files opened write-only and
 * implements O_APPEND itself (it sends the offsets). */
static int open_flags(int flags) {
  if (g_writeback) {
    if ((flags & O_ACCMODE) == O_WRONLY) flags = (flags & ~O_ACCMODE) | O_RDWR;
    flags &= ~O_APPEND;
  }
  return flags | O_CLOEXEC;
}

static int sf_create(const char* path, mode_t mode, struct fuse_file_info* fi) {
  struct req r = begin(K_CREATE);
  int fd = openat(g_root, rel(path), open_flags(fi->flags) | O_CREAT, mode);
  if (fd >= 0) fi->fh = (uint64_t)fd;
  return end(r, fd < 0 ? -errno : 0);
}

static int sf_open(const char* path, struct fuse_file_info* fi) {
  struct req r = begin(K_OPEN);
  int fd = openat(g_root, rel(path), open_flags(fi->flags));
  if (fd >= 0) fi->fh = (uint64_t)fd;
  return end(r, fd < 0 ? -errno : 0);
}

static int sf_read(const char* path, char* buf, size_t size, off_t off, struct fuse_file_info* fi) {
  (void)path;
  struct req r = begin(K_READ);
  ssize_t n = pread((int)fi->fh, buf, size, off);
  if (n > 0) stats_bytes(K_READ, (size_t)n);
  return end(r, n < 0 ? -errno : (int)n);
}

static int sf_write(const char* path, const char* buf, size_t size, off_t off, struct fuse_file_info* fi) {
  (void)path;
  struct req r = begin(K_WRITE);
  ssize_t n = pwrite((int)fi->fh, buf, size, off);
  if (n > 0) stats_bytes(K_WRITE, (size_t)n);
  return end(r, n < 0 ? -errno : (int)n);
}

static int sf_statfs(const char* path, struct statvfs* st) {
  (void)path;
  struct req r = begin(K_STATFS);
  return end(r, ERR(fstatvfs(g_root, st)));
}

static int sf_flush(const char* path, struct fuse_file_info* fi) {
  (void)path;
  struct req r = begin(K_FLUSH);
  /* close(dup()) reports what a close of the real file would. */
  int fd = dup((int)fi->fh);
  return end(r, fd < 0 ? -errno : ERR(close(fd)));
}

static int sf_release(const char* path, struct fuse_file_info* fi) {
  (void)path;
  struct req r = begin(K_RELEASE);
  close((int)fi->fh);
  return end(r, 0);
}

static int sf_fsync(const char* path, int datasync, struct fuse_file_info* fi) {
  (void)path;
  struct req r = begin(K_FSYNC);
  int rc = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);
  return end(r, ERR(rc));
}

static int sf_fallocate(const char* path, int mode, off_t off, off_t len, struct fuse_file_info* fi) {
  (void)path;
  struct req r = begin(K_SETATTR);
  return end(r, fallocate((int)fi->fh, mode, off, len) < 0 ? -errno : 0);
}

static int sf_opendir(const char* path, struct fuse_file_info* fi) {
  struct req r = begin(K_OPEN);
  int fd = openat(g_root, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* d = fd < 0 ? NULL : fdopendir(fd);
  if (fd >= 0 && !d) close(fd);
  if (d) fi->fh = (uint64_t)(uintptr_t)d;
  return end(r, d ? 0 : -errno);
}

static int sf_readdir(const char* path, void* buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info* fi,
                      enum fuse_readdir_flags flags) {
  (void)path;
  (void)flags;
  struct req r = begin(K_READDIR);
  DIR* d = (DIR*)(uintptr_t)fi->fh;
  if (off == 0)
    rewinddir(d);
  else
    seekdir(d, off);
  struct dirent* e;
  errno = 0;
  while ((e = readdir(d)) != NULL) {
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_ino = e->d_ino;
    st.st_mode = (mode_t)DTTOIF(e->d_type);
    if (fill(buf, e->d_name, &st, telldir(d), 0)) break;
    errno = 0;
  }
  return end(r, errno && !e ? -errno : 0);
}

static int sf_releasedir(const char* path, struct fuse_file_info* fi) {
  (void)path;
  struct req r = begin(K_RELEASE);
  closedir((DIR*)(uintptr_t)fi->fh);
  return end(r, 0);
}

static int sf_fsyncdir(const char* path, int datasync, struct fuse_file_info* fi) {
  (void)path;
  struct req r = begin(K_FSYNC);
  int fd = dirfd((DIR*)(uintptr_t)fi->fh);
  return end(r, ERR(datasync ? fdatasync(fd) : fsync(fd)));
}

static void* sf_init(struct fuse_conn_info* conn, struct fuse_config* cfg) {
  cfg->use_ino = 1;
  /* Attributes and names stay valid for a second, as an NFS client's would:
   * only this mount changes the backing directory. */
  cfg->entry_timeout = 1.0;
  cfg->attr_timeout = 1.0;
  cfg->negative_timeout = 1.0;
  if (g_writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
    conn->want |= FUSE_CAP_WRITEBACK_CACHE;
  else
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  stats_set_writeback((conn->want & FUSE_CAP_WRITEBACK_CACHE) != 0, conn->max_write);
  return NULL;
}

/* No xattr handlers on purpose: the kernel then stops asking for
 * security.capability before every write (it caches the ENOSYS). */
static const struct fuse_operations kOps = {
    .getattr = sf_getattr,
    .readlink = sf_readlink,
    .mknod = sf_mknod,
    .mkdir = sf_mkdir,
    .unlink = sf_unlink,
    .rmdir = sf_rmdir,
    .symlink = sf_symlink,
    .rename = sf_rename,
    .link = sf_link,
    .chmod = sf_chmod,
    .chown = sf_chown,
    .truncate = sf_truncate,
    .open = sf_open,
    .read = sf_read,
    .write = sf_write,
    .statfs = sf_statfs,
    .flush = sf_flush,
    .release = sf_release,
    .fsync = sf_fsync,
    .opendir = sf_opendir,
    .readdir = sf_readdir,
    .releasedir = sf_releasedir,
    .fsyncdir = sf_fsyncdir,
    .init = sf_init,
    .create = sf_create,
    .utimens = sf_utimens,
    .fallocate = sf_fallocate,
};

/* ---- command line ---------------------------------------------------------- */
static void usage(void) {
  fprintf(stderr,
          "usage: iowq-slowfs [--latency=T] [--write-latency=T] [--read-latency=T]\n"
          "                   [--fsync-latency=T] [--meta-latency=T] [--max-inflight=N]\n"
          "                   [--threads=N] [--writeback-cache] [--stats=PATH]\n"
          "                   [--die-with-parent] BACKING_DIR MOUNTPOINT\n"
          "  T: a number with ns, us, ms or s (bare number: ms); default --latency=1ms\n");
  exit(2);
}

/* "1ms", "200us", "0.2ms", "0" -> ns; -1 when malformed. */
static long long parse_duration(const char* s) {
  char* end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || v < 0) return -1;
  double mult = 1e6;
  if (!strcmp(end, "ns"))
    mult = 1;
  else if (!strcmp(end, "us"))
    mult = 1e3;
  else if (!strcmp(end, "ms") || !*end)
    mult = 1e6;
  else if (!strcmp(end, "s"))
    mult = 1e9;
  else
    return -1;
  if (v * mult > 3600e9) return -1;
  return (long long)(v * mult + 0.5);
}

static const char* opt_value(const char* arg, const char* name) {
  size_t n = strlen(name);
  return strncmp(arg, name, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

int main(int argc, char** argv) {
  long long all = 1000000, per[kClassCount];
  for (int c = 0; c < kClassCount; ++c) per[c] = -1;
  const char *stats_path = NULL, *backing = NULL, *mnt = NULL, *v;
  int threads = 64, die_with_parent = 0;
  static const char* const class_opt[kClassCount] = {"--meta-latency", "--read-latency", "--write-latency",
                                                     "--fsync-latency"};
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    int matched = 0;
    for (int c = 0; c < kClassCount; ++c)
      if ((v = opt_value(a, class_opt[c]))) {
        if ((per[c] = parse_duration(v)) < 0) usage();
        matched = 1;
      }
    if (matched) continue;
    if ((v = opt_value(a, "--latency"))) {
      if ((all = parse_duration(v)) < 0) usage();
    } else if ((v = opt_value(a, "--max-inflight"))) {
      if ((g_cap = atoi(v)) < 1) usage();
    } else if ((v = opt_value(a, "--threads"))) {
      if ((threads = atoi(v)) < 1) usage();
    } else if ((v = opt_value(a, "--stats"))) {
      stats_path = v;
    } else if (!strcmp(a, "--writeback-cache")) {
      g_writeback = 1;
    } else if (!strcmp(a, "--die-with-parent")) {
      die_with_parent = 1;
    } else if (a[0] == '-') {
      usage();
    } else if (!backing) {
      backing = a;
    } else if (!mnt) {
      mnt = a;
    } else {
      usage();
    }
  }
  if (!backing || !mnt) usage();
  for (int c = 0; c < kClassCount; ++c) g_lat[c] = per[c] >= 0 ? per[c] : all;
  if (g_cap && (sem_init(&g_cap_sem, 0, (unsigned)g_cap) != 0)) return 1;

  g_root = open(backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (g_root < 0) {
    perror(backing);
    return 1;
  }
  umask(0);
  /* Sleeps of 0.2 ms must not be stretched by the default 50 us timer slack;
   * libfuse's threads inherit this. */
  prctl(PR_SET_TIMERSLACK, 1UL);
  if (die_with_parent) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1) return 1;
  }
  stats_configure(g_lat, g_cap, threads);

  char* fargv[] = {argv[0], "-o", "fsname=slowfs,subtype=slowfs,default_permissions", NULL};
  struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
  struct fuse* f = fuse_new(&args, &kOps, sizeof kOps, NULL);
  if (!f) return 1;
  if (fuse_mount(f, mnt) != 0) {
    fuse_destroy(f);
    return 1;
  }
  int rc = 1;
  if (fuse_set_signal_handlers(fuse_get_session(f)) == 0) {
    struct fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, (unsigned)threads);
    fuse_loop_cfg_set_idle_threads(cfg, (unsigned)threads);
    rc = fuse_loop_mt(f, cfg) == 0 ? 0 : 1;
    fuse_loop_cfg_destroy(cfg);
    fuse_remove_signal_handlers(fuse_get_session(f));
  }
  fuse_unmount(f); /* lazy: after a signal, the mount may still be busy */
  fuse_destroy(f);
  if (stats_path && stats_write(stats_path) != 0) {
    perror(stats_path);
    rc = 1;
  }
  return rc;
}
