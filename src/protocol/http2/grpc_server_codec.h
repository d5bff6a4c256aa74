// GrpcServerCodec: the provider's side of a gRPC connection (HTTP/2, h2c or
// "h2" over TLS), driven by nghttp2 (shared/DESIGN.md §12, docs/grpc.md).
//
// nghttp2 does the HTTP/2 framing, HPACK and flow control; this codec adds
// gRPC's rules on top (PROTOCOL-HTTP2.md): the request path names
// /service/method, every message carries a 5-byte prefix (compressed flag,
// u32 length), `grpc-timeout` is the deadline, custom headers are metadata
// (`-bin` values base64), and the call ends with trailers carrying
// `grpc-status` and a percent-encoded `grpc-message`.
//
// Two kinds of request leave the codec:
//   * methods the provider serves as streams (Hooks::is_stream) become the
//     stream core's events (on_open/on_message/on_half_close/on_cancel) on
//     the bound StreamSession, and the codec is that session's Sink;
//   * every other method is unary: once the request ended (END_STREAM) with
//     exactly one message, Hooks::on_unary gets it, and respond_unary()
//     answers it.
//
// Flow control, one idea on both wires: nghttp2's automatic WINDOW_UPDATE is
// off. Bytes of a stream's message are given back to the peer in the
// stream's window (nghttp2_session_consume_stream) when the message enters
// the stream core, which admits only what its receive window allows; the
// codec holds the rest and keeps the core's message count itself. The
// connection's window goes back as DATA arrives, so a stalled stream never
// holds up the others (what a connection buffers is bounded by its streams'
// windows and one message each). The other way, a message the core
// sends is queued in the codec until nghttp2 puts it on the wire, and only
// then returns its credit to the core, so the HTTP/2 window of the consumer
// bounds the provider's writer.
//
// Errors: a stream-level problem (a message over the limit, request headers
// over max_header_list_bytes, compressed data without grpc-encoding, an
// unknown encoding) ends that stream with a gRPC status; a content-type
// other than application/grpc gets HTTP 415; streams past
// max_concurrent_streams get RST_STREAM(REFUSED_STREAM); an HTTP/2 protocol
// error ends the connection with GOAWAY and Hooks::close (docs/grpc.md
// "Robustness").
//
// Thread safety: none; a codec belongs to its connection's IO thread. Hooks
// run inline on that thread (write from flush()).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "stream/stream_core.h"
#include "stream/window.h"
#include "tern/status.h"

struct nghttp2_session;

namespace tern::protocol::http2 {

// The HTTP/2 client preface (RFC 9113 §3.4): how a listener tells h2c from Tern.
inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// One unary gRPC request, complete.
struct GrpcUnaryRequest {
  std::int32_t stream_id = 0;
  std::string service;  // "pkg.Service"
  std::string method;   // "Method"
  std::uint8_t serialization = 1;       // 1 protobuf (application/grpc), 2 json (application/grpc+json)
  std::chrono::milliseconds timeout{0};  // grpc-timeout, 0 = none
  stream::Metadata metadata;             // custom metadata; `-bin` values decoded
  std::string message;                   // the request message, decompressed
};

struct GrpcCodecOptions {
  std::uint32_t max_message_bytes = 4u << 20;  // both directions: RESOURCE_EXHAUSTED above it
  std::uint32_t max_concurrent_streams = 100;  // SETTINGS_MAX_CONCURRENT_STREAMS
  // SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113 §6.5.2: names + values + 32 per
  // field): a request whose headers decode to more ends RESOURCE_EXHAUSTED
  // on its stream, and what is past the limit is not kept (HPACK bombs).
  std::uint32_t max_header_list_bytes = 65535;
  // The stream core's window (StreamOptions): both must agree, since the
  // core grants credit back against it.
  stream::Credit initial_window = stream::kDefaultWindow;
};

class GrpcServerCodec final : public stream::Sink {
 public:
  struct Hooks {
    std::function<void(std::string bytes)> write;                         // bytes for the connection
    std::function<void(const Status& why)> close;                         // the connection must close
    std::function<bool(std::string_view service, std::string_view method)> is_stream;
    std::function<void(GrpcUnaryRequest request)> on_unary;
    std::function<void(std::int32_t stream_id)> on_unary_cancel;  // RST_STREAM before the answer
  };

