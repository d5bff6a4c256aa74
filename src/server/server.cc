// The provider: acceptor, service table, dispatch to the business pool or the
// IO thread, responses, graceful shutdown. See tern/server.h.
#include "tern/server.h"

#include "tern/contract.h"
#include "server/suggest.h"

#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>

#include <fcntl.h>

#include <condition_variable>
#include <future>
#include <utility>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "net/listen_address.h"
#include "server/grpc_builtin_protos.h"
#include "server/grpc_reflection.h"
#include "server/reflection_service.h"
#include "server/server_impl.h"
#include "server/stream_context.h"
#include "server/server_session.h"
#include "rpc/protocol_log.h"
#include "rpc/thread_pool.h"
#include "tern/log.h"
#include "tern/net/connection.h"
#include "net/transport.h"
#include "tern/net/io_context_pool.h"
#include "tern/trace/trace_filter.h"
#include "tern/net/tls_context.h"

namespace tern {

namespace detail {
struct ServerCallAccess {
  static void set_service(ServerCall& c, std::size_t off, std::size_t len) { c.service_ = {off, len}; }
  // The call holds one slot of its method's limiter until it answers.
  static void hold_limit(ServerCall& c, std::shared_ptr<server_impl::MethodLimiter> limiter,
                         std::chrono::steady_clock::time_point now) {
    c.limiter_ = std::move(limiter);
    c.arrived_ = now;
  }
  static void set_method(ServerCall& c, std::size_t off, std::size_t len) { c.method_ = {off, len}; }
  static void accept_compression(ServerCall& c, protocol::Compression alg, std::size_t threshold) {
    c.response_compression_ = alg;
    c.compression_threshold_ = threshold;
  }
  // Decompresses a compressed request body in place (docs/protocol.md §5);
  // INVALID_ARGUMENT for a corrupt body or one over `max_body` decompressed.
  static Status decompress_body(ServerCall& c, std::uint32_t max_body, std::size_t threshold) {
    if ((c.frame_.header.status_or_flags & protocol::flags::kKnownMask) == 0) return Status();  // the common case
    bool both = false;
    protocol::Compression alg = protocol::request_compression(c.frame_.header.status_or_flags, &both);
    if (alg == protocol::Compression::kNone) return Status();
    if (both) return Status(StatusCode::kInvalidArgument, "request flags name both zstd and lz4 compression");
    auto plain = protocol::decompress(alg, c.frame_.body(), max_body);
    if (!plain) return plain.status();
    // The header keeps describing the frame as it was on the wire (body_len,
    // flags: request_bytes() counts wire bytes); body() is the plain body.
    protocol::Frame& f = c.frame_;
    f.payload.resize(f.header.meta_len);
    f.payload.append(*plain);
    // A consumer that compresses can read responses compressed the same way.
    if (c.response_compression_ == protocol::Compression::kNone) accept_compression(c, alg, threshold);
    return Status();
  }
  // The call holds one of its session's in-flight slots (and its request id)
  // until it responds or dies.
  static void hold_slot(ServerCall& c) { c.holds_slot_ = true; }
  // Nobody can read this call's answer: its connection closed.
  static bool caller_gone(const ServerCall& c) { return !c.session_ || !c.session_->is_open(); }
  // Drops a call without an answer (its connection is gone).
  static void drop(ServerCall& c) {
    c.responded_ = true;
    c.release_slot();
  }
  // Runs the provider filters' on_request; their on_response runs when the call responds.
  static Status run_filters(ServerCall& c, const std::vector<std::shared_ptr<ServerFilter>>& filters) {
    c.started_ = std::chrono::steady_clock::now();
    if (filters.empty()) return Status();
    c.filters_ = &filters;
    for (auto& f : filters) {
      ++c.filters_ran_;
      Status s = f->on_request(c.context());
      if (!s.is_ok()) return s;
    }
    return Status();
  }
};
}  // namespace detail

using server_impl::MethodEntry;
using server_impl::ServiceEntry;

namespace {
thread_local ServerContext* t_current_context = nullptr;

}  // namespace

// ---------------------------------------------------------------------------
// ServerContext

ServerContext* ServerContext::current() noexcept { return t_current_context; }
ServerContext* ServerContext::exchange_current(ServerContext* ctx) noexcept {
  return std::exchange(t_current_context, ctx);
}
std::string_view ServerContext::raw_meta() const noexcept { return stream_ ? stream_->meta : call_->meta(); }
void ServerContext::set_response_attachment(std::string key, std::string value) {
  if (stream_) {
    stream_->response_attachments.emplace_back(std::move(key), std::move(value));
    return;
  }
  if (!call_->response_attachments_) {
    call_->response_attachments_ = std::make_unique<std::vector<std::pair<std::string, std::string>>>();
  }
  call_->response_attachments_->emplace_back(std::move(key), std::move(value));
}
ServerContext::Scope::Scope(ServerContext* ctx) noexcept : prev_(t_current_context) { t_current_context = ctx; }
ServerContext::Scope::~Scope() { t_current_context = prev_; }

std::string_view ServerContext::service() const noexcept {
  return stream_ ? std::string_view(stream_->call->service()) : call_->service();
}
std::string_view ServerContext::method() const noexcept {
  return stream_ ? std::string_view(stream_->call->method()) : call_->method();
}
const std::string& ServerContext::peer() const noexcept { return stream_ ? stream_->call->peer() : call_->peer(); }
ServerContext::Clock::time_point ServerContext::deadline() const noexcept {
  return stream_ ? stream_->call->deadline() : call_->deadline();
}
bool ServerContext::oneway() const noexcept { return !stream_ && call_->oneway(); }
std::uint64_t ServerContext::request_bytes() const noexcept {
  if (stream_) return stream_->call->bytes_received();
  // The header's lengths are the wire's, also for a decompressed body.
  const auto& h = call_->frame_.header;
  return protocol::kHeaderSize + h.meta_len + h.body_len;
}
std::uint64_t ServerContext::response_bytes() const noexcept {
  return stream_ ? stream_->call->bytes_sent() : call_->response_bytes_;
}
std::uint64_t ServerContext::messages_received() const noexcept {
  return stream_ ? stream_->call->messages_received() : 0;
}
std::uint64_t ServerContext::messages_sent() const noexcept { return stream_ ? stream_->call->messages_sent() : 0; }
bool ServerContext::cancelled() const noexcept {
  if (stream_) return stream_->call->ended();
  const auto& session = call_->session_;
  return session && (!session->is_open() || session->is_cancelled(call_->request_id()));
}
ServerContext::CancelRegistration ServerContext::on_cancel(std::function<void()> fn) {
  CancelRegistration reg;
  if (stream_) {
    if (stream_->call->ended()) fn();
    return reg;
  }
  auto session = call_->session_;
  if (!session) {
    fn();
    return reg;
  }
  std::uint64_t id = call_->request_id();
  std::uint64_t token = session->watch_cancel(id, std::move(fn));
  if (token != 0) {
    reg.undo_ = [weak = std::weak_ptr<rpc::ServerSession>(session), id, token] {
      if (auto s = weak.lock()) s->unwatch_cancel(id, token);
    };
  }
  return reg;
}
std::chrono::milliseconds ServerContext::remaining() const noexcept {
  auto d = deadline();
  if (d == Clock::time_point::max()) return std::chrono::hours(24);
  auto now = Clock::now();
  if (d <= now) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(d - now);
}
std::string_view ServerContext::attachment(std::string_view key) const noexcept {
  if (key == protocol::meta_keys::kService || key == protocol::meta_keys::kMethod ||
      key == protocol::meta_keys::kVersion || key == protocol::meta_keys::kGroup ||
      key == protocol::meta_keys::kAcceptCompression)
    return {};
  auto v = protocol::find_meta(raw_meta(), key);
  if (v.data() != nullptr) return v;
  std::string prefixed = "^" + std::string(key);
  return protocol::find_meta(raw_meta(), prefixed);
}

// ---------------------------------------------------------------------------
// Server::Impl


void Server::Impl::do_accept() {
  auto& loop = io->next();
  acceptor->async_accept(loop, [self = shared_from_this()](std::error_code ec, asio::ip::tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !self->acceptor->is_open()) return;
      TERN_LOG(kWarn, "accept failed: {}", ec.message());
      self->do_accept();
      return;
    }
    if (self->shutting_down.load()) return;
    if (std::size_t max = self->options.max_connections; max > 0) {
      std::size_t open = 0;
      {
        std::lock_guard lock(self->mu);
        open = self->sessions.size();
      }
      if (open >= max) {
        auto n = self->rejected_connections.fetch_add(1, std::memory_order_relaxed);
        if (n % 1000 == 0) {
          std::error_code ignored;
          auto peer = socket.remote_endpoint(ignored);
          TERN_LOG(kWarn, "connection from {}:{} refused: {} connections open (max_connections); {} refused so far",
                   peer.address().to_string(), peer.port(), open, n + 1);
        }
        std::error_code ignored;
        socket.close(ignored);
        self->do_accept();
        return;
      }
    }
    self->open_session(net::make_tcp_transport(std::move(socket)));
    self->do_accept();
  });
}

