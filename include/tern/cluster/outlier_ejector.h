// tern/cluster/outlier_ejector.h - outlier ejection for one provider endpoint
// of one reference: after `eject_after` consecutive connection failures the
// provider is skipped for a backoff (1 s, doubling up to 30 s by default),
// then probed with one call; a success restores it and resets the backoff.
//
//   not ejected --N connection failures--> ejected (until now + backoff)
//   ejected --backoff over--> probe-able: available() again until one call
//                              takes the probe (on_attempt)
//   probe fails (connection failure) --> ejected again, backoff doubled
//   any success                      --> not ejected, backoff reset
//   probe ends otherwise (timeout, cancel, remote error) --> probe-able again
//
// The counter is InvokerStats::consecutive_failures, owned by the invoker;
// the ejector holds the ejection state. Times are passed in (no clock inside),
// so tests drive it without sleeping.
//
// Thread safety: every method may be called concurrently. available() is
// lock-free (load balancers call it on every select); transitions take a
// short mutex. Two calls racing for the probe slot may both be sent (rare;
// harmless: one extra call to a provider that is probably still down).
// Reference implementation of the state machine: src/cluster/outlier_ejector.cc.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

#include "tern/cluster/invoker.h"

namespace tern::cluster {

struct OutlierEjectionOptions {
  // Consecutive connection failures that eject a provider. Default 3; 0 = never eject.
  int eject_after = 3;
  // First ejection period; doubles on every failed probe. Default 1 s.
  std::chrono::milliseconds backoff{1000};
  // Cap of the doubling. Default 30 s.
  std::chrono::milliseconds max_backoff{30000};
};

class OutlierEjector {
 public:
  using Clock = std::chrono::steady_clock;

  explicit OutlierEjector(OutlierEjectionOptions options = {});

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

  // The period the next ejection will last.
  std::chrono::milliseconds next_backoff() const noexcept {
    return std::chrono::milliseconds(backoff_ms_.load(std::memory_order_relaxed));
  }

 private:
  void eject_locked(Clock::time_point now) noexcept;
  static std::int64_t ticks(Clock::time_point t) noexcept { return t.time_since_epoch().count(); }

  const OutlierEjectionOptions options_;
  std::mutex mu_;
  std::atomic<std::int64_t> until_{0};      // ejected until (steady ticks); 0 = not ejected
  std::atomic<bool> probing_{false};        // the probe call is in flight
  std::atomic<std::int64_t> backoff_ms_{0};  // the next ejection's length
};

}  // namespace tern::cluster
