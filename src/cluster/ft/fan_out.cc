// The parallel strategies' machinery. See fan_out.h.
//
// `in_flight_` counts legs sent or reserved: a leg is reserved before it is
// picked, so a leg failing meanwhile cannot see zero and settle the call
// early. The first leg to settle the call sets `finished_`; the others are
// then cancelled and their completions ignored (the call path still keeps
// their invokers' counters).
#include "cluster/ft/fan_out.h"

#include <utility>

#include "tern/log.h"

namespace tern::cluster::ft {

namespace {

// An outcome the fan-out makes up itself (a leg that could not be sent).
class LocalResult final : public AttemptResult {
 public:
  LocalResult(Status status, Invoker& invoker) : status_(std::move(status)), invoker_(invoker) {}
  const Status& status() const override { return status_; }
  Invoker& invoker() const override { return invoker_; }

 private:
  Status status_;
  Invoker& invoker_;
};

}  // namespace

Status no_weighted_provider(std::string_view service) {
  return Status(StatusCode::kUnavailable, "no provider with a non-zero weight for '" + std::string(service) + "'");
}

Status cancelled_by_caller() { return Status(StatusCode::kCancelled, "cancelled by the caller"); }

Status select_distinct(ClusterCall& call, std::size_t n, std::vector<std::shared_ptr<Invoker>>& out) {
  if (call.cancelled()) return cancelled_by_caller();
  std::vector<std::string> chosen;
  while (out.size() < n) {
    Selection picked = call.select(chosen);
    if (!picked.invoker) return picked.status;  // OK: nobody left
    chosen.push_back(picked.invoker->id());
    out.push_back(std::move(picked.invoker));
  }
  return Status();
}

void FanOut::fail(Status status) {
  std::vector<std::shared_ptr<CallControl>> losers;
  {
    std::lock_guard lock(mu_);
    losers = settle_locked();
  }
  settle_with(std::move(losers), std::move(status));
}

void FanOut::start(std::vector<std::shared_ptr<Invoker>> targets) {
  if (targets.empty()) return fail(no_weighted_provider(call_->service()));
  {
    std::lock_guard lock(mu_);
    in_flight_ = static_cast<int>(targets.size());
  }
  on_start();
  if (const auto& control = call_->control()) {
    control->set_hook([weak = weak_from_this()]() -> bool {
      auto self = weak.lock();
      if (!self) return false;
      std::vector<std::shared_ptr<CallControl>> legs;
      {
        std::lock_guard lock(self->mu_);
        if (self->finished_) return false;
        legs = self->legs_;
      }
      for (auto& leg : legs) leg->cancel();  // each leg completes CANCELLED; on_leg settles the call
      return true;
    });
  }
  for (std::size_t i = 0; i < targets.size(); ++i) {
    launch(std::move(targets[i]), i == 0 ? AttemptKind::kFirst : AttemptKind::kFork);
  }
}

void FanOut::launch(std::shared_ptr<Invoker> invoker, AttemptKind kind) {
  auto leg = std::make_shared<CallControl>();
  {
    std::lock_guard lock(mu_);
    tried_.push_back(invoker->id());
    if (!finished_) legs_.push_back(leg);
  }
  // A leg added after the caller cancelled would escape the hook's sweep.
  if (call_->cancelled()) leg->cancel();
  auto remaining = call_->remaining();
  if (remaining.count() <= 0) {
    LocalResult r(Status(StatusCode::kDeadlineExceeded, "deadline passed before sending"), *invoker);
    on_leg(r, /*sent=*/false);
    return;
  }
  AttemptOptions options;
  options.kind = kind;
  options.timeout = remaining;
  options.control = std::move(leg);
  options.last = false;  // every leg sends the same request
  call_->send(std::move(invoker), std::move(options),
              [self = shared_from_this()](AttemptResult& r) { self->on_leg(r, /*sent=*/true); });
}

void FanOut::launch_next(AttemptKind kind) {
  std::vector<std::string> exclude;
  {
    std::lock_guard lock(mu_);
    if (finished_) {
      --in_flight_;
      return;
    }
    exclude = tried_;
  }
  Selection picked = call_->select(exclude);
  if (picked.invoker) return launch(std::move(picked.invoker), kind);
  // An empty directory is no reason of its own: the call keeps its last error.
  Status route_error = picked.empty_directory ? Status() : std::move(picked.status);
  std::vector<std::shared_ptr<CallControl>> losers;
  bool settle = false;
  Status error;
  {
    std::lock_guard lock(mu_);
    if (--in_flight_ == 0 && !finished_) {
      settle = true;
      error = route_error.is_ok() ? error_ : route_error;
      losers = settle_locked();
    }
  }
  if (settle) settle_with(std::move(losers), std::move(error));
}

void FanOut::on_leg(AttemptResult& r, bool sent) {
  Verdict verdict = Verdict::kWait;
  bool cancelled = false;
  std::vector<std::shared_ptr<CallControl>> losers;
  Status error;
  {
    std::lock_guard lock(mu_);
    --in_flight_;
    if (finished_) return;
    if (call_->cancelled()) {
      cancelled = true;
    } else {
      verdict = judge_locked(r);
    }
    if (cancelled || verdict == Verdict::kSettleThis || verdict == Verdict::kSettleError) {
      error = cancelled ? cancelled_by_caller() : error_;
      losers = settle_locked();
    }
  }
  if (cancelled || verdict == Verdict::kSettleError) return settle_with(std::move(losers), std::move(error));
  if (verdict == Verdict::kRetry) {
    TERN_LOG(kDebug, "failover: {}.{} failed ({}); retrying elsewhere", call_->service(), call_->method(),
             r.status().to_string());
    return launch_next(AttemptKind::kRetry);
  }
  if (verdict != Verdict::kSettleThis) return;
  for (auto& leg : losers) leg->cancel();  // losers: cancel frames; their completions are ignored
  if (sent) {
    call_->finish(r);
  } else {
    call_->fail(r.status());
  }
}

std::vector<std::shared_ptr<CallControl>> FanOut::settle_locked() {
  finished_ = true;
  std::vector<std::shared_ptr<CallControl>> out;
  out.swap(legs_);
  return out;
}

void FanOut::settle_with(std::vector<std::shared_ptr<CallControl>> losers, Status status) {
  for (auto& leg : losers) leg->cancel();
  call_->fail(std::move(status));
}

}  // namespace tern::cluster::ft
