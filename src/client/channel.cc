// Consumer channel: one provider endpoint's connection (dialled, resolved,
// re-dialled after a backoff), the calls waiting for it, and the calls and
// streams started on it. The connection's pending calls and deadlines are
// ChannelSession's (channel_session.h); ChannelPool is in channel_pool.cc.
// See tern/channel.h for the contract.
#include "tern/channel.h"

#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "client/channel_session.h"
#include "client/resolve_hook.h"
#include "rpc/thread_pool.h"
#include "tern/log.h"
#include "tern/net/connection.h"
#include "tern/net/io_context_pool.h"
#include "tern/net/tls_context.h"

namespace tern {
namespace rpc {

// Not a request frame (an empty string from a strategy that sent a moved
// request): INTERNAL, never patched, never written.
static Status check_request_frame(const std::string& request) {
  if (request.size() >= protocol::kHeaderSize) return Status();
  return Status(StatusCode::kInternal,
                "request frame of " + std::to_string(request.size()) + " bytes is shorter than a frame header");
}

}  // namespace rpc

// ---------------------------------------------------------------------------
// Channel

namespace rpc {
namespace {
std::mutex g_resolve_hook_mu;
std::shared_ptr<ResolveHook> g_resolve_hook;  // guarded by g_resolve_hook_mu
}  // namespace
void set_resolve_hook_for_test(ResolveHook hook) {
  std::lock_guard lock(g_resolve_hook_mu);
  g_resolve_hook = hook ? std::make_shared<ResolveHook>(std::move(hook)) : nullptr;
}
}  // namespace rpc

namespace {
Result<asio::ip::tcp::endpoint> resolve(const HostPort& hp) {
  std::error_code ec;
  auto addr = asio::ip::make_address(hp.host, ec);
  if (!ec) return asio::ip::tcp::endpoint(addr, hp.port);
  std::shared_ptr<rpc::ResolveHook> hook;
  {
    std::lock_guard lock(rpc::g_resolve_hook_mu);
    hook = rpc::g_resolve_hook;
  }
  if (hook) return (*hook)(hp);
  asio::io_context ctx;
  asio::ip::tcp::resolver resolver(ctx);
  auto results = resolver.resolve(hp.host, std::to_string(hp.port), ec);
  if (ec || results.empty()) {
    return Status(StatusCode::kUnavailable, "cannot resolve " + hp.host + ": " + ec.message());
  }
  return results.begin()->endpoint();
}
}  // namespace

Channel::Channel(asio::io_context& loop, HostPort endpoint, ChannelOptions options, rpc::ThreadPool* pool,
                 std::shared_ptr<net::TlsContext> tls, const Clock* clock)
    : loop_(loop),
      endpoint_(std::move(endpoint)),
      options_(std::move(options)),
      pool_(pool),
      tls_(std::move(tls)),
      clock_(clock ? clock : &Clock::steady()) {
  auto p = dispatch_policy(options_.dispatcher);
  policy_ = p ? *p : *dispatch_policy("execution");
  if (options_.tls.enabled && !tls_) {
    auto ctx = net::TlsContext::create(options_.tls, net::TlsContext::Role::kClient);
    if (ctx) {
      tls_ = std::move(*ctx);
    } else {
      status_ = ctx.status();
    }
  }
}

void Channel::observe(DispatchEvent e) {
  if (options_.event_observer) options_.event_observer(e, net::IoContextPool::in_io_thread());
}

void Channel::run_event(DispatchEvent e, detail::UniqueFunction<void()> fn) {
  if (policy_.pooled(e) && pool_ && pool_->try_submit(std::move(fn))) return;
  fn();
}

Channel::~Channel() {
  std::shared_ptr<rpc::ChannelSession> s;
  {
    std::lock_guard lock(mu_);
    s = std::move(session_);
  }
  fail_all_waiting(Status(StatusCode::kCancelled, "consumer shut down", false));
  if (s) s->close_with_predecessors(Status(StatusCode::kCancelled, "consumer shut down"));
}

struct Channel::Resolved {
  Result<asio::ip::tcp::endpoint> ep;
};

struct Channel::Waiting {
  explicit Waiting(asio::io_context& loop) : timer(loop) {}
  std::string request;
  bool oneway = false;
  Clock::time_point deadline;  // on clock_
  CallCompletion done;  // empty for a oneway request
  std::shared_ptr<CallControl> control;
  asio::steady_timer timer;  // fails the waiter at its deadline; touched on the loop only
};

std::shared_ptr<rpc::ChannelSession> Channel::ready_session_locked() {
  // Live, or (none yet, closed, or the provider is going away: in-flight
  // calls finish there, new calls go on a new connection) dial a new one.
  if (session_ && !session_->closed() && !session_->goaway_.load()) return session_;
  std::error_code ec;
  auto addr = asio::ip::make_address(endpoint_.host, ec);
  if (ec) return nullptr;  // a host name: resolve first, without mu_
  return dial_locked(Resolved{asio::ip::tcp::endpoint(addr, endpoint_.port)});
}

std::shared_ptr<rpc::ChannelSession> Channel::dial_locked(const Resolved& resolved) {
  const Result<asio::ip::tcp::endpoint>& ep = resolved.ep;
  rpc::SessionOptions so{options_.limits, options_.heartbeat_interval, options_.max_concurrent_streams, clock_};
  auto s = std::make_shared<rpc::ChannelSession>(weak_from_this(), loop_, so);
  // The session this one replaces may still drain after a goaway; a closed
  // one (a failed reconnect) passes on the one it replaced.
  if (session_) s->set_predecessor(session_->closed() ? session_->predecessor_.lock() : session_);
  const bool grpc = options_.protocol == "grpc";
  if (grpc) s->use_grpc(endpoint_.to_string());
  net::Connection::Options co;
  co.connect_timeout = options_.connect_timeout;
  co.tls = tls_;
  if (!ep) {
    // Unresolvable: a session that is closed at once fails calls with UNAVAILABLE.
    auto conn = net::Connection::dial(loop_, asio::ip::tcp::endpoint(), co);
    s->attach(conn);
    conn->close(ep.status());
  } else {
    s->attach(net::Connection::dial(loop_, *ep, co));
    if (grpc) s->start_grpc();
  }
  session_ = s;
  return s;
}

std::shared_ptr<rpc::ChannelSession> Channel::session() {
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return nullptr;
    if (auto s = ready_session_locked()) return s;
  }
  // Resolved without mu_: a slow DNS answer must not block stats(),
  // connected() or shutdown(). Only open_stream() comes here; calls and
  // oneway requests wait for an asynchronous resolution instead.
  Resolved ep{resolve(endpoint_)};
  std::lock_guard lock(mu_);
  if (shut_down_) return nullptr;
  if (session_ && !session_->closed() && !session_->goaway_.load()) return session_;  // another caller dialed
  return dial_locked(ep);
}

