// src/cluster/ft/failover_cluster.h - failover (the default strategy), with
// hedging, and the sequential loop failfast and failsafe share with it.
//
// Failover: one attempt in flight; an error should_retry() allows
// (tern/cluster/fault_tolerance.h) is retried on a provider not tried yet, up
// to ClusterCall::retries() more times, within the call's deadline, unless the
// caller cancelled. With ClusterOptions::backup_request > 0, retries >= 1 and
// an idempotent method, the call is hedged instead: when no answer came within
// backup_request, a backup attempt goes to another provider (it counts as one
// of the retries); the first answer wins and the other attempt is cancelled;
// a failure that says nothing about the request (should_retry) does not end
// the call while another attempt is pending.
//
// The retry decision (failover_step) is written once and used by both paths.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tern/cluster/cluster.h"

namespace tern::cluster::ft {

// What a failed attempt means for a failover call.
enum class FailoverStep {
  kAnswer,     // not retried: the call ends with it (an answer, a spent deadline, the caller's cancel)
  kRetry,      // retry on a provider not tried yet
  kExhausted,  // retryable, but no attempt is left
};
FailoverStep failover_step(const ClusterCall& call, const Status& status, int attempts_left);

// How a sequential call ends when it failed: `result` is the failed attempt
// (during its completion), or null when none could be sent.
using SequentialEnd = void (*)(ClusterCall& call, const Status& status, AttemptResult* result);
// The plain end: the failed attempt's outcome as it is, or `status`.
void end_with_error(ClusterCall& call, const Status& status, AttemptResult* result);

// The sequential loop: one attempt at a time, up to `retries` more on
// failover_step() == kRetry; a failure ends through `end`. Settles `call`
// exactly once. No lock; the call's state moves from each completion into
// the next attempt.
void run_sequential(std::unique_ptr<ClusterCall> call, int retries, SequentialEnd end);

class FailoverCluster final : public Cluster {
 public:
  static constexpr std::string_view kName = "failover";
  explicit FailoverCluster(const ClusterOptions& options) : backup_request_(options.backup_request) {}
  void invoke(std::unique_ptr<ClusterCall> call) override;
  std::string_view name() const override { return kName; }

 private:
  std::chrono::milliseconds backup_request_;
};

}  // namespace tern::cluster::ft
