// src/cluster/cluster.cc - the fault-tolerance strategy name table
// (tern/cluster/cluster.h), on the cluster layer's one FactoryTable
// (factory_table.h). Built-ins are registered in one visible function,
// register_builtin_clusters(), never by static initializers; the strategies
// themselves live in src/cluster/ft/, one file pair each.
#include "tern/cluster/cluster.h"

#include <mutex>
#include <string>
#include <utility>

#include "cluster/factory_table.h"
#include "cluster/ft/broadcast_cluster.h"
#include "cluster/ft/failfast_cluster.h"
#include "cluster/ft/failover_cluster.h"
#include "cluster/ft/failsafe_cluster.h"
#include "cluster/ft/forking_cluster.h"
#include "tern/cluster/fault_tolerance.h"

namespace tern::cluster {
namespace {

FactoryTable<ClusterFactory>& table() {
  static auto* t = new FactoryTable<ClusterFactory>("cluster strategy");  // never destroyed
  return *t;
}

}  // namespace

void register_cluster(std::string name, ClusterFactory factory) {
  table().register_factory(std::move(name), std::move(factory));
}

void register_builtin_clusters() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto& t = table();
    t.add_builtin(ft::FailoverCluster::kName,
                  [](const ClusterOptions& o) { return std::make_unique<ft::FailoverCluster>(o); });
    t.add_builtin(ft::FailfastCluster::kName, [](const ClusterOptions&) { return std::make_unique<ft::FailfastCluster>(); });
    t.add_builtin(ft::FailsafeCluster::kName, [](const ClusterOptions&) { return std::make_unique<ft::FailsafeCluster>(); });
    t.add_builtin(ft::ForkingCluster::kName,
                  [](const ClusterOptions& o) { return std::make_unique<ft::ForkingCluster>(o); });
    t.add_builtin(ft::BroadcastCluster::kName,
                  [](const ClusterOptions&) { return std::make_unique<ft::BroadcastCluster>(); });
  });
}

Result<std::unique_ptr<Cluster>> create_cluster(std::string_view name, const ClusterOptions& options) {
  register_builtin_clusters();
  auto factory = table().find(name);
  // Unknown: the error ReferenceOptions::cluster has always given
  // (parse_fault_tolerance's, naming the built-ins), not the table's.
  if (!factory) return parse_fault_tolerance(name).status();
  // Outside the table's lock: a factory may itself create other strategies.
  std::unique_ptr<Cluster> cluster = (*factory)(options);
  if (!cluster) return Status(StatusCode::kInternal, "cluster factory '" + std::string(name) + "' returned null");
  return cluster;
}

}  // namespace tern::cluster
