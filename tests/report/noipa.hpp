// tests/report/noipa.hpp — IOWQ_NOIPA: a real call with a frame of its own,
// for tests that count stack frames. GCC's noipa; clang has no noipa, and
// noinline + optnone give the same there.
#pragma once
#if defined(__clang__)
#define IOWQ_NOIPA noinline, optnone
#else
#define IOWQ_NOIPA noipa
#endif
