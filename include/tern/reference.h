// tern/reference.h - a consumer's reference to one remote service: the
// generic invoker every typed front end (Proxy<I>, generated protobuf stubs,
// `tern call`) ends in (DESIGN §8): (service, method, serialization, bytes).
//
// A Reference subscribes to its service in a registry (or a direct:// list),
// keeps the live provider list (the directory), picks a provider per call
// with its load balancer, and applies its fault-tolerance strategy
// (tern/cluster/cluster.h; docs/load-balancing.md "Fault tolerance"):
//   failover (default)  on an error the request cannot have executed under
//                       (could not connect, RESOURCE_EXHAUSTED, provider
//                       shutting down), retry on a provider not yet tried, up
//                       to `retries` more times; idempotent methods also
//                       retry a connection lost mid-call, and may be hedged
//                       (`backup_request`)
//   failfast            one attempt, the error as it is
//   failsafe            one attempt; an error is logged and the call
//                       completes OK with an empty body (Proxy: R{})
//   forking             `forks` providers in parallel, first success wins,
//                       the others are cancelled
//   broadcast           every provider; fails if any fails
// Providers with `eject_after` consecutive connection failures are skipped
// for a growing backoff, then probed with one call (outlier ejection).
// An empty provider list fails at once with UNAVAILABLE (no waiting for the timeout).
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tern/channel.h"
#include "tern/filter.h"
#include "tern/future.h"
#include "tern/protocol/frame.h"
#include "tern/registry.h"
#include "tern/result.h"
#include "tern/stream.h"

