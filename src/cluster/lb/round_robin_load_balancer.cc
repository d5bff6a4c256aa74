// src/cluster/lb/round_robin_load_balancer.cc - see round_robin_load_balancer.h.
#include "cluster/lb/round_robin_load_balancer.h"

namespace tern::cluster::lb {

// The counter starts at a random offset (fixed by options.seed when set), so
// consumers that start together do not all send their first call to the
// first provider of the list.
RoundRobinLoadBalancer::RoundRobinLoadBalancer(const LoadBalancerOptions& options)
    : options_(options), next_(RandomSource(options.seed).next() >> 1) {}

Invoker* RoundRobinLoadBalancer::select(std::span<Invoker* const> invokers, const Invocation& /*invocation*/) {
  std::vector<Candidate>& candidates = scratch_candidates();
  collect_candidates(invokers, options_, candidates);
  if (candidates.empty()) return nullptr;
  const std::uint64_t n = next_.fetch_add(1, std::memory_order_relaxed);
  return candidates[n % candidates.size()].invoker;
}

}  // namespace tern::cluster::lb
