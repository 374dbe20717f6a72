// shim/route/stall.hpp — stall deadlines for socket and pipe calls that block in
// the calling thread (auto mode, or a pool that refused the call).
//
// The call itself is the plain libc call, so its signal, SA_RESTART, alarm()
// and cancellation behaviour is exactly the program's. A deadline armed
// around it is watched by one shim thread (started with the shim when
// IOWQ_STALL_MS is set, or on first need; it blocks every signal and holds no
// fd). When the deadline passes, that thread interrupts the caller's syscall
// with the cancel signal — re-sent a few times with backoff, since a signal
// that lands just before the syscall starts interrupts nothing. The shim's
// handler swallows those signals; the syscall returns EINTR or the partial
// count, and the caller decides (route.cpp): progress continues with a fresh
// deadline, no progress is a stall.
//
// Thousands of idle connections cost one thread and one slot each while
// armed (kSlots; beyond that a call runs without a deadline).
#pragma once

#include <cstdint>

namespace iowq::shim {

// Arms this thread's deadline (absolute CLOCK_MONOTONIC ns) and makes sure
// the cancel signal can reach the thread. False when it cannot (no slot, no
// thread): the caller then runs the call without a deadline.
bool stall_arm(uint64_t deadline_ns) noexcept;
// Disarms; after it returns no further stall signal is sent for this arm.
// True when the deadline passed and the thread was signalled.
bool stall_disarm() noexcept;
// For the cancel-signal handler: true when the signal was sent by the stall
// thread to this thread (swallow it; it only had to interrupt a syscall).
// *in_call (optional) is set when the thread is inside its armed call: a
// handler installed with SA_RESTART must then make the interrupted syscall
// return EINTR instead of restarting it.
bool stall_signal_ours(bool* in_call = nullptr) noexcept;
// How many stall signals this thread's handler has taken so far: a call that
// saw one while its own deadline had not fired was interrupted by a late
// re-send for an earlier arm (queued before that arm was disarmed), not by
// the program.
uint32_t stall_signals_taken() noexcept;
// The armed call was left by siglongjmp: disarm and restore the signal mask
// bookkeeping (the jump restored the program's own mask already).
void stall_abandon() noexcept;
// True while this thread's armed call runs with the cancel signal unblocked
// although the program blocks it here (for the program, it is blocked).
bool stall_unblocked_here() noexcept;
// Starts the stall thread now (constructor, outside any signal handler).
void stall_start() noexcept;

}  // namespace iowq::shim