// A provider connection over `transport` (accepted TCP, or a test's memory pipe).
void Server::Impl::open_session(std::unique_ptr<net::Transport> transport) {
  rpc::SessionOptions so{options.limits, options.heartbeat_interval};
  auto session = std::make_shared<rpc::ServerSession>(shared_from_this(), so, next_connection_id.fetch_add(1));
  net::Connection::Options co;
  co.max_write_queue = options.max_write_queue_bytes;
  if (tls) {
    co.tls = tls;
    co.connect_timeout = options.tls.handshake_timeout;
  }
  auto conn = net::Connection::adopt(std::move(transport), co);
  session->set_peer(conn->remote_text());
  {
    std::lock_guard lock(mu);
    sessions.insert(session);
  }
  // The connect event first: attach() starts the connection on its own IO
  // loop (io->next(), often not this acceptor's loop), which may read the
  // consumer's close and dispatch the disconnect event before this handler
  // continues. Dispatched before attach(), the connect event is queued (or
  // run) before anything can close the connection, so `connection`'s
  // ordered queue sees connect before disconnect.
  session_opened(session);
  session->attach(std::move(conn));
}

namespace {
// An error response for request `req`, built without a ServerCall (which
// would touch the state of the call that owns the id).
std::string error_response(const protocol::FrameHeader& req, const Status& error) {
  protocol::FrameBuilder b(protocol::FrameType::kResponse, req.request_id, error.message().size());
  b.header().serialization = req.serialization;
  b.header().status_or_flags = static_cast<std::uint8_t>(error.code());
  b.begin_body();
  b.append_body(error.message());
  return b.finish();
}
}  // namespace

