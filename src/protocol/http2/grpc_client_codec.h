// GrpcClientCodec: the consumer's side of a gRPC connection (h2c), driven by
// nghttp2, for `grpc://` references and providers announced with
// protocol=grpc (shared/DESIGN.md §12, docs/grpc.md).
//
// Unary calls keep Tern's consumer path: the channel hands the codec its Tern
// request frame (send_request) and gets back a Tern response frame with the
// same request id (Hooks::on_response), so pending calls, deadlines, retries,
// filters and metrics are the channel's and the reference's, unchanged. The
// request's attachments become metadata, its timeout grpc-timeout; the
// response's trailing metadata become response attachments.
//
// Streams: the codec is the client StreamSession's Sink. An open becomes an
// HTTP/2 request, messages DATA, a half-close END_STREAM, a cancel
// RST_STREAM(CANCEL); the server's trailers finish the stream. Flow control
// as in GrpcServerCodec: the bytes of a message are given back to the server
// when the message enters the stream core, whose window bounds the rest.
//
// Statuses of a unary call (gRPC's HTTP-to-status mapping where the server
// sent no grpc-status): the server's grpc-status and grpc-message; INTERNAL
// when an OK answer carries no message or more than one; UNAVAILABLE, not
// executed, for a stream the server refused (REFUSED_STREAM, or past its
// GOAWAY); CANCELLED for RST_STREAM(CANCEL).
//
// Thread safety: none; the codec belongs to its connection's IO thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "protocol/http2/grpc_framing.h"
#include "protocol/http2/grpc_server_codec.h"
#include "stream/stream_core.h"
#include "tern/protocol/frame.h"
#include "tern/status.h"

namespace tern::protocol::http2 {

class GrpcClientCodec final : public stream::Sink {
 public:
  struct Hooks {
    std::function<void(std::string bytes)> write;       // bytes for the connection
    std::function<void(const Status& why)> close;       // the connection must close
    std::function<void(Frame&& response)> on_response;  // a unary call ended (Tern response frame)
    std::function<void()> on_goaway;                    // the server sent GOAWAY: no new calls here
  };

  // `authority` is the :authority of every request ("host:port").
  GrpcClientCodec(Hooks hooks, GrpcCodecOptions options, std::string authority);
  ~GrpcClientCodec() override;
  GrpcClientCodec(const GrpcClientCodec&) = delete;
  GrpcClientCodec& operator=(const GrpcClientCodec&) = delete;

  void bind(stream::StreamSession& session) noexcept { session_ = &session; }

  // Sends the client preface and SETTINGS.
  void start();
  // Bytes received from the connection.
  void feed(std::string_view bytes);

  // A Tern request or oneway frame: sent as a unary gRPC call. A oneway call
  // is sent the same way and its answer dropped. A frame that cannot be sent
  // (malformed, compressed) is answered at once with INTERNAL.
  void send_request(std::string_view tern_frame);
  // Cancels the unary call of `request_id` (RST_STREAM(CANCEL)).
  void cancel(std::uint64_t request_id);

  bool closed() const noexcept { return closed_; }

  // stream::Sink (client role)
  Status send_open(stream::StreamId id, const stream::OpenInfo& info) override;
  void send_message(stream::StreamId id, const std::string& bytes) override;
  void send_half_close(stream::StreamId id) override;
  void send_cancel(stream::StreamId id, const Status& status) override;
  void send_window(stream::StreamId id, stream::Credit credit) override;
  void send_finish(stream::StreamId id, const Status& status, const stream::Metadata& trailers) override;
  void close_connection(const Status& status) override;

  // nghttp2 callbacks (internal).
  struct Call;
  int on_header(std::int32_t id, bool trailers, std::string_view name, std::string_view value);
  int on_headers_done(std::int32_t id, bool end_stream);
  int on_data(std::int32_t id, const std::uint8_t* data, std::size_t len);
  int on_stream_close(std::int32_t id, std::uint32_t error_code);
  int on_goaway();
  long read_body(std::int32_t id, std::uint8_t* buf, std::size_t length, std::uint32_t* flags);

 private:
  Call* find(std::int32_t id);
  std::int32_t submit(std::unique_ptr<Call> call, std::string_view service, std::string_view method,
                      std::uint8_t serialization, std::chrono::milliseconds timeout, const Headers& metadata);
  void deliver(Call& c);
  Status final_status(const Call& c) const;
  void answer_unary(std::uint64_t request_id, std::uint8_t serialization, const Status& status, std::string body,
                    const Headers& metadata);
  void flush();
  void fatal(const Status& why);

  Hooks hooks_;
  GrpcCodecOptions options_;
  std::string authority_;
  nghttp2_session* h2_ = nullptr;
  stream::StreamSession* session_ = nullptr;
  std::unordered_map<std::int32_t, std::unique_ptr<Call>> calls_;     // by HTTP/2 stream id
  std::unordered_map<std::uint64_t, std::int32_t> by_request_;        // unary: request id -> stream id
  std::unordered_map<stream::StreamId, std::int32_t> by_stream_;      // streams: core id -> stream id
  // Streams the server ended whose last messages wait for the core's credit.
  std::unordered_map<stream::StreamId, std::unique_ptr<Call>> draining_;
  std::vector<std::pair<stream::StreamId, stream::Credit>> returned_;
  bool in_recv_ = false;
  bool in_flush_ = false;
  bool flush_again_ = false;
  bool closed_ = false;
};

}  // namespace tern::protocol::http2
