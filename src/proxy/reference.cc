// Reference: directory (live provider list from the registry), load
// balancing and failover over channels. See tern/reference.h.
#include "tern/reference.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "proxy/client_core.h"
#include "tern/cluster/load_balancer.h"
#include "tern/log.h"
#include "tern/server_context.h"

namespace tern {

using Clock = std::chrono::steady_clock;

namespace {

bool retryable(const Status& s) {
  if (s.may_have_executed()) return false;
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kResourceExhausted;
}

}  // namespace

EndpointInvoker::EndpointInvoker(Url url, std::shared_ptr<Channel> channel)
    : url_(std::move(url)), id_(url_.address()), channel_(std::move(channel)), discovered_(Clock::now()) {
  weight_ = static_cast<int>(std::max<std::int64_t>(0, url_.int_param("weight", 100)));
}

bool EndpointInvoker::available() const { return true; }

// One call across its attempts (failover).
struct CallAttempt {
  std::shared_ptr<ReferenceCore> core;
  std::shared_ptr<CallControl> control;
  Clock::time_point started;
  std::string method;
  std::string request;  // kept for retries (empty when no retry is possible)
  Clock::time_point deadline;
  CallCompletion done;
  int attempts_left = 0;
  std::vector<std::string> tried;
};

void ReferenceCore::on_providers(const std::vector<Url>& urls) {
  auto next = std::make_shared<Directory>();
  std::shared_ptr<const Directory> prev;
  {
    std::lock_guard lock(mu);
    prev = directory;
  }
  for (const auto& u : urls) {
    if (!options.version.empty() && u.param("version") != options.version) continue;
    if (!options.group.empty() && u.param("group") != options.group) continue;
    std::shared_ptr<EndpointInvoker> inv;
    if (prev) {
      for (auto& old : prev->owners) {
        if (old->url() == u) inv = old;  // same provider: keep its live stats
      }
    }
    if (!inv) inv = std::make_shared<EndpointInvoker>(u, client->channels.get(u.host_port()));
    next->owners.push_back(inv);
    next->ptrs.push_back(inv.get());
  }
  {
    std::lock_guard lock(mu);
    directory = std::move(next);
  }
  cv.notify_all();
}

std::shared_ptr<const Directory> ReferenceCore::snapshot() const {
  std::lock_guard lock(mu);
  return directory;
}

void ReferenceCore::finish(std::unique_ptr<CallAttempt> a, CallResult&& r) {
  if (a->control) a->control->clear_hook();
  auto& filters = a->core->client->options.filters;
  if (!filters.empty()) {
    auto latency = Clock::now() - a->started;
    for (auto it = filters.rbegin(); it != filters.rend(); ++it) {
      (*it)->on_response(a->core->service, a->method, r.status, latency);
    }
  }
  a->done(std::move(r));
}

void ReferenceCore::start_attempt(std::unique_ptr<CallAttempt> a, Status last_error) {
  auto dir = a->core->snapshot();
  auto fail = [&](Status s) { finish(std::move(a), CallResult{std::move(s), {}}); };
  if (a->control && a->control->cancelled()) return fail(Status(StatusCode::kCancelled, "cancelled by the caller"));
  if (!dir || dir->ptrs.empty()) {
    if (!last_error.is_ok()) return fail(std::move(last_error));
    return fail(Status(StatusCode::kUnavailable, "no provider for service '" + a->core->service + "'"));
  }
  auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(a->deadline - Clock::now());
  if (remaining.count() <= 0) {
    return fail(last_error.is_ok() ? Status(StatusCode::kDeadlineExceeded, "deadline passed before sending") : last_error);
  }
  cluster::Invocation inv{a->core->service, a->method, {}};
  cluster::Invoker* picked = nullptr;
  if (a->tried.empty()) {
    picked = a->core->lb->select(dir->ptrs, inv);
  } else {
    std::vector<cluster::Invoker*> untried;
    for (auto* p : dir->ptrs) {
      if (std::find(a->tried.begin(), a->tried.end(), p->id()) == a->tried.end()) untried.push_back(p);
    }
    if (untried.empty()) return fail(std::move(last_error));
    picked = a->core->lb->select(untried, inv);
  }
  if (picked == nullptr) {
    if (!last_error.is_ok()) return fail(std::move(last_error));
    return fail(Status(StatusCode::kUnavailable, "no provider with a non-zero weight for '" + a->core->service + "'"));
  }
  auto* ep = static_cast<EndpointInvoker*>(picked);
  std::shared_ptr<EndpointInvoker> hold;
  for (auto& o : dir->owners) {
    if (o.get() == ep) hold = o;
  }
  std::string bytes = a->attempts_left > 0 ? a->request : std::move(a->request);
  if (a->attempts_left > 0) a->tried.push_back(ep->id());
  ep->stats().active.fetch_add(1, std::memory_order_relaxed);
  auto started = Clock::now();
  auto channel = hold->channel();
  auto control = a->control;
  channel->call(std::move(bytes), remaining, [a = std::move(a), hold, started](CallResult&& r) mutable {
    hold->stats().active.fetch_sub(1, std::memory_order_relaxed);
    hold->stats().record_latency(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started));
    if (!r.status.is_ok() && a->attempts_left > 0 && retryable(r.status)) {
      --a->attempts_left;
      TERN_LOG(kDebug, "failover: {}.{} on {} failed ({}); retrying elsewhere", a->core->service, a->method,
               hold->id(), r.status.to_string());
      start_attempt(std::move(a), std::move(r.status));
      return;
    }
    finish(std::move(a), std::move(r));
  }, control);
}

