// ChannelSession: a consumer connection's pending calls, deadlines, cancel,
// goaway and streams. See channel_session.h.
#include "client/channel_session.h"

#include <asio/post.hpp>

#include <algorithm>

#include "protocol/http2/grpc_client_codec.h"
#include "rpc/protocol_log.h"
#include "rpc/thread_pool.h"
#include "tern/log.h"
#include "tern/net/connection.h"
#include "tern/protocol/compression.h"

namespace tern::rpc {

using Clock = std::chrono::steady_clock;

// Timeouts fire at most this late (coalescing timer wakeups under load).
constexpr auto kTimerSlack = std::chrono::milliseconds(2);

ChannelSession::ChannelSession(std::weak_ptr<Channel> channel, asio::io_context& loop, SessionOptions options)
    : Session(options), channel_(std::move(channel)), timer_(loop), max_body_(options.limits.max_body),
      max_streams_(std::max<std::uint32_t>(1, options.max_concurrent_streams)) {
  // A response over our max_body fails its call only (docs/protocol.md §9).
  decoder().set_skip_oversize_responses(true);
}

void ChannelSession::start_call(std::string request, std::chrono::milliseconds timeout, Clock::time_point deadline,
                                CallCompletion done, const std::shared_ptr<CallControl>& control) {
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
    DeadlineQueue& fifo = timeouts_[tmo];
    if (spare_pending_.empty()) {
      pending_.emplace(id, Pending{std::move(done), deadline, &fifo});
    } else {  // a finished call's node: no allocation (issue #17)
      auto node = std::move(spare_pending_.back());
      spare_pending_.pop_back();
      node.key() = id;
      node.mapped() = Pending{std::move(done), deadline, &fifo};
      pending_.insert(std::move(node));
    }
    fifo.emplace_back(deadline, id);
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
  if (rearm) {  // also for a call cancelled below: armed_ promised this timer
    asio::post(timer_.get_executor(), [self = shared()] { self->rearm(); });
  }
  // Cancelled before the hook was set (it ran at once) or since: the call
  // has completed CANCELLED, and the provider must not run it.
  if (control && control->cancelled()) return;
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
        finish_pending(it);
      }
    }
    if (unsent) unsent(CallResult{Status(StatusCode::kUnavailable, unsent_reason(), false), {}});
    close_if_drained();
  }
}

void ChannelSession::close_if_drained() {
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

void ChannelSession::close_with_predecessors(const Status& reason) {
  for (std::shared_ptr<ChannelSession> s = std::static_pointer_cast<ChannelSession>(shared_from_this()); s;
       s = s->predecessor_.lock()) {
    s->close(reason);
  }
}

std::string ChannelSession::unsent_reason() {
  Status why = connection() ? connection()->close_reason() : Status();
  if (why.is_ok() || why.message().empty()) return "connection closed before the request was sent";
  return why.message();
}

bool ChannelSession::cancel(std::uint64_t id) {
  CallCompletion done;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return false;
    done = std::move(it->second.done);
    finish_pending(it);
  }
  send_frame(protocol::encode_control_frame(protocol::FrameType::kCancel, id));
  done(CallResult{Status(StatusCode::kCancelled, "cancelled by the caller", true), {}});
  close_if_drained();
  return true;
}

std::size_t ChannelSession::pending() {
  std::lock_guard lock(mu_);
  return pending_.size();
}

std::size_t ChannelSession::deadline_entries() {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& [tmo, fifo] : timeouts_) n += fifo.size();
  return n;
}

void ChannelSession::use_grpc(std::string authority) {
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

void ChannelSession::start_grpc() {
  asio::post(timer_.get_executor(), [self = shared()] { self->grpc_->start(); });
}

bool ChannelSession::send_frame(std::string bytes) {
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

void ChannelSession::on_data(net::Connection& conn, std::string_view data) {
  if (grpc_) {
    grpc_->feed(data);
    return;
  }
  Session::on_data(conn, data);
}

std::shared_ptr<StreamHub> ChannelSession::streams(const StreamDispatch& dispatch) {
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

void ChannelSession::on_frame(protocol::Frame&& frame) {
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
    finish_pending(it);
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

void ChannelSession::complete_response(CallCompletion done, protocol::Frame&& frame, std::uint32_t max_body) {
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

void ChannelSession::on_session_connected() {
  if (auto ch = channel_.lock()) {
    ch->down_until_.store(0, std::memory_order_release);
    ch->connects_.fetch_add(1, std::memory_order_relaxed);
    ch->run_event(DispatchEvent::kConnect, [ch] { ch->observe(DispatchEvent::kConnect); });
  }
}

void ChannelSession::run_heartbeat_event(detail::UniqueFunction<void()> answer) {
  auto ch = channel_.lock();
  if (!ch) return;  // the consumer is going away: no answer
  ch->run_event(DispatchEvent::kHeartbeat, [ch, answer = std::move(answer)]() mutable {
    ch->observe(DispatchEvent::kHeartbeat);
    answer();
  });
}

void ChannelSession::on_session_closed(const Status& reason, bool was_connected) {
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
    // The consumer's shutdown ends its streams as it ends its calls: CANCELLED
    // "consumer shut down"; any other close is the connection's loss.
    hub->connection_lost(reason.code() == StatusCode::kCancelled
                             ? Status(StatusCode::kCancelled, reason.message(), was_connected)
                             : Status(StatusCode::kUnavailable,
                                      reason.message().empty() ? "connection closed"
                                                               : "connection closed: " + reason.message(),
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

void ChannelSession::erase_pending(std::unordered_map<std::uint64_t, Pending>::iterator it) {
  auto node = pending_.extract(it);
  if (spare_pending_.size() >= kSparePending) return;
  node.mapped() = Pending{};
  spare_pending_.push_back(std::move(node));
}

void ChannelSession::finish_pending(std::unordered_map<std::uint64_t, Pending>::iterator it) {
  const std::uint64_t id = it->first;
  DeadlineQueue* fifo = it->second.fifo;
  erase_pending(it);
  if (fifo == nullptr) return;
  auto live = [this](std::uint64_t other, Clock::time_point deadline) { return live_locked(other, deadline); };
  pop_finished_front(*fifo, id, live);
  // A call that gets no answer holds every later entry of its FIFO behind it
  // until it times out. Compact once finished entries outnumber the calls in
  // flight (plus a margin), so the FIFO stays bounded by the live calls. The
  // cost stays O(1) per finished call: a compaction scans about
  // 2 x pending + 64 entries, and leaves at most `pending`, so the next one
  // comes after at least pending + 64 more calls.
  if (fifo->size() > 2 * pending_.size() + kCompactMargin) fifo->retain(live);
}

void ChannelSession::patch(std::string& request, std::uint64_t id, std::uint32_t timeout_ms) {
  char* p = request.data();
  for (int i = 0; i < 8; ++i) p[8 + i] = static_cast<char>(id >> (56 - 8 * i));
  for (int i = 0; i < 4; ++i) p[20 + i] = static_cast<char>(timeout_ms >> (24 - 8 * i));
}

void ChannelSession::rearm() {
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

void ChannelSession::on_timer() {
  std::vector<std::pair<std::uint64_t, CallCompletion>> expired;
  auto now = session_clock().now();
  Clock::time_point next;
  {
    std::lock_guard lock(mu_);
    next = sweep_deadlines(
        timeouts_, now,
        [&](std::uint64_t id, Clock::time_point deadline) { return live_locked(id, deadline); },
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

}  // namespace tern::rpc
