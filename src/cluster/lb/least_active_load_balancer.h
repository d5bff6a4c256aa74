// src/cluster/lb/least_active_load_balancer.h - `least_active`: fewest
// in-flight calls from this consumer (DESIGN §7; the "least connections" of
// LVS, as Dubbo's LeastActiveLoadBalance).
//
// Algorithm: find the smallest stats().active among the candidates; if one
// candidate has it, pick it; if several tie, pick among them at weighted
// random (weight after warm-up), which is uniform random when their weights
// are equal. A slow provider accumulates in-flight calls and so receives
// fewer new ones: the choice when providers (or calls) differ in speed and
// the traffic is steady enough for `active` to mean something.
//
// `active` is read with relaxed loads while other threads change it; a
// select() sees a recent, not necessarily simultaneous, snapshot, which is
// all the heuristic needs.
//
// Thread safety: select() may be called concurrently; lock-free (atomic
// random source, atomic counters). With options.seed != 0 the picks of a
// single thread are a fixed sequence for given counters.
// Complexity: O(n) per select, no allocation in the steady state.
#pragma once

#include <string_view>

#include "cluster/lb/lb_util.h"
#include "tern/cluster/load_balancer.h"

namespace tern::cluster::lb {

class LeastActiveLoadBalancer final : public LoadBalancer {
 public:
  static constexpr std::string_view kName = "least_active";

  explicit LeastActiveLoadBalancer(const LoadBalancerOptions& options);

  Invoker* select(std::span<Invoker* const> invokers, const Invocation& invocation) override;
  std::string_view name() const override { return kName; }

 private:
  const LoadBalancerOptions options_;
  RandomSource random_;
};

}  // namespace tern::cluster::lb
