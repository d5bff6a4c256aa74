// Failover, sequential and hedged. See failover_cluster.h.
#include "cluster/ft/failover_cluster.h"

#include <algorithm>
#include <utility>

#include "cluster/ft/fan_out.h"
#include "tern/cluster/fault_tolerance.h"
#include "tern/log.h"

namespace tern::cluster::ft {

FailoverStep failover_step(const ClusterCall& call, const Status& status, int attempts_left) {
  if (!should_retry(status, call.idempotent()) || call.cancelled()) return FailoverStep::kAnswer;
  return attempts_left > 0 ? FailoverStep::kRetry : FailoverStep::kExhausted;
}

void end_with_error(ClusterCall& call, const Status& status, AttemptResult* result) {
  if (result) {
    call.finish(*result);
  } else {
    call.fail(status);
  }
}

// ---------------------------------------------------------------------------
// Sequential: the call's state, moved from each completion into the next
// attempt (it fits a completion's inline storage: no allocation per attempt).

namespace {

struct Sequential {
  std::unique_ptr<ClusterCall> call;
  std::vector<std::string> tried;  // filled only when retrying: nothing per call on success
  SequentialEnd end = nullptr;
  int attempts_left = 0;
};
// Moved into each attempt's completion: it must fit the completion's inline
// storage, or every attempt would cost an allocation more.
static_assert(sizeof(Sequential) <= 48, "Sequential outgrew AttemptDone's inline storage");

void attempt(Sequential s, Status last_error) {
  ClusterCall& call = *s.call;
  auto end = [&](const Status& status) { s.end(call, status, nullptr); };
  if (call.cancelled()) return end(cancelled_by_caller());
  Selection picked = call.select(s.tried);
  if (picked.empty_directory) return end(last_error.is_ok() ? picked.status : last_error);
  auto remaining = call.remaining();
  if (remaining.count() <= 0) {
    return end(last_error.is_ok() ? Status(StatusCode::kDeadlineExceeded, "deadline passed before sending")
                                  : last_error);
  }
  if (!picked.invoker && !picked.status.is_ok()) return end(picked.status);  // a routing rule's error
  if (!picked.invoker) return end(last_error.is_ok() ? no_weighted_provider(call.service()) : last_error);
  AttemptOptions options;
  options.kind = s.tried.empty() ? AttemptKind::kFirst : AttemptKind::kRetry;
  options.timeout = remaining;
  options.control = call.control();
  options.last = s.attempts_left == 0;
  call.send(std::move(picked.invoker), std::move(options), [s = std::move(s)](AttemptResult& r) mutable {
    ClusterCall& c = *s.call;
    if (r.status().is_ok()) return c.finish(r);
    switch (failover_step(c, r.status(), s.attempts_left)) {
      case FailoverStep::kRetry: {
        --s.attempts_left;
        const std::string& id = r.invoker().id();
        s.tried.push_back(id);
        TERN_LOG(kDebug, "failover: {}.{} on {} failed ({}); retrying elsewhere", c.service(), c.method(), id,
                 r.status().to_string());
        Status last = r.status();
        attempt(std::move(s), std::move(last));
        return;
      }
      case FailoverStep::kAnswer:
      case FailoverStep::kExhausted:
        s.end(c, r.status(), &r);
        return;
    }
  });
}

// ---------------------------------------------------------------------------
// Hedged: a fan-out that starts with one leg and adds one when the hedge
// timer fires or a leg fails in a way failover retries.

class Hedged final : public FanOut {
 public:
  Hedged(std::unique_ptr<ClusterCall> call, std::chrono::milliseconds delay)
      : FanOut(std::move(call)), delay_(delay), attempts_left_(std::max(0, this->call().retries())) {}

 private:
  void on_start() override {
    call().schedule(delay_, [weak = std::weak_ptr<FanOut>(shared_from_this())] {
      if (auto self = weak.lock()) static_cast<Hedged&>(*self).on_timer();
    });
  }

  Verdict judge_locked(const AttemptResult& r) override {
    if (r.status().is_ok()) return Verdict::kSettleThis;  // the first success wins
    switch (failover_step(call(), r.status(), attempts_left_)) {
      case FailoverStep::kAnswer:
        return Verdict::kSettleThis;  // an answer (remote error, deadline): the first answer wins
      case FailoverStep::kRetry:
        error_ = r.status();
        --attempts_left_;
        ++in_flight_;
        return Verdict::kRetry;  // FanOut logs it and sends the retry after unlocking
      case FailoverStep::kExhausted:
        error_ = r.status();
        return in_flight_ == 0 ? Verdict::kSettleError : Verdict::kWait;
    }
    return Verdict::kWait;
  }

  void on_timer() {
    {
      std::lock_guard lock(mu_);
      if (finished_ || attempts_left_ <= 0) return;
      --attempts_left_;
      ++in_flight_;
    }
    TERN_LOG(kDebug, "hedging: no answer for {}.{} within {} ms; sending a backup request", call().service(),
             call().method(), delay_.count());
    launch_next(AttemptKind::kHedge);
  }

  std::chrono::milliseconds delay_;
  int attempts_left_;  // guarded by mu_: further legs allowed
};

}  // namespace

void run_sequential(std::unique_ptr<ClusterCall> call, int retries, SequentialEnd end) {
  Sequential s;
  s.call = std::move(call);
  s.end = end;
  s.attempts_left = std::max(0, retries);
  attempt(std::move(s), Status());
}

void FailoverCluster::invoke(std::unique_ptr<ClusterCall> call) {
  int retries = call->retries();
  if (backup_request_.count() > 0 && retries > 0 && call->idempotent()) {
    auto hedged = std::make_shared<Hedged>(std::move(call), backup_request_);
    std::vector<std::shared_ptr<Invoker>> first;
    if (Status s = select_distinct(hedged->call(), 1, first); !s.is_ok()) return hedged->fail(std::move(s));
    return hedged->start(std::move(first));
  }
  run_sequential(std::move(call), retries, end_with_error);
}

}  // namespace tern::cluster::ft
