// tern/cluster/load_balancer.h - the load balancer extension point (DESIGN §7).
//
// One algorithm per file pair under src/cluster/lb/<name>_load_balancer.{h,cc},
// registered by name in register_builtin_load_balancers() and chosen per
// reference with `load_balance=<name>`:
//   random               weighted random
//   round_robin          plain rotation, ignores weights (but skips weight 0)
//   weighted_round_robin smooth weighted round robin, as in nginx
//   least_active         fewest in-flight calls, ties by weight then random
//   consistent_hash      ketama-style ring, 160 virtual nodes per provider, xxhash
//   p2c_ewma             power of two choices on ewma latency x (active + 1)
//
// Contract: select() returns one of `invokers` with weight > 0 (weights after
// warm-up), or nullptr when the list is empty or all weights are 0 (the caller
// answers UNAVAILABLE at once). Among those, invokers with available() ==
// false are picked only when no available one exists. Null entries in
// `invokers` are ignored. Implementations may keep state across calls
// (rotation counters, rings); a LoadBalancer object serves one service of one
// reference, and select() may be called from many threads concurrently.
// The returned pointer is one of the span's elements: it lives as long as the
// caller keeps the invoker list alive; balancers never retain invoker
// pointers across calls (state is keyed by Invoker::id()).
// Reference implementation: src/cluster/lb/random_load_balancer.{h,cc}.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tern/cluster/invoker.h"
#include "tern/result.h"

namespace tern::cluster {

// What a load balancer may look at of the call being placed.
struct Invocation {
  std::string_view service;
  std::string_view method;
  // Key for consistent_hash: the chosen argument(s) or attachment, already
  // rendered to bytes by the caller. Empty = no key (consistent_hash then
  // hashes service + method).
  std::string_view hash_key;
};

struct LoadBalancerOptions {
  // Seed for the balancer's random source; 0 = seeded from std::random_device.
  // Tests fix it.
  std::uint64_t seed = 0;
  // Virtual nodes per provider on the consistent-hash ring. Default 160.
  int virtual_nodes = 160;
  // Warm-up: a newly discovered provider's effective weight ramps linearly
  // from 1 to its weight over this period (as Dubbo). 0 disables. Default 10 min.
  std::chrono::milliseconds warmup{std::chrono::minutes(10)};
  // Clock used for warm-up; defaults to the coarse monotonic clock
  // (CLOCK_MONOTONIC_COARSE, steady_clock's epoch at 1-4 ms resolution: no
  // counter read per select()). Tests replace it.
  std::function<std::chrono::steady_clock::time_point()> now;
  // Wall clock compared with a provider URL's `timestamp` parameter (its start
  // time, ms since the Unix epoch); defaults to the coarse wall clock
  // (CLOCK_REALTIME_COARSE). Tests replace it.
  std::function<std::chrono::system_clock::time_point()> wall_now;
};

class LoadBalancer {
 public:
  virtual ~LoadBalancer() = default;
  // Picks one invoker; see the contract above.
  virtual Invoker* select(std::span<Invoker* const> invokers, const Invocation& invocation) = 0;
  // The name it is registered under ("random", ...).
  virtual std::string_view name() const = 0;
};

// Effective weight after warm-up: weight * age / warmup, at least 1 while
// warming up, 0 if weight is <= 0 (as Dubbo's AbstractLoadBalance). The age is
// the longer of now() - discovered_at() and, when the URL carries
// `timestamp`, wall_now() - timestamp. Shared by every weighted balancer.
// Thread-safe (reads the invoker and calls the option clocks only).
int effective_weight(const Invoker& invoker, const LoadBalancerOptions& options);

using LoadBalancerFactory = std::function<std::unique_ptr<LoadBalancer>(const LoadBalancerOptions&)>;

// Registers `factory` under `name` (replacing an earlier one). Thread-safe.
void register_load_balancer(std::string name, LoadBalancerFactory factory);

// Registers the six built-ins. Idempotent (runs once per process); called by
// create_load_balancer(). A name the application registered earlier is kept,
// so a replacement registered before the first create_load_balancer() wins.
void register_builtin_load_balancers();

// Creates the balancer registered as `name`; INVALID_ARGUMENT for an unknown
// name (the message lists the known ones), INTERNAL if a factory returns null.
// Thread-safe; the factory runs outside the table's lock.
Result<std::unique_ptr<LoadBalancer>> create_load_balancer(std::string_view name,
                                                           const LoadBalancerOptions& options = {});

}  // namespace tern::cluster
