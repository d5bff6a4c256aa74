// Reference: the directory (live provider list from the registry), routing
// (ReferenceOptions::routes, applied in pick() before the load balancer), load
// balancing, outlier ejection and the fault-tolerance strategies over
// channels. See tern/reference.h and docs/load-balancing.md. The dynamic
// configuration (docs/governance.md) replaces the policy (CallPolicy: timeout,
// retries, routers, balancer) and per-provider weights in the directory
// snapshot (rebuild(), on_config()).
//
// Layout of this file:
//   1. EndpointInvoker, the directory, picking and sending one attempt
//      (send_attempt: the only place a call reaches a channel, so least_active's
//      counter and the ejection state see every completion path)
//   2. sequential strategies — failover, failfast, failsafe (CallAttempt: one
//      attempt in flight, moved from completion to retry, no lock)
//   3. parallel strategies — forking, broadcast, hedged failover (FanOut:
//      several attempts in flight, shared state under a mutex, the losers
//      cancelled through their own CallControl)
// The policy parts without channels (strategy names, the retry rule, the
// ejection state machine) live in src/cluster/.
#include "tern/reference.h"

#include <asio/steady_timer.hpp>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "proxy/call_observers.h"
#include "proxy/client_core.h"
#include "tern/cluster/load_balancer.h"
#include "tern/cluster/router.h"
#include "tern/log.h"
#include "tern/server_context.h"