void Server::Impl::handle_request(const std::shared_ptr<rpc::ServerSession>& session, protocol::Frame&& frame) {
  requests.fetch_add(1, std::memory_order_relaxed);
  bool answered = frame.header.type == protocol::FrameType::kRequest;
  if (answered && !session->claim_id(frame.header.request_id)) {
    // docs/protocol.md §8: the duplicate is refused, unrun; the call that
    // owns the id keeps running and keeps its own answer (and its cancel).
    duplicate_ids.fetch_add(1, std::memory_order_relaxed);
    session->send_frame(error_response(
        frame.header, Status(StatusCode::kInvalidArgument,
                             fmt::format("request id {} is already in flight on this connection",
                                         frame.header.request_id))));
    return;
  }
  ServerCall call(session, std::move(frame));
  if (!session->try_begin_call(options.max_in_flight_per_connection)) {
    if (answered) session->release_id(call.request_id());
    rejected_in_flight.fetch_add(1, std::memory_order_relaxed);
    call.respond(Status(StatusCode::kResourceExhausted,
                        fmt::format("{} calls in flight on this connection (max_in_flight_per_connection)",
                                    options.max_in_flight_per_connection)));
    return;
  }
  detail::ServerCallAccess::hold_slot(call);
  if (shutting_down.load(std::memory_order_acquire)) {
    call.respond(Status(StatusCode::kUnavailable, "provider is shutting down"));
    return;
  }
  // Name the call.
  std::string_view meta = call.meta();
  std::string_view version, group;
  bool have_service = false, have_method = false;
  Status ms = protocol::for_each_meta(meta, [&](std::string_view k, std::string_view v) {
    auto offset = static_cast<std::size_t>(v.data() - meta.data());
    if (k == protocol::meta_keys::kService) {
      detail::ServerCallAccess::set_service(call, offset, v.size());
      have_service = true;
    } else if (k == protocol::meta_keys::kMethod) {
      detail::ServerCallAccess::set_method(call, offset, v.size());
      have_method = true;
    } else if (k == protocol::meta_keys::kVersion) {
      version = v;
    } else if (k == protocol::meta_keys::kGroup) {
      group = v;
    } else if (k == protocol::meta_keys::kAcceptCompression) {
      if (auto alg = protocol::parse_compression(v); alg.has_value()) {
        detail::ServerCallAccess::accept_compression(call, *alg, options.compression_threshold);
      }
    }
  });
  if (!ms.is_ok()) {
    call.respond(ms);
    return;
  }
  if (!have_service || !have_method) {
    call.respond(Status(StatusCode::kInvalidArgument, "request names no service or method"));
    return;
  }
  auto sit = services.find(std::string(call.service()));
  if (sit == services.end()) {
    std::vector<std::string_view> names;
    for (const auto& entry : services) names.push_back(entry.first);
    call.respond(Status(StatusCode::kUnimplemented, fmt::format("unknown service '{}'{}", call.service(),
                                                                server_impl::did_you_mean(call.service(), names))));
    return;
  }
  const ServiceEntry& svc = sit->second;
  if ((!svc.options.version.empty() && !version.empty() && version != svc.options.version) ||
      (!svc.options.group.empty() && !group.empty() && group != svc.options.group)) {
    call.respond(Status(StatusCode::kUnimplemented,
                        fmt::format("service '{}' version '{}' group '{}' is not exposed here", call.service(),
                                    version, group)));
    return;
  }
  auto mit = svc.methods.find(std::string(call.method()));
  if (mit == svc.methods.end()) {
    std::vector<std::string_view> names;
    for (const auto& entry : svc.methods) names.push_back(entry.first);
    call.respond(Status(StatusCode::kUnimplemented, fmt::format("unknown method '{}.{}'{}", call.service(),
                                                                call.method(),
                                                                server_impl::did_you_mean(call.method(), names))));
    return;
  }
  const server_impl::MethodEntry* method = &mit->second;
  if (auto limiter = mit->second.limiter.load()) {
    // tern/overload.h: refused here, on the IO thread, before any queueing.
    auto now = std::chrono::steady_clock::now();
    if (Status limited = limiter->try_acquire(now); !limited.is_ok()) {
      rejected_limit.fetch_add(1, std::memory_order_relaxed);
      call.respond(limited);
      return;
    }
    detail::ServerCallAccess::hold_limit(call, std::move(limiter), now);
  }
  in_flight.fetch_add(1, std::memory_order_relaxed);
  if (!svc.pooled || (method->placement && method->placement->runs_inline())) {
    run(call, *method);
    return;
  }
  detail::UniqueFunction<void()> task = [self = shared_from_this(), call = std::move(call), method]() mutable {
    self->run(call, *method);
  };
  if (!pool->try_submit(std::move(task))) {
    // Refused: destroying the task destroys the unanswered call inside it,
    // which answers RESOURCE_EXHAUSTED with its request id (~ServerCall).
    in_flight.fetch_sub(1, std::memory_order_relaxed);
    rejected.fetch_add(1, std::memory_order_relaxed);
    task.reset();
  }
}

