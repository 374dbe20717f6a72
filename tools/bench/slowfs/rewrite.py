#!/usr/bin/env python3
"""tools/bench/slowfs/rewrite.py FILE BYTES — the `rewrite` workload: one file
written mostly forward in blocks of 4-256 KiB at the fd's position, some
blocks written again over the last few MiB (pwrite), some appended through a
second, O_APPEND fd. Deterministic: the same bytes every run.

Under write-behind the forward blocks are placed and sent several at once;
the rewrites overlap blocks that may still be in flight and the appends must
land at the end as it is then, so the result shows whether write-behind kept
the order that matters (the test compares it with plain's).
"""
import os
import random
import sys


def main():
    path, total = sys.argv[1], int(sys.argv[2])
    rng = random.Random(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    fa = os.open(path, os.O_WRONLY | os.O_APPEND)
    pos = end = written = 0  # end: the file's size as it is then
    while written < total:
        n = rng.randint(4 << 10, 256 << 10)
        block = rng.getrandbits(8 * n).to_bytes(n, "little")
        r = rng.random()
        if r < 0.75:
            assert os.write(fd, block) == n
            pos += n
            end = max(end, pos)
        elif r < 0.92:
            off = rng.randint(max(0, end - (3 << 20)), end)
            assert os.pwrite(fd, block, off) == n
            end = max(end, off + n)
        else:
            n = n // 16 + 1
            assert os.write(fa, block[:n]) == n
            end += n
        written += n
    os.close(fa)
    os.close(fd)


if __name__ == "__main__":
    main()
