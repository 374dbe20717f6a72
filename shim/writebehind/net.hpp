// shim/writebehind/net.hpp — the net under the interposers (docs/design.md §5 "The net").
//
// While write-behind data is pending, every system call of every program
// thread that no interposer saw traps (Linux syscall user dispatch, one
// process-wide selector byte armed only while data is pending) and waits for
// the data it could observe before it runs. The shim's own text (libiowq.so)
// is exempt, so its raw syscalls never trap; the shim's threads never enable
// it.
#pragma once

#include <signal.h>

#include <atomic>
#include <cstdint>

#include "sys/libc.hpp"

namespace iowq::shim {

// wb_init, on the main thread: installs the SIGSYS handler and enables the
// net on this thread. False (and nothing changed) where the kernel refuses
// (old kernel, seccomp): write-behind must then stay off.
bool net_init() noexcept;
// wb_init, once write-behind is on: the main thread's SIGSYS block (kept
// across exec) becomes the program's view, the real mask opens it.
void net_ready() noexcept;
bool net_on() noexcept;
// True while the net is armed: a system call made through libc now traps (a
// SIGSYS round trip, ~10 us on a VM). Interposers that pass a plain system
// call wrapper through (mmap, munmap, mprotect, mremap) then make the call
// from the shim's text instead, as real::read & co. do.
bool net_armed() noexcept;
// The selector follows `inflight` (chunks queued, not finished): armed while
// it is not zero. Called after each 0 <-> nonzero change of it.
void net_update(const std::atomic<int64_t>& inflight) noexcept;
// The fork child's thread.
void net_thread_enable() noexcept;
// exec and posix_spawn hand this thread's mask on: the program's SIGSYS bit
// goes with it, blocked for real around the call with the net off on this
// thread (after exec's drain, or spawn's pause). net_exec_end(begin's value)
// after a failed exec or a spawn.
int net_exec_begin() noexcept;
void net_exec_end(int began) noexcept;
// A thread starting to run program code (pthread_create's start routine,
// a SIGEV_THREAD callback, a C11 thread): SIGSYS really blocked (its
// creator's bit, which the creator's pause put in the real mask; an
// attribute mask; glibc's helpers, which block every signal) becomes its
// bit and the real mask opens it; then the net on.
void net_program_thread_begins() noexcept;
// A clone() child sharing our memory: the net on for the calling task only,
// touching no thread-local state (it may be running on its creator's).
void net_task_enable() noexcept;
// Around a call that must not trap on this thread (glibc's pthread_create
// blocks every signal around clone): true when the net was paused here.
// While paused the real mask holds the program's SIGSYS bit.
bool net_thread_pause() noexcept;
void net_thread_resume() noexcept;
void net_after_fork_child() noexcept;
// An append ended (its file lock released): puts back the net if a trap
// inside the append had to take it off this thread (net.cpp).
void net_after_append() noexcept;
// glibc blocks every signal, SIGSYS included, while a thread ends (after its
// start routine, by return, pthread_exit or cancellation: all unwind through
// the wrapped start routine holding this): the net goes off first, or a trap
// there would kill the process.
struct NetOffAtEnd {
  ~NetOffAtEnd() { net_thread_pause(); }
};
// Runs `call` with the net off on this thread: glibc functions that block
// every signal around a syscall (signal senders, thread creation; a trap
// there would be fatal).
template <typename F>
auto net_paused(F call) {
  const bool paused = net_thread_pause();
  auto r = call();
  if (paused) net_thread_resume();
  return r;
}
// The program's sigaction while the net is on: SIGSYS is virtualised (the
// net's handler stays; the program's is called for any SIGSYS that is not a
// net trap), every handler returns through the shim's restorer (an
// rt_sigreturn outside the shim's text would trap), and SIGSYS never enters
// a handler's mask (a trap with SIGSYS blocked kills the process).
int net_sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept;
// libc's sigaction (-1/errno) over a kernel-form one (-errno).
int libc_sigaction(int64_t (*kfn)(int, const sys::KSigaction*, sys::KSigaction*), int sig,
                   const struct sigaction* act, struct sigaction* old) noexcept;
// The same in kernel form (-errno): the shim's own installs of a program's action.
int64_t net_ksigaction(int sig, const sys::KSigaction* act, sys::KSigaction* old) noexcept;
// The action the kernel would hold after net_ksigaction(act).
sys::KSigaction net_kernel_form(const sys::KSigaction& act) noexcept;
// sigprocmask/pthread_sigmask over libc's `rf`. Under the net SIGSYS stays
// open in the real mask and the program's bit is kept per thread: reads
// show it; a SIGSYS arriving while it is set is held (net.cpp: write-behind
// off for good, the thread out of the net, the signal queued again, pending
// for real). Once write-behind is off for good and drained, a thread that
// blocks SIGSYS leaves the net and blocks it for real.
int net_sigmask(int (*rf)(int, const sigset_t*, sigset_t*), int how, const sigset_t* set,
                sigset_t* old) noexcept;

}  // namespace iowq::shim