void Channel::wait_for_resolution(std::shared_ptr<Waiting> w) {
  const Status cancelled(StatusCode::kCancelled, "call cancelled", false);
  if (w->control && w->control->cancelled()) {
    if (w->done) w->done(CallResult{cancelled, {}});
    return;
  }
  std::uint64_t id = 0;
  {
    std::lock_guard lock(mu_);
    id = ++next_waiting_;
  }
  // Hooked before the waiter is visible to on_resolved(), whose start_call()
  // then replaces this hook with the session's.
  if (w->control) {
    w->control->set_hook([weak = weak_from_this(), id, cancelled]() -> bool {
      auto self = weak.lock();
      return self && self->fail_waiting(id, cancelled);
    });
  }
  bool start = false;
  bool refused = false;
  {
    std::lock_guard lock(mu_);
    if (shut_down_) {
      refused = true;
    } else {
      waiting_.emplace(id, w);
      start = !resolving_;
      resolving_ = true;
    }
  }
  if (refused) {
    if (w->done) w->done(CallResult{Status(StatusCode::kCancelled, "consumer shut down", false), {}});
    return;
  }
  // A cancel that came before the waiter was listed found nothing to fail.
  if (w->control && w->control->cancelled()) fail_waiting(id, cancelled);
  // The timer is only touched on the loop (armed here, cancelled by posts
  // from whoever removes the waiter); its handler owns the waiter until it
  // runs. A deadline already past fires at once.
  asio::post(loop_, [weak = weak_from_this(), id, w] {
    if (auto self = weak.lock()) self->arm_waiting_timer(id, w);
  });
  if (start) start_resolve();
}

