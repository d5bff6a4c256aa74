// src/cluster/lb/consistent_hash_load_balancer.h - `consistent_hash`: a
// ketama-style hash ring with virtual nodes (DESIGN §7).
//
// Algorithm (Karger et al. 1997; the ketama layout of libmemcached and
// Dubbo's ConsistentHashLoadBalance): every provider with weight > 0 puts
// options.virtual_nodes points (default 160) on a 64-bit ring at
// XXH3_64bits(id + "#" + i), i = 0..virtual_nodes-1. A call's key is
// invocation.hash_key, or "service.method" when that is empty; the call goes
// to the provider owning the first point at or after XXH3_64bits(key),
// wrapping around. The points depend only on Invoker::id() ("host:port"), so
// every consumer builds the same ring and sends a key to the same provider,
// and removing 1 of N providers moves only the keys it owned (about 1/N).
// Use it for affinity: caches local to a provider, per-key ordering.
//
// Weights: weight 0 (or <= 0) keeps a provider off the ring; other weights do
// not change the number of points (as Dubbo), because a weight that ramps
// during warm-up would otherwise reshuffle keys on every step.
// Availability: an unavailable provider stays on the ring (so its keys come
// back to it when it recovers); a key that lands on it walks on clockwise to
// the next available provider. If none is available the owning provider is
// returned anyway.
//
// Thread safety: select() may be called concurrently. The ring is immutable
// and shared through a shared_ptr swapped under a mutex held only for the
// pointer copy; it is rebuilt (outside the lock) only when the set of ids
// with weight > 0 changes. Deterministic: no randomness at all.
// Complexity: select O(n) for the membership check + O(log(n * vnodes)) for
// the ring search; rebuild O(n * vnodes * log(n * vnodes)), memory
// 16 bytes per point.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tern/cluster/load_balancer.h"

namespace tern::cluster::lb {

class ConsistentHashLoadBalancer final : public LoadBalancer {
 public:
  static constexpr std::string_view kName = "consistent_hash";
  static constexpr int kDefaultVirtualNodes = 160;

  // options.virtual_nodes <= 0 means kDefaultVirtualNodes.
  explicit ConsistentHashLoadBalancer(const LoadBalancerOptions& options);

  Invoker* select(std::span<Invoker* const> invokers, const Invocation& invocation) override;
  std::string_view name() const override { return kName; }

  // The ring hash of a key or point label (XXH3_64bits); exposed for tests and
  // tools that want to predict placement.
  static std::uint64_t hash(std::string_view bytes);

 private:
  struct Ring {
    struct Point {
      std::uint64_t hash;
      std::uint32_t member;  // index into members
    };
    std::vector<Point> points;                           // sorted by (hash, member)
    std::vector<std::string> members;                    // sorted ids
    std::unordered_map<std::string, std::uint32_t> index;  // id -> member
  };

  std::shared_ptr<const Ring> build(std::span<Invoker* const> invokers) const;

  const int virtual_nodes_;
  std::mutex mu_;
  std::shared_ptr<const Ring> ring_;  // guarded by mu_ (the pointer, not the ring)
};

}  // namespace tern::cluster::lb
