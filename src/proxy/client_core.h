// src/proxy/client_core.h - shared state behind Client and Reference (internal).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/consumer_registration.h"
#include "tern/channel.h"
#include "tern/client.h"
#include "tern/contract.h"
#include "tern/cluster/fault_tolerance.h"
#include "tern/cluster/invoker.h"
#include "tern/cluster/load_balancer.h"
#include "tern/cluster/outlier_ejector.h"
#include "tern/cluster/router.h"
#include "tern/protocol/compression.h"
#include "tern/reference.h"
#include "tern/trace/trace_filter.h"

namespace tern {

struct ClientCore {
  explicit ClientCore(ClientOptions o) : options(std::move(o)), channels(options.io_threads, options.channel) {
    if (options.tracing) trace::install_tracing(options.filters, options.tracer);
  }
  ClientOptions options;
  ChannelPool channels;
  std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<Registry>> registries;  // by URL text
};

// One provider endpoint of one reference: the cluster's view of a channel,
// with this reference's live counters and outlier-ejection state (kept across
// directory updates while the provider URL stays the same).
class EndpointInvoker final : public cluster::Invoker {
 public:
  EndpointInvoker(Url url, std::shared_ptr<Channel> channel, cluster::OutlierEjectionOptions ejection);
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
  // Attempts sent (ReferenceCore::send_attempt).
  std::atomic<std::uint64_t> attempts{0};

 private:
  Url url_;
  std::string id_;
  int weight_ = 100;
  std::shared_ptr<Channel> channel_;
  std::chrono::steady_clock::time_point discovered_;
  cluster::InvokerStats stats_;
  cluster::OutlierEjector ejector_;
};

// The live provider list: an immutable snapshot swapped on every registry push.
struct Directory {
  std::vector<std::shared_ptr<EndpointInvoker>> owners;
  std::vector<cluster::Invoker*> ptrs;  // same order, for the load balancer
};

struct CallAttempt;
struct FanOut;

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
  std::unique_ptr<cluster::LoadBalancer> lb;
  // Routing (tern/cluster/router.h): the routers of options.routes, in order,
  // and the consumer as they see it (application and host of its consumer
  // URL). Set before the first call, read-only afterwards.
  cluster::RouterChain routers;
  std::string consumer_application;
  std::string consumer_host;
  cluster::FaultTolerance mode = cluster::FaultTolerance::kFailover;  // set by Reference's constructor

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

  void on_providers(const std::vector<Url>& urls);
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
  Result<std::shared_ptr<EndpointInvoker>> pick(const Directory& dir, std::string_view method,
                                                std::string_view request, const std::vector<std::string>& exclude,
                                                const StreamMetadata* metadata = nullptr) const;
  // The providers the routers leave for this call, into `out` (see pick()).
  Status route(const Directory& dir, std::string_view method, std::string_view request,
               const StreamMetadata* metadata, std::vector<cluster::Invoker*>& out) const;
  // The only place an attempt reaches a channel: keeps the invoker's counters
  // (active, latency, attempts, outlier ejection) on every completion path.
  static void send_attempt(std::shared_ptr<EndpointInvoker> ep, std::string bytes, std::chrono::milliseconds timeout,
                           const std::shared_ptr<CallControl>& control, CallCompletion done);
  // Completes a call once: drops the caller's cancel hook, runs the filters
  // (with the request frame's size in bytes), applies failsafe, then `done`.
  void complete(const std::shared_ptr<CallControl>& control, std::string_view method,
                std::chrono::steady_clock::time_point started, std::uint64_t request_bytes, CallResult&& result,
                CallCompletion& done, ClientCallObserver* observer = nullptr) const;

  // Sequential strategies (failover, failfast, failsafe): one attempt at a time.
  static void start_attempt(std::unique_ptr<CallAttempt> attempt, Status last_error);
  static void finish(std::unique_ptr<CallAttempt> attempt, CallResult&& result);
};

}  // namespace tern