void Server::Impl::run(ServerCall& call, const server_impl::MethodEntry& method) {
  const MethodHandler& handler = method.handler;
  if (!call.oneway() && detail::ServerCallAccess::caller_gone(call)) {
    // Its connection closed while it waited: nobody reads the answer, so
    // the worker goes to a call someone still waits for. A oneway request
    // still runs: its consumer never waits for an answer, it asked for the
    // work, and closing right after sending is normal for it.
    shed.fetch_add(1, std::memory_order_relaxed);
    detail::ServerCallAccess::drop(call);
  } else if (call.deadline() != std::chrono::steady_clock::time_point::max() &&
      std::chrono::steady_clock::now() >= call.deadline()) {
    shed.fetch_add(1, std::memory_order_relaxed);
    call.respond(Status(StatusCode::kDeadlineExceeded, "deadline passed before the handler ran"));
  } else if (Status ds = detail::ServerCallAccess::decompress_body(call, options.limits.max_body,
                                                                    options.compression_threshold);
             !ds.is_ok()) {
    call.respond(ds);  // this call only: the connection keeps serving
  } else {
    ServerContext::Scope scope(&call.context());
    Status filtered = detail::ServerCallAccess::run_filters(call, options.filters);
    observe(DispatchEvent::kRequest);
    bool on_io = net::IoContextPool::in_io_thread();
    auto t0 = std::chrono::steady_clock::now();
    if (method.placement) placement_begin(t0);
    if (!filtered.is_ok()) {
      call.respond(filtered);
    } else try {
      handler(call);
    } catch (const RpcError& e) {
      call.respond(e.status());
    } catch (const std::exception& e) {
      handler_errors.fetch_add(1, std::memory_order_relaxed);
      call.respond(Status(StatusCode::kInternal, e.what(), true));
    } catch (...) {
      handler_errors.fetch_add(1, std::memory_order_relaxed);
      call.respond(Status(StatusCode::kInternal, "handler threw a non-standard exception", true));
    }
    if (!call.responded() && !call.oneway()) {
      call.respond(Status(StatusCode::kInternal, "handler returned without a response", true));
    }
    auto took = std::chrono::steady_clock::now() - t0;
    if (method.placement) note_placement(call, *method.placement, on_io, took);
    if (on_io && took > options.io_block_threshold) {
      // The classic way IO loops die silently: user code blocking an IO thread.
      blocked_io.fetch_add(1, std::memory_order_relaxed);
      std::string key = std::string(call.service()) + "." + std::string(call.method());
      std::lock_guard lock(blocked_mu);
      if (blocked_logged.insert(key).second) {
        TERN_LOG(kWarn, "handler {} blocked an IO thread for {} ms (threshold {} ms); use the `all` dispatcher "
                 "or make it asynchronous", key,
                 std::chrono::duration_cast<std::chrono::milliseconds>(took).count(),
                 options.io_block_threshold.count());
      }
    }
  }
  end_in_flight();
}

// ---------------------------------------------------------------------------
// ServerSession

namespace rpc {

void ServerSession::on_frame(protocol::Frame&& frame) {
  switch (frame.header.type) {
    case protocol::FrameType::kRequest:
    case protocol::FrameType::kOneway:
      server_->handle_request(std::static_pointer_cast<ServerSession>(shared_from_this()), std::move(frame));
      break;
    case protocol::FrameType::kCancel:
      mark_cancelled(frame.header.request_id);
      break;
    default:
      if (protocol::is_stream_frame(frame.header.type)) on_stream_frame(frame);
      break;  // goaway/responses from a consumer: nothing to do
  }
}

void ServerSession::run_heartbeat_event(detail::UniqueFunction<void()> answer) { server_->heartbeat(std::move(answer)); }

void ServerSession::on_session_closed(const Status& reason, bool) {
  if (reason.code() == StatusCode::kResourceExhausted && reason.message().rfind("protocol error", 0) != 0) {
    // The write queue overflowed (net::Connection): ServerOptions::max_write_queue_bytes.
    log_protocol_error(fmt::format("closed connection from {}: RESOURCE_EXHAUSTED {}", peer_, reason.message()));
  }
  if (streams_) {
    streams_->connection_lost(Status(StatusCode::kUnavailable,
                                     "connection closed" + (reason.message().empty() ? "" : ": " + reason.message()),
                                     true));
  }
  fire_cancel_watches();  // ServerContext::on_cancel: the caller is gone
  server_->session_closed(std::static_pointer_cast<ServerSession>(shared_from_this()));
}

}  // namespace rpc

