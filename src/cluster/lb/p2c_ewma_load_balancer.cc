// src/cluster/lb/p2c_ewma_load_balancer.cc - see the header.
#include "cluster/lb/p2c_ewma_load_balancer.h"

#include <cmath>
#include <limits>

namespace tern::cluster::lb {

P2cEwmaLoadBalancer::P2cEwmaLoadBalancer(const LoadBalancerOptions& options)
    : options_(options), random_(options.seed) {}

Invoker* P2cEwmaLoadBalancer::select(std::span<Invoker* const> invokers, const Invocation& /*invocation*/) {
  std::vector<Candidate>& candidates = scratch_candidates();
  collect_candidates(invokers, options_, candidates);
  if (candidates.empty()) return nullptr;
  const std::size_t n = candidates.size();
  if (n == 1) return candidates.front().invoker;

  std::int64_t lowest = std::numeric_limits<std::int64_t>::max();
  for (const Candidate& c : candidates) {
    const std::int64_t latency = c.invoker->stats().ewma_latency_us.load(std::memory_order_relaxed);
    if (latency > 0 && latency < lowest) lowest = latency;
  }
  if (lowest == std::numeric_limits<std::int64_t>::max()) lowest = 1;

  const auto a = static_cast<std::size_t>(random_.uniform(n));
  auto b = static_cast<std::size_t>(random_.uniform(n - 1));
  if (b >= a) ++b;  // distinct from a, uniform over the others

  const auto now = lb_now(options_);
  auto cost = [&](const Candidate& c, std::chrono::steady_clock::time_point last_pick) {
    InvokerStats& stats = c.invoker->stats();
    double latency = static_cast<double>(stats.ewma_latency_us.load(std::memory_order_relaxed));
    if (latency <= 0) latency = static_cast<double>(lowest);
    if (now > last_pick) {
      const double idle = std::chrono::duration<double>(now - last_pick).count();
      latency *= std::exp2(-idle / std::chrono::duration<double>(kIdleHalfLife).count());
    }
    const std::int32_t active = stats.active.load(std::memory_order_relaxed);
    // double: latency x in-flight / weight needs fractions anyway.
    return latency * (static_cast<double>(active < 0 ? 0 : active) + 1.0) / static_cast<double>(c.weight);
  };

  std::lock_guard lock(mu_);
  // A provider never picked yet counts as picked when first seen, so its
  // latency (e.g. from another balancer of the same reference) decays too.
  auto last = [&](const Candidate& c) { return last_pick_.try_emplace(c.invoker->id(), now).first->second; };
  const Candidate& winner = cost(candidates[b], last(candidates[b])) < cost(candidates[a], last(candidates[a]))
                                ? candidates[b]
                                : candidates[a];
  // Forget providers that left, so the map stays the size of the list.
  if (last_pick_.size() > 2 * n + 16) {
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> kept;
    for (const Candidate& c : candidates) {
      auto it = last_pick_.find(c.invoker->id());
      if (it != last_pick_.end()) kept.insert(*it);
    }
    last_pick_.swap(kept);
  }
  last_pick_.insert_or_assign(winner.invoker->id(), now);
  return winner.invoker;
}

}  // namespace tern::cluster::lb
