// src/cluster/lb/weighted_round_robin_load_balancer.cc - see the header.
#include "cluster/lb/weighted_round_robin_load_balancer.h"

namespace tern::cluster::lb {

WeightedRoundRobinLoadBalancer::WeightedRoundRobinLoadBalancer(const LoadBalancerOptions& options)
    : options_(options) {}

Invoker* WeightedRoundRobinLoadBalancer::select(std::span<Invoker* const> invokers,
                                                const Invocation& /*invocation*/) {
  std::vector<Candidate>& candidates = scratch_candidates();
  const std::int64_t total = collect_candidates(invokers, options_, candidates);
  if (candidates.empty()) return nullptr;
  if (candidates.size() == 1) return candidates.front().invoker;

  std::lock_guard lock(mu_);
  // Membership check: same set of ids as last time <=> every id is known and
  // the number of distinct ids seen equals the table size. Duplicate ids in
  // the list (a directory bug) are tolerated without resetting every call.
  ++epoch_;
  std::size_t distinct = 0;
  bool changed = false;
  slots_.clear();
  for (const Candidate& c : candidates) {
    auto it = peers_.find(c.invoker->id());
    if (it == peers_.end()) {
      changed = true;
      break;
    }
    if (it->second.seen != epoch_) {
      it->second.seen = epoch_;
      ++distinct;
    }
    slots_.push_back(&it->second);
  }
  if (changed || distinct != peers_.size()) {
    peers_.clear();
    slots_.clear();
    for (const Candidate& c : candidates) {
      Peer& peer = peers_[c.invoker->id()];  // node-based: pointers stay valid
      peer.current = 0;
      peer.seen = epoch_;
      slots_.push_back(&peer);
    }
  }

  std::size_t best = 0;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    slots_[i]->current += candidates[i].weight;
    if (slots_[i]->current > slots_[best]->current) best = i;
  }
  slots_[best]->current -= total;
  return candidates[best].invoker;
}

}  // namespace tern::cluster::lb
