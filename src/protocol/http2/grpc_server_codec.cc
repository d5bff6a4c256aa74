// GrpcServerCodec (grpc_server_codec.h).
#include "protocol/http2/grpc_server_codec.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <optional>

#include "protocol/http2/grpc_framing.h"
#include "protocol/http2/nghttp2_util.h"

namespace tern::protocol::http2 {

struct GrpcServerCodec::Stream {
  std::int32_t id = 0;
  // Request headers.
  std::string method_header, path, content_type, encoding, timeout_header;
  stream::Metadata metadata;
  bool headers_done = false;
  bool is_stream = false;  // served by the stream core
  bool rejected = false;   // answered already with an error: ignore what follows
  std::size_t header_bytes = 0;     // RFC 9113 §6.5.2 size of the request headers so far
  bool headers_too_large = false;   // ... over max_header_list_bytes: nothing more kept
  std::string service, method;
  std::uint8_t serialization = 1;
  std::chrono::milliseconds timeout{0};
  // Inbound.
  MessageReader reader;
  std::deque<std::string> pending;  // stream methods: decoded, not yet in the core
  stream::SendWindow core_credit{stream::Credit{}};
  std::size_t unconsumed = 0;       // DATA bytes not yet given back to the peer
  std::deque<std::size_t> pending_wire;  // wire bytes of each pending message
  std::size_t held = 0;                  // ... and their sum
  bool peer_ended = false;          // END_STREAM received
  bool half_close_sent = false;     // ... and told to the core
  bool delivering = false;          // inside deliver(): a nested call returns
  std::optional<std::string> unary_message;
  bool unary_dispatched = false;
  // Outbound.
  bool headers_sent = false;
  OutQueue out;                     // framed messages for the data provider
  bool finishing = false;           // trailers after `out`
  std::vector<std::pair<std::string, std::string>> trailers;  // lower-case names
  bool done = false;                // trailers submitted or stream reset
};

namespace {

GrpcServerCodec* self_of(void* user_data) { return static_cast<GrpcServerCodec*>(user_data); }

int on_begin_frame_cb(nghttp2_session*, const nghttp2_frame_hd* hd, void* user_data) {
  self_of(user_data)->on_begin_frame(hd->type, hd->flags);
  return 0;
}

// RFC 9113 §8.1: a server that answered completely before the request
// ended asks the client to stop sending it with RST_STREAM(NO_ERROR) (as
// grpc-go does); otherwise the stream would hold a concurrency slot until
// the peer ends it, which a hostile peer never does.
int on_frame_send_cb(nghttp2_session* session, const nghttp2_frame* frame, void*) {
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 &&
      nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0) {
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
  }
  return 0;
}

int on_begin_headers_cb(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  return self_of(user_data)->on_begin_headers(frame->hd.stream_id);
}

int on_header_cb(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                 const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  return self_of(user_data)->on_header(frame->hd.stream_id,
                                       std::string_view(reinterpret_cast<const char*>(name), namelen),
                                       std::string_view(reinterpret_cast<const char*>(value), valuelen));
}

int on_frame_recv_cb(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  auto* self = self_of(user_data);
  const bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
      if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) return self->on_request_headers_done(frame->hd.stream_id, end);
      if (end) return self->on_end_stream(frame->hd.stream_id);  // trailers from the client
      return 0;
    case NGHTTP2_DATA:
      if (end) return self->on_end_stream(frame->hd.stream_id);
      return 0;
    default:
      return 0;
  }
}

int on_data_chunk_cb(nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data, std::size_t len,
                     void* user_data) {
  return self_of(user_data)->on_data(stream_id, data, len);
}

int on_stream_close_cb(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user_data) {
  return self_of(user_data)->on_stream_close(stream_id, error_code);
}

ssize_t read_cb(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                std::uint32_t* data_flags, nghttp2_data_source*, void* user_data) {
  return self_of(user_data)->read_body(stream_id, buf, length, data_flags);
}

}  // namespace

// ---------------------------------------------------------------------------

