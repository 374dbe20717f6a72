#!/usr/bin/env python3
"""tools/bench/linewriter.py — the "python3 line writer" workload of run.sh.

Usage: linewriter.py PATH LINES
Writes LINES text lines of ~64 bytes to PATH through a line-buffered text file
(buffering=1), so every line is one write(2) — what a logging script does.
Exit 0 when the file has the expected size afterwards.
"""
import os
import sys


def main():
    if len(sys.argv) != 3:
        print("usage: linewriter.py PATH LINES", file=sys.stderr)
        return 2
    path, lines = sys.argv[1], int(sys.argv[2])
    line = "iowq line writer: " + "x" * 45 + "\n"  # 64 bytes
    with open(path, "w", buffering=1) as f:
        for _ in range(lines):
            f.write(line)
    return 0 if os.path.getsize(path) == lines * len(line) else 1


if __name__ == "__main__":
    sys.exit(main())
