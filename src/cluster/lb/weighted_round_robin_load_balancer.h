// src/cluster/lb/weighted_round_robin_load_balancer.h - `weighted_round_robin`:
// smooth weighted round robin, as in nginx (DESIGN §7).
//
// Algorithm (nginx's ngx_http_upstream_get_peer, 2012): every candidate keeps a
// `current` value. On each select: current += effective weight for every
// candidate; the one with the largest current wins (first in list order on a
// tie); the winner's current -= total weight. Over any window of `total`
// consecutive calls each candidate gets exactly its weight, and the picks are
// interleaved rather than bunched: weights {5,1,1} give a,a,b,a,c,a,a, never
// a,a,a,a,a,b,c. Use it when the order of calls matters for smoothness (e.g.
// cache warm-up, per-provider rate limits) and weights differ.
//
// State: `current` per Invoker::id() (never per pointer, so a refreshed list
// with new invoker objects keeps its place). When the membership (the set of
// candidate ids) changes, every current is reset to 0, so a joining provider
// does not arrive with a stale debt or credit. Weight changes (warm-up) need
// no reset: the algorithm adapts from the next call.
//
// Thread safety: select() may be called concurrently; it holds a mutex for the
// O(n) update (the algorithm is inherently a read-modify-write of every
// candidate). The picks of one thread are deterministic (no randomness).
// Complexity: O(n) per select, one hash lookup per candidate.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cluster/lb/lb_util.h"
#include "tern/cluster/load_balancer.h"

namespace tern::cluster::lb {

class WeightedRoundRobinLoadBalancer final : public LoadBalancer {
 public:
  static constexpr std::string_view kName = "weighted_round_robin";

  explicit WeightedRoundRobinLoadBalancer(const LoadBalancerOptions& options);

  Invoker* select(std::span<Invoker* const> invokers, const Invocation& invocation) override;
  std::string_view name() const override { return kName; }

 private:
  struct Peer {
    std::int64_t current = 0;
    std::uint64_t seen = 0;  // `epoch_` of the last select that saw it
  };

  const LoadBalancerOptions options_;
  std::mutex mu_;
  std::unordered_map<std::string, Peer> peers_;  // guarded by mu_
  std::uint64_t epoch_ = 0;                      // guarded by mu_
  std::vector<Peer*> slots_;                     // guarded by mu_; scratch
};

}  // namespace tern::cluster::lb
