// Reference: load balancing, outlier ejection and the fault-tolerance
// strategies over channels. See tern/reference.h and docs/load-balancing.md.
// Beside it: src/proxy/directory.cc (the provider list, the contract check and
// the dynamic configuration, docs/governance.md) and src/proxy/routing.cc
// (routers, then the load balancer: ReferenceCore::pick).
//
// Layout of this file:
//   1. EndpointInvoker, validating options, sending one attempt
//      (send_attempt: the only place a call reaches a channel, so least_active's
//      counter and the ejection state see every completion path)
//   2. sequential strategies — failover, failfast, failsafe (CallAttempt: one
//      attempt in flight, moved from completion to retry, no lock)
//   3. parallel strategies — forking, broadcast, hedged failover (FanOut:
//      several attempts in flight, shared state under a mutex, the losers
//      cancelled through their own CallControl)
// The policy parts without channels (strategy names, the retry rule, the
// ejection state machine, routers) live in src/cluster/.
#include "tern/reference.h"

#include <asio/steady_timer.hpp>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "proxy/call_observers.h"
#include "proxy/client_core.h"
#include "tern/buffer_pool.h"
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

  // The request's buffer serves the next call's request (issue #17).
  ~CallAttempt() { BufferPool::recycle(std::move(request)); }
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
  std::string bytes;
  if (a->attempts_left > 0) {
    // Kept for a retry; the copy sent goes into a recycled buffer when there
    // is one (a sync call's previous request, issue #17): the shared pool's
    // for a large request, this thread's cache for a small one.
    std::size_t n = a->request.size();
    bytes = n >= BufferPool::kMinPooled ? BufferPool::take(n) : BufferPool::take_local(n);
    bytes.assign(a->request);
  } else {
    bytes = std::move(a->request);
  }
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
  // The caller's builder comes with a buffer of its own (unused); it goes to
  // this thread's cache for the next call's builder instead of being freed
  // (issue #17).
  std::string unused = std::move(out->buffer());
  *out = start_request(*core_, method, oneway);
  BufferPool::recycle(std::move(unused));
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