void Channel::arm_waiting_timer(std::uint64_t id, std::shared_ptr<Waiting> w) {
  // Relative to the channel's clock, so a test clock's deadline maps onto the real wait.
  w->timer.expires_after(std::max(w->deadline - clock_->now(), Clock::duration::zero()));
  w->timer.async_wait([weak = weak_from_this(), id, w](std::error_code ec) {
    if (ec) return;
    auto self = weak.lock();
    if (!self) return;
    if (self->clock_->now() < w->deadline) {
      // Not yet on the channel's clock: waits again while the waiter is
      // listed (a removal after this check posts a cancel that runs later).
      bool listed = false;
      {
        std::lock_guard lock(self->mu_);
        listed = self->waiting_.count(id) > 0;
      }
      if (listed) self->arm_waiting_timer(id, w);
      return;
    }
    self->fail_waiting(id, Status(StatusCode::kDeadlineExceeded,
                                  "deadline exceeded while resolving " + self->endpoint_.host, false));
  });
}

void Channel::start_resolve() {
  std::shared_ptr<rpc::ResolveHook> hook;
  {
    std::lock_guard lock(rpc::g_resolve_hook_mu);
    hook = rpc::g_resolve_hook;
  }
  std::weak_ptr<Channel> weak = weak_from_this();
  if (hook) {
    // The test seam blocks like a system resolver: its own thread, which
    // completes on the loop as Asio's resolver does. It posts under mu_: a
    // shutdown (which ChannelPool finishes before destroying its loops)
    // either came first, and nothing is posted, or waits for the post. (It
    // called on_resolved() itself before, and could destroy a session after
    // its loop was gone: ASan, Bugs.HostNameIsNotResolvedOnTheIoThread...)
    std::thread([weak, hook, hp = endpoint_] {
      auto ep = (*hook)(hp);
      auto self = weak.lock();
      if (!self) return;
      std::lock_guard lock(self->mu_);
      if (self->shut_down_) return;  // its waiters were failed by shutdown()
      asio::post(self->loop_, [weak, ep = std::move(ep)]() mutable {
        if (auto ch = weak.lock()) ch->on_resolved(Resolved{std::move(ep)});
      });
    }).detach();
    return;
  }
  // Asio runs getaddrinfo on its resolver thread and completes on the loop.
  auto resolver = std::make_shared<asio::ip::tcp::resolver>(loop_);
  resolver->async_resolve(
      endpoint_.host, std::to_string(endpoint_.port),
      [weak, resolver, host = endpoint_.host](std::error_code ec, asio::ip::tcp::resolver::results_type results) {
        auto self = weak.lock();
        if (!self) return;
        if (ec || results.empty()) {
          self->on_resolved(Resolved{Status(StatusCode::kUnavailable, "cannot resolve " + host + ": " + ec.message())});
        } else {
          self->on_resolved(Resolved{results.begin()->endpoint()});
        }
      });
}

