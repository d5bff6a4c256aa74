// src/cluster/ft/failsafe_cluster.h - failsafe: one attempt; on any error but
// the caller's own cancel the error is logged (kWarn) and the call completes
// OK with an empty answer (a Proxy decodes it as R{}), while the call's
// filters and metrics still see the real status. For calls whose result is
// optional (audit logs, recommendations).
#pragma once

#include <memory>
#include <string_view>

#include "tern/cluster/cluster.h"

namespace tern::cluster::ft {

class FailsafeCluster final : public Cluster {
 public:
  static constexpr std::string_view kName = "failsafe";
  void invoke(std::unique_ptr<ClusterCall> call) override;
  // A call that cannot start ends empty too.
  void fail(std::unique_ptr<ClusterCall> call, Status status) override;
  std::string_view name() const override { return kName; }
};

}  // namespace tern::cluster::ft