GrpcServerCodec::GrpcServerCodec(Hooks hooks, GrpcCodecOptions options)
    : hooks_(std::move(hooks)), options_(options) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame_cb);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send_cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers_cb);
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header_cb);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv_cb);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_cb);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close_cb);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_session_server_new2(&h2_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, std::max<std::uint32_t>(65535, options_.initial_window.bytes)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, options_.max_header_list_bytes},
  };
  nghttp2_submit_settings(h2_, NGHTTP2_FLAG_NONE, iv, 2);
  // Its own frame: the second ACK never reaches nghttp2 (scan_acks).
  nghttp2_settings_entry mcs{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, options_.max_concurrent_streams};
  nghttp2_submit_settings(h2_, NGHTTP2_FLAG_NONE, &mcs, 1);
  // The connection window, as large as the streams'.
  if (options_.initial_window.bytes > 65535) {
    nghttp2_submit_window_update(h2_, NGHTTP2_FLAG_NONE, 0,
                                 static_cast<std::int32_t>(options_.initial_window.bytes - 65535));
  }
}

GrpcServerCodec::~GrpcServerCodec() { nghttp2_session_del(h2_); }

GrpcServerCodec::Stream* GrpcServerCodec::find(std::int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

std::string GrpcServerCodec::scan_acks(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  while (!bytes.empty() && scanning_) {
    if (preface_left_ > 0) {
      std::size_t n = std::min(preface_left_, bytes.size());
      out.append(bytes.substr(0, n));
      bytes.remove_prefix(n);
      preface_left_ -= n;
    } else if (payload_left_ > 0) {
      std::size_t n = std::min(payload_left_, bytes.size());
      out.append(bytes.substr(0, n));
      bytes.remove_prefix(n);
      payload_left_ -= n;
    } else {
      std::size_t n = std::min<std::size_t>(9 - frame_head_.size(), bytes.size());
      frame_head_.append(bytes.substr(0, n));
      bytes.remove_prefix(n);
      if (frame_head_.size() < 9) break;
      const auto* h = reinterpret_cast<const std::uint8_t*>(frame_head_.data());
      const std::size_t len = (std::size_t{h[0]} << 16) | (std::size_t{h[1]} << 8) | h[2];
      const bool settings_ack = h[3] == NGHTTP2_SETTINGS && (h[4] & NGHTTP2_FLAG_ACK) != 0 && len == 0 &&
                                (h[5] | h[6] | h[7] | h[8]) == 0;
      if (settings_ack && ++settings_acks_ == 2) {
        scanning_ = false;  // the ACK of the MAX_CONCURRENT_STREAMS frame: dropped; the rest passes
      } else {
        out.append(frame_head_);
        payload_left_ = len;
      }
      frame_head_.clear();
    }
  }
  out.append(bytes);
  return out;
}

void GrpcServerCodec::feed(std::string_view bytes) {
  if (closed_) return;
  std::string scanned;
  if (scanning_) {
    scanned = scan_acks(bytes);
    bytes = scanned;
  }
  in_recv_ = true;
  ssize_t n = nghttp2_session_mem_recv(h2_, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  in_recv_ = false;
  if (n < 0) {
    fatal(Status(StatusCode::kInternal, std::string("HTTP/2 protocol error: ") + nghttp2_strerror(static_cast<int>(n))));
    return;
  }
  flush();
}

void GrpcServerCodec::flush() {
  if (closed_) return;
  if (in_recv_) return;  // feed() flushes when nghttp2 is done reading
  if (in_flush_) {
    flush_again_ = true;
    return;
  }
  in_flush_ = true;
  std::string out;
  do {
    flush_again_ = false;
    for (;;) {
      const std::uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(h2_, &data);
      if (n < 0) {
        in_flush_ = false;
        fatal(Status(StatusCode::kInternal, std::string("HTTP/2 send error: ") + nghttp2_strerror(static_cast<int>(n))));
        return;
      }
      if (n == 0) break;
      out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    // Credit of messages now on the wire goes back to the core (which may
    // send more: the loop runs again).
    auto returned = std::move(returned_);
    returned_.clear();
    if (session_ != nullptr) {
      for (auto& [id, credit] : returned) session_->on_window(static_cast<stream::StreamId>(id), credit);
    }
  } while (flush_again_ || !returned_.empty());
  in_flush_ = false;
  if (!out.empty() && hooks_.write) hooks_.write(std::move(out));
  if (!closed_ && nghttp2_session_want_read(h2_) == 0 && nghttp2_session_want_write(h2_) == 0) {
    // GOAWAY exchanged and every stream done.
    closed_ = true;
    if (hooks_.close) hooks_.close(Status(StatusCode::kUnavailable, "HTTP/2 session ended (GOAWAY)"));
  }
}

void GrpcServerCodec::fatal(const Status& why) {
  if (closed_) return;
  nghttp2_session_terminate_session(h2_, NGHTTP2_PROTOCOL_ERROR);
  const std::uint8_t* data = nullptr;
  std::string out;
  for (ssize_t n; (n = nghttp2_session_mem_send(h2_, &data)) > 0;) out.append(reinterpret_cast<const char*>(data), n);
  closed_ = true;
  if (!out.empty() && hooks_.write) hooks_.write(std::move(out));
  if (session_ != nullptr) {
    session_->on_connection_lost(Status(StatusCode::kUnavailable, "connection closed: " + why.message(), true));
  }
  if (hooks_.close) hooks_.close(why);
}

void GrpcServerCodec::ping() {
  if (closed_) return;
  nghttp2_submit_ping(h2_, NGHTTP2_FLAG_NONE, nullptr);
  flush();
}

void GrpcServerCodec::on_begin_frame(std::uint8_t type, std::uint8_t flags) {
  // The peer owes a CONTINUATION from a HEADERS (or CONTINUATION) without
  // END_HEADERS until the frame that has it begins. Decided at frame
  // starts only, so a block nghttp2 ignores leaves no stale state.
  const bool open_block = (type == NGHTTP2_HEADERS || type == NGHTTP2_CONTINUATION) &&
                          (flags & NGHTTP2_FLAG_END_HEADERS) == 0;
  if (!open_block) {
    header_block_since_.reset();
  } else if (!header_block_since_) {
    header_block_since_ = std::chrono::steady_clock::now();
  }
}

void GrpcServerCodec::goaway() {
  if (closed_) return;
  nghttp2_submit_goaway(h2_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h2_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  flush();
}

// ---- inbound --------------------------------------------------------------

int GrpcServerCodec::on_begin_headers(std::int32_t id) {
  auto s = std::make_unique<Stream>();
  s->id = id;
  s->core_credit = stream::SendWindow(options_.initial_window);
  s->reader = MessageReader(options_.max_message_bytes);
  streams_[id] = std::move(s);
  return 0;
}

int GrpcServerCodec::on_header(std::int32_t id, std::string_view name, std::string_view value) {
  Stream* s = find(id);
  if (s == nullptr) return 0;
  if (s->headers_done) return 0;  // trailers from the client carry nothing we use
  // RFC 9113 §6.5.2: name + value + 32 per field. Past the limit nothing is
  // kept; the stream is answered RESOURCE_EXHAUSTED when the block ends.
  s->header_bytes += name.size() + value.size() + 32;
  if (s->headers_too_large) return 0;
  if (s->header_bytes > options_.max_header_list_bytes) {
    s->headers_too_large = true;
    s->metadata.clear();
    s->metadata.shrink_to_fit();
    return 0;
  }
  if (name == ":method") {
    s->method_header = value;
  } else if (name == ":path") {
    s->path = value;
  } else if (name == "content-type") {
    s->content_type = value;
  } else if (name == "grpc-encoding") {
    s->encoding = value;
  } else if (name == "grpc-timeout") {
    s->timeout_header = value;
  } else if (!name.empty() && name[0] != ':' && !is_reserved_header(name)) {
    s->metadata.emplace_back(std::string(name), std::string(value));
  }
  return 0;
}

int GrpcServerCodec::on_request_headers_done(std::int32_t id, bool end_stream) {
  Stream* s = find(id);
  if (s == nullptr) return 0;
  s->headers_done = true;
  // gRPC's rules for a request (PROTOCOL-HTTP2.md "Requests").
  Status bad;
  if (s->headers_too_large) {
    bad = Status(StatusCode::kResourceExhausted, "request headers of " + std::to_string(s->header_bytes) +
                                                     " bytes exceed the limit of " +
                                                     std::to_string(options_.max_header_list_bytes) +
                                                     " (SETTINGS_MAX_HEADER_LIST_SIZE)");
  } else if (s->method_header != "POST") {
    bad = Status(StatusCode::kUnimplemented, "gRPC requests use POST, not '" + s->method_header + "'");
  } else if (s->content_type.rfind("application/grpc", 0) != 0) {
    // PROTOCOL-HTTP2.md: servers SHOULD answer HTTP 415, so that a non-gRPC
    // client does not take the error for a success; grpc-status INTERNAL
    // as grpc-go sends with it.
    reject_http(*s, "415", Status(StatusCode::kInternal, "invalid gRPC request content-type '" + s->content_type + "'"));
    return 0;
  } else if (!parse_path(s->path, &s->service, &s->method)) {
    bad = Status(StatusCode::kUnimplemented, "malformed method path '" + s->path + "'");
  } else if (!s->encoding.empty() && s->encoding != "identity" && s->encoding != "gzip") {
    bad = Status(StatusCode::kUnimplemented, "grpc-encoding '" + s->encoding + "' is not supported (identity, gzip)");
  }
  if (bad.is_ok() && !s->timeout_header.empty()) {
    auto t = parse_grpc_timeout(s->timeout_header);
    if (!t) {
      bad = Status(StatusCode::kInternal, "malformed grpc-timeout '" + s->timeout_header + "'");
    } else {
      s->timeout = std::max<std::chrono::milliseconds>(*t, std::chrono::milliseconds(1));
    }
  }
  if (bad.is_ok()) {
    auto md = headers_to_metadata(s->metadata);
    if (!md.has_value()) {
      bad = md.status();
    } else {
      s->metadata = std::move(*md);
    }
  }
  if (!bad.is_ok()) {
    fail_stream(*s, bad);
    return 0;
  }
  s->serialization = s->content_type == "application/grpc+json" ? 2 : 1;
  s->reader.set_gzip(s->encoding == "gzip");
  s->is_stream = session_ != nullptr && hooks_.is_stream && hooks_.is_stream(s->service, s->method);
  if (s->is_stream) {
    stream::OpenInfo info{s->service, s->method, s->serialization, s->timeout, s->metadata};
    session_->on_open(static_cast<stream::StreamId>(id), std::move(info));
  }
  if (end_stream) return on_end_stream(id);
  return 0;
}

int GrpcServerCodec::on_data(std::int32_t id, const std::uint8_t* data, std::size_t len) {
  // The connection's window goes back at once: a stream whose reader stops
  // must not stall the others (its own window bounds what it holds).
  nghttp2_session_consume_connection(h2_, len);
  Stream* s = find(id);
  if (s == nullptr || s->rejected || !s->headers_done) {
    nghttp2_session_consume_stream(h2_, id, len);  // nobody will read it
    return 0;
  }
  s->unconsumed += len;
  Status st = s->reader.feed(std::string_view(reinterpret_cast<const char*>(data), len));
  std::vector<std::pair<std::string, std::size_t>> messages;
  while (st.is_ok()) {
    std::optional<std::pair<std::string, std::size_t>> m;
    st = s->reader.next(&m);
    if (!m) break;
    messages.push_back(std::move(*m));
  }
  if (!st.is_ok()) {
    fail_stream(*s, st);
    return 0;
  }
  if (!s->is_stream) {
    nghttp2_session_consume_stream(h2_, id, s->unconsumed);  // unary: bounded by the message limit
    s->unconsumed = 0;
    for (auto& [m, wire] : messages) {
      if (s->unary_message) {
        fail_stream(*s, Status(StatusCode::kUnimplemented, "more than one request message for unary method '" +
                                                               s->service + "." + s->method + "'"));
        return 0;
      }
      s->unary_message = std::move(m);
    }
    return 0;
  }
  for (auto& [m, wire] : messages) {
    s->pending.push_back(std::move(m));
    s->pending_wire.push_back(wire);
    s->held += wire;
  }
  deliver(*s);
  return 0;
}

void GrpcServerCodec::deliver(Stream& s) {
  if (session_ == nullptr || s.rejected || s.delivering) return;  // the outer call goes on
  s.delivering = true;
  struct Reset {
    bool& flag;
    ~Reset() { flag = false; }
  } reset{s.delivering};
  const auto id = static_cast<stream::StreamId>(s.id);
  while (!s.pending.empty() && s.core_credit.can_send()) {
    std::string m = std::move(s.pending.front());
    std::size_t wire = s.pending_wire.front();
    s.pending.pop_front();
    s.pending_wire.pop_front();
    s.held -= wire;
    s.core_credit.spend(m.size());
    std::size_t give = std::min(wire, s.unconsumed);
    s.unconsumed -= give;
    if (give > 0) nghttp2_session_consume_stream(h2_, s.id, give);  // the peer may send this much more
    session_->on_message(id, std::move(m));
    if (s.done || s.finishing || s.rejected) return;  // the core ended it
  }
  release_unheld(h2_, s.id, s.unconsumed, s.held);
  if (s.pending.empty() && s.peer_ended && !s.half_close_sent) {
    s.half_close_sent = true;
    session_->on_half_close(id);
  }
}

int GrpcServerCodec::on_end_stream(std::int32_t id) {
  Stream* s = find(id);
  if (s == nullptr || s->rejected) return 0;
  s->peer_ended = true;
  if (!s->reader.empty()) {
    fail_stream(*s, Status(StatusCode::kInternal, "request ended inside a message"));
    return 0;
  }
  if (s->is_stream) {
    deliver(*s);
    return 0;
  }
  if (!s->unary_message) {
    fail_stream(*s, Status(StatusCode::kUnimplemented, "unary method '" + s->service + "." + s->method +
                                                           "' got no request message"));
    return 0;
  }
  s->unary_dispatched = true;
  GrpcUnaryRequest req{id, s->service, s->method, s->serialization, s->timeout, s->metadata, std::move(*s->unary_message)};
  s->unary_message.reset();
  if (hooks_.on_unary) hooks_.on_unary(std::move(req));
  return 0;
}

int GrpcServerCodec::on_stream_close(std::int32_t id, std::uint32_t error_code) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return 0;
  std::unique_ptr<Stream> s = std::move(it->second);
  streams_.erase(it);
  if (s->done) return 0;  // we ended it
  // The client reset the stream (RST_STREAM) or the connection ends it.
  Status why(StatusCode::kCancelled, std::string("cancelled by the client (RST_STREAM ") +
                                         nghttp2_http2_strerror(error_code) + ")");
  if (s->is_stream && session_ != nullptr) {
    session_->on_cancel(static_cast<stream::StreamId>(id), why);
  } else if (s->unary_dispatched && hooks_.on_unary_cancel) {
    hooks_.on_unary_cancel(id);
  }
  return 0;
}

// ---- outbound -------------------------------------------------------------

void GrpcServerCodec::submit_headers(Stream& s) {
  if (s.headers_sent) return;
  s.headers_sent = true;
  static const std::string kStatus = ":status", k200 = "200", kCt = "content-type", kGrpc = "application/grpc";
  nghttp2_nv hdrs[] = {make_nv(kStatus, k200), make_nv(kCt, kGrpc)};
  nghttp2_data_provider prd;
  prd.source.ptr = nullptr;
  prd.read_callback = read_cb;
  nghttp2_submit_response(h2_, s.id, hdrs, 2, &prd);
}

void GrpcServerCodec::queue_message(Stream& s, std::string_view bytes) {
  s.out.push(bytes);
  submit_headers(s);
  nghttp2_session_resume_data(h2_, s.id);
}

void GrpcServerCodec::end_with(Stream& s, const Status& status, const stream::Metadata& trailers) {
  if (s.done || s.finishing) return;
  if (!s.headers_sent) {
    // Trailers-Only: one HEADERS frame with the status, END_STREAM.
    s.done = true;
    s.headers_sent = true;
    std::vector<std::pair<std::string, std::string>> h{{":status", "200"}, {"content-type", "application/grpc"}};
    for (auto& t : status_trailers(status, trailers)) h.push_back(std::move(t));
    auto nva = to_nv(h);
    nghttp2_submit_response(h2_, s.id, nva.data(), nva.size(), nullptr);
  } else {
    s.finishing = true;
    s.trailers = status_trailers(status, trailers);
    nghttp2_session_resume_data(h2_, s.id);
  }
  flush();
}

long GrpcServerCodec::read_body(std::int32_t id, std::uint8_t* buf, std::size_t length, std::uint32_t* flags) {
  Stream* s = find(id);
  if (s == nullptr) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  }
  const bool is_stream = s->is_stream;
  std::size_t copied = s->out.copy(buf, length, [&](std::size_t size) {
    if (is_stream) returned_.emplace_back(id, stream::Credit{1, static_cast<std::uint32_t>(size)});
  });
  if (copied > 0) return static_cast<long>(copied);
  if (s->finishing && !s->done) {
    s->done = true;
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    auto nva = to_nv(s->trailers);
    nghttp2_submit_trailer(h2_, id, nva.data(), nva.size());
    return 0;
  }
  return NGHTTP2_ERR_DEFERRED;
}

void GrpcServerCodec::fail_stream(Stream& s, const Status& status) {
  s.rejected = true;
  s.pending.clear();
  s.pending_wire.clear();
  s.held = 0;
  if (s.is_stream && session_ != nullptr && !s.done) {
    // The core ends the stream (its send_cancel answers the client).
    session_->on_cancel(static_cast<stream::StreamId>(s.id), status);
    if (Stream* still = find(s.id); still != nullptr && !still->done) end_with(*still, status, {});
    return;
  }
  end_with(s, status, {});
}

void GrpcServerCodec::reject_http(Stream& s, const char* http_status, const Status& status) {
  s.rejected = true;
  if (s.done || s.headers_sent) return;
  s.done = true;
  s.headers_sent = true;
  std::vector<std::pair<std::string, std::string>> h{{":status", http_status}, {"content-type", "application/grpc"}};
  for (auto& t : status_trailers(status, {})) h.push_back(std::move(t));
  auto nva = to_nv(h);
  nghttp2_submit_response(h2_, s.id, nva.data(), nva.size(), nullptr);
  flush();
}

void GrpcServerCodec::respond_unary(std::int32_t stream_id, const Status& status, std::string_view message,
                                    const stream::Metadata& trailers) {
  Stream* s = find(stream_id);
  if (s == nullptr || s->done || closed_) return;
  if (status.is_ok()) {
    if (message.size() > options_.max_message_bytes) {
      end_with(*s, Status(StatusCode::kResourceExhausted,
                          "response message of " + std::to_string(message.size()) + " bytes exceeds the limit of " +
                              std::to_string(options_.max_message_bytes)),
               {});
      return;
    }
    queue_message(*s, message);
  }
  end_with(*s, status, trailers);
}

// ---- stream::Sink ---------------------------------------------------------

Status GrpcServerCodec::send_open(stream::StreamId, const stream::OpenInfo&) {
  return Status(StatusCode::kFailedPrecondition, "a gRPC server does not open streams");
}

void GrpcServerCodec::send_message(stream::StreamId id, const std::string& bytes) {
  Stream* s = find(static_cast<std::int32_t>(id));
  if (s == nullptr || s->done || s->finishing) return;
  queue_message(*s, bytes);
  flush();
}

void GrpcServerCodec::send_half_close(stream::StreamId) {}  // only clients half-close

void GrpcServerCodec::send_cancel(stream::StreamId id, const Status& status) {
  Stream* s = find(static_cast<std::int32_t>(id));
  if (s == nullptr || s->done) return;
  // A gRPC client learns why from the trailers; the request side is then
  // dropped by RST_STREAM(NO_ERROR) once they are out (on_frame_send_cb, RFC 9113 §8.1).
  end_with(*s, status, {});
}

void GrpcServerCodec::send_window(stream::StreamId id, stream::Credit credit) {
  Stream* s = find(static_cast<std::int32_t>(id));
  if (s == nullptr) return;
  (void)s->core_credit.grant(credit);  // the core grants within kMaxCredit
  deliver(*s);
  flush();
}

void GrpcServerCodec::send_finish(stream::StreamId id, const Status& status, const stream::Metadata& trailers) {
  Stream* s = find(static_cast<std::int32_t>(id));
  if (s == nullptr) return;
  end_with(*s, status, trailers);
}

void GrpcServerCodec::close_connection(const Status& status) { fatal(status); }

}  // namespace tern::protocol::http2
