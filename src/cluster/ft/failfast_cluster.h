// src/cluster/ft/failfast_cluster.h - failfast: one attempt, its error as it
// is (no retry). For calls that must not run twice or whose caller retries.
#pragma once

#include <memory>
#include <string_view>

#include "tern/cluster/cluster.h"

namespace tern::cluster::ft {

class FailfastCluster final : public Cluster {
 public:
  static constexpr std::string_view kName = "failfast";
  void invoke(std::unique_ptr<ClusterCall> call) override;
  std::string_view name() const override { return kName; }
};

}  // namespace tern::cluster::ft
