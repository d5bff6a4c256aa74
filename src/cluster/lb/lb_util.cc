// src/cluster/lb/lb_util.cc - see lb_util.h.
#include "cluster/lb/lb_util.h"

#include <ctime>
#include <random>

namespace tern::cluster::lb {

std::chrono::steady_clock::time_point lb_now(const LoadBalancerOptions& options) {
  return options.now ? options.now() : std::chrono::steady_clock::now();
}

std::chrono::steady_clock::time_point warmup_now(const LoadBalancerOptions& options) {
  if (options.now) return options.now();
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);  // steady_clock's epoch (CLOCK_MONOTONIC), a tick behind at most
  return std::chrono::steady_clock::time_point(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

std::int64_t collect_candidates(std::span<Invoker* const> invokers, const LoadBalancerOptions& options,
                                std::vector<Candidate>& out) {
  out.clear();
  if (invokers.empty()) return 0;
  // No clock read when warm-up is off; a coarse one when it is on.
  const auto now = options.warmup.count() > 0 ? warmup_now(options) : std::chrono::steady_clock::time_point{};
  std::int64_t total = 0;
  std::int64_t total_unavailable = 0;
  // One pass: available candidates are appended in order; unavailable ones
  // are remembered separately and only used when no available one exists.
  thread_local std::vector<Candidate> unavailable_list;
  unavailable_list.clear();
  for (Invoker* invoker : invokers) {
    if (invoker == nullptr) continue;
    int w = effective_weight_at(*invoker, options, now);
    if (w <= 0) continue;
    if (invoker->available()) {
      out.push_back({invoker, w});
      total += w;
    } else {
      unavailable_list.push_back({invoker, w});
      total_unavailable += w;
    }
  }
  if (!out.empty() || unavailable_list.empty()) return total;
  out.swap(unavailable_list);
  return total_unavailable;
}

std::vector<Candidate>& scratch_candidates() {
  thread_local std::vector<Candidate> scratch;
  return scratch;
}

RandomSource::RandomSource(std::uint64_t seed) {
  if (seed == 0) {
    std::random_device rd;
    seed = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }
  state_.store(seed, std::memory_order_relaxed);
}

Invoker* weighted_pick(std::span<const Candidate> candidates, std::int64_t total, RandomSource& random) {
  if (candidates.size() == 1) return candidates.front().invoker;
  auto offset = static_cast<std::int64_t>(random.uniform(static_cast<std::uint64_t>(total)));
  for (const Candidate& c : candidates) {
    offset -= c.weight;
    if (offset < 0) return c.invoker;
  }
  return candidates.back().invoker;  // unreachable when total is the sum
}

}  // namespace tern::cluster::lb
