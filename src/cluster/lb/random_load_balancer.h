// src/cluster/lb/random_load_balancer.h - `random`: weighted random (DESIGN §7).
//
// Algorithm: draw r uniform in [0, sum of effective weights) and walk the
// candidates subtracting weights until r goes negative - Dubbo's
// RandomLoadBalance. Each provider gets weight / total of the calls in
// expectation, with no state beyond the random source, so it is the default
// choice when calls are alike and providers only differ in capacity.
//
// Thread safety: select() may be called concurrently; the random source is a
// lock-free atomic splitmix64. With options.seed != 0 the picks of a single
// thread are a fixed sequence.
// Complexity: O(n) per select (candidate filtering and the walk), no locks,
// no allocation in the steady state.
#pragma once

#include <string_view>

#include "cluster/lb/lb_util.h"
#include "tern/cluster/load_balancer.h"

namespace tern::cluster::lb {

class RandomLoadBalancer final : public LoadBalancer {
 public:
  static constexpr std::string_view kName = "random";

  explicit RandomLoadBalancer(const LoadBalancerOptions& options);

  Invoker* select(std::span<Invoker* const> invokers, const Invocation& invocation) override;
  std::string_view name() const override { return kName; }

 private:
  const LoadBalancerOptions options_;
  RandomSource random_;
};

}  // namespace tern::cluster::lb
