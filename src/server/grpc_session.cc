// The provider's gRPC wire: a ServerSession whose first bytes are the HTTP/2
// client preface speaks gRPC through GrpcServerCodec (nghttp2) on the same
// port as the Tern protocol (shared/DESIGN.md §12, docs/grpc.md).
//
// Unary methods reach the same dispatch path as Tern requests: the codec's
// complete request becomes a Tern request frame whose request id is the
// HTTP/2 stream id, so services, filters, dispatchers, limits, deadlines,
// metrics and graceful shutdown apply unchanged; its Tern response frame is
// turned back into a gRPC response (send_frame). Stream methods go to the
// connection's StreamHub, with the codec as the stream core's Sink.
#include <asio/post.hpp>

#include <algorithm>

#include "protocol/http2/grpc_server_codec.h"
#include "rpc/stream_hub.h"
#include "server/server_impl.h"
#include "tern/log.h"

namespace tern::rpc {

namespace {
bool tern_reserved_key(std::string_view k) {
  return k == protocol::meta_keys::kService || k == protocol::meta_keys::kMethod ||
         k == protocol::meta_keys::kVersion || k == protocol::meta_keys::kGroup ||
         k == protocol::meta_keys::kAcceptCompression;
}
}  // namespace

void ServerSession::on_data(net::Connection& conn, std::string_view data) {
  int wire = wire_.load(std::memory_order_relaxed);
  if (wire == kWireUnknown && !data.empty()) {
    // 7E 4E is Tern; 'P' can only start the HTTP/2 preface (nghttp2 checks the rest).
    wire = data[0] == protocol::http2::kClientPreface[0] ? kWireGrpc : kWireTern;
    if (wire == kWireGrpc) start_grpc();
    wire_.store(wire, std::memory_order_release);
  }
  if (wire == kWireGrpc) {
    grpc_->feed(data);
    return;
  }
  Session::on_data(conn, data);
}

void ServerSession::start_grpc() {
  // Heartbeats go on as HTTP/2 PINGs (send_heartbeat_ping): a peer that
  // stops reading and answering is closed as on the Tern wire.
  std::weak_ptr<ServerSession> weak = std::static_pointer_cast<ServerSession>(shared_from_this());
  protocol::http2::GrpcCodecOptions co;
  co.max_message_bytes = server_->options.limits.max_body;
  co.max_header_list_bytes = server_->options.limits.max_meta;  // request metadata becomes Tern metadata
  stream::StreamOptions so;
  so.max_message_bytes = std::min(so.max_message_bytes, server_->options.limits.max_body);
  so.max_concurrent_streams = std::max<std::uint32_t>(1, server_->options.max_concurrent_streams);
  co.initial_window = so.initial_window;
  co.max_concurrent_streams = so.max_concurrent_streams;
  protocol::http2::GrpcServerCodec::Hooks hooks;
  hooks.write = [weak](std::string bytes) {
    if (auto s = weak.lock()) s->Session::send_frame(std::move(bytes));
  };
  hooks.close = [weak](const Status& why) {
    if (auto s = weak.lock()) {
      if (why.code() != StatusCode::kUnavailable) {
        TERN_LOG(kWarn, "closing gRPC connection from {}: {}", s->peer(), why.message());
      }
      s->close(why);
    }
  };
  Server::Impl* server = server_.get();
  hooks.is_stream = [server](std::string_view service, std::string_view method) {
    return server->find_stream(service, method) != nullptr;
  };
  hooks.on_unary = [weak](protocol::http2::GrpcUnaryRequest request) {
    if (auto s = weak.lock()) s->on_grpc_unary(std::move(request));
  };
  hooks.on_unary_cancel = [weak](std::int32_t id) {
    if (auto s = weak.lock()) s->mark_cancelled(static_cast<std::uint64_t>(id));
  };
  grpc_ = std::make_shared<protocol::http2::GrpcServerCodec>(std::move(hooks), co);
  asio::io_context& loop = connection()->loop();
  streams_ = std::make_shared<StreamHub>(
      stream::Role::kServer, so, loop, peer_, grpc_,
      [&loop](detail::UniqueFunction<void()> fn) { asio::post(loop, std::move(fn)); },
      [weak](std::shared_ptr<StreamCall> call) {
        if (auto s = weak.lock()) s->server_->open_stream(s, std::move(call));
      });
  grpc_->bind(streams_->session());
}

void ServerSession::send_heartbeat_ping() {
  if (grpc_) {
    grpc_->ping();
    return;
  }
  if (!grpc()) Session::send_heartbeat_ping();
}

Status ServerSession::heartbeat_check(std::chrono::milliseconds interval) {
  if (!grpc_) return Status();
  auto since = grpc_->header_block_since();
  if (since && std::chrono::steady_clock::now() - *since >= interval) {
    return Status(StatusCode::kUnavailable, "HTTP/2 header block not finished within " +
                                                std::to_string(interval.count()) + " ms (CONTINUATION missing)");
  }
  return Status();
}

void ServerSession::on_grpc_unary(protocol::http2::GrpcUnaryRequest&& request) {
  protocol::FrameBuilder b(protocol::FrameType::kRequest, static_cast<std::uint64_t>(request.stream_id),
                           128 + request.message.size());
  b.header().serialization = request.serialization;
  b.header().timeout_ms = static_cast<std::uint32_t>(std::min<std::int64_t>(request.timeout.count(), 0xFFFFFFFF));
  bool fits = b.add_meta(protocol::meta_keys::kService, request.service) &&
              b.add_meta(protocol::meta_keys::kMethod, request.method);
  for (const auto& [k, v] : request.metadata) {
    if (tern_reserved_key(k) || k.empty() || k[0] == '^') continue;
    fits = fits && b.add_meta(k, v);
  }
  if (!fits) {
    grpc_->respond_unary(request.stream_id,
                         Status(StatusCode::kResourceExhausted, "request metadata exceeds 64 KiB"), {}, {});
    return;
  }
  b.begin_body();
  b.append_body(request.message);
  std::string bytes = b.finish();
  protocol::Frame frame;
  frame.header = protocol::decode_header_unchecked(bytes.data());
  frame.payload = bytes.substr(protocol::kHeaderSize);
  server_->handle_request(std::static_pointer_cast<ServerSession>(shared_from_this()), std::move(frame));
}

bool ServerSession::send_frame(std::string bytes) {
  if (!grpc()) return Session::send_frame(std::move(bytes));
  if (!is_open()) return false;
  // The codec belongs to the IO thread; responses come from business threads too.
  asio::post(connection()->loop(), [self = std::static_pointer_cast<ServerSession>(shared_from_this()),
                                    bytes = std::move(bytes)]() mutable { self->grpc_send_on_loop(std::move(bytes)); });
  return true;
}

void ServerSession::grpc_send_on_loop(std::string bytes) {
  if (!grpc_ || bytes.size() < protocol::kHeaderSize) return;
  protocol::FrameHeader h = protocol::decode_header_unchecked(bytes.data());
  if (h.type == protocol::FrameType::kGoaway) {
    grpc_->goaway();
    return;
  }
  if (h.type != protocol::FrameType::kResponse) return;  // pings, pushes: no gRPC equivalent
  std::string_view meta(bytes.data() + protocol::kHeaderSize, std::min<std::size_t>(h.meta_len, bytes.size() - protocol::kHeaderSize));
  std::string_view body = std::string_view(bytes).substr(std::min(bytes.size(), protocol::kHeaderSize + h.meta_len));
  stream::Metadata trailers;
  (void)protocol::for_each_meta(meta, [&](std::string_view k, std::string_view v) {
    trailers.emplace_back(std::string(k), std::string(v));
  });
  StatusCode code = h.status();
  Status status = code == StatusCode::kOk ? Status() : Status(code, std::string(body));
  grpc_->respond_unary(static_cast<std::int32_t>(h.request_id), status, code == StatusCode::kOk ? body : std::string_view(),
                       trailers);
}

}  // namespace tern::rpc
