// Reference: the consumer's generic invoker (tern/reference.h). Builds each
// request frame (filters, attachments, propagated ones), starts each call
// under the policy in force and hands it to the reference's fault-tolerance
// strategy (tern/cluster/cluster.h, one file pair each in src/cluster/ft/).
// Beside it: src/proxy/reference_call.cc (one call as the strategy sees it,
// and send_attempt: the only place an attempt reaches a channel, oneway
// calls included), src/proxy/directory.cc (the provider list, the contract
// check and the dynamic configuration, docs/governance.md) and
// src/proxy/routing.cc (routers, then the load balancer: ReferenceCore::pick).
#include "tern/reference.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "proxy/call_observers.h"
#include "proxy/client_core.h"
#include "proxy/reference_call.h"
#include "tern/buffer_pool.h"
#include "tern/cluster/load_balancer.h"
#include "tern/cluster/router.h"
#include "tern/log.h"
#include "tern/net/io_context_pool.h"
#include "tern/server_context.h"

namespace tern {

namespace {

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
// Invokers, options, completing a call

EndpointInvoker::EndpointInvoker(Url url, std::shared_ptr<Channel> channel, cluster::OutlierEjectionOptions ejection,
                                 const Clock& clock)
    : url_(std::move(url)),
      id_(url_.address()),
      channel_(std::move(channel)),
      clock_(clock),
      discovered_(clock.now()),
      ejector_(ejection, &clock) {
  weight_ = static_cast<int>(std::max<std::int64_t>(0, url_.int_param("weight", 100)));
}

bool EndpointInvoker::available() const {
  return ejector_.available() && channel_->available();  // the ejector reads its clock only while ejected
}

Status ReferenceCore::validate(const ReferenceOptions& o) {
  auto bad = [](std::string what) { return Status(StatusCode::kInvalidArgument, std::move(what)); };
  if (o.timeout.count() <= 0) return bad("timeout must be > 0 ms");
  cluster::ClusterOptions co;  // the options the reference will create it with
  co.forks = o.forks;
  co.backup_request = o.backup_request;
  auto strategy = cluster::create_cluster(o.cluster, co);
  if (!strategy) return strategy.status();
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

void ReferenceCore::complete(const std::shared_ptr<CallControl>& control, std::string_view method,
                             Clock::time_point started, std::uint64_t request_bytes, CallResult&& r,
                             CallCompletion& done, ClientCallObserver* observer, bool empty) const {
  if (control) control->clear_hook();
  auto& filters = client->options.filters;
  if (!filters.empty()) {
    // Settled inside an attempt's completion: that attempt's end is now
    // (not before this call started: a call started from another call's
    // completion and failed at once reads the clock).
    auto end = AttemptEndScope::current();
    auto latency = (end >= started && end != std::chrono::steady_clock::time_point{} ? end : client->clock->now()) -
                   started;
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
  if (empty) r = CallResult{};  // failsafe: the filters saw the real outcome
  done(std::move(r));
}

// ---------------------------------------------------------------------------

Reference::Reference(std::shared_ptr<ReferenceCore> core) : core_(std::move(core)) {
  cluster::ClusterOptions o;
  o.forks = core_->options.forks;
  o.backup_request = core_->options.backup_request;
  auto strategy = cluster::create_cluster(core_->options.cluster, o);  // validated: it exists
  if (!strategy) {
    // validate() created it with the same options: only a factory that
    // changes its mind gets here.
    TERN_LOG(kError, "fault-tolerance strategy '{}' could not be created ({}); using failover",
             core_->options.cluster, strategy.status().to_string());
    strategy = cluster::create_cluster("failover", o);
  }
  core_->cluster = std::move(*strategy);
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

namespace {

using Attachments = std::vector<std::pair<std::string, std::string>>;

// The filters' attachments of the call being encoded on this thread (issue
// #17): the vector is kept from call to call, so its storage is not allocated
// again, and its values go to this thread's buffer cache once written into
// the frame (the trace filter takes its `traceparent` buffer from there). A
// filter that makes a call of its own from on_request, and a call made while
// the thread exits, get a vector of their own.
thread_local bool t_extra_gone = false;  // trivially destructible: readable after ~ExtraCache
struct ExtraCache {
  Attachments v;
  bool busy = false;
  ~ExtraCache() { t_extra_gone = true; }
};
thread_local ExtraCache t_extra;

class ExtraLease {
 public:
  ExtraLease() : shared_(!t_extra_gone && !t_extra.busy) {
    if (shared_) t_extra.busy = true;
  }
  ~ExtraLease() {
    Attachments& v = get();
    for (auto& e : v) BufferPool::recycle(std::move(e.second));
    v.clear();
    if (shared_) t_extra.busy = false;
  }
  ExtraLease(const ExtraLease&) = delete;
  ExtraLease& operator=(const ExtraLease&) = delete;
  Attachments& get() { return shared_ ? t_extra.v : own_; }

 private:
  bool shared_;
  Attachments own_;
};

}  // namespace

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
  ExtraLease lease;
  Attachments& extra = lease.get();
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
  auto started = core_->client->clock->now();
  if (core_->compression != protocol::Compression::kNone) {
    protocol::compress_frame(request, core_->compression, o.compression_threshold);
  }
  auto observer = observe_call(core_->client->options.filters, core_->service, method, request);
  // The configuration in force now (timeout, retries, routers, load
  // balancer) stays this call's, whatever is pushed meanwhile.
  std::shared_ptr<const CallPolicy> policy = core_->snapshot()->policy;
  auto budget = timeout.count() > 0 ? timeout : policy->timeout;
  // Deadline propagation: a nested call never outlives the request it serves.
  Status early;
  if (auto* ctx = ServerContext::current(); ctx && ctx->has_deadline()) {
    budget = std::min(budget, ctx->remaining());
    if (budget.count() <= 0) early = Status(StatusCode::kDeadlineExceeded, "the request being served has no time left");
  }
  auto call = std::make_unique<ReferenceCall>(core_, std::move(policy), method, std::move(request), started,
                                              started + budget, std::move(done), std::move(control),
                                              std::move(observer));
  if (early.is_ok()) {
    ReferenceCall::start(std::move(call), *core_->cluster);
  } else {
    core_->cluster->fail(std::move(call), std::move(early));
  }
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
  // The attempt hook, as for every attempt; a oneway request completes at once.
  return ReferenceCore::send_attempt(std::move(*picked), std::move(request), {}, nullptr, nullptr);
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
