/* split_order.c — many MiB of writes to one file queued with no sync point in
 * between (docs/design.md §5 "Order"): pending writes are cut into chunks of
 * up to 1 MiB and merged within a chunk; across the chunk boundaries writes at
 * an fd's position keep their offsets, rewrites of data still pending land
 * after it, and O_APPEND writes land at the end as it is then. The file must
 * be byte for byte what the same calls make without the shim, with the same
 * offsets and size.
 *
 * Two descriptions of one file: A (O_RDWR, writes at its position) and B
 * (O_APPEND). Per round, a pseudo-random run of blocks of 1 KiB - 300 KiB
 * (several MiB in all, so many chunks queue up with nothing in between to
 * sync them): mostly forward write/writev at A's position, some pwrite
 * over the last 3 MiB (over chunks that may still be pending), some
 * appends through B, now and then a seek of A back into the file. Mirrored in
 * a model; after each round lseek(SEEK_CUR) of both and fstat().st_size are
 * checked, at the end the content. Meanwhile a second thread calls fstat on
 * the file without pause: a call that waits for the file may write a pending
 * chunk itself, while the writer queues the next ones.
 */
#include "wb.h"

#include <sys/uio.h>

#define MAXSZ (40 << 20)
#define ROUNDS 4
#define ROUND_BYTES (6 << 20)

static char image[MAXSZ];
static size_t size;
static off_t pos_a, pos_b;

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(uint32_t n) { return wb_rnd(&rng, n); }

static void check(int a, int b, int round) {
  off_t ca = lseek(a, 0, SEEK_CUR), cb = lseek(b, 0, SEEK_CUR);
  if (ca != pos_a) ct_fail("round %d: lseek(A) = %lld, want %lld", round, (long long)ca, (long long)pos_a);
  if (cb != pos_b) ct_fail("round %d: lseek(B) = %lld, want %lld", round, (long long)cb, (long long)pos_b);
  struct stat st;
  CT_CHECK(fstat(a, &st) == 0, "fstat: %s", strerror(errno));
  if ((size_t)st.st_size != size)
    ct_fail("round %d: st_size = %lld, want %zu", round, (long long)st.st_size, size);
}

static void put(off_t off, const char* buf, size_t len) {
  memcpy(image + off, buf, len);
  if ((size_t)off + len > size) size = (size_t)off + len;
}

static char buf[300 << 10];
static atomic_int stop;

static void* syncer(void* arg) {
  int fd = *(int*)arg;
  struct stat st;
  for (long i = 0; !atomic_load(&stop) && i < 100000000L; i++)
    if (fstat(fd, &st) != 0) ct_fail("fstat: %s", strerror(errno));
  return NULL;
}

int main(void) {
  ct_name = "split_order";
  ct_start_watchdog(50);
  ct_step = "setup";
  char path[256];
  int a = ct_tmpfile(path, "split");
  int b = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  CT_CHECK(b >= 0, "open: %s", strerror(errno));

  pthread_t sync_thread = ct_spawn_masked(syncer, &b);
  long op = 0;
  for (int round = 0; round < ROUNDS; round++) {
    ct_step = "writing";
    for (size_t done = 0; done < ROUND_BYTES; op++) {
      size_t len = 1024 + rnd(299 << 10);
      for (size_t k = 0; k < len; k += 8) memcpy(buf + k, &op, 8 < len - k ? 8 : len - k);
      buf[0] = (char)('A' + rnd(26));
      uint32_t kind = rnd(100);
      ssize_t r;
      off_t off;
      if (kind < 70) { /* forward at A's position */
        off = pos_a;
        if ((size_t)off + len > MAXSZ) break;
        if (kind & 1) {
          struct iovec v[2] = {{buf, len / 3}, {buf + len / 3, len - len / 3}};
          r = writev(a, v, 2);
        } else {
          r = write(a, buf, len);
        }
        pos_a += (off_t)len;
      } else if (kind < 85) { /* over the last 3 MiB */
        off = (off_t)(size > (3u << 20) ? size - (3u << 20) : 0) + rnd(3u << 20);
        if ((size_t)off + len > MAXSZ) break;
        r = pwrite(a, buf, len, off);
      } else if (kind < 97) { /* append */
        len = len / 8 + 1;
        off = (off_t)size;
        if ((size_t)off + len > MAXSZ) break;
        r = write(b, buf, len);
        pos_b = off + (off_t)len;
      } else { /* A back into the file (a sync point), then forward again */
        pos_a = (off_t)rnd((uint32_t)size + 1);
        CT_CHECK(lseek(a, pos_a, SEEK_SET) == pos_a, "lseek: %s", strerror(errno));
        continue;
      }
      if (r != (ssize_t)len)
        ct_fail("op %ld (kind %u): returned %zd (%s), want %zu", op, kind, r,
                r < 0 ? strerrorname_np(errno) : "short", len);
      put(off, buf, len);
      done += len;
    }
    ct_step = "checking offsets and size";
    check(a, b, round);
  }
  atomic_store(&stop, 1);
  pthread_join(sync_thread, NULL);
  ct_step = "verify";
  CT_CHECK(close(a) == 0 && close(b) == 0, "close: %s", strerror(errno));
  wb_expect_file(path, image, size);
  unlink(path);
  return 0;
}
