// base/run_delay.h: the calling thread's run delay from the kernel.
#include <gtest/gtest.h>

#include <sched.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "base/run_delay.h"

namespace {

TEST(RunDelay, IsReadAndNeverGoesBack) {
  std::int64_t a = tern::base::thread_run_delay_ns();
  ASSERT_GE(a, 0) << "no /proc/thread-self/schedstat";
  std::int64_t b = tern::base::thread_run_delay_ns();
  EXPECT_GE(b, a);
}

// Three threads spinning on one CPU for 300 ms: together they wait ~600 ms
// for it, so at least one waits a good part of it.
TEST(RunDelay, GrowsWhileAThreadWaitsForABusyCpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  std::atomic<std::int64_t> most{0};
  auto spin = [&] {
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    std::int64_t before = tern::base::thread_run_delay_ns();
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    while (std::chrono::steady_clock::now() < end) {
    }
    std::int64_t waited = tern::base::thread_run_delay_ns() - before;
    std::int64_t seen = most.load();
    while (waited > seen && !most.compare_exchange_weak(seen, waited)) {
    }
  };
  std::thread t1(spin), t2(spin), t3(spin);
  t1.join();
  t2.join();
  t3.join();
  EXPECT_GE(most.load(), 100'000'000) << "ns";
}

}  // namespace