namespace tern {

struct ReferenceOptions {
  // Timeout of each call (the deadline sent to the provider). Default 3 s;
  // never infinite.
  std::chrono::milliseconds timeout{3000};
  // "msgpack" (default), "json" or "protobuf". With "protobuf", a Proxy call
  // of a method whose arguments or result are not protobuf messages fails
  // locally with INVALID_ARGUMENT (nothing is sent).
  std::string serialization = "msgpack";
  // Body compression (docs/protocol.md §5): "none" (default), "zstd" or
  // "lz4". With zstd or lz4, request bodies of at least
  // `compression_threshold` bytes are sent compressed (when that makes them
  // smaller), and every request tells the provider it may compress its
  // response the same way (the provider's ServerOptions::compression_threshold
  // decides for responses). Anything else: INVALID_ARGUMENT at reference creation.
  std::string compression = "none";
  // Request bodies below this many bytes are sent uncompressed. Default 1024.
  std::size_t compression_threshold = 1024;
  // Only providers announcing this version / group (empty = any).
  std::string version;
  std::string group;
  // Load balancer by name (tern/cluster/load_balancer.h). Default "random"
  // (weighted random, as Dubbo).
  std::string load_balance = "random";
  // Fault tolerance: "failover" (default), "failfast", "failsafe", "forking"
  // or "broadcast" (see the header comment), or one registered with
  // cluster::register_cluster(); else INVALID_ARGUMENT at reference creation.
  std::string cluster = "failover";
  // Extra attempts for failover (the hedged backup attempt counts as one).
  // Default 2; 0 = exactly one attempt. Other strategies ignore it.
  int retries = 2;
  // forking: providers called in parallel per call. Default 2, >= 1 (fewer
  // when fewer providers are available).
  int forks = 2;
  // Methods (by name, "add") that may run twice: failover also retries them
  // after a connection lost mid-call (may_have_executed), and they may be
  // hedged. DEADLINE_EXCEEDED is never retried. Default none.
  std::set<std::string, std::less<>> idempotent_methods;
  // Hedging (failover, idempotent methods only): when no answer came within
  // this delay, a backup attempt goes to another provider; the first answer
  // wins, the other attempt is cancelled. Default 0 = off. Needs retries >= 1.
  std::chrono::milliseconds backup_request{0};
  // Outlier ejection: a provider with this many consecutive connection
  // failures (UNAVAILABLE before anything ran) is skipped by the load
  // balancer for `eject_backoff`, then probed with one call; each failed
  // probe doubles the backoff up to `eject_backoff_max`; a success resets.
  // Defaults 3, 1 s, 30 s; eject_after = 0 disables.
  int eject_after = 3;
  std::chrono::milliseconds eject_backoff{1000};
  std::chrono::milliseconds eject_backoff_max{30000};
  // Circuit breaking per provider, by error rate and latency: the same
  // ejection (backoff, one probe, doubling) tripped by rates over the last
  // `breaker_window` attempts on that provider, as Resilience4j's count-based
  // CircuitBreaker (tern/cluster/outlier_ejector.h has the state machine and
  // what counts as a failure). Once `breaker_min_calls` attempts are in, a
  // failure share >= `breaker_failure_rate`, or (when `breaker_slow_call` > 0)
  // a share of answers as slow as that >= `breaker_slow_rate`, ejects it.
  // Default breaker_window 0 = off; min_calls 20 (1..window), failure_rate
  // 0.5, slow_call 0, slow_rate 1.0 (rates in (0, 1]). INVALID_ARGUMENT at
  // reference creation for values out of range.
  int breaker_window = 0;
  int breaker_min_calls = 20;
  double breaker_failure_rate = 0.5;
  std::chrono::milliseconds breaker_slow_call{0};
  double breaker_slow_rate = 1.0;
  // Warm-up: a newly discovered provider's weight ramps up linearly over this
  // period (as Dubbo). Default 10 min; 0 disables.
  std::chrono::milliseconds warmup{std::chrono::minutes(10)};
  // Seed for the load balancer's random source (0 = random). Tests fix it.
  std::uint64_t seed = 0;
  // The contract check against each provider's announced method signatures
  // (tern/contract.h): "warn" (default; a mismatch logs a warning naming the
  // method and both signatures), "strict" (a mismatching provider is left
  // out; refer() fails with FAILED_PRECONDITION when one is known at refer()
  // time) or "off". Anything else: INVALID_ARGUMENT at reference creation.
  std::string contract_check = "warn";
  // This consumer's contract (tern::encode_contracts). Client::refer<I>()
  // fills it from the interface I when empty; with the generic reference()
  // it stays empty unless set, and then nothing is checked.
  std::string expected_contract;
  // Routing rules (tern/cluster/router.h, docs/governance.md), each
  // "<router>:<rule>", applied in this order to the providers of every call
  // (and of every stream opened) before the load balancer picks one:
  //   "condition:method = get => version = 2.0"
  //   "tag:"            (a call's `tern.tag` attachment picks the providers
  //                      whose URL parameter `tag` equals it; "tag:force"
  //                      fails when none has it instead of falling back)
  //   "weighted:method = pay => tag = canary @ 5%"   (draws from `seed`)
  // A rule that leaves a call no provider either fails it with UNAVAILABLE
  // naming the rule (not retried) or falls back as the rule says; never to
  // every provider silently. A malformed rule or unknown router:
  // INVALID_ARGUMENT at reference creation, naming routes[i], the position
  // and the token. The service's dynamic configuration document in the
  // registry (docs/governance.md, tern/governance.h) replaces them, and
  // timeout, retries and load_balance, while it says so; see
  // Reference::config_revision(). From text: the key `routes`, a YAML list
  // or one URL parameter with the rules separated by '|' (tern/config.h,
  // docs/configuration.md), checked when parsed. Default none (no routing
  // cost per call).
  std::vector<std::string> routes;
};

// Per-call settings (Proxy::with(options)).
struct CallOptions {
  // Overrides the reference's timeout for this call (0 = keep). A call made
  // while serving a request (nested call) uses the smaller of this and the
  // incoming request's remaining deadline. For a stream (tern/stream.h) it is
  // the deadline of the whole stream, and 0 means none.
  std::chrono::milliseconds timeout{0};
  // Request attachments (metadata key/values the provider reads with
  // ServerContext::attachment()). Keys must not be service, method, version,
  // group or accept-compression, nor start with '^'.
  std::vector<std::pair<std::string, std::string>> attachments;
  // Attachments that also flow into every nested call the provider makes
  // while serving this one (trace ids, tenant): sent with a '^' key prefix.
  std::vector<std::pair<std::string, std::string>> propagated;
  // Sync calls: when set, receives the response attachments the provider set
  // with ServerContext::set_response_attachment(). Must outlive the call.
  std::vector<std::pair<std::string, std::string>>* response_attachments = nullptr;
};

// One provider as this reference sees it (Reference::provider_stats()).
struct ProviderStats {
  Url url;
  // Calls in flight to it from this reference (least_active's counter).
  int active = 0;
  // Attempts sent to it by this reference since it was discovered.
  std::uint64_t attempts = 0;
  // Consecutive connection failures (reset by any answer).
  int consecutive_failures = 0;
  // Ejected as an outlier (skipped, or waiting for its probe).
  bool ejected = false;
};

class Client;
struct ReferenceCore;

class Reference : public std::enable_shared_from_this<Reference> {
 public:
  ~Reference();

