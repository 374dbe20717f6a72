// shim/process/exitwatch.hpp — the process ends exactly when and how it would
// without the shim, whatever threads the shim keeps (exitwatch.cpp).
#pragma once

namespace iowq::shim::process {

// On the creating thread, before pthread_create: looks up glibc's thread
// count and thread layout once (lock-free, one syscall to check them).
void know_glibc() noexcept;

// A thread of the shim's own (sys::start_thread) leaves glibc's count of
// threads, so that glibc's own rule (the last thread to end calls exit(0))
// counts the program's alone: its creator takes it out right after
// pthread_create (own_thread_creating before, own_thread_created after: the
// creator, counted itself when it is the program's, keeps the count from
// reaching 0 in between), and the thread puts itself back as its last act.
unsigned own_thread_creating() noexcept;
void own_thread_created(unsigned before) noexcept;
void own_thread_end() noexcept;

// First and last thing a program thread made through the interposed
// pthread_create does: the exit watcher may wait for its end. No syscall
// (the thread may be sandboxed by then).
void program_thread_begin() noexcept;
void program_thread_end() noexcept;

// Starts the exit watcher (once). From then on the process ends when the
// program's last thread does, whatever threads the shim has. Started with
// the shim's first own thread when it can wait without polling
// (watcher_can_wait), else when main calls pthread_exit.
void start_watcher() noexcept;
bool watcher_can_wait() noexcept;

// main calls pthread_exit (not sandboxed, not inside the shim).
void main_pthread_exit() noexcept;

}  // namespace iowq::shim::process
