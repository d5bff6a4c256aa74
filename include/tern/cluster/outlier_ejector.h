// tern/cluster/outlier_ejector.h - outlier ejection and circuit breaking for
// one provider endpoint of one reference. One mechanism, two ways in:
//   - consecutive connection failures: after `eject_after` of them the
//     provider is skipped for a backoff (1 s, doubling up to 30 s by default);
//   - rates (circuit breaking, off by default): over a count-based sliding
//     window of the last `window` attempts, as Resilience4j's CircuitBreaker
//     (COUNT_BASED window, failure-rate and slow-call-rate thresholds,
//     minimum number of calls), a failure share >= failure_rate or a slow
//     share >= slow_rate ejects it the same way.
// Either way, when the backoff is over the provider is probed with one call
// (the breaker's half-open state); a good answer restores it and resets the
// backoff and the window.
//
//   not ejected --N connection failures, or a rate over its threshold--> ejected (until now + backoff)
//   ejected --backoff over--> probe-able: available() again until one call
//                              takes the probe (on_attempt)
//   probe fails (connection failure; with the breaker on, any failure or a
//                slow answer)  --> ejected again, backoff doubled
//   probe answers well       --> not ejected, backoff and window reset
//   probe ends otherwise (breaker off: timeout, cancel; on: cancel) --> probe-able again
//
// Reconnecting is the channel's business (its own backoff, tern/channel.h):
// an ejected provider's connection keeps reconnecting underneath, and the
// probe only goes out once the channel reports itself available.
//
// The counter is InvokerStats::consecutive_failures, owned by the invoker;
// the ejector holds the ejection state and the window. Time comes from the
// Clock given to the constructor (src/base/clock.h, the steady clock unless a
// test injects a fake one, tests/cluster/outlier_ejector_clock_test.cc); the
// overloads taking `now` pass the time in instead.
//
// Thread safety: every method may be called concurrently. available() is
// lock-free (load balancers call it on every select); transitions take a
// short mutex, and so does on_result() when the breaker is on (window > 0).
// Two calls racing for the probe slot may both be sent (rare; harmless: one
// extra call to a provider that is probably still down).
// Reference implementation of the state machine: src/cluster/outlier_ejector.cc.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

#include <vector>

#include "tern/cluster/invoker.h"
#include "tern/status.h"

namespace tern {
class Clock;  // src/base/clock.h (internal)
}  // namespace tern

namespace tern::cluster {

struct OutlierEjectionOptions {
  // Consecutive connection failures that eject a provider. Default 3; 0 = never eject.
  int eject_after = 3;
  // First ejection period; doubles on every failed probe. Default 1 s.
  std::chrono::milliseconds backoff{1000};
  // Cap of the doubling. Default 30 s.
  std::chrono::milliseconds max_backoff{30000};
  // Circuit breaking: the outcomes of the last `window` attempts are kept
  // (0 = breaker off, the default; at most 100000). Once at least `min_calls`
  // of them are in (1..window), a share of failures (is_breaker_failure) >=
  // `failure_rate`, or, when `slow_call` > 0, a share of answers that took
  // `slow_call` or longer >= `slow_rate`, ejects the provider. Rates in
  // (0, 1]. Defaults: min_calls 20, failure_rate 0.5, slow_call 0 (latency
  // not judged), slow_rate 1.0 — Resilience4j's defaults but its window (100)
  // and its 60 s slow threshold, which are left to the caller here.
  int window = 0;
  int min_calls = 20;
  double failure_rate = 0.5;
  std::chrono::milliseconds slow_call{0};
  double slow_rate = 1.0;
};

// What the breaker counts as a failure: a connection failure, a timeout, a
// lost connection (UNAVAILABLE), and answers that say the provider is in
// trouble — INTERNAL, UNKNOWN, DATA_LOSS, RESOURCE_EXHAUSTED (overloaded).
// Application errors (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, ...) and
// the caller's own CANCELLED are not failures of the provider.
bool is_breaker_failure(const Status& status) noexcept;

class OutlierEjector {
 public:
  using Clock = std::chrono::steady_clock;

  // `clock`: the time of the overloads without `now` (null: the steady
  // clock); must outlive the ejector.
  explicit OutlierEjector(OutlierEjectionOptions options = {}, const tern::Clock* clock = nullptr);

  // The transitions below at the clock's now().
  bool available() const noexcept;
  void on_attempt() noexcept;
  void on_connection_failure(InvokerStats& stats) noexcept;
  void on_result(InvokerStats& stats, const Status& status, std::chrono::microseconds latency) noexcept;

  // False while ejected and the backoff is not over, or while the probe call is in flight.
  bool available(Clock::time_point now) const noexcept;
  // True while ejected (including the probe phase).
  bool ejected() const noexcept { return until_.load(std::memory_order_acquire) != 0; }

  // An attempt is being sent to this provider: if the backoff is over, this
  // attempt becomes the probe.
  void on_attempt(Clock::time_point now) noexcept;
  // The attempt ended in a connection failure (is_connection_failure()):
  // counts it in stats.consecutive_failures and ejects when due.
  void on_connection_failure(InvokerStats& stats, Clock::time_point now) noexcept;
  // The provider answered (any response, OK or a remote error): resets.
  void on_success(InvokerStats& stats) noexcept;
  // The attempt ended without telling anything (timeout, cancel): frees the probe slot.
  void on_inconclusive() noexcept;

  // The outcome of one attempt, which ended `now` after `latency`: the one
  // entry point the consumer uses. It dispatches to the transitions below
  // (connection failure, inconclusive, success) and, when the breaker is on,
  // records the outcome in the window and ejects when a rate is over its
  // threshold; a failed or slow probe ejects again.
  void on_result(InvokerStats& stats, const Status& status, std::chrono::microseconds latency,
                 Clock::time_point now) noexcept;

  // The period the next ejection will last.
  std::chrono::milliseconds next_backoff() const noexcept {
    return std::chrono::milliseconds(backoff_ms_.load(std::memory_order_relaxed));
  }

 private:
  void eject_locked(Clock::time_point now) noexcept;
  void restore_locked() noexcept;
  // Adds one outcome to the window; true when it tripped the breaker.
  bool record_locked(bool failure, bool slow, Clock::time_point now) noexcept;
  void clear_window_locked() noexcept;
  static std::int64_t ticks(Clock::time_point t) noexcept { return t.time_since_epoch().count(); }

  Clock::time_point now() const noexcept;

  const OutlierEjectionOptions options_;
  const tern::Clock* clock_;
  std::mutex mu_;
  std::atomic<std::int64_t> until_{0};      // ejected until (steady ticks); 0 = not ejected
  std::atomic<bool> probing_{false};        // the probe call is in flight
  std::atomic<std::int64_t> backoff_ms_{0};  // the next ejection's length
  // The breaker's window (under mu_): a ring of outcomes, bit 0 failure,
  // bit 1 slow; `filled_` of them valid, `next_` the slot to write.
  std::vector<std::uint8_t> ring_;
  std::size_t next_ = 0;
  std::size_t filled_ = 0;
  std::size_t failures_ = 0;
  std::size_t slow_ = 0;
};

}  // namespace tern::cluster