  const std::string& service() const noexcept;
  // The options the reference was created with (the dynamic configuration
  // does not change them; see config_revision()).
  const ReferenceOptions& options() const noexcept;
  // The revision of the service's dynamic configuration document in force
  // (docs/governance.md "Dynamic configuration"): its routes, timeout,
  // retries, load_balance and provider overrides apply to calls started
  // from now on. 0 = none (no document, a registry without dynamic
  // configuration, or only rejected ones): the options above apply.
  std::uint64_t config_revision() const;
  std::uint8_t serialization_id() const noexcept;

  // A request frame builder with service, method, version and group set and
  // the serialization id filled in; write the body and pass finish() to invoke().
  // Raw: no filters, no attachments.
  protocol::FrameBuilder new_request(std::string_view method, bool oneway) const;

  // The same, running the client filters and adding the call's attachments
  // and the attachments propagated from the request being served on this
  // thread (nested calls). A filter's non-OK status is returned (send nothing).
  Status new_request(std::string_view method, bool oneway, const CallOptions* options,
                     protocol::FrameBuilder* out) const;

  // Sends one request and completes `done` exactly once (see tern/channel.h
  // for the statuses; plus UNAVAILABLE "no provider" when the directory is
  // empty). `timeout` 0 = the reference's timeout, and bounds the whole call,
  // retries and parallel attempts included. The completion runs on an IO
  // thread, or inline when the call fails before being sent.
  // `control` (optional) lets the caller cancel the call (Future::cancel):
  // every attempt in flight is cancelled and the call completes CANCELLED.
  // The fault-tolerance strategy applies here; every call mode goes through it.
  void invoke(std::string_view method, std::string request, std::chrono::milliseconds timeout, CallCompletion done,
              std::shared_ptr<CallControl> control = nullptr);

  // Sends a oneway request once, through the attempt hook; local failures only.
  Status invoke_oneway(std::string_view method, std::string request);

  // The providers currently in the directory (provider URLs).
  std::vector<Url> providers() const;

  // Live per-provider counters of this reference, in directory order
  // (diagnostics and tests).
  std::vector<ProviderStats> provider_stats() const;

  // Blocks up to `timeout` until the directory holds at least one provider.
  // True if it does.
  bool wait_for_providers(std::chrono::milliseconds timeout) const;

  // True when the calling thread is one of this reference's client IO
  // threads (where callbacks, then() continuations and coroutine
  // continuations run). A blocking call there would wait for its own loop,
  // so Proxy::call refuses it with FAILED_PRECONDITION.
  bool on_client_io_thread() const noexcept;

 private:
  friend class Client;
  friend Result<std::shared_ptr<RawStream>> open_stream(Reference& ref, std::string_view method,
                                                        const CallOptions* options);
  // `core` is fully configured and validated (ReferenceCore::validate()).
  explicit Reference(std::shared_ptr<ReferenceCore> core);
  std::shared_ptr<ReferenceCore> core_;
};

}  // namespace tern
