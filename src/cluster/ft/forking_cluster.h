// src/cluster/ft/forking_cluster.h - forking: ClusterOptions::forks distinct
// providers (picked by the load balancer) get the call at once; the first
// success settles it and the other attempts are cancelled; when all failed,
// the call fails with the last error. For latency-critical reads.
#pragma once

#include <memory>
#include <string_view>

#include "tern/cluster/cluster.h"

namespace tern::cluster::ft {

class ForkingCluster final : public Cluster {
 public:
  static constexpr std::string_view kName = "forking";
  explicit ForkingCluster(const ClusterOptions& options) : forks_(options.forks) {}
  void invoke(std::unique_ptr<ClusterCall> call) override;
  std::string_view name() const override { return kName; }

 private:
  int forks_;
};

}  // namespace tern::cluster::ft
