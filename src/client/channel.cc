// Consumer channel: pending-call table, timeouts and reconnects over a framed
// session. See tern/channel.h for the contract.
#include "tern/channel.h"

#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <future>
#include <thread>
#include <map>
#include <vector>

#include "base/clock.h"
#include "client/deadline_queue.h"
#include "client/resolve_hook.h"
#include "rpc/protocol_log.h"
#include "rpc/session.h"
#include "protocol/http2/grpc_client_codec.h"
#include "rpc/stream_hub.h"
#include "rpc/thread_pool.h"
#include "tern/log.h"
#include "tern/net/connection.h"
#include "tern/net/io_context_pool.h"
#include "tern/protocol/compression.h"
#include "tern/net/tls_context.h"

namespace tern {
namespace rpc {

using Clock = std::chrono::steady_clock;

// Timeouts fire at most this late (coalescing timer wakeups under load).
constexpr auto kTimerSlack = std::chrono::milliseconds(2);

// Not a request frame (an empty string from a strategy that sent a moved
// request): INTERNAL, never patched, never written.
static Status check_request_frame(const std::string& request) {
  if (request.size() >= protocol::kHeaderSize) return Status();
  return Status(StatusCode::kInternal,
                "request frame of " + std::to_string(request.size()) + " bytes is shorter than a frame header");
}

class ChannelSession : public Session {
 public:
  ChannelSession(std::weak_ptr<Channel> channel, asio::io_context& loop, SessionOptions options)
      : Session(options), channel_(std::move(channel)), timer_(loop), max_body_(options.limits.max_body),
        max_streams_(std::max<std::uint32_t>(1, options.max_concurrent_streams)) {
    // A response over our max_body fails its call only (docs/protocol.md §9).
    decoder().set_skip_oversize_responses(true);
  }

  void start_call(std::string request, std::chrono::milliseconds timeout, CallCompletion done,
                  const std::shared_ptr<CallControl>& control) {
    auto deadline = session_clock().now() + timeout;
    auto tmo = static_cast<std::uint32_t>(std::min<std::int64_t>(timeout.count(), 0xFFFFFFFF));
    std::uint64_t id;
    bool rearm = false;
    {
      std::unique_lock lock(mu_);
      if (closed_) {
        Status reason = close_reason_;
        lock.unlock();
        done(CallResult{Status(StatusCode::kUnavailable, reason.message(), false), {}});
        return;
      }
      id = next_id_++;
      if (spare_pending_.empty()) {
        pending_.emplace(id, Pending{std::move(done), deadline});
      } else {  // a finished call's node: no allocation (issue #17)
        auto node = std::move(spare_pending_.back());
        spare_pending_.pop_back();
        node.key() = id;
        node.mapped() = Pending{std::move(done), deadline};
        pending_.insert(std::move(node));
      }
      timeouts_[tmo].emplace_back(deadline, id);
      if (deadline + kTimerSlack < armed_) {
        armed_ = deadline + kTimerSlack;
        rearm = true;
      }
    }
    patch(request, id, tmo);
    if (control) {
      control->set_hook([weak = std::weak_ptr<ChannelSession>(shared()), id]() -> bool {
        auto self = weak.lock();
        return self && self->cancel(id);
      });
    }
    if (rearm) {
      asio::post(timer_.get_executor(), [self = shared()] { self->rearm(); });
    }
    if (!send_frame(std::move(request))) {
      // Never queued (the connection is closing): the provider cannot have
      // seen it, so fail it as not executed (failover may retry it) rather
      // than leave it to the close path, which cannot tell.
      CallCompletion unsent;
      {
        std::lock_guard lock(mu_);
        auto it = pending_.find(id);
        if (it != pending_.end()) {
          unsent = std::move(it->second.done);
          erase_pending(it);
        }
      }
      if (unsent) unsent(CallResult{Status(StatusCode::kUnavailable, unsent_reason(), false), {}});
      close_if_drained();
    }
  }

