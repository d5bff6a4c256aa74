// tern/cluster/invoker.h - one provider endpoint as the cluster layer sees it.
//
// The directory (the live provider list of a service) holds Invokers; load
// balancers pick one per call; fault-tolerance strategies decide what to do
// when the call on it fails. The client module implements Invoker on top of a
// channel to the endpoint; tests implement it with a plain struct.
//
// Thread safety: every method may be called concurrently; InvokerStats fields
// are atomics updated by the call path on every completion (value, error,
// timeout, connection lost, cancel), so least_active and p2c_ewma see live data.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "tern/url.h"

namespace tern::cluster {

// Live per-invoker counters kept by this consumer.
struct InvokerStats {
  // Calls sent to this provider and not yet completed ("active" in Dubbo's
  // least-active load balancer).
  std::atomic<std::int32_t> active{0};
  // Exponentially weighted moving average of call latency in microseconds
  // (0 = no sample yet). Updated by record_latency().
  std::atomic<std::int64_t> ewma_latency_us{0};
  // Consecutive connection failures (outlier ejection); reset by a success.
  std::atomic<std::int32_t> consecutive_failures{0};

  // Folds one latency sample into ewma_latency_us with smoothing factor
  // alpha = 1/8 (as TCP's SRTT). Lock-free; concurrent updates may lose a
  // sample, which an average tolerates.
  void record_latency(std::chrono::microseconds latency) {
    std::int64_t sample = latency.count();
    std::int64_t old = ewma_latency_us.load(std::memory_order_relaxed);
    std::int64_t next = old == 0 ? sample : old + (sample - old) / 8;
    ewma_latency_us.store(next, std::memory_order_relaxed);
  }
};

class Invoker {
 public:
  virtual ~Invoker() = default;

  // The provider URL as registered (tern://host:port/Service?weight=...).
  virtual const Url& url() const = 0;

  // Stable identity shared by every consumer: "host:port" of the provider
  // (consistent_hash builds its ring from it, so all consumers agree).
  virtual const std::string& id() const = 0;

  // Configured weight: the URL's `weight` parameter, default 100, >= 0.
  // 0 means "never pick".
  virtual int weight() const = 0;

  // When this consumer first saw the provider (warm-up starts here; a URL
  // parameter `timestamp` in ms since the epoch, when present, is the
  // provider's own start time and is preferred by implementations).
  virtual std::chrono::steady_clock::time_point discovered_at() const = 0;

  // Live counters (never null).
  virtual InvokerStats& stats() = 0;

  // False while the endpoint is known unusable (e.g. ejected as an outlier,
  // or its connection is going away). Load balancers skip unavailable
  // invokers when any available one exists.
  virtual bool available() const { return true; }
};

}  // namespace tern::cluster
