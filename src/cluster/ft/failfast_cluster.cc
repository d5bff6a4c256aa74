// failfast: the sequential loop of failover with no retry. See failfast_cluster.h.
#include "cluster/ft/failfast_cluster.h"

#include "cluster/ft/failover_cluster.h"

namespace tern::cluster::ft {

void FailfastCluster::invoke(std::unique_ptr<ClusterCall> call) {
  run_sequential(std::move(call), /*retries=*/0, end_with_error);
}

}  // namespace tern::cluster::ft
