// src/cluster/lb/random_load_balancer.cc - see random_load_balancer.h.
#include "cluster/lb/random_load_balancer.h"

namespace tern::cluster::lb {

RandomLoadBalancer::RandomLoadBalancer(const LoadBalancerOptions& options)
    : options_(options), random_(options.seed) {}

Invoker* RandomLoadBalancer::select(std::span<Invoker* const> invokers, const Invocation& /*invocation*/) {
  std::vector<Candidate>& candidates = scratch_candidates();
  const std::int64_t total = collect_candidates(invokers, options_, candidates);
  if (candidates.empty()) return nullptr;
  return weighted_pick(candidates, total, random_);
}

}  // namespace tern::cluster::lb
