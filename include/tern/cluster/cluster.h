// tern/cluster/cluster.h - the fault-tolerance extension point (DESIGN §7):
// what a call does around its attempts, written against cluster::Invoker and
// an attempt hook, so a strategy never sees a channel or a socket.
//
// One strategy per file pair under src/cluster/ft/<name>_cluster.{h,cc},
// registered by name in register_builtin_clusters() and chosen per reference
// with ReferenceOptions::cluster (tern/cluster/fault_tolerance.h lists them):
//   failover   retry on a provider not tried yet, on errors safe to retry;
//              hedged (a backup attempt) when ClusterOptions::backup_request
//              is set and the method is idempotent
//   failfast   one attempt
//   failsafe   one attempt; an error completes the call OK and empty
//   forking    `forks` attempts in parallel, the first success wins
//   broadcast  every provider in parallel, fails if any fails
//
// Roles. The call path (src/proxy/reference_call.cc) implements ClusterCall:
// one call being placed. A Cluster (the strategy) drives it: it asks the call
// to select() an invoker, to send() one attempt to it (the attempt hook: the
// only way an attempt reaches a provider), and settles the call exactly once
// with finish(), fail() or finish_empty(). Tests implement ClusterCall with a
// fake (tests/cluster/fake_cluster_call.h) and drive strategies without
// sockets, threads or clocks.
//
// Reference implementation: src/cluster/ft/failover_cluster.{h,cc}.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tern/cluster/invoker.h"
#include "tern/detail/unique_function.h"
#include "tern/future.h"
#include "tern/result.h"
#include "tern/status.h"

namespace tern::cluster {

// Why an attempt is sent (tracing shows it; the call path maps it onto
// ClientCallObserver::AttemptKind).
enum class AttemptKind { kFirst, kRetry, kHedge, kFork };

// The outcome of one attempt, as a strategy sees it: the status it decides
// on, and the invoker it went to. The answer itself (a response frame)
// belongs to the call path and stays opaque: a strategy either makes this
// attempt the call's outcome by passing it to ClusterCall::finish() during
// the completion, or drops it. Valid only during the completion it is given to.
class AttemptResult {
 public:
  virtual const Status& status() const = 0;
  // The invoker the attempt was sent to.
  virtual Invoker& invoker() const = 0;

 protected:
  ~AttemptResult() = default;
};

// Runs once per attempt, with its outcome: on an IO thread of the call path,
// or inline in ClusterCall::send() when the attempt fails before being sent.
using AttemptDone = detail::UniqueFunction<void(AttemptResult&)>;

// How one attempt is sent (ClusterCall::send).
struct AttemptOptions {
  AttemptKind kind = AttemptKind::kFirst;
  // The attempt's own timeout (> 0): normally ClusterCall::remaining().
  // Left at 0, the channel treats it as 1 ms: always set it.
  std::chrono::milliseconds timeout{0};
  // Cancels this attempt (null = not cancellable apart from the call).
  // Sequential strategies pass ClusterCall::control(); parallel ones one
  // CallControl per attempt, so the losers can be cancelled.
  std::shared_ptr<CallControl> control;
  // False when the strategy may send the request again (the call path then
  // keeps a copy); true lets the call path move the request into this attempt.
  bool last = true;
};

// What ClusterCall::select() found.
struct Selection {
  // The invoker for the next attempt; null when there is none (see below).
  std::shared_ptr<Invoker> invoker;
  // With no invoker: OK = every provider left is excluded or has weight 0;
  // not OK = the directory is empty (empty_directory, ClusterCall's
  // no-provider status) or a routing rule failed the call (UNAVAILABLE
  // naming the rule).
  Status status;
  bool empty_directory = false;
};

// One call being placed, as a strategy sees it. Implemented by the call path
// (one object per call, owned by the strategy from Cluster::invoke() until it
// settles the call) and by test fakes.
//
// Thread safety: select(), select_all(), send(), remaining(), cancelled() and
// the accessors may be called from several threads at once (a parallel
// strategy's attempts complete on different IO threads). Exactly one of
// finish(), fail(), finish_empty() is called, once; after it only the
// destructor.
// A strategy that breaks this gets a defined outcome from the Reference's
// implementation, never a hang or a torn result: a call destroyed unsettled
// fails INTERNAL ("... released the call without settling it"); a second
// settle is logged and ignored (the first wins); send() after the attempt
// sent with `last` = true, or after settling, completes that attempt at once
// with INTERNAL and sends nothing.
// Exceptions: invoke(), send() completions and schedule() callbacks must not
// throw (they run on IO threads; an exception there terminates the process).
class ClusterCall {
 public:
  virtual ~ClusterCall() = default;

