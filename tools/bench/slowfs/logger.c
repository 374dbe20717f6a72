/* tools/bench/slowfs/logger.c — iowq-bench-logger: a program that logs the
 * way many daemons do, one write(2) per line, unbuffered, to an O_APPEND file.
 *
 *   iowq-bench-logger PATH LINES [LINE_BYTES]
 *
 * Writes LINES lines of LINE_BYTES bytes (default 80, at least 16), each
 * numbered, so the file's bytes say whether every line landed once and in
 * order. Exit 0 when every write returned the full count, 1 otherwise, 2 usage. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: iowq-bench-logger PATH LINES [LINE_BYTES]\n");
    return 2;
  }
  long lines = atol(argv[2]);
  long bytes = argc == 4 ? atol(argv[3]) : 80;
  if (lines < 1 || bytes < 16 || bytes > 4096) {
    fprintf(stderr, "iowq-bench-logger: LINES >= 1, 16 <= LINE_BYTES <= 4096\n");
    return 2;
  }
  int fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    perror(argv[1]);
    return 1;
  }
  char line[4097];
  for (long i = 0; i < lines; ++i) {
    int n = snprintf(line, sizeof line, "%010ld iowq logger line ", i);
    memset(line + n, 'a' + (int)(i % 26), (size_t)(bytes - n - 1));
    line[bytes - 1] = '\n';
    ssize_t w;
    do w = write(fd, line, (size_t)bytes);
    while (w < 0 && errno == EINTR);
    if (w != bytes) {
      perror("write");
      return 1;
    }
  }
  if (close(fd) != 0) {
    perror("close");
    return 1;
  }
  return 0;
}
