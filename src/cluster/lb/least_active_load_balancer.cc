// src/cluster/lb/least_active_load_balancer.cc - see the header.
#include "cluster/lb/least_active_load_balancer.h"

#include <limits>

namespace tern::cluster::lb {

LeastActiveLoadBalancer::LeastActiveLoadBalancer(const LoadBalancerOptions& options)
    : options_(options), random_(options.seed) {}

Invoker* LeastActiveLoadBalancer::select(std::span<Invoker* const> invokers, const Invocation& /*invocation*/) {
  std::vector<Candidate>& candidates = scratch_candidates();
  collect_candidates(invokers, options_, candidates);
  if (candidates.empty()) return nullptr;
  if (candidates.size() == 1) return candidates.front().invoker;

  // One pass: compact the least-active candidates to the front of the vector
  // (each `active` is read once, so a concurrent change cannot make the tie
  // set inconsistent).
  std::int32_t least = std::numeric_limits<std::int32_t>::max();
  std::size_t tied = 0;
  std::int64_t tied_weight = 0;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const std::int32_t active = candidates[i].invoker->stats().active.load(std::memory_order_relaxed);
    if (active < least) {
      least = active;
      tied = 0;
      tied_weight = 0;
    }
    if (active == least) {
      candidates[tied++] = candidates[i];
      tied_weight += candidates[i].weight;
    }
  }
  return weighted_pick(std::span<const Candidate>(candidates.data(), tied), tied_weight, random_);
}

}  // namespace tern::cluster::lb