  virtual std::string_view service() const = 0;
  virtual std::string_view method() const = 0;
  // The method is in ReferenceOptions::idempotent_methods (may run twice).
  virtual bool idempotent() const = 0;
  // Extra attempts allowed by the call's policy (ReferenceOptions::retries,
  // or the dynamic configuration's), >= 0.
  virtual int retries() const = 0;

  // Time left before the call's deadline; <= 0 when it has passed.
  virtual std::chrono::milliseconds remaining() const = 0;
  // The caller's control (Future::cancel), or null.
  virtual const std::shared_ptr<CallControl>& control() const = 0;
  // True once the caller cancelled.
  bool cancelled() const { return control() && control()->cancelled(); }

  // Routers, then the load balancer, over the live provider list: an invoker
  // whose id() is not in `exclude`.
  virtual Selection select(const std::vector<std::string>& exclude) = 0;
  // Every provider the routers leave, in directory order, ejected ones
  // included (broadcast), into `out`. Not OK: the directory is empty or a
  // routing rule failed the call (as Selection::status).
  virtual Status select_all(std::vector<std::shared_ptr<Invoker>>& out) = 0;

  // The attempt hook: sends the call's request to `invoker` and runs `done`
  // exactly once with the outcome (value, remote error, DEADLINE_EXCEEDED,
  // UNAVAILABLE, CANCELLED). Keeps the invoker's counters (active, latency,
  // outlier ejection) on every path. `done` may run inline, and may settle
  // and destroy this call: send() touches nothing of the call after it.
  virtual void send(std::shared_ptr<Invoker> invoker, AttemptOptions options, AttemptDone done) = 0;

  // Runs `fn` once after `delay`, on an IO thread of the call path, unless
  // the call is destroyed first (hedging). At most one pending at a time.
  virtual void schedule(std::chrono::milliseconds delay, detail::UniqueFunction<void()> fn) = 0;

  // Settle the call: with the outcome of an attempt (during its completion),
  // with a status and no answer, or — failsafe — OK with an empty answer
  // while the call's filters and metrics still see `real`.
  // `result` must be one a send() completion received (during that
  // completion); a strategy's own failures go through fail().
  virtual void finish(AttemptResult& result) = 0;
  virtual void fail(Status status) = 0;
  // `result`: the failed attempt behind `real`, if any (during its
  // completion), so the filters also see the size of its answer.
  // All three run the caller's completion inline, on the calling thread.
  virtual void finish_empty(const Status& real, AttemptResult* result = nullptr) = 0;
};

// Per-reference settings a strategy is created with.
struct ClusterOptions {
  // forking: attempts in parallel, >= 1 (ReferenceOptions::forks).
  int forks = 2;
  // failover: delay before a hedged backup attempt for idempotent methods;
  // 0 = no hedging (ReferenceOptions::backup_request).
  std::chrono::milliseconds backup_request{0};
};

// A fault-tolerance strategy. One object per reference; invoke() and fail()
// may be called from many threads at once: per-call state lives in objects
// made per call (which own the ClusterCall), never in the strategy.
class Cluster {
 public:
  virtual ~Cluster() = default;
  // Places `call`: sends attempts through it and settles it exactly once.
  // May settle inline (no provider, cancelled, failed before sending).
  virtual void invoke(std::unique_ptr<ClusterCall> call) = 0;
  // Settles `call` that cannot start (the request being served has no time
  // left) with `status`, as the strategy settles a failure: fail(), or for
  // failsafe finish_empty().
  virtual void fail(std::unique_ptr<ClusterCall> call, Status status) { call->fail(std::move(status)); }
  // The name it is registered under ("failover", ...).
  virtual std::string_view name() const = 0;
};

using ClusterFactory = std::function<std::unique_ptr<Cluster>(const ClusterOptions&)>;

// Registers `factory` under `name` (replacing an earlier one). Thread-safe.
void register_cluster(std::string name, ClusterFactory factory);

// Registers the five built-ins. Idempotent (runs once per process); called
// by create_cluster(). A name the application registered earlier is kept.
void register_builtin_clusters();

// Creates the strategy registered as `name`. For an unknown name,
// INVALID_ARGUMENT "unknown cluster strategy 'x' (failover, failfast,
// failsafe, forking, broadcast)" — parse_fault_tolerance()'s error, which
// names the built-ins only; INTERNAL if a factory returns null.
// Thread-safe; the factory runs outside the table's lock.
Result<std::unique_ptr<Cluster>> create_cluster(std::string_view name, const ClusterOptions& options = {});

}  // namespace tern::cluster
