// src/proxy/reference_call.h - one unary call of a Reference as the cluster
// strategy sees it (cluster::ClusterCall, tern/cluster/cluster.h): the
// request, the deadline, the policy in force when the call started, the
// caller's completion and control. Reference::invoke() builds one per call
// and hands it to the reference's strategy (src/cluster/ft/), which owns it
// until the call is settled. Its send() is the attempt hook: through
// ReferenceCore::send_attempt, the only place an attempt reaches a channel.
// Internal.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "proxy/client_core.h"
#include "tern/cluster/cluster.h"

namespace tern {

class ReferenceCall final : public cluster::ClusterCall {
 public:
  using Clock = std::chrono::steady_clock;

  // `policy`: the call's (ReferenceCore::snapshot()->policy when it started).
  // `request`: the whole request frame, already compressed. `done` runs
  // exactly once, when the strategy settles the call.
  ReferenceCall(std::shared_ptr<ReferenceCore> core, std::shared_ptr<const CallPolicy> policy, std::string_view method,
                std::string request, Clock::time_point started, Clock::time_point deadline, CallCompletion done,
                std::shared_ptr<CallControl> control, std::unique_ptr<ClientCallObserver> observer);
  // The request's buffer serves the next call's request (issue #17).
  ~ReferenceCall() override;

  // Hands `call` to `cluster`'s strategy. While the strategy runs here,
  // synchronously, the call's start time (read microseconds before) serves
  // remaining() and the first attempt's start instead of another clock read
  // (issue #17: a 16-byte call read the clock six times on the consumer);
  // from anywhere else (a retry on an IO thread, a hedge timer, a test) they
  // read the client's clock.
  static void start(std::unique_ptr<ReferenceCall> call, cluster::Cluster& cluster);

  std::string_view service() const override { return core_->service; }
  std::string_view method() const override { return method_; }
  bool idempotent() const override { return idempotent_; }
  int retries() const override { return policy_->retries; }
  std::chrono::milliseconds remaining() const override;
  const std::shared_ptr<CallControl>& control() const override { return control_; }
  cluster::Selection select(const std::vector<std::string>& exclude) override;
  Status select_all(std::vector<std::shared_ptr<cluster::Invoker>>& out) override;
  void send(std::shared_ptr<cluster::Invoker> invoker, cluster::AttemptOptions options,
            cluster::AttemptDone done) override;
  void schedule(std::chrono::milliseconds delay, detail::UniqueFunction<void()> fn) override;
  void finish(cluster::AttemptResult& result) override;
  void fail(Status status) override;
  void finish_empty(const Status& real, cluster::AttemptResult* result) override;

 private:
  // `empty`: the filters see `result`, the caller an empty OK (failsafe).
  void complete(CallResult&& result, bool empty = false);

  std::shared_ptr<ReferenceCore> core_;
  std::shared_ptr<const CallPolicy> policy_;  // in force when the call started
  std::string method_;
  std::string request_;  // kept for retries and legs (moved into the last attempt)
  std::uint64_t request_bytes_;
  Clock::time_point started_;
  Clock::time_point deadline_;
  std::atomic<bool> attempted_{false};  // an attempt was sent: later ones read the clock
  // The start time stands for "now" (see start()).
  bool starting() const noexcept;
  CallCompletion done_;
  std::shared_ptr<CallControl> control_;
  std::unique_ptr<ClientCallObserver> observer_;  // a filter's (tracing); usually null
  // Hedging (schedule): an entry in a loop's timer structure, cancelled
  // (eagerly removed) by the destructor; 0 = none.
  rpc::LoopTimers* timers_ = nullptr;
  std::uint64_t timer_id_ = 0;
  bool idempotent_;
  // A strategy that breaks ClusterCall's contract gets a defined outcome, not
  // a hang or a torn result: the first settle wins (later ones are logged and
  // ignored), an attempt sent after the last one or after settling fails at
  // once with INTERNAL, and a call released unsettled is failed INTERNAL by
  // the destructor.
  std::atomic<bool> settled_{false};
  std::atomic<bool> sent_last_{false};
};

}  // namespace tern