// ---------------------------------------------------------------------------
// ServerCall

ServerCall::ServerCall(std::shared_ptr<rpc::ServerSession> session, protocol::Frame frame)
    : session_(std::move(session)), frame_(std::move(frame)) {
  deadline_ = frame_.header.timeout_ms == 0
                  ? std::chrono::steady_clock::time_point::max()
                  : std::chrono::steady_clock::now() + std::chrono::milliseconds(frame_.header.timeout_ms);
}

ServerCall::ServerCall(ServerCall&& o) noexcept
    : session_(std::move(o.session_)),
      frame_(std::move(o.frame_)),
      service_(o.service_),
      method_(o.method_),
      deadline_(o.deadline_),
      context_(this),
      responded_(o.responded_),
      response_bytes_(o.response_bytes_),
      holds_slot_(o.holds_slot_),
      filters_(o.filters_),
      filters_ran_(o.filters_ran_),
      started_(o.started_),
      response_attachments_(std::move(o.response_attachments_)),
      limiter_(std::move(o.limiter_)),
      arrived_(o.arrived_),
      response_compression_(o.response_compression_),
      compression_threshold_(o.compression_threshold_) {
  context_.set_trace_context(o.context_.trace_context(), o.context_.trace_parent());
  o.responded_ = true;  // the moved-from call must not answer
  o.holds_slot_ = false;
  o.filters_ = nullptr;
}

void ServerCall::release_slot() noexcept {
  if (holds_slot_ && session_) {
    session_->end_call();
    if (frame_.header.type == protocol::FrameType::kRequest) session_->release_id(request_id());
  }
  holds_slot_ = false;
}

void ServerCall::release_limit(const Status& status) noexcept {
  // Answers of calls that ran are latency samples; refusals and sheds are not.
  auto c = status.code();
  release_limit(c != StatusCode::kResourceExhausted && c != StatusCode::kDeadlineExceeded &&
                c != StatusCode::kCancelled);
}

void ServerCall::release_limit(bool sample) noexcept {
  if (!limiter_) return;
  auto now = std::chrono::steady_clock::now();
  const bool ran = started_ != std::chrono::steady_clock::time_point{};
  limiter_->release(now - arrived_, ran ? now - started_ : now - arrived_, sample && ran, now);
  limiter_.reset();
}

void ServerCall::after_response(const Status& status) {
  release_slot();
  release_limit(status);
  if (session_) session_->forget_cancelled(request_id());
  if (filters_ == nullptr) return;
  auto latency = std::chrono::steady_clock::now() - started_;
  for (std::size_t i = filters_ran_; i-- > 0;) (*filters_)[i]->on_response(context_, status, latency);
  filters_ = nullptr;
}

ServerCall::~ServerCall() {
  if (!responded_ && !oneway() && session_) {
    if (started_ != std::chrono::steady_clock::time_point{}) {
      // Its handler started (a coroutine handler destroyed, a pool stopped
      // with the call in it): it may have run, so failover must not rerun it.
      respond(Status(StatusCode::kInternal, "call dropped without an answer after its handler started", true));
    } else {
      respond(Status(StatusCode::kResourceExhausted, "provider overloaded: business pool queue is full"));
    }
  }
  release_slot();  // oneway calls, and calls dropped with their connection
  release_limit(oneway() && started_ != std::chrono::steady_clock::time_point{});
}

const std::string& ServerCall::peer() const noexcept { return session_->peer(); }
std::shared_ptr<ServerConnection> ServerCall::connection() const noexcept { return session_; }
std::shared_ptr<ServerConnection> ServerContext::connection() const noexcept {
  return stream_ ? stream_->connection : call_->connection();
}

protocol::FrameBuilder ServerCall::start_response() {
  protocol::FrameBuilder b(protocol::FrameType::kResponse, frame_.header.request_id);
  b.header().serialization = frame_.header.serialization;
  if (response_attachments_) {
    for (auto& [k, v] : *response_attachments_) b.add_meta(k, v);
  }
  b.begin_body();
  return b;
}