void Channel::on_resolved(Resolved ep) {
  std::unordered_map<std::uint64_t, std::shared_ptr<Waiting>> batch;
  std::shared_ptr<rpc::ChannelSession> s;
  Status reason;
  {
    std::lock_guard lock(mu_);
    resolving_ = false;
    batch.swap(waiting_);
    if (shut_down_) {
      reason = shutdown_reason_;
    } else if (session_ && !session_->closed() && !session_->goaway_.load()) {
      s = session_;  // open_stream() dialled meanwhile
    } else {
      s = dial_locked(ep);
    }
  }
  const auto now = clock_->now();
  for (auto& entry : batch) {
    auto& w = entry.second;  // not a structured binding: clang < 16 cannot capture one
    asio::post(loop_, [w] { w->timer.cancel(); });
    if (!s) {
      if (w->done) w->done(CallResult{Status(StatusCode::kCancelled, reason.message(), false), {}});
    } else if (w->control && w->control->cancelled()) {
      if (w->done) w->done(CallResult{Status(StatusCode::kCancelled, "call cancelled", false), {}});
    } else if (w->deadline <= now) {
      if (w->done) {
        w->done(CallResult{Status(StatusCode::kDeadlineExceeded, "deadline exceeded while resolving " + endpoint_.host,
                                  false),
                           {}});
      }
    } else if (w->oneway) {
      s->send_frame(std::move(w->request));
    } else {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(w->deadline - now);
      s->start_call(std::move(w->request), left, w->deadline, std::move(w->done), w->control);
    }
  }
}

bool Channel::fail_waiting(std::uint64_t id, Status why) {
  std::shared_ptr<Waiting> w;
  {
    std::lock_guard lock(mu_);
    auto it = waiting_.find(id);
    if (it == waiting_.end()) return false;
    w = std::move(it->second);
    waiting_.erase(it);
  }
  asio::post(loop_, [w] { w->timer.cancel(); });
  if (w->done) w->done(CallResult{std::move(why), {}});
  return true;
}

void Channel::fail_all_waiting(const Status& why) {
  std::unordered_map<std::uint64_t, std::shared_ptr<Waiting>> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(waiting_);
  }
  for (auto& entry : batch) {
    auto& w = entry.second;  // not a structured binding: clang < 16 cannot capture one
    asio::post(loop_, [w] { w->timer.cancel(); });
    if (w->done) w->done(CallResult{Status(why.code(), why.message(), false), {}});
  }
}

void Channel::call(std::string request, std::chrono::milliseconds timeout, CallCompletion done,
                   const std::shared_ptr<CallControl>& control, std::chrono::steady_clock::time_point started) {
  if (!status_.is_ok()) {
    done(CallResult{status_, {}});
    return;
  }
  if (Status bad = rpc::check_request_frame(request); !bad.is_ok()) {
    done(CallResult{std::move(bad), {}});
    return;
  }
  if (timeout.count() <= 0) timeout = std::chrono::milliseconds(1);
  const auto deadline = (started != std::chrono::steady_clock::time_point{} ? started : clock_->now()) + timeout;
  std::shared_ptr<rpc::ChannelSession> s;
  bool shut_down = false;
  {
    std::lock_guard lock(mu_);
    shut_down = shut_down_;
    if (!shut_down) s = ready_session_locked();
  }
  if (shut_down) {
    done(CallResult{Status(StatusCode::kCancelled, "consumer shut down"), {}});
    return;
  }
  if (!s) {
    // A host name with no live connection: wait for one shared resolution
    // instead of resolving here (this may be an IO thread).
    auto w = std::make_shared<Waiting>(loop_);
    w->request = std::move(request);
    w->deadline = deadline;
    w->done = std::move(done);
    w->control = control;
    wait_for_resolution(std::move(w));
    return;
  }
  s->start_call(std::move(request), timeout, deadline, std::move(done), control);
}

