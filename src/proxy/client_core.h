// src/proxy/client_core.h - shared state behind Client and Reference (internal).
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "client/loop_timers.h"
#include "proxy/consumer_registration.h"
#include "tern/channel.h"
#include "tern/client.h"
#include "tern/contract.h"
#include "tern/governance.h"
#include "tern/net/io_context_pool.h"
#include "tern/cluster/cluster.h"
#include "tern/cluster/invoker.h"
#include "tern/cluster/load_balancer.h"
#include "tern/cluster/outlier_ejector.h"
#include "tern/cluster/router.h"
#include "tern/protocol/compression.h"
#include "tern/reference.h"
#include "tern/trace/trace_filter.h"

namespace tern {

struct ClientCore {
  // `clock` (tests pass a FakeClock) must outlive the core. The channels
  // read it too; with a clock other than the steady clock set
  // options.channel.heartbeat_interval to 0 (see tern::Channel).
  explicit ClientCore(ClientOptions o, const Clock& clock_in = Clock::steady())
      : options(std::move(o)), clock(&clock_in), channels(options.io_threads, options.channel, clock) {
    if (options.tracing) trace::install_tracing(options.filters, options.tracer);
    for (std::size_t i = 0; i < channels.io().size(); ++i) {
      timers.push_back(std::make_shared<rpc::LoopTimers>(channels.io().at(i), *clock));
    }
  }
  ClientOptions options;
  // The time of the references' deadlines, latencies, outlier ejection,
  // hedge timers and the channels (reconnect backoff, resolution waits,
  // call deadlines, heartbeats; see tern::Channel) (issue #21).
  const Clock* const clock;
  ChannelPool channels;
  // One timer structure per IO loop (src/client/loop_timers.h): the hedge
  // timers of every call (ReferenceCall::schedule), spread over the loops.
  // Declared after `channels`: destroyed before the loops are.
  std::vector<std::shared_ptr<rpc::LoopTimers>> timers;
  std::atomic<std::size_t> next_timers{0};
  rpc::LoopTimers& next_loop_timers() noexcept {
    return *timers[next_timers.fetch_add(1, std::memory_order_relaxed) % timers.size()];
  }
  std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<Registry>> registries;  // by URL text

  // The shutdown gate of the streams' operations (src/proxy/consumer_stream.h).
  // A StreamOpGuard is the only way in: it is admitted unless the consumer is
  // closing, and it leaves when destroyed (also when the operation throws).
  // close_stream_ops() refuses later operations and waits for those in
  // progress, so every operation it did not refuse has posted before the
  // channels shut down and drain their loops. Sequentially consistent on
  // both sides (the flag and the count are two variables, as in Dekker's).
  class StreamOpGuard {
   public:
    explicit StreamOpGuard(ClientCore& core) noexcept : core_(&core) {
      core.stream_ops_.fetch_add(1);
      if (core.closing_.load()) {
        core.stream_ops_.fetch_sub(1);
        core_ = nullptr;
      }
    }
    ~StreamOpGuard() {
      if (core_) core_->stream_ops_.fetch_sub(1);
    }
    StreamOpGuard(const StreamOpGuard&) = delete;
    StreamOpGuard& operator=(const StreamOpGuard&) = delete;
    // False when refused: the consumer is shutting down.
    explicit operator bool() const noexcept { return core_ != nullptr; }

   private:
    ClientCore* core_;
  };
  // True once close_stream_ops() began (a hint for fast paths; no gate).
  bool stream_ops_closing() const noexcept { return closing_.load(std::memory_order_acquire); }
  void close_stream_ops() noexcept {
    closing_.store(true);
    while (stream_ops_.load() != 0) std::this_thread::yield();  // each one only posts
  }

 private:
  std::atomic<bool> closing_{false};
  std::atomic<int> stream_ops_{0};
};

// One provider endpoint of one reference: the cluster's view of a channel,
// with this reference's live counters and outlier-ejection state (kept across
// directory updates while the provider URL stays the same).
class EndpointInvoker final : public cluster::Invoker {
 public:
  // `clock` (the client's) must outlive the invoker.
  EndpointInvoker(Url url, std::shared_ptr<Channel> channel, cluster::OutlierEjectionOptions ejection,
                  const Clock& clock);
  const Url& url() const override { return url_; }
  const std::string& id() const override { return id_; }
  int weight() const override { return weight_; }
  std::chrono::steady_clock::time_point discovered_at() const override { return discovered_; }
  cluster::InvokerStats& stats() override { return stats_; }
  // False while ejected as an outlier (see tern/cluster/outlier_ejector.h)
  // or while its channel is unavailable after a connection failure
  // (ChannelOptions::reconnect_backoff).
  bool available() const override;
  const std::shared_ptr<Channel>& channel() const noexcept { return channel_; }
  cluster::OutlierEjector& ejector() noexcept { return ejector_; }
  const Clock& clock() const noexcept { return clock_; }
  // Attempts sent (ReferenceCore::send_attempt).
  std::atomic<std::uint64_t> attempts{0};

