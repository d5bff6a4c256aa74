// src/cluster/lb/round_robin_load_balancer.h - `round_robin`: plain rotation
// (DESIGN §7).
//
// Algorithm: a shared counter n, starting at a random offset (from
// options.seed) so consumers started together do not all begin with the same
// provider; each call takes the next n and picks candidate n mod size,
// where the candidates are the invokers with weight > 0 (after the
// availability rule of load_balancer.h), in the order given. Weights beyond
// "zero or not" are ignored: use weighted_round_robin for capacity-weighted
// rotation. The classic round robin of DNS and LVS (`rr` scheduler).
// Over any window of k * size consecutive calls on an unchanged list, each
// candidate gets exactly k calls, also when the calls come from many threads.
//
// Thread safety: select() may be called concurrently; the counter is one
// relaxed atomic fetch_add, so concurrent calls never get the same slot.
// Complexity: O(n) per select (candidate filtering), no locks.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "cluster/lb/lb_util.h"
#include "tern/cluster/load_balancer.h"

namespace tern::cluster::lb {

class RoundRobinLoadBalancer final : public LoadBalancer {
 public:
  static constexpr std::string_view kName = "round_robin";

  explicit RoundRobinLoadBalancer(const LoadBalancerOptions& options);

  Invoker* select(std::span<Invoker* const> invokers, const Invocation& invocation) override;
  std::string_view name() const override { return kName; }

 private:
  const LoadBalancerOptions options_;
  std::atomic<std::uint64_t> next_;
};

}  // namespace tern::cluster::lb