namespace tern {

using Clock = std::chrono::steady_clock;
using cluster::FaultTolerance;
using AttemptKind = ClientCallObserver::AttemptKind;

namespace {

std::chrono::milliseconds until(Clock::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
}

Status cancelled_by_caller() { return Status(StatusCode::kCancelled, "cancelled by the caller"); }

// Keys of the request metadata that name the call rather than attach to it.
bool reserved_meta_key(std::string_view k) {
  return k == protocol::meta_keys::kService || k == protocol::meta_keys::kMethod ||
         k == protocol::meta_keys::kVersion || k == protocol::meta_keys::kGroup ||
         k == protocol::meta_keys::kAcceptCompression;
}

// The call's attachments as routers see them (tern/cluster/router.h): views
// into the metadata of the request frame `frame` (compression touches only
// the body), reserved keys left out, propagated ones ("^k") under their
// name. Only decoded when a router needs them.
void frame_attachments(std::string_view frame, std::vector<cluster::RouteAttachment>& out) {
  if (frame.size() < protocol::kHeaderSize) return;
  auto h = protocol::decode_header_unchecked(frame.data());
  if (frame.size() - protocol::kHeaderSize < h.meta_len) return;
  (void)protocol::for_each_meta(frame.substr(protocol::kHeaderSize, h.meta_len),
                                [&](std::string_view k, std::string_view v) {
                                  if (reserved_meta_key(k)) return;
                                  if (!k.empty() && k[0] == '^') k.remove_prefix(1);
                                  out.emplace_back(k, v);
                                });
}

// A request frame to `core`'s service with the metadata every request of the
// reference carries (service, method, version, group, accepted compression);
// the body is not begun.
protocol::FrameBuilder start_request(const ReferenceCore& core, std::string_view method, bool oneway) {
  protocol::FrameBuilder b(oneway ? protocol::FrameType::kOneway : protocol::FrameType::kRequest, 0,
                           core.service.size() + method.size() + 144);  // + traceparent (70 B)
  b.header().serialization = core.serialization_id;
  b.add_meta(protocol::meta_keys::kService, core.service);
  b.add_meta(protocol::meta_keys::kMethod, method);
  if (!core.options.version.empty()) b.add_meta(protocol::meta_keys::kVersion, core.options.version);
  if (!core.options.group.empty()) b.add_meta(protocol::meta_keys::kGroup, core.options.group);
  if (core.compression != protocol::Compression::kNone) {
    b.add_meta(protocol::meta_keys::kAcceptCompression, protocol::compression_name(core.compression));
  }
  return b;
}

}  // namespace

// ===========================================================================
// 1. Invokers, directory, one attempt

EndpointInvoker::EndpointInvoker(Url url, std::shared_ptr<Channel> channel, cluster::OutlierEjectionOptions ejection)
    : url_(std::move(url)),
      id_(url_.address()),
      channel_(std::move(channel)),
      discovered_(Clock::now()),
      ejector_(ejection) {
  weight_ = static_cast<int>(std::max<std::int64_t>(0, url_.int_param("weight", 100)));
}

bool EndpointInvoker::available() const {
  return (!ejector_.ejected() || ejector_.available(Clock::now())) && channel_->available();
}

Status ReferenceCore::validate(const ReferenceOptions& o) {
  auto mode = cluster::parse_fault_tolerance(o.cluster);
  if (!mode) return mode.status();
  auto bad = [](std::string what) { return Status(StatusCode::kInvalidArgument, std::move(what)); };
  if (o.retries < 0) return bad("retries must be >= 0");
  if (o.forks < 1) return bad("forks must be >= 1");
  if (o.backup_request.count() < 0) return bad("backup_request must be >= 0");
  if (o.eject_after < 0) return bad("eject_after must be >= 0");
  if (o.eject_backoff.count() <= 0 || o.eject_backoff_max < o.eject_backoff) {
    return bad("eject_backoff must be > 0 and <= eject_backoff_max");
  }
  if (o.breaker_window < 0 || o.breaker_window > 100000) return bad("breaker_window must be in [0, 100000]");
  if (o.breaker_window > 0) {
    if (o.breaker_min_calls < 1 || o.breaker_min_calls > o.breaker_window) {
      return bad("breaker_min_calls must be in [1, breaker_window]");
    }
    auto rate_ok = [](double r) { return r > 0.0 && r <= 1.0; };
    if (!rate_ok(o.breaker_failure_rate)) return bad("breaker_failure_rate must be in (0, 1]");
    if (!rate_ok(o.breaker_slow_rate)) return bad("breaker_slow_rate must be in (0, 1]");
    if (o.breaker_slow_call.count() < 0) return bad("breaker_slow_call must be >= 0");
  }
  if (o.contract_check != "warn" && o.contract_check != "strict" && o.contract_check != "off") {
    return bad("contract_check must be warn, strict or off, not '" + o.contract_check + "'");
  }
  if (!o.routes.empty()) {
    auto routers = cluster::RouterChain::create(o.routes);
    if (!routers) return routers.status();
  }
  return Status();
}

void ReferenceCore::on_providers(const std::vector<Url>& urls) {
  std::lock_guard update(update_mu);
  provider_urls = urls;
  rebuild(snapshot()->policy);
}

void ReferenceCore::rebuild(std::shared_ptr<const CallPolicy> policy) {
  auto next = std::make_shared<Directory>();
  std::shared_ptr<const Directory> prev = snapshot();
  cluster::OutlierEjectionOptions ejection{options.eject_after,          options.eject_backoff,
                                          options.eject_backoff_max,    options.breaker_window,
                                          options.breaker_min_calls,    options.breaker_failure_rate,
                                          options.breaker_slow_call,    options.breaker_slow_rate};
  std::string excluded;
  for (const auto& u : provider_urls) {
    if (!options.version.empty() && u.param("version") != options.version) continue;
    if (!options.group.empty() && u.param("group") != options.group) continue;
    if (!contract.empty() && !check_contract(u, excluded)) continue;
    std::shared_ptr<EndpointInvoker> inv;
    if (prev) {
      // Same provider: keep its live stats, ejection state and warm-up.
      for (auto& old : prev->owners) {
        if (old->url() == u) inv = old;
      }
      for (auto& old : prev->disabled) {
        if (old->url() == u) inv = old;
      }
    }
    if (!inv) {
      // grpc://host:port, or a provider that announces protocol=grpc: the gRPC wire.
      const bool grpc = u.scheme() == "grpc" || u.param("protocol") == "grpc";
      inv = std::make_shared<EndpointInvoker>(u, client->channels.get(u.host_port(), grpc ? "grpc" : "tern"), ejection);
    }
    auto o = policy->providers.find(inv->id());
    if (o != policy->providers.end() && o->second.disabled) {
      next->disabled.push_back(std::move(inv));
      continue;
    }
    if (o != policy->providers.end() && o->second.weight) {
      next->views.push_back(std::make_unique<OverriddenInvoker>(*inv, *o->second.weight));
      next->ptrs.push_back(next->views.back().get());
    } else {
      next->ptrs.push_back(inv.get());
    }
    next->owners.push_back(std::move(inv));
  }
  next->policy = std::move(policy);
  {
    std::lock_guard lock(mu);
    directory = std::move(next);
    contract_excluded = std::move(excluded);
  }
  cv.notify_all();
}

Result<std::shared_ptr<const CallPolicy>> ReferenceCore::make_policy(const GovernanceConfig& config,
                                                                     std::uint64_t revision,
                                                                     const CallPolicy& current) const {
  auto p = std::make_shared<CallPolicy>();
  p->revision = revision;
  p->timeout = config.timeout.value_or(options.timeout);
  p->retries = config.retries.value_or(options.retries);
  p->load_balance = config.load_balance.value_or(options.load_balance);
  // The balancer in use stays while its name does (round robin keeps its rotation).
  if (p->load_balance == current.load_balance) {
    p->lb = current.lb;
  } else if (p->load_balance == base_policy->load_balance) {
    p->lb = base_policy->lb;
  } else {
    cluster::LoadBalancerOptions lbo;
    lbo.seed = options.seed;
    lbo.warmup = options.warmup;
    auto lb = cluster::create_load_balancer(p->load_balance, lbo);
    if (!lb) return Status(StatusCode::kInvalidArgument, "load_balance: " + lb.status().message());
    p->lb = std::move(*lb);
  }
  p->routes = config.routes.value_or(options.routes);
  if (p->routes == current.routes) {
    p->routers = current.routers;
  } else if (p->routes == base_policy->routes) {
    p->routers = base_policy->routers;
  } else {
    cluster::RouterOptions ro;
    ro.seed = options.seed;
    auto chain = cluster::RouterChain::create(p->routes, ro);
    if (!chain) return chain.status();
    p->routers = std::make_shared<const cluster::RouterChain>(std::move(*chain));
  }
  p->providers = config.providers;
  return std::shared_ptr<const CallPolicy>(std::move(p));
}

void ReferenceCore::on_config(const ConfigDocument& document) {
  std::lock_guard update(update_mu);
  if (document.revision == seen_revision) return;  // a repeated push (or none yet and none now)
  seen_revision = document.revision;
  auto current = snapshot()->policy;
  if (document.revision == 0) {
    rebuild(base_policy);
    TERN_LOG(kInfo, "dynamic configuration of {}: document removed (revision {} was in force); the reference's own "
             "options apply", service, current->revision);
    return;
  }
  auto reject = [&](const Status& why) {
    TERN_LOG(kWarn, "dynamic configuration of {}: revision {} rejected ({}); revision {} stays in force", service,
             document.revision, why.message(), current->revision);
  };
  auto config = parse_governance_config(document.text);
  if (!config) return reject(config.status());
  auto policy = make_policy(*config, document.revision, *current);
  if (!policy) return reject(policy.status());
  rebuild(std::move(*policy));
  TERN_LOG(kInfo, "dynamic configuration of {}: revision {} applied: {}", service, document.revision,
           describe_governance_config(*config));
}

bool ReferenceCore::check_contract(const Url& u, std::string& excluded) {
  auto mismatches = compare_contracts(contract, decode_contracts(u.param(kContractUrlParam)));
  if (mismatches.empty()) return true;
  for (const auto& m : mismatches) {
    std::string key = u.address() + " " + m.method + " " + m.provider_signature;
    bool fresh = false;
    {
      std::lock_guard lock(mu);
      fresh = contract_reported.insert(key).second;
    }
    if (!fresh) continue;
    if (contract_strict) {
      TERN_LOG(kError, "contract mismatch with provider {} of {}: {}; the provider is left out (contract_check=strict)",
               u.address(), service, m.message());
    } else {
      TERN_LOG(kWarn, "contract mismatch with provider {} of {}: {}", u.address(), service, m.message());
    }
  }
  if (!contract_strict) return true;
  if (excluded.empty()) excluded = "provider " + u.address() + ": " + mismatches.front().message();
  return false;
}

Status ReferenceCore::no_provider() const {
  std::string why;
  {
    std::lock_guard lock(mu);
    why = contract_excluded;
  }
  if (why.empty()) return Status(StatusCode::kUnavailable, "no provider for service '" + service + "'");
  return Status(StatusCode::kFailedPrecondition,
                "no provider for service '" + service + "' matches this consumer's contract: " + why);
}

std::shared_ptr<const Directory> ReferenceCore::snapshot() const {
  std::lock_guard lock(mu);
  return directory;
}

Status ReferenceCore::route(const CallPolicy& policy, const Directory& dir, std::string_view method, std::string_view request,
                            const StreamMetadata* metadata, std::vector<cluster::Invoker*>& out) const {
  thread_local std::vector<cluster::RouteAttachment> attachments;
  attachments.clear();
  const cluster::RouterChain& routers = *policy.routers;
  if (routers.needs_attachments()) {
    if (metadata) {
      for (const auto& [k, v] : *metadata) {
        if (reserved_meta_key(k)) continue;
        std::string_view key = k;
        if (!key.empty() && key[0] == '^') key.remove_prefix(1);
        attachments.emplace_back(key, v);
      }
    } else {
      frame_attachments(request, attachments);
    }
  }
  cluster::RouteContext context{service, method, consumer_application, consumer_host, attachments};
  return routers.route(dir.ptrs, context, out);
}

Result<std::shared_ptr<EndpointInvoker>> ReferenceCore::pick(const CallPolicy& policy, const Directory& dir,
                                                             std::string_view method,
                                                             std::string_view request,
                                                             const std::vector<std::string>& exclude,
                                                             const StreamMetadata* metadata) const {
  cluster::Invocation inv{service, method, {}};
  std::span<cluster::Invoker* const> candidates = dir.ptrs;
  if (!policy.routers->empty()) {
    thread_local std::vector<cluster::Invoker*> routed;  // outlives this block: `candidates` views it
    if (Status s = route(policy, dir, method, request, metadata, routed); !s.is_ok()) return s;
    candidates = routed;
  }
  cluster::Invoker* picked = nullptr;
  if (exclude.empty()) {
    picked = policy.lb->select(candidates, inv);
  } else {
    std::vector<cluster::Invoker*> untried;
    untried.reserve(candidates.size());
    for (auto* p : candidates) {
      if (std::find(exclude.begin(), exclude.end(), p->id()) == exclude.end()) untried.push_back(p);
    }
    if (untried.empty()) return std::shared_ptr<EndpointInvoker>();
    picked = policy.lb->select(untried, inv);
  }
  for (std::size_t i = 0; i < dir.ptrs.size(); ++i) {
    if (dir.ptrs[i] == picked) return dir.owners[i];
  }
  return std::shared_ptr<EndpointInvoker>();
}

void ReferenceCore::send_attempt(std::shared_ptr<EndpointInvoker> ep, std::string bytes,
                                 std::chrono::milliseconds timeout, const std::shared_ptr<CallControl>& control,
                                 CallCompletion done) {
  auto started = Clock::now();
  ep->attempts.fetch_add(1, std::memory_order_relaxed);
  ep->ejector().on_attempt(started);
  ep->stats().active.fetch_add(1, std::memory_order_relaxed);
  auto channel = ep->channel();
  channel->call(std::move(bytes), timeout, [ep = std::move(ep), started, done = std::move(done)](CallResult&& r) mutable {
    auto now = Clock::now();
    ep->stats().active.fetch_sub(1, std::memory_order_relaxed);
    auto latency = std::chrono::duration_cast<std::chrono::microseconds>(now - started);
    ep->stats().record_latency(latency);
    ep->ejector().on_result(ep->stats(), r.status, latency, now);
    done(std::move(r));
  }, control);
}

void ReferenceCore::complete(const std::shared_ptr<CallControl>& control, std::string_view method,
                             Clock::time_point started, std::uint64_t request_bytes, CallResult&& r,
                             CallCompletion& done, ClientCallObserver* observer) const {
  if (control) control->clear_hook();
  auto& filters = client->options.filters;
  if (!filters.empty()) {
    auto latency = Clock::now() - started;
    CallBytes bytes;
    bytes.sent = request_bytes;
    if (r.frame.header.type == protocol::FrameType::kResponse) {
      // Wire size: the header's lengths stay those received, also for a decompressed body.
      bytes.received = protocol::kHeaderSize + r.frame.header.meta_len + r.frame.header.body_len;
    }
    for (auto it = filters.rbegin(); it != filters.rend(); ++it) {
      (*it)->on_response(service, method, r.status, latency, bytes);
    }
    if (observer) observer->on_end(r.status, latency, bytes);
  }
  // failsafe: the filters saw the real outcome; the caller gets OK and an
  // empty body — except for its own cancel, which it asked for.
  if (mode == FaultTolerance::kFailsafe && !r.status.is_ok() && !(control && control->cancelled())) {
    TERN_LOG(kWarn, "failsafe: {}.{} failed ({}); returning an empty result", service, method, r.status.to_string());
    r = CallResult{};
  }
  done(std::move(r));
}

// ===========================================================================
// 2. Sequential strategies: failover, failfast, failsafe

// One call across its attempts, moved from each completion into the next attempt.
struct CallAttempt {
  std::shared_ptr<ReferenceCore> core;
  std::shared_ptr<const CallPolicy> policy;  // in force when the call started
  std::shared_ptr<CallControl> control;
  Clock::time_point started;
  std::string method;
  std::string request;  // kept for retries (moved into the last attempt)
  std::uint64_t request_bytes = 0;
  Clock::time_point deadline;
  CallCompletion done;
  int attempts_left = 0;  // failover: retries still allowed; 0 for failfast / failsafe
  bool idempotent = false;
  std::vector<std::string> tried;
  std::unique_ptr<ClientCallObserver> observer;  // a filter's (tracing); usually null
};

void ReferenceCore::finish(std::unique_ptr<CallAttempt> a, CallResult&& r) {
  a->core->complete(a->control, a->method, a->started, a->request_bytes, std::move(r), a->done, a->observer.get());
}

void ReferenceCore::start_attempt(std::unique_ptr<CallAttempt> a, Status last_error) {
  auto dir = a->core->snapshot();
  auto fail = [&](Status s) { finish(std::move(a), CallResult{std::move(s), {}}); };
  if (a->control && a->control->cancelled()) return fail(cancelled_by_caller());
  if (!dir || dir->ptrs.empty()) {
    if (!last_error.is_ok()) return fail(std::move(last_error));
    return fail(a->core->no_provider());
  }
  auto remaining = until(a->deadline);
  if (remaining.count() <= 0) {
    return fail(last_error.is_ok() ? Status(StatusCode::kDeadlineExceeded, "deadline passed before sending") : last_error);
  }
  auto picked = a->core->pick(*a->policy, *dir, a->method, a->request, a->tried);
  if (!picked) return fail(picked.status());  // a routing rule's error: the call fails with it
  auto ep = std::move(*picked);
  if (!ep) {
    if (!last_error.is_ok()) return fail(std::move(last_error));
    return fail(Status(StatusCode::kUnavailable, "no provider with a non-zero weight for '" + a->core->service + "'"));
  }
  std::string bytes = a->attempts_left > 0 ? a->request : std::move(a->request);
  auto control = a->control;
  auto id = ep->id();
  if (a->observer) a->observer->on_attempt(id, a->tried.empty() ? AttemptKind::kFirst : AttemptKind::kRetry);
  send_attempt(std::move(ep), std::move(bytes), remaining, control,
               [a = std::move(a), id = std::move(id)](CallResult&& r) mutable {
                 if (!r.status.is_ok() && a->attempts_left > 0 && cluster::should_retry(r.status, a->idempotent) &&
                     !(a->control && a->control->cancelled())) {
                   --a->attempts_left;
                   a->tried.push_back(id);  // recorded only when retrying: nothing per call on success
                   TERN_LOG(kDebug, "failover: {}.{} on {} failed ({}); retrying elsewhere", a->core->service,
                            a->method, id, r.status.to_string());
                   start_attempt(std::move(a), std::move(r.status));
                   return;
                 }
                 finish(std::move(a), std::move(r));
               });
}

// ===========================================================================
// 3. Parallel strategies: forking, broadcast, hedged failover
//
// Every attempt ("leg") has its own CallControl; the caller's control gets a
// hook that cancels them all. `in_flight` counts legs sent or reserved (a
// leg is reserved before it is picked, so a leg failing meanwhile cannot see
// zero and finish the call early). The first leg to settle the call sets
// `finished`; the others are then cancelled and their completions ignored
// (send_attempt still keeps their counters).

struct FanOut : std::enable_shared_from_this<FanOut> {
  std::shared_ptr<ReferenceCore> core;
  std::shared_ptr<const CallPolicy> policy;  // in force when the call started
  std::shared_ptr<CallControl> control;  // the caller's (may be null)
  FaultTolerance mode = FaultTolerance::kFailover;
  bool hedged = false;
  std::string method;
  std::string request;
  Clock::time_point started;
  Clock::time_point deadline;

