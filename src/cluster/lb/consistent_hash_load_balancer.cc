// src/cluster/lb/consistent_hash_load_balancer.cc - see the header.
#include "cluster/lb/consistent_hash_load_balancer.h"

#include <xxhash.h>

#include <algorithm>

namespace tern::cluster::lb {
namespace {

// Which invoker of this call's list owns each ring member (filled per select).
std::vector<Invoker*>& scratch_owners() {
  thread_local std::vector<Invoker*> owners;
  return owners;
}

}  // namespace

ConsistentHashLoadBalancer::ConsistentHashLoadBalancer(const LoadBalancerOptions& options)
    : virtual_nodes_(options.virtual_nodes > 0 ? options.virtual_nodes : kDefaultVirtualNodes) {}

std::uint64_t ConsistentHashLoadBalancer::hash(std::string_view bytes) {
  return XXH3_64bits(bytes.data(), bytes.size());
}

std::shared_ptr<const ConsistentHashLoadBalancer::Ring> ConsistentHashLoadBalancer::build(
    std::span<Invoker* const> invokers) const {
  auto ring = std::make_shared<Ring>();
  for (Invoker* invoker : invokers) {
    if (invoker != nullptr && invoker->weight() > 0) ring->members.push_back(invoker->id());
  }
  // Sorted and deduplicated, so member indexes (and the tie order of equal
  // hashes) do not depend on the order of the list: every consumer agrees.
  std::sort(ring->members.begin(), ring->members.end());
  ring->members.erase(std::unique(ring->members.begin(), ring->members.end()), ring->members.end());
  ring->points.reserve(ring->members.size() * static_cast<std::size_t>(virtual_nodes_));
  std::string label;
  for (std::uint32_t m = 0; m < ring->members.size(); ++m) {
    const std::string& id = ring->members[m];
    ring->index.emplace(id, m);
    for (int i = 0; i < virtual_nodes_; ++i) {
      label.assign(id).append("#").append(std::to_string(i));
      ring->points.push_back({hash(label), m});
    }
  }
  std::sort(ring->points.begin(), ring->points.end(), [](const Ring::Point& a, const Ring::Point& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.member < b.member;
  });
  return ring;
}

Invoker* ConsistentHashLoadBalancer::select(std::span<Invoker* const> invokers, const Invocation& invocation) {
  std::shared_ptr<const Ring> ring;
  {
    std::lock_guard lock(mu_);
    ring = ring_;
  }

  // Membership check, mapping each ring member to this call's invoker object
  // (the ring stores ids, never pointers, so it survives a list refresh).
  std::vector<Invoker*>& owners = scratch_owners();
  auto matches = [&](const Ring& r) {
    owners.assign(r.members.size(), nullptr);
    std::size_t found = 0;
    for (Invoker* invoker : invokers) {
      if (invoker == nullptr || invoker->weight() <= 0) continue;
      auto it = r.index.find(invoker->id());
      if (it == r.index.end()) return false;
      if (owners[it->second] == nullptr) {
        owners[it->second] = invoker;
        ++found;
      }
    }
    return found == r.members.size();
  };
  if (!ring || !matches(*ring)) {
    ring = build(invokers);
    if (!matches(*ring)) return nullptr;  // unreachable: built from this list
    std::lock_guard lock(mu_);
    ring_ = ring;
  }
  if (ring->points.empty()) return nullptr;

  std::uint64_t key_hash;
  if (!invocation.hash_key.empty()) {
    key_hash = hash(invocation.hash_key);
  } else {
    thread_local std::string key;
    key.assign(invocation.service).append(".").append(invocation.method);
    key_hash = hash(key);
  }

  const auto& points = ring->points;
  auto it = std::lower_bound(points.begin(), points.end(), key_hash,
                             [](const Ring::Point& p, std::uint64_t h) { return p.hash < h; });
  std::size_t start = it == points.end() ? 0 : static_cast<std::size_t>(it - points.begin());
  Invoker* owner = owners[points[start].member];
  if (owner->available()) return owner;
  // Walk clockwise to the next available provider; at most one full turn.
  for (std::size_t step = 1; step < points.size(); ++step) {
    Invoker* next = owners[points[(start + step) % points.size()].member];
    if (next->available()) return next;
  }
  return owner;
}

}  // namespace tern::cluster::lb
