// src/base/run_delay.h - how long the calling thread has waited for a CPU.
//
// Linux's per-thread scheduler statistics (/proc/thread-self/schedstat, the
// second field, "run_delay": time spent runnable on a run queue but not
// running). The `adaptive` dispatcher uses it to tell a handler that blocked
// (slept, waited on a lock or on I/O) from one that was merely preempted on a
// busy machine: both take long in wall time, only the second shows as run
// delay.
//
// Thread safety: per thread (each thread reads its own statistics through a
// file it opens on first use and closes when it exits). Cost: one pread()
// system call, about 1-2 us; call it rarely.
#pragma once

#include <cstdint>

namespace tern::base {

// Nanoseconds the calling thread has spent runnable but not running since it
// started; -1 when the kernel does not provide it (no schedstat).
std::int64_t thread_run_delay_ns() noexcept;

}  // namespace tern::base