// ---------------------------------------------------------------------------

Reference::~Reference() {
  if (core_->registry && core_->subscription != 0) core_->registry->unsubscribe(core_->subscription);
}

const std::string& Reference::service() const noexcept { return core_->service; }
const ReferenceOptions& Reference::options() const noexcept { return core_->options; }
std::uint8_t Reference::serialization_id() const noexcept { return core_->serialization_id; }

protocol::FrameBuilder Reference::new_request(std::string_view method, bool oneway) const {
  protocol::FrameBuilder b(oneway ? protocol::FrameType::kOneway : protocol::FrameType::kRequest, 0,
                           core_->service.size() + method.size() + 64);
  b.header().serialization = core_->serialization_id;
  b.add_meta(protocol::meta_keys::kService, core_->service);
  b.add_meta(protocol::meta_keys::kMethod, method);
  if (!core_->options.version.empty()) b.add_meta(protocol::meta_keys::kVersion, core_->options.version);
  if (!core_->options.group.empty()) b.add_meta(protocol::meta_keys::kGroup, core_->options.group);
  b.begin_body();
  return b;
}

Status Reference::new_request(std::string_view method, bool oneway, const CallOptions* options,
                              protocol::FrameBuilder* out) const {
  *out = protocol::FrameBuilder(oneway ? protocol::FrameType::kOneway : protocol::FrameType::kRequest, 0,
                                core_->service.size() + method.size() + 64);
  protocol::FrameBuilder& b = *out;
  b.header().serialization = core_->serialization_id;
  b.add_meta(protocol::meta_keys::kService, core_->service);
  b.add_meta(protocol::meta_keys::kMethod, method);
  if (!core_->options.version.empty()) b.add_meta(protocol::meta_keys::kVersion, core_->options.version);
  if (!core_->options.group.empty()) b.add_meta(protocol::meta_keys::kGroup, core_->options.group);
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
        k == protocol::meta_keys::kVersion || k == protocol::meta_keys::kGroup) {
      return Status(StatusCode::kInvalidArgument, "attachment key '" + std::string(k) + "' is reserved");
    }
    if (!b.add_meta(k, v)) return Status(StatusCode::kInvalidArgument, "attachments exceed 64 KiB");
    return Status();
  };
  if (options) {
    for (auto& [k, v] : options->attachments) {
      if (!k.empty() && k[0] == '^') return Status(StatusCode::kInvalidArgument, "attachment keys must not start with '^'");
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
  auto a = std::make_unique<CallAttempt>();
  a->core = core_;
  a->control = std::move(control);
  a->method = std::string(method);
  a->started = Clock::now();
  auto budget = timeout.count() > 0 ? timeout : core_->options.timeout;
  // Deadline propagation: a nested call never outlives the request it serves.
  if (auto* ctx = ServerContext::current(); ctx && ctx->has_deadline()) {
    budget = std::min(budget, ctx->remaining());
    if (budget.count() <= 0) {
      a->done = std::move(done);
      ReferenceCore::finish(std::move(a), CallResult{Status(StatusCode::kDeadlineExceeded,
                                                            "the request being served has no time left"), {}});
      return;
    }
  }
  a->deadline = a->started + budget;
  a->done = std::move(done);
  a->attempts_left = core_->options.cluster == "failfast" ? 0 : std::max(0, core_->options.retries);
  a->request = std::move(request);
  ReferenceCore::start_attempt(std::move(a), Status());
}

Status Reference::invoke_oneway(std::string_view method, std::string request) {
  auto dir = core_->snapshot();
  if (!dir || dir->ptrs.empty()) {
    return Status(StatusCode::kUnavailable, "no provider for service '" + core_->service + "'");
  }
  cluster::Invocation inv{core_->service, method, {}};
  auto* picked = static_cast<EndpointInvoker*>(core_->lb->select(dir->ptrs, inv));
  if (picked == nullptr) return Status(StatusCode::kUnavailable, "no provider with a non-zero weight");
  return picked->channel()->send_oneway(std::move(request));
}

std::vector<Url> Reference::providers() const {
  std::vector<Url> out;
  if (auto dir = core_->snapshot()) {
    for (auto& o : dir->owners) out.push_back(o->url());
  }
  return out;
}

bool Reference::wait_for_providers(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(core_->mu);
  return core_->cv.wait_for(lock, timeout, [&] { return core_->directory && !core_->directory->ptrs.empty(); });
}

}  // namespace tern