  // After a goaway: closes the connection once no call is pending on it, so
  // the provider (which waits for its consumers to go) can finish shutting
  // down without cutting off a request in transit. Marked closed under mu_,
  // so a call racing with it fails as not sent instead of being queued.
  void close_if_drained() {
    if (!goaway_.load()) return;
    {
      std::lock_guard lock(mu_);
      if (closed_ || !pending_.empty()) return;
      if (streams_ && streams_->live() > 0) return;  // a stream still runs here
      closed_ = true;
      close_reason_ = Status(StatusCode::kUnavailable, "provider going away (goaway)");
    }
    close(Status(StatusCode::kUnavailable, "provider going away (goaway)"));
  }

  bool closed() {
    std::lock_guard lock(mu_);
    return closed_;
  }

  // Why a frame could not be queued: the connection's close reason (a failed
  // TLS handshake or connect names itself), else a generic text.
  std::string unsent_reason() {
    Status why = connection() ? connection()->close_reason() : Status();
    if (why.is_ok() || why.message().empty()) return "connection closed before the request was sent";
    return why.message();
  }

  // Cancels pending call `id`: frees its entry, tells the provider, completes
  // it with CANCELLED. False if it is no longer pending.
  bool cancel(std::uint64_t id) {
    CallCompletion done;
    {
      std::lock_guard lock(mu_);
      auto it = pending_.find(id);
      if (it == pending_.end()) return false;
      done = std::move(it->second.done);
      erase_pending(it);
    }
    send_frame(protocol::encode_control_frame(protocol::FrameType::kCancel, id));
    done(CallResult{Status(StatusCode::kCancelled, "cancelled by the caller", true), {}});
    close_if_drained();
    return true;
  }
  std::size_t pending() {
    std::lock_guard lock(mu_);
    return pending_.size();
  }

  // ---- gRPC (grpc:// channels) ----------------------------------------------
  // Makes this session speak gRPC over h2c: called once by Channel::session()
  // before attach(); start_grpc() then runs on the IO thread.
  void use_grpc(std::string authority) {
    stop_heartbeat();  // HTTP/2 has its own PING; a Tern ping would break the framing
    std::weak_ptr<ChannelSession> weak = shared();
    protocol::http2::GrpcClientCodec::Hooks hooks;
    hooks.write = [weak](std::string bytes) {
      if (auto s = weak.lock()) s->Session::send_frame(std::move(bytes));
    };
    hooks.close = [weak](const Status& why) {
      if (auto s = weak.lock()) s->close(why);
    };
    hooks.on_response = [weak](protocol::Frame&& f) {
      if (auto s = weak.lock()) s->on_frame(std::move(f));
    };
    hooks.on_goaway = [weak] {
      if (auto s = weak.lock()) {
        s->goaway_.store(true);
        s->close_if_drained();
      }
    };
    protocol::http2::GrpcCodecOptions co;
    co.max_message_bytes = max_body_;
    grpc_ = std::make_shared<protocol::http2::GrpcClientCodec>(std::move(hooks), co, std::move(authority));
  }
  void start_grpc() {
    asio::post(timer_.get_executor(), [self = shared()] { self->grpc_->start(); });
  }

  // Sends a Tern frame; on a gRPC session the frame is translated on the IO
  // thread (requests become gRPC calls, cancels RST_STREAM, the rest is dropped).
  bool send_frame(std::string bytes) {
    if (!grpc_) return Session::send_frame(std::move(bytes));
    if (!connection() || !connection()->is_open()) return false;
    asio::post(timer_.get_executor(), [self = shared(), bytes = std::move(bytes)]() mutable {
      protocol::FrameHeader h = protocol::decode_header_unchecked(bytes.data());
      if (h.type == protocol::FrameType::kRequest || h.type == protocol::FrameType::kOneway) {
        self->grpc_->send_request(bytes);
      } else if (h.type == protocol::FrameType::kCancel) {
        self->grpc_->cancel(h.request_id);
      }
    });
    return true;
  }

  void on_data(net::Connection& conn, std::string_view data) override {
    if (grpc_) {
      grpc_->feed(data);
      return;
    }
    Session::on_data(conn, data);
  }

