// forking: a fan-out whose first success wins. See forking_cluster.h.
#include "cluster/ft/forking_cluster.h"

#include <algorithm>

#include "cluster/ft/fan_out.h"

namespace tern::cluster::ft {

namespace {

class Forking final : public FanOut {
 public:
  using FanOut::FanOut;

 private:
  Verdict judge_locked(const AttemptResult& r) override {
    if (r.status().is_ok()) return Verdict::kSettleThis;
    error_ = r.status();  // wait for the others; all failed: the last error
    return in_flight_ == 0 ? Verdict::kSettleError : Verdict::kWait;
  }
};

}  // namespace

void ForkingCluster::invoke(std::unique_ptr<ClusterCall> call) {
  auto f = std::make_shared<Forking>(std::move(call));
  std::vector<std::shared_ptr<Invoker>> targets;
  auto n = static_cast<std::size_t>(std::max(1, forks_));
  if (Status s = select_distinct(f->call(), n, targets); !s.is_ok()) return f->fail(std::move(s));
  f->start(std::move(targets));
}

}  // namespace tern::cluster::ft
