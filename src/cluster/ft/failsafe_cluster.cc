// failsafe: the sequential loop of failover with no retry, ending empty on
// failure. See failsafe_cluster.h.
#include "cluster/ft/failsafe_cluster.h"

#include "cluster/ft/failover_cluster.h"
#include "tern/log.h"

namespace tern::cluster::ft {

namespace {

void end_empty(ClusterCall& call, const Status& status, AttemptResult* result) {
  if (call.cancelled()) return end_with_error(call, status, result);  // the caller asked for it
  TERN_LOG(kWarn, "failsafe: {}.{} failed ({}); returning an empty result", call.service(), call.method(),
           status.to_string());
  call.finish_empty(status, result);
}

}  // namespace

void FailsafeCluster::invoke(std::unique_ptr<ClusterCall> call) {
  run_sequential(std::move(call), /*retries=*/0, end_empty);
}

void FailsafeCluster::fail(std::unique_ptr<ClusterCall> call, Status status) {
  if (status.is_ok()) return call->fail(std::move(status));
  end_empty(*call, status, nullptr);
}

}  // namespace tern::cluster::ft
