// Outlier ejection state machine. See tern/cluster/outlier_ejector.h.
#include "tern/cluster/outlier_ejector.h"

#include <algorithm>

namespace tern::cluster {

OutlierEjector::OutlierEjector(OutlierEjectionOptions options) : options_(options) {
  backoff_ms_.store(std::max<std::int64_t>(1, options_.backoff.count()), std::memory_order_relaxed);
}

bool OutlierEjector::available(Clock::time_point now) const noexcept {
  std::int64_t until = until_.load(std::memory_order_acquire);
  if (until == 0) return true;
  return ticks(now) >= until && !probing_.load(std::memory_order_acquire);
}

void OutlierEjector::on_attempt(Clock::time_point now) noexcept {
  std::int64_t until = until_.load(std::memory_order_acquire);
  if (until == 0 || ticks(now) < until) return;
  probing_.store(true, std::memory_order_release);
}

void OutlierEjector::eject_locked(Clock::time_point now) noexcept {
  std::int64_t b = backoff_ms_.load(std::memory_order_relaxed);
  auto until = now + std::chrono::milliseconds(b);
  until_.store(std::max<std::int64_t>(1, ticks(until)), std::memory_order_release);
  backoff_ms_.store(std::min<std::int64_t>(b * 2, std::max(b, static_cast<std::int64_t>(options_.max_backoff.count()))),
                    std::memory_order_relaxed);
  probing_.store(false, std::memory_order_release);
}

void OutlierEjector::on_connection_failure(InvokerStats& stats, Clock::time_point now) noexcept {
  int n = stats.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  if (options_.eject_after <= 0) return;
  std::lock_guard lock(mu_);
  std::int64_t until = until_.load(std::memory_order_relaxed);
  if (until == 0) {
    if (n >= options_.eject_after) eject_locked(now);
  } else if (ticks(now) >= until) {
    eject_locked(now);  // the probe (or a call racing it) failed: eject again, longer
  }
}

void OutlierEjector::on_success(InvokerStats& stats) noexcept {
  if (stats.consecutive_failures.load(std::memory_order_relaxed) != 0) {
    stats.consecutive_failures.store(0, std::memory_order_relaxed);
  }
  if (until_.load(std::memory_order_acquire) == 0) return;
  std::lock_guard lock(mu_);
  until_.store(0, std::memory_order_release);
  probing_.store(false, std::memory_order_release);
  backoff_ms_.store(std::max<std::int64_t>(1, options_.backoff.count()), std::memory_order_relaxed);
}

void OutlierEjector::on_inconclusive() noexcept {
  if (probing_.load(std::memory_order_acquire)) probing_.store(false, std::memory_order_release);
}

}  // namespace tern::cluster
