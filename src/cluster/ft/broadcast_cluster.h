// src/cluster/ft/broadcast_cluster.h - broadcast: every provider the routers
// leave (ejected ones included: they are part of "every") gets the call in
// parallel; the call waits for all of them and fails with the first error if
// any failed, else completes with the last success. For cache invalidation
// and configuration pushes.
#pragma once

#include <memory>
#include <string_view>

#include "tern/cluster/cluster.h"

namespace tern::cluster::ft {

class BroadcastCluster final : public Cluster {
 public:
  static constexpr std::string_view kName = "broadcast";
  void invoke(std::unique_ptr<ClusterCall> call) override;
  std::string_view name() const override { return kName; }
};

}  // namespace tern::cluster::ft