  // The streams of this connection (created at the first open or stream
  // frame); null once the session closed.
  std::shared_ptr<StreamHub> streams(const StreamDispatch& dispatch) {
    std::lock_guard lock(mu_);
    if (!streams_ && !closed_ && grpc_) {
      stream::StreamOptions so;
      so.max_message_bytes = std::min(so.max_message_bytes, max_body_);
      so.max_concurrent_streams = max_streams_;
      streams_ = std::make_shared<StreamHub>(stream::Role::kClient, so,
                                             static_cast<asio::io_context&>(timer_.get_executor().context()),
                                             connection() ? connection()->remote_text() : std::string(), grpc_,
                                             dispatch);
      std::weak_ptr<ChannelSession> weak = shared();
      streams_->set_on_settled([weak] {
        if (auto s = weak.lock()) s->close_if_drained();
      });
      // The codec is the IO thread's: bind there, before any open reaches it.
      asio::post(timer_.get_executor(), [g = grpc_, h = streams_] { g->bind(h->session()); });
    }
    if (!streams_ && !closed_) {
      std::weak_ptr<ChannelSession> weak = shared();
      stream::StreamOptions so;
      so.max_message_bytes = std::min(so.max_message_bytes, max_body_);
      so.max_concurrent_streams = max_streams_;
      streams_ = std::make_shared<StreamHub>(
          stream::Role::kClient, so, static_cast<asio::io_context&>(timer_.get_executor().context()),
          connection() ? connection()->remote_text() : std::string(),
          [weak](std::string bytes) {
            if (auto s = weak.lock()) s->send_frame(std::move(bytes));
          },
          [weak](const Status& why) {
            if (auto s = weak.lock()) {
              TERN_LOG(kWarn, "closing connection to {}: {}", s->connection() ? s->connection()->remote_text() : "?",
                       why.message());
              s->close(why);
            }
          },
          dispatch);
      streams_->set_on_settled([weak] {
        if (auto s = weak.lock()) s->close_if_drained();
      });
    }
    return streams_;
  }

