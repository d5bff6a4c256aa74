// The provider's requests (tern/server.h): a decoded request is admitted
// (request id, in-flight limit, shutdown), named from its metadata, looked up
// in the service table (service_table.h), checked against its method's
// limits and dispatched to the business pool or run on the IO thread; the
// Server's registration calls and counters. Elsewhere: start, the acceptor
// and shutdown in lifecycle.cc; a call's answer in server_call.cc;
// ServerContext in server_context.cc; streams in stream_methods.cc.
#include "tern/server.h"

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "rpc/protocol_log.h"
#include "rpc/stream_hub.h"
#include "rpc/thread_pool.h"
#include "server/server_call_access.h"
#include "server/server_impl.h"
#include "server/server_session.h"
#include "tern/log.h"
#include "tern/net/io_context_pool.h"
#include "tern/trace/trace_filter.h"

namespace tern {

using server_impl::ServiceEntry;

// ---------------------------------------------------------------------------
// Server::Impl

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
  // The deadline on the server's test clock when it has one (one read either way).
  ServerCall call(session, std::move(frame), clock != nullptr ? clock->now() : std::chrono::steady_clock::now());
  if (!session->try_begin_call(options.max_in_flight_per_connection)) {
    if (answered) session->release_id(call.request_id());
    rejected_in_flight.fetch_add(1, std::memory_order_relaxed);
    call.fail(Status(StatusCode::kResourceExhausted,
                     fmt::format("{} calls in flight on this connection (max_in_flight_per_connection)",
                                 options.max_in_flight_per_connection)));
    return;
  }
  detail::ServerCallAccess::hold_slot(call);
  if (shutting_down.load(std::memory_order_acquire)) {
    call.fail(Status(StatusCode::kUnavailable, "provider is shutting down"));
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
    call.fail(ms);
    return;
  }
  if (!have_service || !have_method) {
    call.fail(Status(StatusCode::kInvalidArgument, "request names no service or method"));
    return;
  }
  auto resolved = services.resolve(call.service(), call.method(), version, group);
  if (!resolved) {
    call.fail(resolved.status());
    return;
  }
  const ServiceEntry& svc = *resolved->service;
  const server_impl::MethodEntry& method = *resolved->method;
  if (auto limiter = method.limiter.load()) {
    // tern/overload.h: refused here, on the IO thread, before any queueing.
    auto now = std::chrono::steady_clock::now();
    if (Status limited = limiter->try_acquire(now); !limited.is_ok()) {
      rejected_limit.fetch_add(1, std::memory_order_relaxed);
      call.fail(limited);
      return;
    }
    detail::ServerCallAccess::hold_limit(call, std::move(limiter), now);
  }
  in_flight.fetch_add(1, std::memory_order_relaxed);
  if (!svc.pooled || (method.placement && method.placement->runs_inline())) {
    run(call, method);
    return;
  }
  // The call waits in the task; a refused task stays ours (ThreadPool::
  // try_submit), so the call is answered here, explicitly.
  auto queued = std::make_unique<ServerCall>(std::move(call));
  ServerCall* waiting = queued.get();
  detail::UniqueFunction<void()> task = [self = shared_from_this(), queued = std::move(queued), m = &method]() mutable {
    self->run(*queued, *m);
  };
  if (!pool->try_submit(std::move(task))) {
    in_flight.fetch_sub(1, std::memory_order_relaxed);
    rejected.fetch_add(1, std::memory_order_relaxed);
    waiting->fail(Status(StatusCode::kResourceExhausted, "provider overloaded: business pool queue is full"));
  }
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
  return impl_->services.add_method(service, method, std::move(handler), options);
}

Status Server::set_description(const std::string& service, nlohmann::json description) {
  std::lock_guard lock(impl_->mu);
  if (impl_->started) return Status(StatusCode::kFailedPrecondition, "set_description after start()");
  auto* svc = impl_->services.find(service);
  if (svc == nullptr) {
    return Status(StatusCode::kNotFound, fmt::format("service '{}' has no method to describe", service));
  }
  svc->description = std::move(description);
  return Status();
}

void Server::on_connect(std::function<void(std::uint64_t)> listener) {
  impl_->connect_listener = std::move(listener);
}

void Server::on_disconnect(std::function<void(std::uint64_t)> listener) {
  impl_->disconnect_listener = std::move(listener);
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
  s.unanswered_calls = impl_->unanswered_calls.load();
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