namespace {
// docs/protocol.md §9 "Responses too large": a result over the provider's
// max_body, or one that alone would push the connection's write queue past
// max_write_queue_bytes, is not sent; the call gets a small
// RESOURCE_EXHAUSTED (may have executed) naming the limit instead.
Status check_response_size(rpc::ServerSession* session, const std::string& frame) {
  if (session == nullptr || frame.size() < protocol::kHeaderSize) return Status();
  auto& im = *session->server();
  std::size_t meta = (static_cast<std::size_t>(static_cast<unsigned char>(frame[6])) << 8) |
                     static_cast<unsigned char>(frame[7]);
  std::size_t body = frame.size() - protocol::kHeaderSize - meta;
  if (body > im.options.limits.max_body) {
    im.oversize_responses.fetch_add(1, std::memory_order_relaxed);
    return Status(StatusCode::kResourceExhausted,
                  fmt::format("response of {} bytes exceeds the provider's limit of {} bytes (max_body); "
                              "the result was dropped",
                              body, im.options.limits.max_body),
                  true);
  }
  const auto& conn = session->connection();
  std::size_t max_queue = im.options.max_write_queue_bytes;
  if (conn && conn->queued_bytes() + frame.size() > max_queue) {
    // Queued, it would close the connection and fail every call on it with
    // no reason: drop it and tell its caller instead. (A consumer that stops
    // reading altogether still fills the queue with such answers, and then
    // the connection closes: net::Connection, logged in on_session_closed.)
    im.oversize_responses.fetch_add(1, std::memory_order_relaxed);
    Status why(StatusCode::kResourceExhausted,
               fmt::format("response of {} bytes would exceed the provider's write queue limit of {} bytes "
                           "to this consumer ({} bytes queued unread; max_write_queue_bytes); the result was dropped",
                           frame.size(), max_queue, conn->queued_bytes()),
               true);
    rpc::log_protocol_error(fmt::format("dropping a response to {}: RESOURCE_EXHAUSTED {}", session->peer(),
                                        why.message()));
    return why;
  }
  return Status();
}
}  // namespace

void ServerCall::respond(protocol::FrameBuilder&& builder) {
  if (responded_ || oneway()) {
    if (!responded_) after_response(Status());
    responded_ = true;
    return;
  }
  responded_ = true;
  std::string frame = builder.finish();
  if (response_compression_ != protocol::Compression::kNone) {
    protocol::compress_frame(frame, response_compression_, compression_threshold_);
  }
  if (Status too_large = check_response_size(session_.get(), frame); !too_large.is_ok()) {
    responded_ = false;
    respond(too_large);  // the result is dropped; a small error takes its place
    return;
  }
  response_bytes_ = frame.size();  // on the wire: compressed, when it is
  release_slot();  // before the response leaves: the consumer may send its next call at once
  release_limit(Status());
  session_->send_response(std::move(frame));
  after_response(Status());
}

void ServerCall::respond(const Status& error) {
  if (responded_ || oneway()) {
    if (!responded_) after_response(error);
    responded_ = true;
    return;
  }
  responded_ = true;
  protocol::FrameBuilder b(protocol::FrameType::kResponse, frame_.header.request_id, error.message().size());
  b.header().serialization = frame_.header.serialization;
  b.header().status_or_flags = static_cast<std::uint8_t>(error.is_ok() ? StatusCode::kInternal : error.code());
  if (response_attachments_) {
    for (auto& [k, v] : *response_attachments_) b.add_meta(k, v);
  }
  if (error.may_have_executed() && (error.code() == StatusCode::kResourceExhausted ||
                                    error.code() == StatusCode::kUnimplemented ||
                                    error.code() == StatusCode::kUnavailable)) {
    b.add_meta(protocol::meta_keys::kExecuted, "1");  // docs/protocol.md §7
  }
  b.begin_body();
  b.append_body(error.message());
  std::string bytes = b.finish();
  response_bytes_ = bytes.size();
  release_slot();
  release_limit(error);
  session_->send_response(std::move(bytes));
  after_response(error);
}

// ---------------------------------------------------------------------------
// Server

Server::Server(ServerOptions options) : impl_(std::make_shared<Impl>()) {
  impl_->options = std::move(options);
  if (impl_->options.tracing) trace::install_tracing(impl_->options.filters, impl_->options.tracer);
}

Server::~Server() { shutdown(std::chrono::milliseconds(0)); }

Status Server::add_method(const std::string& service, const std::string& method, MethodHandler handler,
                          const ServiceOptions& options) {
  std::lock_guard lock(impl_->mu);
  if (impl_->started) return Status(StatusCode::kFailedPrecondition, "add_method after start()");
  auto& svc = impl_->services[service];
  svc.options = options;
  svc.options.name = service;
  if (svc.methods.count(method)) {
    return Status(StatusCode::kAlreadyExists, fmt::format("method '{}.{}' is exposed already", service, method));
  }
  svc.methods[method] = MethodEntry{std::move(handler), {}, nullptr};
  svc.method_names.push_back(method);
  return Status();
}

Status Server::set_description(const std::string& service, nlohmann::json description) {
  std::lock_guard lock(impl_->mu);
  if (impl_->started) return Status(StatusCode::kFailedPrecondition, "set_description after start()");
  auto it = impl_->services.find(service);
  if (it == impl_->services.end()) {
    return Status(StatusCode::kNotFound, fmt::format("service '{}' has no method to describe", service));
  }
  it->second.description = std::move(description);
  return Status();
}

void Server::on_connect(std::function<void(std::uint64_t)> listener) {
  impl_->connect_listener = std::move(listener);
}

void Server::on_disconnect(std::function<void(std::uint64_t)> listener) {
  impl_->disconnect_listener = std::move(listener);
}

