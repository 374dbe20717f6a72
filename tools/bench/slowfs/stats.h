/* tools/bench/slowfs/stats.h — iowq-slowfs request counters, written as JSON.
 *
 * Every request is counted by kind; READ/WRITE also by size (bytes and a
 * size histogram), and the most requests seen in service at once. The JSON
 * (stats_write) is what the bench and the tests read:
 *   {"latency_ns": {"meta": N, "read": N, "write": N, "fsync": N},
 *    "max_inflight_cap": N, "threads": N, "writeback_cache": 0|1, "max_write": N,
 *    "requests": {"getattr": N, ..., "total": N},
 *    "write_bytes": N, "read_bytes": N,
 *    "write_sizes": {"le64": N, "le512": N, "le4096": N, "le32768": N, "le131072": N, "gt131072": N},
 *    "read_sizes": {...}, "max_inflight": N} */
#ifndef IOWQ_SLOWFS_STATS_H
#define IOWQ_SLOWFS_STATS_H

#include <stddef.h>

/* Request kinds (one JSON key each). */
enum kind {
  K_GETATTR,
  K_READLINK,
  K_CREATE,
  K_REMOVE,
  K_RENAME,
  K_SETATTR,
  K_OPEN,
  K_READ,
  K_WRITE,
  K_STATFS,
  K_FLUSH,
  K_RELEASE,
  K_FSYNC,
  K_READDIR,
  K_KIND_COUNT
};

/* Latency classes: which --*-latency option delays a kind. */
enum { kClassMeta, kClassRead, kClassWrite, kClassFsync, kClassCount };

int kind_class(enum kind k);

void stats_configure(const long long lat_ns[kClassCount], int cap, int threads);
void stats_set_writeback(int on, unsigned max_write);
void stats_enter(enum kind k); /* a request starts being served */
void stats_leave(void);        /* ... and is answered */
void stats_bytes(enum kind k, size_t n);
int stats_write(const char* path); /* 0, or -1 with errno */

#endif
