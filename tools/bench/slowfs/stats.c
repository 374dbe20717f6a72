/* tools/bench/slowfs/stats.c — see stats.h. Lock-free counters: requests are
 * served by many threads at once. */
#include "stats.h"

#include <stdatomic.h>
#include <stdio.h>

static const char* const kKindName[K_KIND_COUNT] = {"getattr", "readlink", "create", "remove", "rename",
                                                    "setattr", "open",     "read",   "write",  "statfs",
                                                    "flush",   "release",  "fsync",  "readdir"};

enum { kBuckets = 6 };
static const size_t kBucketTop[kBuckets - 1] = {64, 512, 4096, 32768, 131072};
static const char* const kBucketName[kBuckets] = {"le64",    "le512",    "le4096",
                                                  "le32768", "le131072", "gt131072"};

static atomic_llong g_count[K_KIND_COUNT];
static atomic_llong g_bytes[2], g_sizes[2][kBuckets];
static atomic_int g_inflight, g_max_inflight;
static long long g_lat[kClassCount];
static int g_cap, g_threads, g_writeback;
static unsigned g_max_write;

int kind_class(enum kind k) {
  switch (k) {
    case K_READ:
    case K_READDIR: return kClassRead;
    case K_WRITE: return kClassWrite;
    case K_FSYNC: return kClassFsync;
    default: return kClassMeta;
  }
}

void stats_configure(const long long lat_ns[kClassCount], int cap, int threads) {
  for (int c = 0; c < kClassCount; ++c) g_lat[c] = lat_ns[c];
  g_cap = cap;
  g_threads = threads;
}

void stats_set_writeback(int on, unsigned max_write) {
  g_writeback = on;
  g_max_write = max_write;
}

void stats_enter(enum kind k) {
  atomic_fetch_add_explicit(&g_count[k], 1, memory_order_relaxed);
  int now = atomic_fetch_add_explicit(&g_inflight, 1, memory_order_relaxed) + 1;
  int max = atomic_load_explicit(&g_max_inflight, memory_order_relaxed);
  while (now > max && !atomic_compare_exchange_weak_explicit(&g_max_inflight, &max, now, memory_order_relaxed,
                                                             memory_order_relaxed)) {
  }
}

void stats_leave(void) { atomic_fetch_sub_explicit(&g_inflight, 1, memory_order_relaxed); }

void stats_bytes(enum kind k, size_t n) {
  int w = k == K_WRITE;
  atomic_fetch_add_explicit(&g_bytes[w], (long long)n, memory_order_relaxed);
  int b = 0;
  while (b < kBuckets - 1 && n > kBucketTop[b]) ++b;
  atomic_fetch_add_explicit(&g_sizes[w][b], 1, memory_order_relaxed);
}

static void write_sizes(FILE* f, int w) {
  fprintf(f, "{");
  for (int b = 0; b < kBuckets; ++b)
    fprintf(f, "%s\"%s\": %lld", b ? ", " : "", kBucketName[b], (long long)atomic_load(&g_sizes[w][b]));
  fprintf(f, "}");
}

int stats_write(const char* path) {
  FILE* f = fopen(path, "w");
  if (!f) return -1;
  fprintf(f, "{\"latency_ns\": {\"meta\": %lld, \"read\": %lld, \"write\": %lld, \"fsync\": %lld},\n",
          g_lat[kClassMeta], g_lat[kClassRead], g_lat[kClassWrite], g_lat[kClassFsync]);
  fprintf(f, " \"max_inflight_cap\": %d, \"threads\": %d, \"writeback_cache\": %d, \"max_write\": %u,\n",
          g_cap, g_threads, g_writeback, g_max_write);
  long long total = 0;
  fprintf(f, " \"requests\": {");
  for (int k = 0; k < K_KIND_COUNT; ++k) {
    long long n = atomic_load(&g_count[k]);
    total += n;
    fprintf(f, "\"%s\": %lld, ", kKindName[k], n);
  }
  fprintf(f, "\"total\": %lld},\n", total);
  fprintf(f, " \"write_bytes\": %lld, \"read_bytes\": %lld,\n", (long long)atomic_load(&g_bytes[1]),
          (long long)atomic_load(&g_bytes[0]));
  fprintf(f, " \"write_sizes\": ");
  write_sizes(f, 1);
  fprintf(f, ",\n \"read_sizes\": ");
  write_sizes(f, 0);
  fprintf(f, ",\n \"max_inflight\": %d}\n", atomic_load(&g_max_inflight));
  return fclose(f) == 0 ? 0 : -1;
}
