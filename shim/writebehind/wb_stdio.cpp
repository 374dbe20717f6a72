// shim/writebehind/wb_stdio.cpp — stdio's writes in order with write-behind (docs/design.md §5).
//
// stdio writes its buffer with libc-internal write() calls that no
// interposer sees; one that overtook a pending write to the same file would
// reorder the file (`printf` and `write(1, ...)` mixed on `prog > file`).
// The rule chosen here, sound and cheap:
//   * every stdio output entry point a program calls (printf family, puts,
//     putc family, fwrite, fflush, seeks that flush, dprintf) first lets the
//     pending writes of its stream's file land — one load when nothing is
//     pending. A stream on a pipe, socket or tty is another process being
//     told something: everything pending lands first;
//   * files opened by stdio (fopen, fdopen, freopen) are also *read* by
//     libc-internal read() calls: they are kept out of write-behind
//     (syncpoints.cpp), as are files mapped into memory;
//   * stderr's file is never written behind, whichever fd reaches it
//     (writebehind.cpp): libc writes diagnostics to it from inside (perror,
//     error, assert) where no entry point is seen.
// So stdout's file stays eligible (where `prog > file` gets its speed) and
// its stdio writes stay in order. libc-internal stdio output to a file other
// than stderr's (none in glibc's normal paths) is not ordered.
// This file defines putchar, vprintf, putc_unlocked... itself: keep glibc's
// optimised builds from also defining them as extern inline functions
// (clang rejects the second definition).
#ifndef __NO_INLINE__
#define __NO_INLINE__ 1
#endif
#include <stdarg.h>
#include <stdio.h>
#include <wchar.h>

#include "wb_hooks.hpp"

using namespace iowq::shim;

namespace {

void before_fd(int fd) noexcept {
  if (fd < 0) return;
  FdInfo fi = fd_info(fd);
  if (fi.kind == FdKind::File)
    wb_wait_file(fi);
  else if (fi.kind != FdKind::Bad)
    wb_sync_all();
}

// Before stdio may write `f`'s buffer.
inline void before(FILE* f) noexcept {
  if (!hooks::pending() || !f) return;
  int e = errno;
  int fd = fileno(f);  // -1 for memory streams: nothing to order
  errno = e;
  before_fd(fd);
}
inline void before_dfd(int fd) noexcept {
  if (hooks::pending()) before_fd(fd);
}

}  // namespace

#define WB_STDIO_HOOK(stream, ret, name, params, args) WB_HOOK(before(stream), ret, name, params, args)

// ---- formatted ------------------------------------------------------------------

IOWQ_EXPORT int printf(const char* fmt, ...) {
  WB_REAL(int(const char*, va_list), "vprintf");
  before(stdout);
  va_list ap;
  va_start(ap, fmt);
  int r = rf(fmt, ap);
  va_end(ap);
  return r;
}
IOWQ_EXPORT int fprintf(FILE* f, const char* fmt, ...) {
  WB_REAL(int(FILE*, const char*, va_list), "vfprintf");
  before(f);
  va_list ap;
  va_start(ap, fmt);
  int r = rf(f, fmt, ap);
  va_end(ap);
  return r;
}
IOWQ_EXPORT int __printf_chk(int flag, const char* fmt, ...) {
  WB_REAL(int(int, const char*, va_list), "__vprintf_chk");
  before(stdout);
  va_list ap;
  va_start(ap, fmt);
  int r = rf(flag, fmt, ap);
  va_end(ap);
  return r;
}
IOWQ_EXPORT int __fprintf_chk(FILE* f, int flag, const char* fmt, ...) {
  WB_REAL(int(FILE*, int, const char*, va_list), "__vfprintf_chk");
  before(f);
  va_list ap;
  va_start(ap, fmt);
  int r = rf(f, flag, fmt, ap);
  va_end(ap);
  return r;
}
// dprintf writes the fd with an internal write, past any interposer.
IOWQ_EXPORT int dprintf(int fd, const char* fmt, ...) {
  WB_REAL(int(int, const char*, va_list), "vdprintf");
  before_dfd(fd);
  va_list ap;
  va_start(ap, fmt);
  int r = rf(fd, fmt, ap);
  va_end(ap);
  return r;
}
IOWQ_EXPORT int __dprintf_chk(int fd, int flag, const char* fmt, ...) {
  WB_REAL(int(int, int, const char*, va_list), "__vdprintf_chk");
  before_dfd(fd);
  va_list ap;
  va_start(ap, fmt);
  int r = rf(fd, flag, fmt, ap);
  va_end(ap);
  return r;
}
IOWQ_EXPORT int wprintf(const wchar_t* fmt, ...) {
  WB_REAL(int(const wchar_t*, va_list), "vwprintf");
  before(stdout);
  va_list ap;
  va_start(ap, fmt);
  int r = rf(fmt, ap);
  va_end(ap);
  return r;
}
IOWQ_EXPORT int fwprintf(FILE* f, const wchar_t* fmt, ...) {
  WB_REAL(int(FILE*, const wchar_t*, va_list), "vfwprintf");
  before(f);
  va_list ap;
  va_start(ap, fmt);
  int r = rf(f, fmt, ap);
  va_end(ap);
  return r;
}