Status Server::start() {
  auto& im = *impl_;
  {
    std::lock_guard lock(im.mu);
    if (im.started) return Status(StatusCode::kFailedPrecondition, "server already started");
  }
  auto listen = net::parse_listen_address(im.options.listen, net::HostNames::kReject);
  if (!listen) return listen.status();

  auto policy = dispatch_policy(im.options.dispatcher);
  if (!policy) return policy.status();
  if (im.options.reflection && !im.services.count(std::string(kReflectionService))) {
    // Rendered once, from the services exposed by now (immutable from here on).
    std::vector<rpc::ReflectedService> reflected;
    for (auto& [name, svc] : im.services) {
      reflected.push_back(rpc::ReflectedService{name, svc.options.version, svc.options.group, svc.method_names,
                                                svc.description.is_null() ? nullptr : &svc.description,
                                                &svc.stream_descriptions});
    }
    for (auto& [method, handler] : rpc::make_reflection_handlers(std::move(reflected))) {
      if (Status s = add_method(std::string(kReflectionService), method, std::move(handler)); !s.is_ok()) return s;
    }
  }
  // The gRPC built-ins (docs/grpc.md): served on both wires, never registered.
  std::shared_ptr<rpc::GrpcReflection> grpc_reflection;
  if (im.options.grpc_health && !im.services.count(std::string(rpc::kGrpcHealthService))) {
    auto health = rpc::GrpcHealth::create();
    if (Status s = health->install(*this); !s.is_ok()) return s;
    im.health = std::move(health);
  }
  if (im.options.grpc_reflection && !im.services.count(std::string(rpc::kGrpcReflectionService))) {
    grpc_reflection = rpc::GrpcReflection::create();
    if (Status s = grpc_reflection->install(*this); !s.is_ok()) return s;
  }
  {
    std::vector<std::string> names;
    for (auto& [name, svc] : im.services) names.push_back(name);
    if (im.health) im.health->set_services(names);
    if (grpc_reflection) grpc_reflection->set_services(names);
  }
  im.policy = *policy;
  if (im.options.tls.enabled) {
    auto tls = net::TlsContext::create(im.options.tls, net::TlsContext::Role::kServer);
    if (!tls) return tls.status();
    im.tls = std::move(*tls);
  }
  bool need_pool = false;
  for (auto& s : im.policy.on_pool) need_pool = need_pool || s;
  for (auto& [name, svc] : im.services) {
    if (Status s = server_impl::build_limiters(name, svc, svc.options.limit, svc.options.method_limits); !s.is_ok()) return s;
    svc.pooled = im.policy.pooled(DispatchEvent::kRequest);
    bool adaptive = im.policy.adaptive_requests;
    if (!svc.options.dispatcher.empty()) {
      auto sp = dispatch_policy(svc.options.dispatcher);
      if (!sp) return sp.status();
      svc.pooled = sp->pooled(DispatchEvent::kRequest);
      adaptive = sp->adaptive_requests;
    }
    for (auto& [method, entry] : svc.methods) {
      entry.placement = adaptive ? std::make_unique<server_impl::AdaptivePlacement>(im.options.adaptive) : nullptr;
    }
    need_pool = need_pool || svc.pooled;
  }
  for (auto& [key, entry] : im.stream_methods) need_pool = need_pool || entry.blocking;
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::size_t workers = im.options.worker_threads ? im.options.worker_threads : std::max<std::size_t>(4, 2 * cores);
  if (need_pool) {
    rpc::ThreadPoolOptions po;
    po.kind = im.options.pool;
    po.max_threads = workers;
    po.max_queue = im.options.worker_queue;
    po.keep_alive = im.options.pool_keep_alive;
    auto pool = rpc::ThreadPool::create(po);
    if (!pool) return pool.status();
    im.pool = std::move(*pool);
  }
  if (im.policy.ordered_connection_events) {
    im.ordered = std::make_unique<rpc::ThreadPool>(1, 1u << 20, "tern-conn-ev");
  }
  im.io = std::make_unique<net::IoContextPool>(im.options.io_threads, "tern-srv-io");

  im.acceptor = std::make_unique<asio::ip::tcp::acceptor>(im.io->at(0));
  const asio::ip::tcp::endpoint& ep = listen->endpoint;
  std::error_code ec;
  im.acceptor->open(ep.protocol(), ec);
  if (!ec) ::fcntl(im.acceptor->native_handle(), F_SETFD, FD_CLOEXEC);  // not inherited by children
  if (!ec) im.acceptor->set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec && ep.address().is_v6()) im.acceptor->set_option(asio::ip::v6_only(false), ec);
  if (!ec) im.acceptor->bind(ep, ec);
  if (!ec) im.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    if (im.pool) im.pool->stop(false);
    return Status(StatusCode::kUnavailable, "cannot listen on " + im.options.listen + ": " + ec.message());
  }
  im.port = im.acceptor->local_endpoint(ec).port();
  im.bound_host = ep.address().is_unspecified() ? im.options.announce_host : listen->host_port.host;
  {
    std::lock_guard lock(im.mu);
    im.started = true;
  }
  im.io->start();
  asio::post(im.io->at(0), [self = impl_] { self->do_accept(); });
  return Status();
}

std::uint16_t Server::port() const noexcept { return impl_->port; }

HostPort Server::address() const { return HostPort{impl_->bound_host, impl_->port}; }