 private:
  Url url_;
  std::string id_;
  int weight_ = 100;
  std::shared_ptr<Channel> channel_;
  const Clock& clock_;
  std::chrono::steady_clock::time_point discovered_;
  cluster::InvokerStats stats_;
  cluster::OutlierEjector ejector_;
};

// A provider whose weight the dynamic configuration replaces (tern/governance.h):
// the load balancers and routers see the overridden weight (also as the
// URL's `weight` parameter); everything else is the endpoint's own (counters,
// ejection, warm-up).
class OverriddenInvoker final : public cluster::Invoker {
 public:
  OverriddenInvoker(EndpointInvoker& base, int weight) : base_(base), url_(base.url()), weight_(weight) {
    url_.set_param("weight", std::to_string(weight));
  }
  const Url& url() const override { return url_; }
  const std::string& id() const override { return base_.id(); }
  int weight() const override { return weight_; }
  std::chrono::steady_clock::time_point discovered_at() const override { return base_.discovered_at(); }
  cluster::InvokerStats& stats() override { return base_.stats(); }
  bool available() const override { return base_.available(); }

 private:
  EndpointInvoker& base_;
  Url url_;
  int weight_;
};

// What a call follows besides the provider list: the reference's own options
// (revision 0), or those with a dynamic configuration document applied.
// Immutable once built; a call keeps the one in force when it started.
struct CallPolicy {
  std::uint64_t revision = 0;  // of the document applied; 0 = the reference's own options
  std::chrono::milliseconds timeout{0};
  int retries = 0;
  std::string load_balance;                              // lb's name
  std::shared_ptr<cluster::LoadBalancer> lb;             // never null; shared while the name stays
  std::vector<std::string> routes;                       // routers' specs
  std::shared_ptr<const cluster::RouterChain> routers;   // never null (may be empty)
  std::map<std::string, ProviderOverride, std::less<>> providers;  // by host:port
};

// The live provider list with the policy in force: an immutable snapshot
// swapped on every registry push and every applied configuration document.
struct Directory {
  std::vector<std::shared_ptr<EndpointInvoker>> owners;
  std::vector<cluster::Invoker*> ptrs;  // same order, for the routers and the load balancer:
                                        // the owner, or its OverriddenInvoker in `views`
  std::vector<std::unique_ptr<OverriddenInvoker>> views;
  // Providers the configuration disables: out of the lists above, kept so
  // that re-enabling one keeps its counters and warm-up.
  std::vector<std::shared_ptr<EndpointInvoker>> disabled;
  std::shared_ptr<const CallPolicy> policy;  // never null
};

struct ReferenceCore : std::enable_shared_from_this<ReferenceCore> {
  // INVALID_ARGUMENT for an unknown cluster strategy or an out-of-range
  // option (forks < 1, negative retries / backup_request / eject_*).
  // Client::reference() calls it before building the Reference.
  static Status validate(const ReferenceOptions& options);

  std::shared_ptr<ClientCore> client;
  std::string service;
  ReferenceOptions options;
  std::uint8_t serialization_id = 3;
  protocol::Compression compression = protocol::Compression::kNone;  // options.compression
  std::shared_ptr<Registry> registry;
  SubscriptionId subscription = 0;
  // This reference in the registry's consumers (released by ~Reference).
  std::unique_ptr<ConsumerRegistration> consumer;
  // The policy of the reference's own options (load balancer, routers of
  // options.routes, timeout, retries): in force while no configuration
  // document is. Set before the first call, read-only afterwards.
  std::shared_ptr<const CallPolicy> base_policy;
  // Dynamic configuration (tern/governance.h): the watch of the service's
  // document (0 = none: the registry does not support it).
  SubscriptionId config_watch = 0;
  // Routing (tern/cluster/router.h): the consumer as routers see it
  // (application and host of its consumer URL). Set before the first call,
  // read-only afterwards.
  std::string consumer_application;
  std::string consumer_host;
  // The fault-tolerance strategy (ReferenceOptions::cluster,
  // tern/cluster/cluster.h); set by Reference's constructor, never null after.
  std::unique_ptr<cluster::Cluster> cluster;

  // The contract check (tern/contract.h): this consumer's contract, parsed
  // once from options.expected_contract; empty = nothing to check.
  std::vector<MethodContract> contract;
  bool contract_strict = false;

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  std::shared_ptr<const Directory> directory;  // guarded by mu
  // Mismatches already logged ("host:port method digest"), so a push logs
  // only new ones; and, in strict mode, why the last push left providers out
  // (empty when none was). Guarded by mu.
  std::set<std::string> contract_reported;
  std::string contract_excluded;

