// Per-method limits: see method_limiter.h and tern/overload.h.
#include "server/overload/method_limiter.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace tern::server_impl {

namespace {
constexpr double kMinExplore = 0.06;
constexpr double kMaxExplore = 0.3;
constexpr double kExploreStep = 0.02;
constexpr double kEma = 0.1;  // weight of a new window in the min-latency and peak-qps EMAs
}  // namespace

// ---- AutoConcurrencyLimit ---------------------------------------------------

AutoConcurrencyLimit::AutoConcurrencyLimit(Options options) : o_(options), limit_(options.initial_limit) {
  if (o_.max_limit > 0) limit_.store(std::min(o_.initial_limit, o_.max_limit));
}

double AutoConcurrencyLimit::min_latency_us() const {
  std::lock_guard lock(mu_);
  return min_latency_us_;
}

double AutoConcurrencyLimit::max_qps() const {
  std::lock_guard lock(mu_);
  return max_qps_;
}

void AutoConcurrencyLimit::on_sample(std::chrono::nanoseconds latency, std::chrono::nanoseconds service,
                                     LimitClock::time_point now) {
  std::lock_guard lock(mu_);
  if (window_start_ == LimitClock::time_point{}) {
    window_start_ = now;
    next_remeasure_ = now + o_.remeasure_interval;
  }
  ++samples_;
  total_latency_us_ += std::chrono::duration<double, std::micro>(latency).count();
  total_service_us_ += std::chrono::duration<double, std::micro>(service).count();
  if (now - window_start_ < o_.window && samples_ < o_.max_samples) return;
  end_window(now);
}

void AutoConcurrencyLimit::end_window(LimitClock::time_point now) {
  const double elapsed_s = std::chrono::duration<double>(now - window_start_).count();
  const std::int64_t n = samples_;
  const double avg = n > 0 ? total_latency_us_ / static_cast<double>(n) : 0;
  const double service = n > 0 ? total_service_us_ / static_cast<double>(n) : 0;
  window_start_ = now;
  samples_ = 0;
  total_latency_us_ = 0;
  total_service_us_ = 0;
  if (n < o_.min_samples || elapsed_s <= 0) return;  // too few answers to say anything: start over

  const double qps = static_cast<double>(n) / elapsed_s;
  // The no-load latency: what a call costs without queueing, the handler's
  // own time (brpc estimates it from the lowest arrival-to-answer latencies,
  // which a provider overloaded from its first second never shows).
  if (now >= next_remeasure_ || min_latency_us_ <= 0) {
    min_latency_us_ = service;  // a method that became slower for good is learnt
    next_remeasure_ = now + o_.remeasure_interval;
  } else if (service < min_latency_us_) {
    min_latency_us_ = service * kEma + min_latency_us_ * (1 - kEma);
  }
  max_qps_ = qps >= max_qps_ ? qps : qps * kEma / 10 + max_qps_ * (1 - kEma / 10);

  if (avg <= min_latency_us_ * (1 + kMinExplore) || qps <= max_qps_ / (1 + kMinExplore)) {
    explore_ = std::min(kMaxExplore, explore_ + kExploreStep);
  } else {
    explore_ = std::max(kMinExplore, explore_ - kExploreStep);
  }
  double next = std::ceil(max_qps_ * ((2 + explore_) * min_latency_us_ - avg) / 1e6);
  int limit = static_cast<int>(std::clamp(next, static_cast<double>(std::max(1, o_.min_limit)), 1e9));
  if (o_.max_limit > 0) limit = std::min(limit, o_.max_limit);
  limit_.store(limit, std::memory_order_relaxed);
}

// ---- TokenBucket --------------------------------------------------------------

TokenBucket::TokenBucket(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst) {}

bool TokenBucket::try_take(LimitClock::time_point now) {
  std::lock_guard lock(mu_);
  if (last_ != LimitClock::time_point{} && now > last_) {
    tokens_ = std::min(burst_, tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
  }
  if (now > last_) last_ = now;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

// ---- MethodLimiter ------------------------------------------------------------

MethodLimiter::MethodLimiter(std::string name, const MethodLimit& limit) : name_(std::move(name)), limit_(limit) {
  if (limit_.adaptive) {
    AutoConcurrencyLimit::Options o;
    o.max_limit = limit_.max_concurrency;
    auto_ = std::make_unique<AutoConcurrencyLimit>(o);
  }
  if (limit_.max_qps > 0) qps_ = std::make_unique<TokenBucket>(limit_.max_qps, std::max(1.0, limit_.max_qps / 10));
}

int MethodLimiter::concurrency_limit() const noexcept {
  if (auto_) return auto_->limit();
  return limit_.max_concurrency;
}

Status MethodLimiter::try_acquire(LimitClock::time_point now) {
  const int cap = concurrency_limit();
  int current = in_flight_.fetch_add(1, std::memory_order_relaxed);
  if (cap > 0 && current >= cap) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    return Status(StatusCode::kResourceExhausted,
                  fmt::format("method {}: {} calls in flight ({} {})", name_, current,
                              auto_ ? "adaptive limit" : "max_concurrency", cap));
  }
  if (qps_ && !qps_->try_take(now)) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    return Status(StatusCode::kResourceExhausted,
                  fmt::format("method {}: over {} calls per second (max_qps {})", name_, limit_.max_qps,
                              limit_.max_qps));
  }
  return Status();
}

void MethodLimiter::release(std::chrono::nanoseconds latency, std::chrono::nanoseconds service, bool sample,
                            LimitClock::time_point now) {
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  if (sample && auto_) auto_->on_sample(latency, service, now);
}

}  // namespace tern::server_impl