  GrpcServerCodec(Hooks hooks, GrpcCodecOptions options);
  ~GrpcServerCodec() override;
  GrpcServerCodec(const GrpcServerCodec&) = delete;
  GrpcServerCodec& operator=(const GrpcServerCodec&) = delete;

  // The session that stream methods feed. Set before feed().
  void bind(stream::StreamSession& session) noexcept { session_ = &session; }

  // Bytes received from the connection (the client preface first). Errors
  // end the connection (GOAWAY, then Hooks::close).
  void feed(std::string_view bytes);

  // Answers unary request `stream_id`: on OK one message, then trailers;
  // otherwise a trailers-only response. `trailers` become trailing metadata.
  // Nothing happens for a stream already closed (the client cancelled).
  void respond_unary(std::int32_t stream_id, const Status& status, std::string_view message,
                     const stream::Metadata& trailers);

  // Graceful shutdown: GOAWAY naming the last stream accepted; streams in
  // flight finish.
  void goaway();

  bool closed() const noexcept { return closed_; }

  // Sends an HTTP/2 PING (the provider's heartbeat; nghttp2 takes the ACK).
  void ping();

  // When the header block being received began (HEADERS without
  // END_HEADERS, CONTINUATION not finished), or nullopt: no other frame may
  // come on the connection meanwhile, so a peer that stalls here stalls it.
  std::optional<std::chrono::steady_clock::time_point> header_block_since() const noexcept {
    return header_block_since_;
  }

  // stream::Sink (the stream core's output for stream methods)
  Status send_open(stream::StreamId id, const stream::OpenInfo& info) override;
  void send_message(stream::StreamId id, const std::string& bytes) override;
  void send_half_close(stream::StreamId id) override;
  void send_cancel(stream::StreamId id, const Status& status) override;
  void send_window(stream::StreamId id, stream::Credit credit) override;
  void send_finish(stream::StreamId id, const Status& status, const stream::Metadata& trailers) override;
  void close_connection(const Status& status) override;

  // nghttp2 callbacks (internal; public for the C trampolines).
  struct Stream;
  void on_begin_frame(std::uint8_t type, std::uint8_t flags);
  int on_begin_headers(std::int32_t id);
  int on_header(std::int32_t id, std::string_view name, std::string_view value);
  int on_request_headers_done(std::int32_t id, bool end_stream);
  int on_data(std::int32_t id, const std::uint8_t* data, std::size_t len);
  int on_end_stream(std::int32_t id);
  int on_stream_close(std::int32_t id, std::uint32_t error_code);
  long read_body(std::int32_t id, std::uint8_t* buf, std::size_t length, std::uint32_t* flags);

 private:
  Stream* find(std::int32_t id);
  void fail_stream(Stream& s, const Status& status);  // trailers-only or trailers after data
  void reject_http(Stream& s, const char* http_status, const Status& status);  // HTTP error + grpc-status
  void deliver(Stream& s);                            // pending messages into the core, within credit
  void queue_message(Stream& s, std::string_view bytes);
  void submit_headers(Stream& s);
  void end_with(Stream& s, const Status& status, const stream::Metadata& trailers);
  void flush();
  void fatal(const Status& why);

  Hooks hooks_;
  GrpcCodecOptions options_;
  nghttp2_session* h2_ = nullptr;
  stream::StreamSession* session_ = nullptr;
  std::unordered_map<std::int32_t, std::unique_ptr<Stream>> streams_;
  std::vector<std::pair<std::int32_t, stream::Credit>> returned_;  // credit to give the core after a send
  bool in_recv_ = false;   // inside nghttp2_session_mem_recv: flush() waits for feed()
  bool in_flush_ = false;
  bool flush_again_ = false;
  bool closed_ = false;
  std::optional<std::chrono::steady_clock::time_point> header_block_since_;
  // SETTINGS_MAX_CONCURRENT_STREAMS goes in a SETTINGS frame of its own
  // whose ACK the codec takes out of the input (scan_acks): nghttp2 then
  // keeps it "pending" and answers streams past it with
  // RST_STREAM(REFUSED_STREAM), a stream error (RFC 9113 §5.1.2), instead of
  // ending the whole connection (what it does once the limit is acked).
  std::string scan_acks(std::string_view bytes);
  bool scanning_ = true;
  std::size_t preface_left_ = kClientPreface.size();
  std::string frame_head_;        // a frame header being read
  std::size_t payload_left_ = 0;  // of the frame being passed through
  int settings_acks_ = 0;
};

}  // namespace tern::protocol::http2
