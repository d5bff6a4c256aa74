// src/cluster/lb/p2c_ewma_load_balancer.h - `p2c_ewma`: power of two choices
// on latency x load, the adaptive balancer (DESIGN §7).
//
// Algorithm: pick two distinct candidates uniformly at random and send the
// call to the one with the lower cost
//     cost = ewma_latency_us x (active + 1) / weight
// ("power of two choices", Mitzenmacher 2001; cost as Finagle's and
// Linkerd's P2C + peak-EWMA balancers, divided by the weight so capacity and
// warm-up still count). A provider without a latency sample yet (ewma 0) is
// costed at the lowest latency known among the candidates (1 us if none has
// one), so new providers are probed instead of starved or flooded; `active`
// keeps a burst from landing on one of them. Comparing two random candidates
// rather than scanning for the best avoids the herd behaviour of "always the
// current best" when many consumers share stale data, while still moving
// almost all traffic away from a slow provider. Use it when provider speed
// varies (GC pauses, noisy neighbours, mixed hardware).
//
// Idle decay: a provider that loses every comparison gets no calls, hence no
// new latency samples, and would stay "slow" forever after it recovered. So
// its latency counts as latency x 2^(-idle / kIdleHalfLife), where idle is
// the time since this balancer last picked it or first saw it (a decay as in
// the peak-EWMA balancers of Finagle and Tower). A 10x slower provider is
// probed again after ~3.3 half-lives (about 7 s) without traffic, and fresh
// samples then decide. Under very low
// traffic every provider decays and the choice degrades to uniform random,
// which costs nothing there.
//
// Thread safety: select() may be called concurrently; the random source and
// the stats are lock-free, the last-pick times are a small map under a mutex
// held for two lookups and one store. With options.seed != 0 and an injected
// clock the picks of a single thread are a fixed sequence for given stats.
// Complexity: O(n) per select (candidate filtering, lowest known latency),
// then O(1); no allocation in the steady state.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cluster/lb/lb_util.h"
#include "tern/cluster/load_balancer.h"

namespace tern::cluster::lb {

class P2cEwmaLoadBalancer final : public LoadBalancer {
 public:
  static constexpr std::string_view kName = "p2c_ewma";
  // Half-life of the latency of a provider this balancer does not pick.
  static constexpr std::chrono::milliseconds kIdleHalfLife{2000};

  explicit P2cEwmaLoadBalancer(const LoadBalancerOptions& options);

  Invoker* select(std::span<Invoker* const> invokers, const Invocation& invocation) override;
  std::string_view name() const override { return kName; }

 private:
  const LoadBalancerOptions options_;
  RandomSource random_;
  std::mutex mu_;
  // Invoker::id() -> when this balancer last picked it. Guarded by mu_.
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> last_pick_;
};

}  // namespace tern::cluster::lb