WB_STDIO_HOOK(stdout, int, vprintf, (const char* fmt, va_list ap), (fmt, ap))
WB_STDIO_HOOK(f, int, vfprintf, (FILE * f, const char* fmt, va_list ap), (f, fmt, ap))
WB_STDIO_HOOK(stdout, int, __vprintf_chk, (int fl, const char* fmt, va_list ap), (fl, fmt, ap))
WB_STDIO_HOOK(f, int, __vfprintf_chk, (FILE * f, int fl, const char* fmt, va_list ap), (f, fl, fmt, ap))
WB_HOOK(before_dfd(fd), int, vdprintf, (int fd, const char* fmt, va_list ap), (fd, fmt, ap))
WB_HOOK(before_dfd(fd), int, __vdprintf_chk, (int fd, int fl, const char* fmt, va_list ap), (fd, fl, fmt, ap))
WB_STDIO_HOOK(stdout, int, vwprintf, (const wchar_t* fmt, va_list ap), (fmt, ap))
WB_STDIO_HOOK(f, int, vfwprintf, (FILE * f, const wchar_t* fmt, va_list ap), (f, fmt, ap))

// ---- strings, characters, blocks ---------------------------------------------------

WB_STDIO_HOOK(stdout, int, puts, (const char* s), (s))
WB_STDIO_HOOK(f, int, fputs, (const char* s, FILE* f), (s, f))
WB_STDIO_HOOK(f, int, fputs_unlocked, (const char* s, FILE* f), (s, f))
WB_STDIO_HOOK(f, int, putc, (int c, FILE* f), (c, f))
WB_STDIO_HOOK(f, int, _IO_putc, (int c, FILE* f), (c, f))
WB_STDIO_HOOK(f, int, fputc, (int c, FILE* f), (c, f))
WB_STDIO_HOOK(f, int, putc_unlocked, (int c, FILE* f), (c, f))
WB_STDIO_HOOK(f, int, fputc_unlocked, (int c, FILE* f), (c, f))
WB_STDIO_HOOK(stdout, int, putchar, (int c), (c))
WB_STDIO_HOOK(stdout, int, putchar_unlocked, (int c), (c))
// The buffer-full path of the putc macros (bits/stdio.h).
WB_STDIO_HOOK(f, int, __overflow, (FILE * f, int c), (f, c))
WB_STDIO_HOOK(f, size_t, fwrite, (const void* p, size_t s, size_t n, FILE* f), (p, s, n, f))
WB_STDIO_HOOK(f, size_t, fwrite_unlocked, (const void* p, size_t s, size_t n, FILE* f), (p, s, n, f))
WB_STDIO_HOOK(f, int, fputws, (const wchar_t* s, FILE* f), (s, f))
WB_STDIO_HOOK(f, wint_t, fputwc, (wchar_t c, FILE* f), (c, f))
WB_STDIO_HOOK(f, wint_t, putwc, (wchar_t c, FILE* f), (c, f))
WB_STDIO_HOOK(stdout, wint_t, putwchar, (wchar_t c), (c))
WB_STDIO_HOOK(stderr, void, perror, (const char* s), (s))

// ---- calls that flush the buffer ---------------------------------------------------

WB_STDIO_HOOK(f, int, fflush_unlocked, (FILE * f), (f))
WB_STDIO_HOOK(f, int, fseek, (FILE * f, long o, int w), (f, o, w))
WB_STDIO_HOOK(f, int, fseeko, (FILE * f, off_t o, int w), (f, o, w))
WB_STDIO_HOOK(f, int, fseeko64, (FILE * f, off64_t o, int w), (f, o, w))
WB_STDIO_HOOK(f, int, fsetpos, (FILE * f, const fpos_t* p), (f, p))
WB_STDIO_HOOK(f, int, fsetpos64, (FILE * f, const fpos64_t* p), (f, p))
WB_STDIO_HOOK(f, void, rewind, (FILE * f), (f))
