// src/cluster/cluster.cc - the fault-tolerance strategy name table
// (tern/cluster/cluster.h). Built-ins are registered in one visible function,
// register_builtin_clusters(), never by static initializers; the strategies
// themselves live in src/cluster/ft/, one file pair each.
#include "tern/cluster/cluster.h"

#include <algorithm>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cluster/ft/broadcast_cluster.h"
#include "cluster/ft/failfast_cluster.h"
#include "cluster/ft/failover_cluster.h"
#include "cluster/ft/failsafe_cluster.h"
#include "cluster/ft/forking_cluster.h"

namespace tern::cluster {
namespace {

struct Table {
  std::mutex mu;
  // In registration order: the unknown-name error lists them so.
  std::vector<std::pair<std::string, ClusterFactory>> factories;
};

Table& table() {
  static Table* t = new Table();  // never destroyed: usable during static destruction
  return *t;
}

// Under t.mu.
std::pair<std::string, ClusterFactory>* find(Table& t, std::string_view name) {
  auto it = std::find_if(t.factories.begin(), t.factories.end(), [&](const auto& e) { return e.first == name; });
  return it == t.factories.end() ? nullptr : &*it;
}

}  // namespace

void register_cluster(std::string name, ClusterFactory factory) {
  Table& t = table();
  std::lock_guard lock(t.mu);
  if (auto* e = find(t, name)) {
    e->second = std::move(factory);
  } else {
    t.factories.emplace_back(std::move(name), std::move(factory));
  }
}

void register_builtin_clusters() {
  static std::once_flag once;
  std::call_once(once, [] {
    Table& t = table();
    std::lock_guard lock(t.mu);
    // An application that registered its own strategy under a built-in name
    // before the first create_cluster() keeps it.
    auto add = [&](std::string_view name, ClusterFactory f) {
      if (!find(t, name)) t.factories.emplace_back(std::string(name), std::move(f));
    };
    add(ft::FailoverCluster::kName, [](const ClusterOptions& o) { return std::make_unique<ft::FailoverCluster>(o); });
    add(ft::FailfastCluster::kName, [](const ClusterOptions&) { return std::make_unique<ft::FailfastCluster>(); });
    add(ft::FailsafeCluster::kName, [](const ClusterOptions&) { return std::make_unique<ft::FailsafeCluster>(); });
    add(ft::ForkingCluster::kName, [](const ClusterOptions& o) { return std::make_unique<ft::ForkingCluster>(o); });
    add(ft::BroadcastCluster::kName, [](const ClusterOptions&) { return std::make_unique<ft::BroadcastCluster>(); });
  });
}

Result<std::unique_ptr<Cluster>> create_cluster(std::string_view name, const ClusterOptions& options) {
  register_builtin_clusters();
  ClusterFactory factory;
  std::string known;
  {
    Table& t = table();
    std::lock_guard lock(t.mu);
    if (auto* e = find(t, name)) {
      factory = e->second;
    } else {
      for (const auto& [n, f] : t.factories) {
        if (!known.empty()) known += ", ";
        known += n;
      }
    }
  }
  if (!factory) {
    return Status(StatusCode::kInvalidArgument, "unknown cluster strategy '" + std::string(name) + "' (" + known + ")");
  }
  // Outside the lock: a factory may itself create other strategies.
  std::unique_ptr<Cluster> cluster = factory(options);
  if (!cluster) return Status(StatusCode::kInternal, "cluster factory '" + std::string(name) + "' returned null");
  return cluster;
}

}  // namespace tern::cluster
