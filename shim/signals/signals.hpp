// shim/signals/signals.hpp — the pool's cancel signal (IOWQ_SIGNAL, SIGRTMIN+3 by
// default), shared with the program without the program noticing.
//
// Until the shim first needs to interrupt a call (the first unbound call that
// goes to the pool, or the first stall deadline armed around a call in the
// caller: stall.hpp) the shim does not touch the signal: the program's
// sigaction/signal calls, raw rt_sigaction, inherited SIG_IGN all act on the
// kernel as without the shim. Taking it over reads the disposition the
// kernel holds at that moment (however it was installed) as the program's,
// and installs the shim's handler with the program's mask and SA_RESTART,
// SA_ONSTACK, SA_NODEFER. From then on the program's sigaction/signal on it
// read and set that virtual disposition, which the handler honours on the
// program's threads (SIG_IGN, SIG_DFL, SA_SIGINFO, SA_RESETHAND), except a
// stall signal, which only ends the thread's call. On a pool worker, and for
// a stall signal, the handler makes the interrupted call return EINTR even
// when the program asked for SA_RESTART (that is what a cancel is for); a signal
// that was not the pool's (process-directed, from a kill) is queued to the
// process again so the program's sigwait/signalfd/handlers see it.
#pragma once

#include <signal.h>

#include "sys/libc.hpp"

namespace iowq::shim {

// Takes the signal over if not done yet. Async-signal-safe. False when it
// cannot be taken now (another thread is taking it): run the call inline.
bool cancel_signal_take() noexcept;

// Around exec and spawn: a program disposition of SIG_IGN must survive exec
// as without the shim (exec resets a handler, not SIG_IGN). `before`
// installs it for the exec; `after` (exec failed, or spawn returned) takes
// the signal back.
void cancel_signal_exec(bool before) noexcept;

// In a fork child (single-threaded): a parent thread that held the lock or
// was taking the signal at the fork is gone, and the kernel copied the
// disposition before the memory, so the two may disagree. Trusts the
// kernel's disposition.
void cancel_signal_after_fork() noexcept;

// The kernel is the truth: a disposition the program set behind the shim's
// back (raw rt_sigaction, libc's internal sigaction in sigset & co.) has
// replaced the shim's handler. Re-reads the kernel: anything but the shim's
// handler becomes the program's disposition, and the shim's handler goes
// back. Called before the shim sends the signal (the stall thread; the
// pool's before_cancel_signal hook) and by every sigaction on it.
void cancel_signal_resync() noexcept;

// True once the shim owns `sig` (the cancel signal, taken over).
bool cancel_signal_owned(int sig) noexcept;
// The program's rt_sigaction on the taken cancel signal, kernel form
// (-errno): what the net's trapped raw call reads and sets.
int64_t cancel_ksigaction(const sys::KSigaction* act, sys::KSigaction* old) noexcept;

// A pool worker is inside the syscall of its unbound call (the handler may
// turn a restart into EINTR only there).
void cancel_signal_in_call(bool in) noexcept;

// What the program's disposition of `sig` does to a blocking call it
// interrupts: kHandlerNoRestart (the call ends with EINTR), kHandlerRestart,
// or kNoHandler (SIG_DFL, SIG_IGN: the call goes on, or the process stops or
// ends). Read from the kernel, so dispositions set by raw rt_sigaction count;
// the cancel signal's is the program's view once the shim owns it.
enum class Disposition { kNoHandler, kHandlerRestart, kHandlerNoRestart };
Disposition program_disposition(int sig) noexcept;

}  // namespace iowq::shim
