// src/cluster/lb/lb_util.h - machinery shared by the built-in load balancers.
//
// Not a public header: the selection rules every balancer must keep (weight 0
// never picked, unavailable invokers skipped when an available one exists,
// warm-up applied once per select()) live here once, so the six algorithms
// differ only in how they choose among the candidates.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "tern/cluster/load_balancer.h"

namespace tern::cluster::lb {

// One invoker eligible for this select(), with its weight after warm-up (> 0).
struct Candidate {
  Invoker* invoker;
  int weight;
};

// options.now() when set, else steady_clock::now().
std::chrono::steady_clock::time_point lb_now(const LoadBalancerOptions& options);

// The clock for warm-up: options.now() when set, else the coarse monotonic
// clock (CLOCK_MONOTONIC_COARSE: steady_clock's epoch at a tick's resolution,
// 1-4 ms, without the ~25 ns counter read per call of steady_clock::now(); a
// warm-up lasts minutes). Read once per select(), and only while warm-up is
// on (issue #17: one of a 16-byte call's six clock reads on the consumer).
std::chrono::steady_clock::time_point warmup_now(const LoadBalancerOptions& options);

// effective_weight() against a `now` read once per select() (so a select over
// n invokers calls the clock once, not n times).
int effective_weight_at(const Invoker& invoker, const LoadBalancerOptions& options,
                        std::chrono::steady_clock::time_point now);

// Fills `out` (cleared first) with the invokers a balancer may pick, in input
// order: those with effective weight > 0 that are available(); when none is
// available, all those with effective weight > 0 (a call to an endpoint that
// may be going away beats failing at once). Returns the sum of the weights.
// Empty `out` means "return nullptr". O(n), one coarse clock read (none
// with warm-up off).
std::int64_t collect_candidates(std::span<Invoker* const> invokers, const LoadBalancerOptions& options,
                                std::vector<Candidate>& out);

// A per-thread scratch vector for collect_candidates(), so select() does not
// allocate in the steady state. Valid until the next call on the same thread;
// balancers never nest select() calls.
std::vector<Candidate>& scratch_candidates();

// Lock-free random source: splitmix64 over an atomic counter (Steele, Lea &
// Flood, "Fast splittable pseudorandom number generators", 2014). Each call
// takes a distinct counter value, so concurrent callers never share an output
// and a single thread sees a sequence fixed by the seed.
class RandomSource {
 public:
  // seed 0 = seeded from std::random_device.
  explicit RandomSource(std::uint64_t seed);

  std::uint64_t next() noexcept {
    std::uint64_t z = state_.fetch_add(0x9e3779b97f4a7c15ULL, std::memory_order_relaxed) + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, bound), bound > 0 (Lemire's multiply-shift; the bias is
  // below 2^-32 for any bound a weight sum can reach).
  std::uint64_t uniform(std::uint64_t bound) noexcept {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * bound) >> 64);
  }

 private:
  std::atomic<std::uint64_t> state_;
};

// Weighted random pick among `candidates` (non-empty, weights summing to
// `total` > 0). O(n).
Invoker* weighted_pick(std::span<const Candidate> candidates, std::int64_t total, RandomSource& random);

}  // namespace tern::cluster::lb