 protected:
  void on_frame(protocol::Frame&& frame) override {
    using protocol::FrameType;
    if (frame.header.type == FrameType::kGoaway) {
      goaway_.store(true);
      close_if_drained();
      return;
    }
    if (frame.header.type == FrameType::kPush) {
      if (auto ch = channel_.lock()) {
        std::shared_ptr<std::function<void(const protocol::Frame&)>> h;
        {
          std::lock_guard lock(ch->mu_);
          h = ch->push_handler_;
        }
        if (h && *h) (*h)(frame);
      }
      return;
    }
    if (protocol::is_stream_frame(frame.header.type)) {
      std::shared_ptr<StreamHub> hub;
      {
        std::lock_guard lock(mu_);
        hub = streams_;
      }
      if (hub) {
        hub->feed(frame);
      } else {
        // A provider that sends stream frames on a connection with no stream.
        close(Status(StatusCode::kInternal, "stream protocol error: stream frame for a stream never opened"));
      }
      return;
    }
    if (frame.header.type != FrameType::kResponse) return;
    CallCompletion done;
    {
      std::lock_guard lock(mu_);
      auto it = pending_.find(frame.header.request_id);
      if (it == pending_.end()) {
        if (auto ch = channel_.lock()) ch->late_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      done = std::move(it->second.done);
      erase_pending(it);
    }
    close_if_drained();
    auto ch = channel_.lock();
    if (protocol::FrameDecoder::body_skipped(frame)) {
      // The decoder skips its body; the connection and its other calls go on.
      Status too_large(StatusCode::kResourceExhausted,
                       fmt::format("response of {} bytes exceeds the consumer's limit of {} bytes "
                                   "(ChannelOptions::limits.max_body); its body was skipped",
                                   frame.header.body_len, max_body_),
                       true);
      log_protocol_error(fmt::format("response {} from {}: {}", frame.header.request_id,
                                     connection() ? connection()->remote_text() : "?", too_large.message()));
      if (ch && ch->policy_.pooled(DispatchEvent::kResponse) && ch->pool_) {
        detail::UniqueFunction<void()> task = [done = std::move(done), too_large]() mutable {
          done(CallResult{too_large, {}});
        };
        if (!ch->pool_->try_submit(std::move(task))) task();
        return;
      }
      done(CallResult{std::move(too_large), {}});
      return;
    }
    if (ch && ch->policy_.pooled(DispatchEvent::kResponse) && ch->pool_) {
      detail::UniqueFunction<void()> task = [ch, done = std::move(done), frame = std::move(frame),
                                             max_body = max_body_]() mutable {
        ch->observe(DispatchEvent::kResponse);
        complete_response(std::move(done), std::move(frame), max_body);
      };
      if (!ch->pool_->try_submit(std::move(task))) task();  // pool full: complete here, never lose it
      return;
    }
    if (ch) ch->observe(DispatchEvent::kResponse);
    complete_response(std::move(done), std::move(frame), max_body_);
  }

  // `max_body` bounds a compressed response's decompressed size.
  static void complete_response(CallCompletion done, protocol::Frame&& frame, std::uint32_t max_body) {
    StatusCode code = frame.header.status();
    if (code == StatusCode::kOk) {
      if ((frame.header.status_or_flags & ~protocol::flags::kStatusMask) != 0) {  // compressed (rare)
        auto alg = protocol::response_compression(frame.header.status_or_flags);
        auto plain = protocol::decompress(alg, frame.body(), max_body);
        if (!plain) {
          // The provider ran the call but its answer is unreadable: this call
          // only. The frame stays in the result: filters count its bytes.
          Status unreadable(StatusCode::kInternal, "response: " + plain.status().message(), true);
          done(CallResult{std::move(unreadable), std::move(frame)});
          return;
        }
        // The header keeps the wire's lengths and bits (CallResult).
        frame.payload.resize(frame.header.meta_len);
        frame.payload.append(*plain);
      }
      done(CallResult{Status(), std::move(frame)});
    } else {
      // Rejected before running (overload, unknown method, shutting down):
      // the handler did not execute, so failover may retry elsewhere.
      // Unless the provider says the handler ran (a result too large to
      // send, a call dropped after its handler started: docs/protocol.md §7).
      bool executed = !(code == StatusCode::kResourceExhausted || code == StatusCode::kUnimplemented ||
                        code == StatusCode::kUnavailable) ||
                      protocol::find_meta(frame.meta(), protocol::meta_keys::kExecuted) == "1";
      std::string msg(frame.body());
      // The frame stays in the result: filters count its bytes.
      done(CallResult{Status(code, std::move(msg), executed), std::move(frame)});
    }
  }

  void on_session_connected() override {
    if (auto ch = channel_.lock()) {
      ch->down_until_.store(0, std::memory_order_release);
      ch->connects_.fetch_add(1, std::memory_order_relaxed);
      ch->run_event(DispatchEvent::kConnect, [ch] { ch->observe(DispatchEvent::kConnect); });
    }
  }

  // A ping's pong (built by Session) runs where the channel's dispatch
  // policy puts heartbeats.
  void run_heartbeat_event(detail::UniqueFunction<void()> answer) override {
    auto ch = channel_.lock();
    if (!ch) return;  // the consumer is going away: no answer
    ch->run_event(DispatchEvent::kHeartbeat, [ch, answer = std::move(answer)]() mutable {
      ch->observe(DispatchEvent::kHeartbeat);
      answer();
    });
  }

  void on_session_closed(const Status& reason, bool was_connected) override {
    // A failure (not a goaway, not our shutdown) makes the channel
    // unavailable for a while, before the failed calls complete: a caller
    // that picks again at once goes elsewhere.
    bool failure = !reason.is_ok() && reason.code() != StatusCode::kCancelled && !goaway_.load();
    if (failure) {
      if (auto ch = channel_.lock(); ch && ch->options_.reconnect_backoff.count() > 0) {
        auto until = ch->clock_->now() + ch->options_.reconnect_backoff;  // the channel's clock (available())
        ch->down_until_.store(std::max<std::int64_t>(1, until.time_since_epoch().count()), std::memory_order_release);
      }
    }
    std::unordered_map<std::uint64_t, Pending> failed;
    std::shared_ptr<StreamHub> hub;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      close_reason_ = reason;
      failed.swap(pending_);
      timeouts_.clear();
      hub = streams_;
    }
    if (hub) {
      hub->connection_lost(Status(StatusCode::kUnavailable,
                                  reason.message().empty() ? "connection closed" : "connection closed: " + reason.message(),
                                  was_connected));
    }
    std::error_code ec;
    timer_.cancel();
    Status st(reason.code() == StatusCode::kOk ? StatusCode::kUnavailable : reason.code(),
              reason.message().empty() ? "connection closed" : reason.message(), was_connected);
    if (st.code() != StatusCode::kCancelled) st = Status(StatusCode::kUnavailable, st.message(), was_connected);
    for (auto& [id, p] : failed) p.done(CallResult{st, {}});
    if (was_connected) {
      if (auto ch = channel_.lock()) ch->run_event(DispatchEvent::kDisconnect, [ch] { ch->observe(DispatchEvent::kDisconnect); });
    }
  }

