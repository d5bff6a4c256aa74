// One unary call of a Reference as its cluster strategy drives it, and the
// attempt hook. See reference_call.h; the strategies are in src/cluster/ft/.
#include "proxy/reference_call.h"

#include <algorithm>

#include "tern/buffer_pool.h"
#include "tern/log.h"

namespace tern {

using AttemptKind = ClientCallObserver::AttemptKind;

namespace {

// An attempt's outcome as the strategy sees it: a view of the channel's
// CallResult, valid during the completion.
class ChannelAttemptResult final : public cluster::AttemptResult {
 public:
  ChannelAttemptResult(CallResult& r, cluster::Invoker& invoker) : r_(r), invoker_(invoker) {}
  const Status& status() const override { return r_.status; }
  cluster::Invoker& invoker() const override { return invoker_; }
  CallResult& result() const { return r_; }

 private:
  CallResult& r_;
  cluster::Invoker& invoker_;
};

AttemptKind observer_kind(cluster::AttemptKind k) {
  switch (k) {
    case cluster::AttemptKind::kFirst:
      return AttemptKind::kFirst;
    case cluster::AttemptKind::kRetry:
      return AttemptKind::kRetry;
    case cluster::AttemptKind::kHedge:
      return AttemptKind::kHedge;
    case cluster::AttemptKind::kFork:
      return AttemptKind::kFork;
  }
  return AttemptKind::kFirst;
}

}  // namespace

namespace {
thread_local std::chrono::steady_clock::time_point t_attempt_end{};
}  // namespace

ReferenceCore::AttemptEndScope::AttemptEndScope(std::chrono::steady_clock::time_point end) noexcept : outer_(t_attempt_end) {
  t_attempt_end = end;
}
ReferenceCore::AttemptEndScope::~AttemptEndScope() { t_attempt_end = outer_; }
std::chrono::steady_clock::time_point ReferenceCore::AttemptEndScope::current() noexcept { return t_attempt_end; }

Status ReferenceCore::send_attempt(std::shared_ptr<EndpointInvoker> ep, std::string bytes,
                                   std::chrono::milliseconds timeout, const std::shared_ptr<CallControl>& control,
                                   cluster::AttemptDone done, std::chrono::steady_clock::time_point now) {
  ep->attempts.fetch_add(1, std::memory_order_relaxed);
  if (!done) {
    // Oneway: nothing comes back, so no latency, no in-flight count and no
    // outcome for outlier ejection; only the attempt is counted.
    return ep->channel()->send_oneway(std::move(bytes));
  }
  auto started = now != std::chrono::steady_clock::time_point{} ? now : ep->clock().now();
  ep->ejector().on_attempt(started);
  ep->stats().active.fetch_add(1, std::memory_order_relaxed);
  auto channel = ep->channel();
  // One completion object per attempt, as before the strategies moved out:
  // the strategy's `done` is held here directly, not wrapped once more.
  channel->call(std::move(bytes), timeout, [ep = std::move(ep), started, done = std::move(done)](CallResult&& r) mutable {
    auto now = ep->clock().now();
    ep->stats().active.fetch_sub(1, std::memory_order_relaxed);
    auto latency = std::chrono::duration_cast<std::chrono::microseconds>(now - started);
    ep->stats().record_latency(latency);
    ep->ejector().on_result(ep->stats(), r.status, latency, now);
    ChannelAttemptResult result(r, *ep);
    // A call this settles synchronously ends now: its filters' latency needs
    // no second clock read (ReferenceCore::complete).
    AttemptEndScope end(now);
    done(result);
  }, control, started);
  return Status();
}

ReferenceCall::ReferenceCall(std::shared_ptr<ReferenceCore> core, std::shared_ptr<const CallPolicy> policy,
                             std::string_view method, std::string request, Clock::time_point started,
                             Clock::time_point deadline, CallCompletion done, std::shared_ptr<CallControl> control,
                             std::unique_ptr<ClientCallObserver> observer)
    : core_(std::move(core)),
      policy_(std::move(policy)),
      method_(method),
      request_(std::move(request)),
      request_bytes_(request_.size()),
      started_(started),
      deadline_(deadline),
      done_(std::move(done)),
      control_(std::move(control)),
      observer_(std::move(observer)),
      idempotent_(core_->options.idempotent_methods.contains(method)) {}

ReferenceCall::~ReferenceCall() {
  if (timer_id_ != 0) timers_->cancel(timer_id_);
  if (!settled_.load(std::memory_order_acquire)) {
    // A strategy bug: without this the caller would wait forever (a sync call
    // has no deadline of its own).
    TERN_LOG(kError, "fault-tolerance strategy '{}' released a call to {}/{} without settling it",
             core_->options.cluster, core_->service, method_);
    complete(CallResult{Status(StatusCode::kInternal, "the fault-tolerance strategy '" + core_->options.cluster +
                                                          "' released the call without settling it"),
                        {}});
  }
  BufferPool::recycle(std::move(request_));
}

namespace {
// The call whose strategy runs synchronously under ReferenceCall::start() on
// this thread (nested starts save and restore it).
thread_local const ReferenceCall* t_starting = nullptr;
}  // namespace

void ReferenceCall::start(std::unique_ptr<ReferenceCall> call, cluster::Cluster& cluster) {
  const ReferenceCall* outer = t_starting;
  t_starting = call.get();
  cluster.invoke(std::move(call));  // may settle and destroy the call: only its address is kept
  t_starting = outer;
}

bool ReferenceCall::starting() const noexcept {
  return t_starting == this && !attempted_.load(std::memory_order_acquire);
}

std::chrono::milliseconds ReferenceCall::remaining() const {
  // Before the first attempt the call started microseconds ago: its start
  // stands in for a clock read (issue #17).
  auto now = starting() ? started_ : core_->client->clock->now();
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now);
}

