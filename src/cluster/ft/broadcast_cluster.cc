// broadcast: a fan-out that waits for every leg. See broadcast_cluster.h.
#include "cluster/ft/broadcast_cluster.h"

#include "cluster/ft/fan_out.h"

namespace tern::cluster::ft {

namespace {

class Broadcast final : public FanOut {
 public:
  using FanOut::FanOut;

 private:
  Verdict judge_locked(const AttemptResult& r) override {
    if (!r.status().is_ok() && error_.is_ok()) error_ = r.status();  // the first error
    if (in_flight_ > 0) return Verdict::kWait;
    // The last leg: when none failed, it is the last success.
    return error_.is_ok() ? Verdict::kSettleThis : Verdict::kSettleError;
  }
};

}  // namespace

void BroadcastCluster::invoke(std::unique_ptr<ClusterCall> call) {
  auto f = std::make_shared<Broadcast>(std::move(call));
  if (f->call().cancelled()) return f->fail(cancelled_by_caller());
  std::vector<std::shared_ptr<Invoker>> targets;
  if (Status s = f->call().select_all(targets); !s.is_ok()) return f->fail(std::move(s));
  f->start(std::move(targets));
}

}  // namespace tern::cluster::ft