 public:
  std::atomic<bool> goaway_{false};

 private:
  struct Pending {
    CallCompletion done;
    Clock::time_point deadline;
  };

  std::shared_ptr<ChannelSession> shared() { return std::static_pointer_cast<ChannelSession>(shared_from_this()); }

  // Erases a pending entry (its completion already moved out), keeping up to
  // kSparePending nodes for the next calls. Under mu_.
  void erase_pending(std::unordered_map<std::uint64_t, Pending>::iterator it) {
    auto node = pending_.extract(it);
    if (spare_pending_.size() >= kSparePending) return;
    node.mapped() = Pending{};
    spare_pending_.push_back(std::move(node));
  }

  static void patch(std::string& request, std::uint64_t id, std::uint32_t timeout_ms) {
    char* p = request.data();
    for (int i = 0; i < 8; ++i) p[8 + i] = static_cast<char>(id >> (56 - 8 * i));
    for (int i = 0; i < 4; ++i) p[20 + i] = static_cast<char>(timeout_ms >> (24 - 8 * i));
  }

  // IO thread: (re)arms the timer at armed_.
  void rearm() {
    Clock::time_point at;
    {
      std::lock_guard lock(mu_);
      if (closed_ || armed_ == Clock::time_point::max()) return;
      at = armed_;
    }
    // Relative to the session's clock, so a test clock's deadline maps onto the real wait.
    timer_.expires_after(std::max(at - session_clock().now(), Clock::duration::zero()));
    timer_.async_wait([weak = std::weak_ptr<ChannelSession>(shared())](std::error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->on_timer();
    });
  }

  // IO thread: fails expired calls, re-arms for the earliest live deadline.
  void on_timer() {
    std::vector<std::pair<std::uint64_t, CallCompletion>> expired;
    auto now = session_clock().now();
    Clock::time_point next;
    {
      std::lock_guard lock(mu_);
      next = sweep_deadlines(
          timeouts_, now,
          [&](std::uint64_t id, Clock::time_point deadline) {
            auto it = pending_.find(id);
            return it != pending_.end() && it->second.deadline == deadline;
          },
          [&](std::uint64_t id) {
            auto it = pending_.find(id);  // live: found
            expired.emplace_back(id, std::move(it->second.done));
            erase_pending(it);
          });
      armed_ = next == Clock::time_point::max() ? next : std::max(next, now) + kTimerSlack;
    }
    if (!expired.empty()) {
      if (auto ch = channel_.lock()) ch->timeouts_.fetch_add(expired.size(), std::memory_order_relaxed);
    }
    for (auto& [id, done] : expired) {
      send_frame(protocol::encode_control_frame(protocol::FrameType::kCancel, id));
      done(CallResult{Status(StatusCode::kDeadlineExceeded, "call timed out (no response within its deadline)", true),
                      {}});
    }
    if (!expired.empty()) close_if_drained();
    rearm();
  }

  std::weak_ptr<Channel> channel_;
  asio::steady_timer timer_;
  std::uint32_t max_body_;  // limits.max_body: bound of decompressed responses
  std::uint32_t max_streams_;  // ChannelOptions::max_concurrent_streams
  std::mutex mu_;
  std::unordered_map<std::uint64_t, Pending> pending_;                                 // guarded by mu_
  static constexpr std::size_t kSparePending = 64;
  std::vector<std::unordered_map<std::uint64_t, Pending>::node_type> spare_pending_;  // guarded by mu_
  std::map<std::uint32_t, DeadlineQueue> timeouts_;  // by timeout, FIFO
  Clock::time_point armed_ = Clock::time_point::max();
  std::uint64_t next_id_ = 1;
  bool closed_ = false;
  Status close_reason_;
  std::shared_ptr<protocol::http2::GrpcClientCodec> grpc_;  // set before attach(); the IO thread's
  std::shared_ptr<StreamHub> streams_;  // guarded by mu_ (the pointer; the hub is the IO thread's)
};

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
  if (s) s->close(Status(StatusCode::kCancelled, "consumer shut down"));
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
      s->start_call(std::move(w->request), left, std::move(w->done), w->control);
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
                   const std::shared_ptr<CallControl>& control) {
  if (!status_.is_ok()) {
    done(CallResult{status_, {}});
    return;
  }
  if (Status bad = rpc::check_request_frame(request); !bad.is_ok()) {
    done(CallResult{std::move(bad), {}});
    return;
  }
  if (timeout.count() <= 0) timeout = std::chrono::milliseconds(1);
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
    w->deadline = clock_->now() + timeout;
    w->done = std::move(done);
    w->control = control;
    wait_for_resolution(std::move(w));
    return;
  }
  s->start_call(std::move(request), timeout, std::move(done), control);
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
  if (s) s->close(std::move(reason));
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
  if (s) st.pending = s->pending();
  return st;
}