cluster::Selection ReferenceCall::select(const std::vector<std::string>& exclude) {
  cluster::Selection out;
  auto dir = core_->snapshot();
  if (!dir || dir->ptrs.empty()) {
    out.status = core_->no_provider();
    out.empty_directory = true;
    return out;
  }
  auto picked = core_->pick(*policy_, *dir, method_, request_, exclude);
  if (!picked) {
    out.status = picked.status();  // a routing rule's error: the call fails with it
  } else {
    out.invoker = std::move(*picked);
  }
  return out;
}

Status ReferenceCall::select_all(std::vector<std::shared_ptr<cluster::Invoker>>& out) {
  auto dir = core_->snapshot();
  if (!dir || dir->ptrs.empty()) return core_->no_provider();
  if (policy_->routers->empty()) {
    out.assign(dir->owners.begin(), dir->owners.end());  // every provider, ejected ones included
    return Status();
  }
  std::vector<cluster::Invoker*> routed;  // every provider the routers leave, in directory order
  if (Status s = core_->route(*policy_, *dir, method_, request_, nullptr, routed); !s.is_ok()) return s;
  std::size_t next = 0;
  for (std::size_t i = 0; i < dir->ptrs.size(); ++i) {
    if (next < routed.size() && routed[next] == dir->ptrs[i]) {
      out.push_back(dir->owners[i]);
      ++next;
    }
  }
  return Status();
}

void ReferenceCall::send(std::shared_ptr<cluster::Invoker> invoker, cluster::AttemptOptions options,
                         cluster::AttemptDone done) {
  // Every invoker select() hands out is one of the directory's owners.
  auto ep = std::static_pointer_cast<EndpointInvoker>(std::move(invoker));
  const bool after_last = options.last ? sent_last_.exchange(true, std::memory_order_acq_rel)
                                       : sent_last_.load(std::memory_order_acquire);
  if (after_last || settled_.load(std::memory_order_acquire)) {
    // The request was moved into the last attempt, or the call is over: a
    // strategy bug, answered at once instead of sending an empty frame.
    CallResult r{Status(StatusCode::kInternal,
                        after_last ? "attempt sent after the last one (cluster::AttemptOptions::last)"
                                   : "attempt sent after the call was settled"),
                 {}};
    ChannelAttemptResult result(r, *ep);
    done(result);
    return;
  }
  if (observer_) observer_->on_attempt(ep->id(), observer_kind(options.kind));
  std::string bytes;
  if (!options.last) {
    // Kept for a retry or another leg; the copy sent goes into a recycled
    // buffer when there is one (a sync call's previous request, issue #17):
    // the shared pool's for a large request, this thread's cache for a small one.
    std::size_t n = request_.size();
    bytes = n >= BufferPool::kMinPooled ? BufferPool::take(n) : BufferPool::take_local(n);
    bytes.assign(request_);
  } else {
    bytes = std::move(request_);
  }
  // The first attempt starts when the call did (no second clock read).
  auto now = starting() ? started_ : Clock::time_point{};
  attempted_.store(true, std::memory_order_release);
  // Nothing of this call is touched after send_attempt: `done` may settle and destroy it.
  (void)ReferenceCore::send_attempt(std::move(ep), std::move(bytes), options.timeout, options.control, std::move(done),
                                    now);
}

void ReferenceCall::schedule(std::chrono::milliseconds delay, detail::UniqueFunction<void()> fn) {
  // An entry in one IO loop's timer structure, not a timer of its own
  // (issue #21): no allocation once the structure is warm, no extra thread.
  // Removed by the destructor if the call ends first.
  if (timer_id_ != 0) timers_->cancel(timer_id_);  // at most one pending
  timers_ = &core_->client->next_loop_timers();
  timer_id_ = timers_->schedule(delay, std::move(fn));
}

void ReferenceCall::finish(cluster::AttemptResult& result) {
  complete(std::move(static_cast<ChannelAttemptResult&>(result).result()));
}

void ReferenceCall::fail(Status status) { complete(CallResult{std::move(status), {}}); }

void ReferenceCall::finish_empty(const Status& real, cluster::AttemptResult* result) {
  if (result) {
    complete(std::move(static_cast<ChannelAttemptResult*>(result)->result()), /*empty=*/true);
  } else {
    complete(CallResult{real, {}}, /*empty=*/true);
  }
}

void ReferenceCall::complete(CallResult&& r, bool empty) {
  if (settled_.exchange(true, std::memory_order_acq_rel)) {
    TERN_LOG(kError, "fault-tolerance strategy '{}' settled a call to {}/{} twice; ignored: {}", core_->options.cluster,
             core_->service, method_, r.status.to_string());
    return;
  }
  core_->complete(control_, method_, started_, request_bytes_, std::move(r), done_, observer_.get(), empty);
}

}  // namespace tern