std::vector<Url> Server::provider_urls() const {
  std::vector<Url> out;
  std::lock_guard lock(impl_->mu);
  for (auto& [name, svc] : impl_->services) {
    // Built-ins are reachable at every provider; never registered.
    if (name == kReflectionService || name == rpc::kGrpcHealthService || name == rpc::kGrpcReflectionService) continue;
    Url u("tern", {address()}, name);
    for (auto& [k, v] : svc.options.parameters) u.set_param(k, v);
    std::string methods;
    for (auto& m : svc.method_names) methods += (methods.empty() ? "" : ",") + m;
    u.set_param("methods", methods);
    // The contract check (tern/contract.h): each typed method's signature and digest.
    if (auto c = server_impl::contract_param(svc); !c.empty()) u.set_param(std::string(kContractUrlParam), c);
    u.set_param("weight", std::to_string(svc.options.weight));
    // The same port answers the Tern protocol and gRPC (h2c, or h2 by ALPN
    // over TLS; docs/grpc.md), so gRPC-only consumers and `tern ls` see both.
    u.set_param("protocols", "tern,grpc");
    if (!svc.options.version.empty()) u.set_param("version", svc.options.version);
    if (!svc.options.group.empty()) u.set_param("group", svc.options.group);
    out.push_back(std::move(u));
  }
  return out;
}

void Server::shutdown(std::chrono::milliseconds grace) {
  auto& im = *impl_;
  {
    std::lock_guard lock(im.mu);
    if (!im.started || im.stopped) {
      im.stopped = true;
      im.cv.notify_all();
      return;
    }
  }
  im.shutting_down.store(true);
  if (im.health) im.health->stop_serving();  // gRPC health watchers hear NOT_SERVING
  if (im.acceptor) {
    // Close the listening socket on its loop and wait, so the port is free
    // when shutdown() returns (and no accept handler keeps Impl alive).
    auto closed = std::make_shared<std::promise<void>>();
    auto done = closed->get_future();
    asio::post(im.io->at(0), [self = impl_, closed] {
      std::error_code ec;
      self->acceptor->close(ec);
      closed->set_value();
    });
    done.wait_for(std::chrono::seconds(2));
  }
  std::vector<std::shared_ptr<rpc::ServerSession>> sessions;
  {
    std::lock_guard lock(im.mu);
    sessions.assign(im.sessions.begin(), im.sessions.end());
  }
  for (auto& s : sessions) s->send_frame(protocol::encode_control_frame(protocol::FrameType::kGoaway, 0));
  {
    // Drain: running handlers finish, and consumers close their connections
    // (a Tern consumer closes one after its goaway once no call is pending on
    // it). Closing earlier could cut off a request in transit (sent before
    // the consumer read the goaway): its caller could not tell whether it ran.
    // Requests arriving meanwhile are answered UNAVAILABLE, not executed.
    auto until = std::chrono::steady_clock::now() + grace;
    std::unique_lock lock(im.mu);
    im.cv.wait_until(lock, until, [&] { return im.in_flight.load() <= 0; });
    im.cv.wait_until(lock, until, [&] { return im.sessions.empty(); });
  }
  for (auto& s : sessions) s->close(Status(StatusCode::kUnavailable, "provider shut down"));
  {
    std::unique_lock lock(im.mu);
    im.cv.wait_for(lock, std::chrono::milliseconds(1000), [&] { return im.sessions.empty(); });
  }
  if (im.pool) im.pool->stop(true);
  if (im.ordered) im.ordered->stop(true);
  im.io->stop();
  im.acceptor.reset();
  sessions.clear();  // our copies: no session may outlive the loops below
  {
    std::lock_guard lock(im.mu);
    im.sessions.clear();
  }
  // Handlers still queued in the stopped loops hold the Impl (a reference
  // cycle through the io_contexts it owns): destroy them now.
  im.io.reset();
  {
    std::lock_guard lock(im.mu);
    im.stopped = true;
  }
  im.cv.notify_all();
}

void Server::wait() {
  std::unique_lock lock(impl_->mu);
  impl_->cv.wait(lock, [&] { return impl_->stopped; });
}

Server::Stats Server::stats() const {
  Stats s;
  s.requests = impl_->requests.load();
  s.rejected_overload = impl_->rejected.load();
  s.handler_errors = impl_->handler_errors.load();
  s.blocked_io_handlers = impl_->blocked_io.load();
  s.adaptive_promotions = impl_->adaptive_promotions.load();
  s.adaptive_demotions = impl_->adaptive_demotions.load();
  s.rejected_connections = impl_->rejected_connections.load();
  s.rejected_in_flight = impl_->rejected_in_flight.load();
  s.shed = impl_->shed.load();
  s.duplicate_ids = impl_->duplicate_ids.load();
  s.oversize_responses = impl_->oversize_responses.load();
  s.rejected_limit = impl_->rejected_limit.load();
  std::lock_guard lock(impl_->mu);
  if (impl_->pool) {
    s.pool_threads = impl_->pool->threads();
    s.pool_active = impl_->pool->active();
    s.pool_queued = impl_->pool->queued();
  }
  s.connections = impl_->sessions.size();
  return s;
}

}  // namespace tern