// ---------------------------------------------------------------------------
// ChannelPool

ChannelPool::ChannelPool(std::size_t io_threads, ChannelOptions options, const Clock* clock)
    : io_(std::make_unique<net::IoContextPool>(io_threads, "tern-cli-io")), options_(std::move(options)), clock_(clock) {
  auto policy = dispatch_policy(options_.dispatcher);
  bool needs_pool = false;
  if (policy) {
    for (bool b : policy->on_pool) needs_pool = needs_pool || b;
  }
  if (needs_pool) {
    std::size_t n = options_.callback_threads ? options_.callback_threads
                                              : std::max(1u, std::thread::hardware_concurrency());
    pool_ = std::make_unique<rpc::ThreadPool>(n, 1u << 20, "tern-cli-cb");
  }
  if (options_.tls.enabled) {
    auto ctx = net::TlsContext::create(options_.tls, net::TlsContext::Role::kClient);
    if (ctx) {
      tls_ = std::move(*ctx);
    } else {
      status_ = ctx.status();
    }
  }
  io_->start();
}

ChannelPool::~ChannelPool() { shutdown(); }

std::shared_ptr<Channel> ChannelPool::get(const HostPort& endpoint, std::string_view protocol) {
  std::lock_guard lock(mu_);
  const bool grpc = protocol == "grpc";
  auto key = grpc ? "grpc:" + endpoint.to_string() : endpoint.to_string();
  auto it = channels_.find(key);
  if (it != channels_.end()) return it->second;
  ChannelOptions options = options_;
  options.protocol = grpc ? "grpc" : "tern";
  auto ch = std::make_shared<Channel>(io_->next(), endpoint, std::move(options), pool_.get(), tls_, clock_);
  if (shut_down_) ch->shutdown(Status(StatusCode::kCancelled, "consumer shut down"));
  channels_.emplace(key, ch);
  return ch;
}

ChannelPool::Stats ChannelPool::stats() const {
  std::vector<std::shared_ptr<Channel>> channels;
  {
    std::lock_guard lock(mu_);
    for (auto& entry : channels_) channels.push_back(entry.second);
  }
  Stats st;
  st.channels = channels.size();
  for (auto& c : channels) {
    auto cs = c->stats();
    st.open_connections += c->connected() ? 1 : 0;
    st.pending += cs.pending;
    st.timeouts += cs.timeouts;
    st.late_responses += cs.late_responses;
  }
  return st;
}

void ChannelPool::shutdown() {
  std::unordered_map<std::string, std::shared_ptr<Channel>> chans;
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
    chans = channels_;
  }
  for (auto& [k, ch] : chans) ch->shutdown(Status(StatusCode::kCancelled, "consumer shut down"));
  // Let the loops run the close handlers (which complete pending calls), then stop.
  for (std::size_t i = 0; i < io_->size(); ++i) {
    std::promise<void> done;
    auto f = done.get_future();
    asio::post(io_->at(i), [&done] { done.set_value(); });
    f.wait_for(std::chrono::seconds(2));
  }
  // Second round: close handlers posted by the first round.
  for (std::size_t i = 0; i < io_->size(); ++i) {
    std::promise<void> done;
    auto f = done.get_future();
    asio::post(io_->at(i), [&done] { done.set_value(); });
    f.wait_for(std::chrono::seconds(2));
  }
  io_->stop();
  if (pool_) pool_->stop(true);
}

}  // namespace tern