Status Channel::send_oneway(std::string request) {
  if (!status_.is_ok()) return status_;
  if (Status bad = rpc::check_request_frame(request); !bad.is_ok()) return bad;
  std::shared_ptr<rpc::ChannelSession> s;
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return Status(StatusCode::kCancelled, "consumer shut down");
    s = ready_session_locked();
  }
  if (!s) {
    // Queued until the host name resolves (sent then, or dropped at the
    // connect timeout): a oneway request has no answer to fail.
    auto w = std::make_shared<Waiting>(loop_);
    w->request = std::move(request);
    w->oneway = true;
    w->deadline = clock_->now() + options_.connect_timeout;
    wait_for_resolution(std::move(w));
    return Status();
  }
  if (!s->send_frame(std::move(request))) {
    Status why = s->connection() ? s->connection()->close_reason() : Status();
    return Status(StatusCode::kUnavailable, "connection to " + endpoint_.to_string() + " is closed" +
                                                (why.message().empty() ? "" : ": " + why.message()));
  }
  return Status();
}

std::shared_ptr<RawStream> Channel::open_stream(std::string service, std::string method, std::uint8_t serialization,
                                               std::chrono::milliseconds timeout, StreamMetadata metadata) {
  stream::OpenInfo info{std::move(service), std::move(method), serialization, timeout, std::move(metadata)};
  rpc::StreamDispatch dispatch;
  if (policy_.pooled(DispatchEvent::kResponse) && pool_) {
    rpc::ThreadPool* p = pool_;
    asio::io_context* loop = &loop_;
    dispatch = [p, loop](detail::UniqueFunction<void()> fn) {
      auto shared = std::make_shared<detail::UniqueFunction<void()>>(std::move(fn));
      if (!p->try_submit([shared] { (*shared)(); })) asio::post(*loop, [shared] { (*shared)(); });  // never lost
    };
  } else {
    dispatch = [loop = &loop_](detail::UniqueFunction<void()> fn) { asio::post(*loop, std::move(fn)); };
  }
  if (!status_.is_ok()) return rpc::StreamCall::failed(loop_, dispatch, std::move(info), status_);
  auto s = session();
  std::shared_ptr<rpc::StreamHub> hub = s ? s->streams(dispatch) : nullptr;
  if (!hub) {
    Status why = s ? Status(StatusCode::kUnavailable, s->unsent_reason(), false)
                   : Status(StatusCode::kCancelled, "consumer shut down");
    return rpc::StreamCall::failed(loop_, dispatch, std::move(info), std::move(why));
  }
  return hub->open(std::move(info));
}

void Channel::set_push_handler(std::function<void(const protocol::Frame&)> handler) {
  std::lock_guard lock(mu_);
  push_handler_ = std::make_shared<std::function<void(const protocol::Frame&)>>(std::move(handler));
}

void Channel::shutdown(Status reason) {
  std::shared_ptr<rpc::ChannelSession> s;
  {
    std::lock_guard lock(mu_);
    shut_down_ = true;
    shutdown_reason_ = reason;
    s = std::move(session_);
  }
  fail_all_waiting(reason);
  if (s) s->close_with_predecessors(reason);
}

bool Channel::available() const noexcept {
  std::int64_t until = down_until_.load(std::memory_order_acquire);
  if (until == 0) return true;
  return clock_->now().time_since_epoch().count() >= until;  // a connect clears it earlier
}

bool Channel::connected() const {
  std::lock_guard lock(mu_);
  return session_ && session_->connection() && session_->connection()->connected();
}

Channel::Stats Channel::stats() const {
  Stats st;
  st.late_responses = late_.load();
  st.timeouts = timeouts_.load();
  st.connects = connects_.load();
  std::shared_ptr<rpc::ChannelSession> s;
  {
    std::lock_guard lock(mu_);
    s = session_;
  }
  if (s) {
    st.pending = s->pending();
    st.deadline_entries = s->deadline_entries();
  }
  return st;
}

}  // namespace tern
