// Outlier ejection state machine. See tern/cluster/outlier_ejector.h.
#include "tern/cluster/outlier_ejector.h"

#include <algorithm>

#include "base/clock.h"
#include "tern/cluster/fault_tolerance.h"

namespace tern::cluster {

bool is_breaker_failure(const Status& status) noexcept {
  switch (status.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kInternal:
    case StatusCode::kUnknown:
    case StatusCode::kDataLoss:
    case StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

OutlierEjector::OutlierEjector(OutlierEjectionOptions options, const tern::Clock* clock)
    : options_(options), clock_(clock ? clock : &tern::Clock::steady()) {
  backoff_ms_.store(std::max<std::int64_t>(1, options_.backoff.count()), std::memory_order_relaxed);
  if (options_.window > 0) ring_.assign(static_cast<std::size_t>(options_.window), 0);
}

OutlierEjector::Clock::time_point OutlierEjector::now() const noexcept { return clock_->now(); }

bool OutlierEjector::available() const noexcept {
  if (until_.load(std::memory_order_acquire) == 0) return true;  // no clock read on the common path
  return available(now());
}

void OutlierEjector::on_attempt() noexcept {
  if (until_.load(std::memory_order_acquire) == 0) return;
  on_attempt(now());
}

void OutlierEjector::on_connection_failure(InvokerStats& stats) noexcept { on_connection_failure(stats, now()); }

void OutlierEjector::on_result(InvokerStats& stats, const Status& status, std::chrono::microseconds latency) noexcept {
  on_result(stats, status, latency, now());
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
  restore_locked();
}

void OutlierEjector::restore_locked() noexcept {
  until_.store(0, std::memory_order_release);
  probing_.store(false, std::memory_order_release);
  backoff_ms_.store(std::max<std::int64_t>(1, options_.backoff.count()), std::memory_order_relaxed);
  clear_window_locked();
}

void OutlierEjector::clear_window_locked() noexcept {
  std::fill(ring_.begin(), ring_.end(), std::uint8_t{0});
  next_ = filled_ = failures_ = slow_ = 0;
}

bool OutlierEjector::record_locked(bool failure, bool slow, Clock::time_point now) noexcept {
  std::uint8_t& slot = ring_[next_];
  if (filled_ == ring_.size()) {  // the oldest outcome leaves the window
    failures_ -= slot & 1u;
    slow_ -= (slot >> 1) & 1u;
  } else {
    ++filled_;
  }
  slot = static_cast<std::uint8_t>((failure ? 1u : 0u) | (slow ? 2u : 0u));
  failures_ += failure ? 1 : 0;
  slow_ += slow ? 1 : 0;
  next_ = (next_ + 1) % ring_.size();
  if (filled_ < static_cast<std::size_t>(std::max(1, options_.min_calls))) return false;
  double n = static_cast<double>(filled_);
  bool trip = static_cast<double>(failures_) >= options_.failure_rate * n ||
              (options_.slow_call.count() > 0 && static_cast<double>(slow_) >= options_.slow_rate * n);
  if (!trip) return false;
  eject_locked(now);
  clear_window_locked();  // the probe decides what comes next, not the old outcomes
  return true;
}

void OutlierEjector::on_result(InvokerStats& stats, const Status& status, std::chrono::microseconds latency,
                               Clock::time_point now) noexcept {
  const bool connection = is_connection_failure(status);
  if (ring_.empty()) {  // breaker off: consecutive connection failures only
    if (connection) {
      on_connection_failure(stats, now);
    } else if (status.code() == StatusCode::kCancelled || status.code() == StatusCode::kDeadlineExceeded ||
               status.code() == StatusCode::kUnavailable) {
      on_inconclusive();
    } else {
      on_success(stats);  // the provider answered (a remote error is an answer too)
    }
    return;
  }
  if (status.code() == StatusCode::kCancelled && !connection) {
    on_inconclusive();  // the caller's own cancel says nothing of the provider
    return;
  }
  if (connection) on_connection_failure(stats, now);  // counts the run; may eject or re-eject
  const bool failure = connection || is_breaker_failure(status);
  const bool slow = !failure && options_.slow_call.count() > 0 && latency >= options_.slow_call;
  if (!failure && stats.consecutive_failures.load(std::memory_order_relaxed) != 0) {
    stats.consecutive_failures.store(0, std::memory_order_relaxed);
  }
  std::lock_guard lock(mu_);
  std::int64_t until = until_.load(std::memory_order_relaxed);
  if (until != 0) {
    // Ejected. Outcomes of calls sent before the ejection (now < until) are
    // ignored; after it, this is the probe (or a call racing it).
    if (ticks(now) < until) return;
    if (connection) return;  // on_connection_failure already ejected again
    if (failure || slow) {
      eject_locked(now);
    } else {
      restore_locked();
    }
    return;
  }
  record_locked(failure, slow, now);
}

void OutlierEjector::on_inconclusive() noexcept {
  if (probing_.load(std::memory_order_acquire)) probing_.store(false, std::memory_order_release);
}

}  // namespace tern::cluster