  // UNAVAILABLE "no provider for service 'S'", or FAILED_PRECONDITION naming
  // the mismatch when strict contract checking left every provider out.
  Status no_provider() const;

  // Serializes the directory's rebuilds (provider pushes, configuration
  // pushes) and guards the two fields below. Taken before `mu`, never inside it.
  std::mutex update_mu;
  std::vector<Url> provider_urls;      // the last provider list pushed
  std::uint64_t seen_revision = 0;     // the last configuration revision pushed (applied or rejected)

  void on_providers(const std::vector<Url>& urls);
  // A configuration push: parses `document` and applies it (or, revision 0,
  // goes back to base_policy); a bad one is logged and changes nothing.
  void on_config(const ConfigDocument& document);
  // The policy `config` (revision `revision`) makes of the reference's own
  // options; reuses `current`'s load balancer and routers when unchanged.
  Result<std::shared_ptr<const CallPolicy>> make_policy(const GovernanceConfig& config, std::uint64_t revision,
                                                        const CallPolicy& current) const;
  // Rebuilds the directory from provider_urls under `policy` and swaps it in
  // (update_mu held).
  void rebuild(std::shared_ptr<const CallPolicy> policy);
  // True when provider `u` may be used under the contract check; logs each
  // new mismatch once. In strict mode a mismatch returns false and sets
  // `excluded` (when empty) to the first one's message.
  bool check_contract(const Url& u, std::string& excluded);
  std::shared_ptr<const Directory> snapshot() const;
  // A provider for the next attempt: the routers narrow the directory for
  // this call, then the load balancer picks among those whose id is not in
  // `exclude`; null when none is left. A routing error (UNAVAILABLE naming
  // the rule) is returned as it is: the call fails with it.
  // The routers read the call's attachments (only when one needs them) from
  // the request frame `request`'s metadata, or from `metadata` when given
  // (streams); both must stay alive during the call to pick().
  // `policy` is the call's (its routers and load balancer).
  Result<std::shared_ptr<EndpointInvoker>> pick(const CallPolicy& policy, const Directory& dir, std::string_view method,
                                                std::string_view request, const std::vector<std::string>& exclude,
                                                const StreamMetadata* metadata = nullptr) const;
  // The providers the routers leave for this call, into `out` (see pick()).
  Status route(const CallPolicy& policy, const Directory& dir, std::string_view method, std::string_view request,
               const StreamMetadata* metadata, std::vector<cluster::Invoker*>& out) const;
  // The attempt hook (src/proxy/reference_call.cc): the only place an
  // attempt reaches a channel, for every strategy and for oneway calls. Keeps
  // the invoker's counters (active, latency, attempts, outlier ejection) on
  // every completion path; returns OK. A null `done` sends a oneway request
  // (counted as an attempt; nothing comes back, so nothing else is recorded)
  // and returns the channel's local failure, if any.
  // `now`: the attempt's start (the invoker's latency and ejection clock);
  // a call's first attempt passes the call's start, read microseconds before,
  // instead of reading the clock again (issue #17); {} reads it here.
  // While an attempt's completion runs (send_attempt), the instant that
  // attempt ended on this thread, so a call settled synchronously from it
  // reuses that clock read for its filters' latency (complete()); {} outside.
  // Nested scopes restore the outer instant.
  class AttemptEndScope {
   public:
    explicit AttemptEndScope(std::chrono::steady_clock::time_point end) noexcept;
    ~AttemptEndScope();
    AttemptEndScope(const AttemptEndScope&) = delete;
    AttemptEndScope& operator=(const AttemptEndScope&) = delete;
    static std::chrono::steady_clock::time_point current() noexcept;

   private:
    std::chrono::steady_clock::time_point outer_;
  };
  static Status send_attempt(std::shared_ptr<EndpointInvoker> ep, std::string bytes, std::chrono::milliseconds timeout,
                           const std::shared_ptr<CallControl>& control, cluster::AttemptDone done,
                           std::chrono::steady_clock::time_point now = {});
  // Completes a call once: drops the caller's cancel hook, runs the filters
  // (with the request frame's size in bytes), then `done` — with `result`, or
  // with an empty OK when `empty` (failsafe: the filters saw the real outcome).
  void complete(const std::shared_ptr<CallControl>& control, std::string_view method,
                std::chrono::steady_clock::time_point started, std::uint64_t request_bytes, CallResult&& result,
                CallCompletion& done, ClientCallObserver* observer = nullptr, bool empty = false) const;
};

}  // namespace tern
