// src/cluster/ft/fan_out.h - the machinery of the parallel strategies
// (forking, broadcast, hedged failover): several attempts ("legs") of one
// call in flight, each with its own CallControl so the losers can be
// cancelled, shared state under a mutex. A strategy derives from FanOut and
// only says what one leg's outcome means (judge_locked); settling, cancelling
// the others and following the caller's cancel are done here once.
//
// Lifetime: a FanOut is held by shared_ptr; every leg in flight holds it, the
// caller's cancel hook and the hedge timer only weakly. It owns the
// ClusterCall until it is destroyed (after the call is settled and every leg
// has completed).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tern/cluster/cluster.h"

namespace tern::cluster::ft {

class FanOut : public std::enable_shared_from_this<FanOut> {
 public:
  explicit FanOut(std::unique_ptr<ClusterCall> call) : call_(std::move(call)) {}
  virtual ~FanOut() = default;

  // Sends one leg to each of `targets` (the first kFirst, the others kFork),
  // after installing the cancel hook on the caller's control. Settles the
  // call UNAVAILABLE "no provider with a non-zero weight" when `targets` is
  // empty. Call once, on a FanOut just made.
  void start(std::vector<std::shared_ptr<Invoker>> targets);
  // Settles the call with `status` before anything was sent.
  void fail(Status status);

  ClusterCall& call() const { return *call_; }

 protected:
  enum class Verdict {
    kWait,         // other legs are pending: nothing to do yet
    kSettleThis,   // the call ends with this leg's outcome
    kSettleError,  // the call ends with error_ (no answer)
    kRetry,        // send one more leg elsewhere (in_flight_ already counts it)
  };
  // Under mu_, for a leg that was not cancelled by the caller and came back
  // while the call is open (in_flight_ already decremented): what it means.
  virtual Verdict judge_locked(const AttemptResult& r) = 0;
  // Called once by start() before the legs are sent (hedging arms its timer).
  virtual void on_start() {}

  // Sends one more leg (already counted in in_flight_) of kind `kind` to a
  // provider no leg went to yet; when there is none, that leg is dropped and
  // the call settles with error_ (or the routing error) if nothing else is pending.
  void launch_next(AttemptKind kind);

  std::mutex mu_;
  bool finished_ = false;  // guarded by mu_
  int in_flight_ = 0;      // guarded by mu_: legs sent or reserved
  Status error_;           // guarded by mu_: what the strategy keeps of the failures

 private:
  void launch(std::shared_ptr<Invoker> invoker, AttemptKind kind);
  // `sent`: `r` came from a send() completion (else it is the strategy's own).
  void on_leg(AttemptResult& r, bool sent);
  // Under mu_: marks the call settled and hands back the legs to cancel.
  std::vector<std::shared_ptr<CallControl>> settle_locked();
  void settle_with(std::vector<std::shared_ptr<CallControl>> losers, Status status);

  std::unique_ptr<ClusterCall> call_;
  std::vector<std::shared_ptr<CallControl>> legs_;  // guarded by mu_
  std::vector<std::string> tried_;                  // guarded by mu_
};

// Up to `n` distinct invokers for the first legs, picked one after the other
// by the load balancer, into `out`. Not OK: the caller cancelled, the
// directory is empty or a routing rule failed the call; `out` may end up
// shorter than `n` (empty when no provider has a weight).
Status select_distinct(ClusterCall& call, std::size_t n, std::vector<std::shared_ptr<Invoker>>& out);

// "no provider with a non-zero weight for '<service>'" (UNAVAILABLE).
Status no_weighted_provider(std::string_view service);
// CANCELLED "cancelled by the caller".
Status cancelled_by_caller();

}  // namespace tern::cluster::ft
