// src/server/adaptive_placement.h - where the `adaptive` dispatcher runs one
// method's requests: the business pool until the method has proven short,
// then the IO thread that read the request, back to the pool when a run on
// the IO thread takes too long (tern/dispatcher.h, AdaptiveDispatchOptions).
//
// One per method of a service dispatched `adaptive`. The IO threads read
// runs_inline() for every request; whichever thread ran the handler calls
// record() with where it ran and how long it took. Thread-safe, lock-free:
// concurrent records may lose a count of the streak (harmless: promotion
// comes a run later), but a promotion or demotion is reported exactly once.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "tern/dispatcher.h"

namespace tern::server_impl {

class AdaptivePlacement {
 public:
  enum class Change : std::uint8_t { kNone, kPromoted, kDemoted };

  explicit AdaptivePlacement(const AdaptiveDispatchOptions& options) noexcept : options_(options) {}

  // Whether the next request should run on the IO thread that read it.
  bool runs_inline() const noexcept { return inline_.load(std::memory_order_relaxed); }

  // One run of the handler: `ran_inline` = it ran on an IO thread, `took` =
  // its wall time. Returns kPromoted when this run moved the method to the IO
  // thread, kDemoted when it sent it back to the pool (one run on the IO
  // thread over demote_above, or the mean of its recent runs there over
  // demote_mean_above; the caller logs and counts), kNone otherwise.
  Change record(bool ran_inline, std::chrono::nanoseconds took) noexcept {
    if (ran_inline) {
      // Mean of recent runs on the IO thread (exponentially weighted, 1/8 per
      // run; racy updates lose a sample, which is harmless).
      std::int64_t mean = mean_ns_.load(std::memory_order_relaxed);
      mean += (took.count() - mean) / 8;
      mean_ns_.store(mean, std::memory_order_relaxed);
      if (took <= options_.demote_above && std::chrono::nanoseconds(mean) <= options_.demote_mean_above) {
        return Change::kNone;
      }
      bool expected = true;
      if (!inline_.compare_exchange_strong(expected, false, std::memory_order_relaxed)) return Change::kNone;
      demotions_.fetch_add(1, std::memory_order_relaxed);
      streak_.store(0, std::memory_order_relaxed);
      mean_ns_.store(0, std::memory_order_relaxed);
      return Change::kDemoted;
    }
    if (inline_.load(std::memory_order_relaxed)) return Change::kNone;  // queued before the promotion
    if (took >= options_.promote_below) {
      streak_.store(0, std::memory_order_relaxed);
      return Change::kNone;
    }
    std::uint64_t need = runs_needed();
    if (need == 0) return Change::kNone;
    if (streak_.fetch_add(1, std::memory_order_relaxed) + 1 < need) return Change::kNone;
    bool expected = false;
    if (!inline_.compare_exchange_strong(expected, true, std::memory_order_relaxed)) return Change::kNone;
    streak_.store(0, std::memory_order_relaxed);
    return Change::kPromoted;
  }

  // Runs in a row under promote_below needed now: promote_after x 8 per
  // demotion so far; 0 = never (promote_after is 0, or max_demotions reached).
  std::uint64_t runs_needed() const noexcept {
    std::uint32_t d = demotions_.load(std::memory_order_relaxed);
    if (options_.promote_after == 0 || d >= options_.max_demotions) return 0;
    return static_cast<std::uint64_t>(options_.promote_after) << (3 * std::min<std::uint32_t>(d, 16));
  }
  std::uint32_t demotions() const noexcept { return demotions_.load(std::memory_order_relaxed); }

 private:
  const AdaptiveDispatchOptions options_;
  std::atomic<bool> inline_{false};
  std::atomic<std::uint64_t> streak_{0};
  std::atomic<std::uint32_t> demotions_{0};
  std::atomic<std::int64_t> mean_ns_{0};
};

}  // namespace tern::server_impl