  std::mutex mu;
  CallCompletion done;                              // guarded by mu; moved out by finish
  bool finished = false;                            // guarded by mu
  int in_flight = 0;                                // guarded by mu
  int attempts_left = 0;                            // hedged failover: further legs allowed
  std::vector<std::shared_ptr<CallControl>> legs;   // guarded by mu
  std::vector<std::string> tried;                   // guarded by mu
  Status error;                                     // forking, failover: last error; broadcast: first
  std::optional<CallResult> last_ok;                // broadcast
  std::unique_ptr<asio::steady_timer> hedge_timer;  // hedged failover; armed under mu
  std::unique_ptr<ClientCallObserver> observer;     // a filter's (tracing); usually null

  static void start(const std::shared_ptr<FanOut>& f);

 private:
  // Under mu: settles the call; returns the completion to run after unlocking.
  struct Settled {
    std::vector<std::shared_ptr<CallControl>> cancel;
    CallCompletion done;
    CallResult result;
    bool settled = false;
  };
  Settled settle_locked(CallResult&& r) {
    Settled out;
    finished = true;
    out.settled = true;
    out.cancel.swap(legs);
    out.done = std::move(done);
    out.result = std::move(r);
    return out;
  }
  void run(Settled&& s) {
    if (!s.settled) return;
    for (auto& leg : s.cancel) leg->cancel();  // losers: cancel frames; their completions are ignored
    core->complete(control, method, started, request.size(), std::move(s.result), s.done, observer.get());
  }
  void launch(std::shared_ptr<EndpointInvoker> ep, AttemptKind kind);
  void launch_next(AttemptKind kind);
  void on_leg(CallResult&& r);
  void on_hedge_timer();
};

void FanOut::start(const std::shared_ptr<FanOut>& f) {
  auto fail = [&](Status s) {
    Settled out;
    {
      std::lock_guard lock(f->mu);
      out = f->settle_locked(CallResult{std::move(s), {}});
    }
    f->run(std::move(out));
  };
  if (f->control && f->control->cancelled()) return fail(cancelled_by_caller());
  auto dir = f->core->snapshot();
  if (!dir || dir->ptrs.empty()) {
    return fail(f->core->no_provider());
  }
  std::vector<std::shared_ptr<EndpointInvoker>> targets;
  if (f->mode == FaultTolerance::kBroadcast && f->policy->routers->empty()) {
    targets = dir->owners;  // every provider in the directory, ejected ones included
  } else if (f->mode == FaultTolerance::kBroadcast) {
    std::vector<cluster::Invoker*> routed;  // every provider the routers leave, in directory order
    if (Status s = f->core->route(*f->policy, *dir, f->method, f->request, nullptr, routed); !s.is_ok()) {
      return fail(std::move(s));
    }
    std::size_t next = 0;
    for (std::size_t i = 0; i < dir->ptrs.size(); ++i) {
      if (next < routed.size() && routed[next] == dir->ptrs[i]) {
        targets.push_back(dir->owners[i]);
        ++next;
      }
    }
  } else {
    std::size_t n = f->mode == FaultTolerance::kForking ? static_cast<std::size_t>(f->core->options.forks) : 1;
    std::vector<std::string> chosen;
    while (targets.size() < n) {
      auto picked = f->core->pick(*f->policy, *dir, f->method, f->request, chosen);
      if (!picked) return fail(picked.status());  // a routing rule's error: the call fails with it
      auto ep = std::move(*picked);
      if (!ep) break;
      chosen.push_back(ep->id());
      targets.push_back(std::move(ep));
    }
  }
  if (targets.empty()) {
    return fail(Status(StatusCode::kUnavailable, "no provider with a non-zero weight for '" + f->core->service + "'"));
  }
  {
    std::lock_guard lock(f->mu);
    f->in_flight = static_cast<int>(targets.size());
    if (f->hedged) {
      // The channel's IO loop: no extra thread, and the backup leg is sent
      // from there without blocking. A weak_ptr: the legs keep the call alive.
      f->hedge_timer = std::make_unique<asio::steady_timer>(f->core->client->channels.io().next(),
                                                            f->core->options.backup_request);
      f->hedge_timer->async_wait([weak = std::weak_ptr<FanOut>(f)](std::error_code ec) {
        if (ec) return;
        if (auto self = weak.lock()) self->on_hedge_timer();
      });
    }
  }
  if (f->control) {
    f->control->set_hook([weak = std::weak_ptr<FanOut>(f)]() -> bool {
      auto self = weak.lock();
      if (!self) return false;
      std::vector<std::shared_ptr<CallControl>> legs;
      {
        std::lock_guard lock(self->mu);
        if (self->finished) return false;
        legs = self->legs;
      }
      for (auto& leg : legs) leg->cancel();  // each leg completes CANCELLED; on_leg settles the call
      return true;
    });
  }
  for (std::size_t i = 0; i < targets.size(); ++i) {
    f->launch(std::move(targets[i]), i == 0 ? AttemptKind::kFirst : AttemptKind::kFork);
  }
}

// Sends one leg (already counted in in_flight) to `ep`.
void FanOut::launch(std::shared_ptr<EndpointInvoker> ep, AttemptKind kind) {
  if (observer) observer->on_attempt(ep->id(), kind);
  auto leg = std::make_shared<CallControl>();
  {
    std::lock_guard lock(mu);
    tried.push_back(ep->id());
    if (!finished) legs.push_back(leg);
  }
  // A leg added after the caller cancelled would escape the hook's sweep.
  if (control && control->cancelled()) leg->cancel();
  auto remaining = until(deadline);
  if (remaining.count() <= 0) {
    on_leg(CallResult{Status(StatusCode::kDeadlineExceeded, "deadline passed before sending"), {}});
    return;
  }
  ReferenceCore::send_attempt(std::move(ep), request, remaining, leg,
                              [self = shared_from_this()](CallResult&& r) { self->on_leg(std::move(r)); });
}

// Sends one more leg (already counted in in_flight) to a provider not tried yet.
void FanOut::launch_next(AttemptKind kind) {
  std::vector<std::string> exclude;
  {
    std::lock_guard lock(mu);
    if (finished) {
      --in_flight;
      return;
    }
    exclude = tried;
  }
  std::shared_ptr<EndpointInvoker> ep;
  Status route_error;
  if (auto dir = core->snapshot()) {
    auto picked = core->pick(*policy, *dir, method, request, exclude);
    if (picked) {
      ep = std::move(*picked);
    } else {
      route_error = picked.status();
    }
  }
  if (ep) return launch(std::move(ep), kind);
  Settled out;
  {
    std::lock_guard lock(mu);
    if (--in_flight == 0 && !finished) out = settle_locked(CallResult{route_error.is_ok() ? error : route_error, {}});
  }
  run(std::move(out));
}

void FanOut::on_leg(CallResult&& r) {
  Settled out;
  bool retry = false;
  {
    std::lock_guard lock(mu);
    --in_flight;
    if (finished) return;
    if (control && control->cancelled()) {
      out = settle_locked(CallResult{cancelled_by_caller(), {}});
    } else if (mode == FaultTolerance::kBroadcast) {
      if (r.status.is_ok()) {
        last_ok = std::move(r);
      } else if (error.is_ok()) {
        error = r.status;
      }
      if (in_flight == 0) out = settle_locked(error.is_ok() ? std::move(*last_ok) : CallResult{error, {}});
    } else if (r.status.is_ok()) {
      out = settle_locked(std::move(r));  // first success wins
    } else if (mode == FaultTolerance::kForking || cluster::should_retry(r.status, /*idempotent=*/true)) {
      // forking: wait for the others; hedged failover: a failure that is not an
      // answer (hedging is for idempotent methods only) — retry elsewhere if allowed.
      error = r.status;
      if (mode == FaultTolerance::kFailover && attempts_left > 0) {
        --attempts_left;
        ++in_flight;
        retry = true;
      } else if (in_flight == 0) {
        out = settle_locked(CallResult{error, {}});
      }
    } else {
      out = settle_locked(std::move(r));  // an answer (remote error, deadline): the first answer wins
    }
  }
  if (retry) {
    TERN_LOG(kDebug, "failover: {}.{} failed ({}); retrying elsewhere", core->service, method, r.status.to_string());
    launch_next(AttemptKind::kRetry);
    return;
  }
  run(std::move(out));
}

void FanOut::on_hedge_timer() {
  {
    std::lock_guard lock(mu);
    if (finished || attempts_left <= 0) return;
    --attempts_left;
    ++in_flight;
  }
  TERN_LOG(kDebug, "hedging: no answer for {}.{} within {} ms; sending a backup request", core->service, method,
           core->options.backup_request.count());
  launch_next(AttemptKind::kHedge);
}

// ---------------------------------------------------------------------------

Reference::Reference(std::shared_ptr<ReferenceCore> core) : core_(std::move(core)) {
  if (auto mode = cluster::parse_fault_tolerance(core_->options.cluster)) core_->mode = *mode;
}

// ---------------------------------------------------------------------------

Reference::~Reference() {
  core_->consumer.reset();  // unregisters this consumer
  if (core_->registry && core_->config_watch != 0) core_->registry->unwatch_config(core_->config_watch);
  if (core_->registry && core_->subscription != 0) core_->registry->unsubscribe(core_->subscription);
}

const std::string& Reference::service() const noexcept { return core_->service; }
std::uint64_t Reference::config_revision() const { return core_->snapshot()->policy->revision; }
const ReferenceOptions& Reference::options() const noexcept { return core_->options; }
std::uint8_t Reference::serialization_id() const noexcept { return core_->serialization_id; }

protocol::FrameBuilder Reference::new_request(std::string_view method, bool oneway) const {
  protocol::FrameBuilder b = start_request(*core_, method, oneway);
  b.begin_body();
  return b;
}

Status Reference::new_request(std::string_view method, bool oneway, const CallOptions* options,
                              protocol::FrameBuilder* out) const {
  *out = start_request(*core_, method, oneway);
  protocol::FrameBuilder& b = *out;
  auto& filters = core_->client->options.filters;
  std::vector<std::pair<std::string, std::string>> extra;
  if (!filters.empty()) {
    ClientInvocation inv{core_->service, method, &extra};
    for (auto& f : filters) {
      Status s = f->on_request(inv);
      if (!s.is_ok()) return s;
    }
  }
  auto add = [&](std::string_view k, std::string_view v) -> Status {
    if (k.empty() || k == protocol::meta_keys::kService || k == protocol::meta_keys::kMethod ||
        k == protocol::meta_keys::kVersion || k == protocol::meta_keys::kGroup ||
        k == protocol::meta_keys::kAcceptCompression) {
      return Status(StatusCode::kInvalidArgument, "attachment key '" + std::string(k) + "' is reserved");
    }
    if (!b.add_meta(k, v)) return Status(StatusCode::kInvalidArgument, "attachments exceed 64 KiB");
    return Status();
  };
  if (options) {
    for (auto& [k, v] : options->attachments) {
      if (!k.empty() && k[0] == '^') return Status(StatusCode::kInvalidArgument, "attachment keys must not start with '^'");
      // An attachment a filter set wins over the caller's (e.g. the auth token).
      bool overridden = false;
      for (auto& e : extra) overridden = overridden || e.first == k;
      if (overridden) continue;
      if (Status s = add(k, v); !s.is_ok()) return s;
    }
    for (auto& [k, v] : options->propagated) {
      if (Status s = add("^" + k, v); !s.is_ok()) return s;
    }
  }
  for (auto& [k, v] : extra) {
    if (Status s = add(k, v); !s.is_ok()) return s;
  }
  // Nested call: carry the propagated attachments of the request being served.
  if (auto* ctx = ServerContext::current()) {
    Status st;
    ctx->for_each_propagated([&](std::string_view k, std::string_view v) {
      bool overridden = false;
      if (options) {
        for (auto& [ok, ov] : options->propagated) overridden = overridden || ok == k;
      }
      if (!overridden && st.is_ok()) st = add("^" + std::string(k), v);
    });
    if (!st.is_ok()) return st;
  }
  b.begin_body();
  return Status();
}

void Reference::invoke(std::string_view method, std::string request, std::chrono::milliseconds timeout,
                       CallCompletion done, std::shared_ptr<CallControl> control) {
  const auto& o = core_->options;
  auto started = Clock::now();
  if (core_->compression != protocol::Compression::kNone) {
    protocol::compress_frame(request, core_->compression, o.compression_threshold);
  }
  auto observer = observe_call(core_->client->options.filters, core_->service, method, request);
  // The configuration in force now (timeout, retries, routers, load
  // balancer) stays this call's, whatever is pushed meanwhile.
  std::shared_ptr<const CallPolicy> policy = core_->snapshot()->policy;
  auto budget = timeout.count() > 0 ? timeout : policy->timeout;
  // Deadline propagation: a nested call never outlives the request it serves.
  if (auto* ctx = ServerContext::current(); ctx && ctx->has_deadline()) {
    budget = std::min(budget, ctx->remaining());
    if (budget.count() <= 0) {
      CallResult r{Status(StatusCode::kDeadlineExceeded, "the request being served has no time left"), {}};
      core_->complete(control, method, started, request.size(), std::move(r), done, observer.get());
      return;
    }
  }
  bool idempotent = o.idempotent_methods.contains(method);
  FaultTolerance mode = core_->mode;
  bool hedged = mode == FaultTolerance::kFailover && idempotent && o.backup_request.count() > 0 && policy->retries > 0;
  if (mode == FaultTolerance::kForking || mode == FaultTolerance::kBroadcast || hedged) {
    auto f = std::make_shared<FanOut>();
    f->core = core_;
    f->control = std::move(control);
    f->mode = mode;
    f->hedged = hedged;
    f->method = std::string(method);
    f->request = std::move(request);
    f->started = started;
    f->deadline = started + budget;
    f->done = std::move(done);
    f->attempts_left = hedged ? policy->retries : 0;
    f->policy = std::move(policy);
    f->observer = std::move(observer);
    FanOut::start(f);
    return;
  }
  auto a = std::make_unique<CallAttempt>();
  a->core = core_;
  a->control = std::move(control);
  a->method = std::string(method);
  a->started = started;
  a->deadline = started + budget;
  a->done = std::move(done);
  a->attempts_left = mode == FaultTolerance::kFailover ? std::max(0, policy->retries) : 0;
  a->policy = std::move(policy);
  a->idempotent = idempotent;
  a->request_bytes = request.size();
  a->request = std::move(request);
  a->observer = std::move(observer);
  ReferenceCore::start_attempt(std::move(a), Status());
}

Status Reference::invoke_oneway(std::string_view method, std::string request) {
  if (core_->compression != protocol::Compression::kNone) {
    protocol::compress_frame(request, core_->compression, core_->options.compression_threshold);
  }
  auto dir = core_->snapshot();
  if (!dir || dir->ptrs.empty()) {
    return core_->no_provider();
  }
  auto picked = core_->pick(*dir->policy, *dir, method, request, {});
  if (!picked) return picked.status();  // a routing rule's error
  if (*picked == nullptr) return Status(StatusCode::kUnavailable, "no provider with a non-zero weight");
  return (*picked)->channel()->send_oneway(std::move(request));
}

std::vector<Url> Reference::providers() const {
  std::vector<Url> out;
  if (auto dir = core_->snapshot()) {
    for (auto& o : dir->owners) out.push_back(o->url());
  }
  return out;
}

std::vector<ProviderStats> Reference::provider_stats() const {
  std::vector<ProviderStats> out;
  if (auto dir = core_->snapshot()) {
    for (auto& o : dir->owners) {
      auto& st = o->stats();
      out.push_back(ProviderStats{o->url(), st.active.load(std::memory_order_relaxed),
                                  o->attempts.load(std::memory_order_relaxed),
                                  st.consecutive_failures.load(std::memory_order_relaxed), o->ejector().ejected()});
    }
  }
  return out;
}

bool Reference::on_client_io_thread() const noexcept {
  return core_->client->channels.io().owns_current_thread();
}

bool Reference::wait_for_providers(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(core_->mu);
  return core_->cv.wait_for(lock, timeout, [&] { return core_->directory && !core_->directory->ptrs.empty(); });
}

}  // namespace tern
