// shim/process/seccomp.hpp — the program's own seccomp sandbox
// (docs/design.md §4 "seccomp"): threads the shim knows are under it.
#pragma once

#include <pthread.h>

namespace iowq::shim {

// pthread_create from a thread under seccomp: the new thread inherits the
// filter, so it is marked before its start routine runs (no allocation, no
// syscall of the shim's own in either thread). `rf` is libc's pthread_create.
using pthread_create_fn = int(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
int sandboxed_pthread_create(pthread_create_fn* rf, pthread_t* t, const pthread_attr_t* attr,
                             void* (*fn)(void*), void* arg) noexcept;

// Before a hand-off to the pool (ensure_pool()), once per thread: false
// when the thread is in another seccomp mode than the pool's threads — it
// entered seccomp in a way the shim did not see (its own syscall
// instruction); it is then marked, and its calls run in the caller from now
// on. One prctl(PR_GET_SECCOMP). `starting`: the calling thread starts the
// pool, whose threads inherit its mode.
bool seccomp_may_hand_off(bool starting) noexcept;

}  // namespace iowq::shim
