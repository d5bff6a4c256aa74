// GrpcClientCodec (grpc_client_codec.h).
#include "protocol/http2/grpc_client_codec.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>

#include "protocol/http2/grpc_framing.h"
#include "protocol/http2/nghttp2_util.h"

namespace tern::protocol::http2 {

struct GrpcClientCodec::Call {
  std::int32_t id = 0;
  bool unary = true;
  bool oneway = false;
  std::uint64_t request_id = 0;  // unary
  stream::StreamId core_id = 0;  // stream
  std::uint8_t serialization = 1;
  // Response.
  std::string http_status;
  std::optional<std::string> grpc_status;
  std::string grpc_message;
  Headers metadata;  // initial and trailing custom metadata
  bool headers_done = false;
  MessageReader reader;
  std::vector<std::string> messages;  // unary
  std::deque<std::string> pending;    // stream: not yet in the core
  std::deque<std::size_t> pending_wire;
  std::size_t held = 0;  // sum of pending_wire
  stream::SendWindow core_credit{stream::Credit{}};
  std::size_t unconsumed = 0;
  bool delivering = false;
  std::optional<Status> finish;  // stream: the server's end, after `pending`
  bool finished = false;         // told to the core / answered
  // Request body.
  OutQueue out;
  bool end_after = false;  // END_STREAM once `out` is sent
  bool eof_sent = false;
};

namespace {

GrpcClientCodec* self_of(void* p) { return static_cast<GrpcClientCodec*>(p); }

int on_header_cb(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                 const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  const bool trailers = frame->headers.cat == NGHTTP2_HCAT_HEADERS;
  return self_of(user_data)->on_header(frame->hd.stream_id, trailers,
                                       std::string_view(reinterpret_cast<const char*>(name), namelen),
                                       std::string_view(reinterpret_cast<const char*>(value), valuelen));
}

int on_frame_recv_cb(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  auto* self = self_of(user_data);
  if (frame->hd.type == NGHTTP2_HEADERS) {
    return self->on_headers_done(frame->hd.stream_id, (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0);
  }
  if (frame->hd.type == NGHTTP2_GOAWAY) return self->on_goaway();
  return 0;
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

// gRPC's mapping of an HTTP status without grpc-status (http-grpc-status-mapping.md).
StatusCode from_http(int http) {
  switch (http) {
    case 400: return StatusCode::kInternal;
    case 401: return StatusCode::kUnauthenticated;
    case 403: return StatusCode::kPermissionDenied;
    case 404: return StatusCode::kUnimplemented;
    case 429: case 502: case 503: case 504: return StatusCode::kUnavailable;
    default: return StatusCode::kUnknown;
  }
}

}  // namespace

GrpcClientCodec::GrpcClientCodec(Hooks hooks, GrpcCodecOptions options, std::string authority)
    : hooks_(std::move(hooks)), options_(options), authority_(std::move(authority)) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header_cb);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv_cb);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_cb);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close_cb);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_session_client_new2(&h2_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
}

GrpcClientCodec::~GrpcClientCodec() { nghttp2_session_del(h2_); }

void GrpcClientCodec::start() {
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, std::max<std::uint32_t>(65535, options_.initial_window.bytes)},
  };
  nghttp2_submit_settings(h2_, NGHTTP2_FLAG_NONE, iv, 2);
  if (options_.initial_window.bytes > 65535) {
    nghttp2_submit_window_update(h2_, NGHTTP2_FLAG_NONE, 0,
                                 static_cast<std::int32_t>(options_.initial_window.bytes - 65535));
  }
  flush();
}

GrpcClientCodec::Call* GrpcClientCodec::find(std::int32_t id) {
  auto it = calls_.find(id);
  return it == calls_.end() ? nullptr : it->second.get();
}

void GrpcClientCodec::feed(std::string_view bytes) {
  if (closed_) return;
  in_recv_ = true;
  ssize_t n = nghttp2_session_mem_recv(h2_, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  in_recv_ = false;
  if (n < 0) {
    fatal(Status(StatusCode::kInternal, std::string("HTTP/2 protocol error: ") + nghttp2_strerror(static_cast<int>(n))));
    return;
  }
  flush();
}

void GrpcClientCodec::flush() {
  if (closed_ || in_recv_) return;
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
    auto returned = std::move(returned_);
    returned_.clear();
    if (session_ != nullptr) {
      for (auto& [id, credit] : returned) session_->on_window(id, credit);
    }
  } while (flush_again_ || !returned_.empty());
  in_flush_ = false;
  if (!out.empty() && hooks_.write) hooks_.write(std::move(out));
}

void GrpcClientCodec::fatal(const Status& why) {
  if (closed_) return;
  nghttp2_session_terminate_session(h2_, NGHTTP2_PROTOCOL_ERROR);
  const std::uint8_t* data = nullptr;
  std::string out;
  for (ssize_t n; (n = nghttp2_session_mem_send(h2_, &data)) > 0;) out.append(reinterpret_cast<const char*>(data), n);
  closed_ = true;
  if (!out.empty() && hooks_.write) hooks_.write(std::move(out));
  if (hooks_.close) hooks_.close(why);  // the channel fails its calls; the hub its streams
}

// ---- requests -------------------------------------------------------------

std::int32_t GrpcClientCodec::submit(std::unique_ptr<Call> call, std::string_view service, std::string_view method,
                                     std::uint8_t serialization, std::chrono::milliseconds timeout,
                                     const Headers& metadata) {
  Headers h{{":method", "POST"},
            {":scheme", "http"},
            {":path", "/" + std::string(service) + "/" + std::string(method)},
            {":authority", authority_},
            {"content-type", serialization == 2 ? "application/grpc+json" : "application/grpc"},
            {"te", "trailers"},
            {"user-agent", "tern-grpc/0.1"}};
  if (timeout.count() > 0) h.emplace_back("grpc-timeout", format_grpc_timeout(timeout));
  for (auto& m : metadata_to_headers(metadata)) h.push_back(std::move(m));
  auto nva = to_nv(h);
  nghttp2_data_provider prd;
  prd.source.ptr = nullptr;
  prd.read_callback = read_cb;
  call->serialization = serialization;
  call->reader = MessageReader(options_.max_message_bytes);
  call->core_credit = stream::SendWindow(options_.initial_window);
  std::int32_t id = nghttp2_submit_request(h2_, nullptr, nva.data(), nva.size(), &prd, nullptr);
  if (id < 0) return id;
  call->id = id;
  calls_[id] = std::move(call);
  return id;
}

void GrpcClientCodec::send_request(std::string_view bytes) {
  if (bytes.size() < kHeaderSize) return;
  FrameHeader h = decode_header_unchecked(bytes.data());
  const bool oneway = h.type == FrameType::kOneway;
  if (closed_) {
    if (!oneway) answer_unary(h.request_id, h.serialization, Status(StatusCode::kUnavailable, "connection closed", false), {}, {});
    return;
  }
  if (bytes.size() < kHeaderSize + h.meta_len) return;
  std::string_view meta = bytes.substr(kHeaderSize, h.meta_len);
  std::string_view body = bytes.substr(kHeaderSize + h.meta_len);
  if ((h.status_or_flags & flags::kKnownMask) != 0) {
    if (!oneway) {
      answer_unary(h.request_id, h.serialization,
                   Status(StatusCode::kInternal, "Tern body compression (zstd, lz4) is not available on grpc:// references: set compression to none", false),
                   {}, {});
    }
    return;
  }
  std::string service, method;
  Headers metadata;
  Status ms = for_each_meta(meta, [&](std::string_view k, std::string_view v) {
    if (k == meta_keys::kService) {
      service = v;
    } else if (k == meta_keys::kMethod) {
      method = v;
    } else if (k == meta_keys::kVersion || k == meta_keys::kGroup || k == meta_keys::kAcceptCompression) {
      // Tern routing keys: a gRPC server has no use for them.
    } else if (!k.empty() && k[0] == '^') {
      metadata.emplace_back(std::string(k.substr(1)), std::string(v));  // propagated attachment
    } else {
      metadata.emplace_back(std::string(k), std::string(v));
    }
  });
  if (!ms.is_ok() || service.empty() || method.empty()) {
    if (!oneway) answer_unary(h.request_id, h.serialization, Status(StatusCode::kInternal, "malformed request frame", false), {}, {});
    return;
  }
  auto call = std::make_unique<Call>();
  call->unary = true;
  call->oneway = oneway;
  call->request_id = h.request_id;
  call->out.push(body);
  call->end_after = true;
  std::int32_t id = submit(std::move(call), service, method, h.serialization, std::chrono::milliseconds(h.timeout_ms),
                           metadata);
  if (id < 0) {
    if (!oneway) {
      answer_unary(h.request_id, h.serialization,
                   Status(StatusCode::kUnavailable, std::string("cannot start an HTTP/2 stream: ") + nghttp2_strerror(id),
                          false),
                   {}, {});
    }
    return;
  }
  if (!oneway) by_request_[h.request_id] = id;
  flush();
}

void GrpcClientCodec::cancel(std::uint64_t request_id) {
  auto it = by_request_.find(request_id);
  if (it == by_request_.end()) return;
  std::int32_t id = it->second;
  by_request_.erase(it);
  if (Call* c = find(id)) c->finished = true;  // the channel completed it already
  nghttp2_submit_rst_stream(h2_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  flush();
}

void GrpcClientCodec::answer_unary(std::uint64_t request_id, std::uint8_t serialization, const Status& status,
                                   std::string body, const Headers& metadata) {
  if (!hooks_.on_response) return;
  FrameBuilder b(FrameType::kResponse, request_id, 64 + body.size());
  b.header().serialization = serialization;
  b.header().status_or_flags = static_cast<std::uint8_t>(status.code());
  for (const auto& [k, v] : metadata) (void)b.add_meta(k, v);  // past 64 KiB: dropped
  b.begin_body();
  b.append_body(status.is_ok() ? std::string_view(body) : std::string_view(status.message()));
  std::string bytes = b.finish();
  Frame f;
  f.header = decode_header_unchecked(bytes.data());
  f.payload = bytes.substr(kHeaderSize);
  hooks_.on_response(std::move(f));
}

// ---- responses ------------------------------------------------------------

int GrpcClientCodec::on_header(std::int32_t id, bool trailers, std::string_view name, std::string_view value) {
  Call* c = find(id);
  if (c == nullptr) return 0;
  (void)trailers;
  if (name == ":status") {
    c->http_status = value;
  } else if (name == "grpc-status") {
    c->grpc_status = std::string(value);
  } else if (name == "grpc-message") {
    c->grpc_message = percent_decode(value);
  } else if (name == "grpc-encoding") {
    c->reader.set_gzip(value == "gzip");
  } else if (!name.empty() && name[0] != ':' && !is_reserved_header(name)) {
    c->metadata.emplace_back(std::string(name), std::string(value));
  }
  return 0;
}

Status GrpcClientCodec::final_status(const Call& c) const {
  if (!c.grpc_status) {
    int http = 0;
    for (char ch : c.http_status) http = http * 10 + (ch >= '0' && ch <= '9' ? ch - '0' : 0);
    if (http != 200) return Status(from_http(http), "HTTP status " + c.http_status + " without grpc-status");
    return Status(StatusCode::kInternal, "the server sent no grpc-status");
  }
  int code = -1;
  if (!c.grpc_status->empty() && c.grpc_status->size() <= 2) {
    code = 0;
    for (char ch : *c.grpc_status) code = (ch >= '0' && ch <= '9') ? code * 10 + (ch - '0') : -1000;
  }
  if (code < 0 || code > 16) return Status(StatusCode::kUnknown, "unknown grpc-status '" + *c.grpc_status + "'");
  StatusCode sc = static_cast<StatusCode>(code);
  // The server answered: it may have run the call unless it said otherwise.
  bool executed = !(sc == StatusCode::kUnimplemented || sc == StatusCode::kUnavailable ||
                    sc == StatusCode::kResourceExhausted);
  return sc == StatusCode::kOk ? Status() : Status(sc, c.grpc_message, executed);
}

int GrpcClientCodec::on_headers_done(std::int32_t id, bool end_stream) {
  Call* c = find(id);
  if (c == nullptr) return 0;
  if (!c->headers_done) {
    c->headers_done = true;
    if (!end_stream) return 0;  // initial headers; messages follow
  }
  if (!end_stream) return 0;
  // Trailers (or Trailers-Only): the call's end.
  Status st = final_status(*c);
  if (auto md = headers_to_metadata(c->metadata); md.has_value()) {
    c->metadata = std::move(*md);
  } else if (st.is_ok()) {
    st = Status(md.status().code(), "response: " + md.status().message(), true);
  }
  if (!c->unary) {
    c->finish = st;
    deliver(*c);
    return 0;
  }
  if (c->finished || c->oneway) {
    c->finished = true;
    return 0;
  }
  c->finished = true;
  by_request_.erase(c->request_id);
  if (st.is_ok() && c->messages.size() != 1) {
    st = Status(StatusCode::kInternal, c->messages.empty() ? "OK answer without a message"
                                                           : "more than one message for a unary call",
                true);
  }
  answer_unary(c->request_id, c->serialization, st, st.is_ok() ? std::move(c->messages.front()) : std::string(),
               c->metadata);
  return 0;
}

int GrpcClientCodec::on_data(std::int32_t id, const std::uint8_t* data, std::size_t len) {
  // The connection's window goes back at once: a stream whose reader stops
  // must not stall the others (its own window bounds what it holds).
  nghttp2_session_consume_connection(h2_, len);
  Call* c = find(id);
  if (c == nullptr || c->finished) {
    nghttp2_session_consume_stream(h2_, id, len);
    return 0;
  }
  c->unconsumed += len;
  Status st = c->reader.feed(std::string_view(reinterpret_cast<const char*>(data), len));
  while (st.is_ok()) {
    std::optional<std::pair<std::string, std::size_t>> m;
    st = c->reader.next(&m);
    if (!m) break;
    if (c->unary) {
      c->messages.push_back(std::move(m->first));
    } else {
      c->pending.push_back(std::move(m->first));
      c->pending_wire.push_back(m->second);
      c->held += m->second;
    }
  }
  if (c->unary) {
    nghttp2_session_consume_stream(h2_, id, c->unconsumed);
    c->unconsumed = 0;
  }
  if (!st.is_ok()) {
    // This call only: reset it and report why.
    nghttp2_submit_rst_stream(h2_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    if (c->unary) {
      if (!c->finished && !c->oneway) {
        c->finished = true;
        by_request_.erase(c->request_id);
        answer_unary(c->request_id, c->serialization, Status(st.code(), "response: " + st.message(), true), {}, {});
      }
    } else {
      c->pending.clear();
      c->pending_wire.clear();
      c->held = 0;
      c->finish = Status(st.code(), "response: " + st.message(), true);
      deliver(*c);
    }
    return 0;
  }
  if (!c->unary) deliver(*c);
  return 0;
}

void GrpcClientCodec::deliver(Call& c) {
  if (session_ == nullptr || c.delivering || c.finished) return;
  c.delivering = true;
  while (!c.pending.empty() && c.core_credit.can_send()) {
    std::string m = std::move(c.pending.front());
    std::size_t wire = c.pending_wire.front();
    c.pending.pop_front();
    c.pending_wire.pop_front();
    c.held -= wire;
    c.core_credit.spend(m.size());
    std::size_t give = std::min(wire, c.unconsumed);
    c.unconsumed -= give;
    if (give > 0) nghttp2_session_consume_stream(h2_, c.id, give);  // (nothing left to give once closed)
    session_->on_message(c.core_id, std::move(m));
    if (c.finished) break;
  }
  release_unheld(h2_, c.id, c.unconsumed, c.held);
  c.delivering = false;
  if (c.pending.empty() && c.finish && !c.finished) {
    c.finished = true;
    session_->on_finish(c.core_id, *c.finish, c.metadata);
  }
}

int GrpcClientCodec::on_stream_close(std::int32_t id, std::uint32_t error_code) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return 0;
  std::unique_ptr<Call> c = std::move(it->second);
  calls_.erase(it);
  c->unconsumed = 0;
  if (!c->unary) by_stream_.erase(c->core_id);
  if (c->finished && (c->unary || c->pending.empty())) return 0;
  if (!c->unary && c->finish && !c->finished) {
    // The server ended the stream while messages still wait for the core's
    // credit: they and the final status go in as the reader makes room.
    const stream::StreamId core = c->core_id;
    draining_[core] = std::move(c);
    return 0;
  }
  Status why;
  if (error_code == NGHTTP2_REFUSED_STREAM) {
    why = Status(StatusCode::kUnavailable, "the gRPC server refused the stream (REFUSED_STREAM or GOAWAY)", false);
  } else if (error_code == NGHTTP2_CANCEL) {
    why = Status(StatusCode::kCancelled, "cancelled by the server (RST_STREAM CANCEL)", true);
  } else if (error_code == NGHTTP2_NO_ERROR && c->finish) {
    why = *c->finish;
  } else {
    why = Status(StatusCode::kInternal,
                 std::string("stream reset by the server (") + nghttp2_http2_strerror(error_code) + ")", true);
  }
  if (c->unary) {
    if (!c->oneway) {
      by_request_.erase(c->request_id);
      answer_unary(c->request_id, c->serialization, why, {}, {});
    }
  } else if (session_ != nullptr && !c->finished) {
    c->finished = true;
    session_->on_cancel(c->core_id, why);
  }
  return 0;
}

int GrpcClientCodec::on_goaway() {
  if (hooks_.on_goaway) hooks_.on_goaway();
  return 0;
}

long GrpcClientCodec::read_body(std::int32_t id, std::uint8_t* buf, std::size_t length, std::uint32_t* flags) {
  Call* c = find(id);
  if (c == nullptr) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  }
  const bool unary = c->unary;
  const stream::StreamId core = c->core_id;
  std::size_t copied = c->out.copy(buf, length, [&](std::size_t size) {
    if (!unary) returned_.emplace_back(core, stream::Credit{1, static_cast<std::uint32_t>(size)});
  });
  if (copied > 0) return static_cast<long>(copied);
  if (c->end_after) {
    c->eof_sent = true;
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  }
  return NGHTTP2_ERR_DEFERRED;
}

// ---- stream::Sink ---------------------------------------------------------

Status GrpcClientCodec::send_open(stream::StreamId id, const stream::OpenInfo& info) {
  if (closed_) return Status(StatusCode::kUnavailable, "connection closed", false);
  auto call = std::make_unique<Call>();
  call->unary = false;
  call->core_id = id;
  std::int32_t h2id = submit(std::move(call), info.service, info.method, info.serialization, info.timeout, info.metadata);
  if (h2id < 0) {
    return Status(StatusCode::kUnavailable, std::string("cannot start an HTTP/2 stream: ") + nghttp2_strerror(h2id),
                  false);
  }
  by_stream_[id] = h2id;
  flush();
  return Status();
}

void GrpcClientCodec::send_message(stream::StreamId id, const std::string& bytes) {
  auto it = by_stream_.find(id);
  if (it == by_stream_.end()) return;
  Call* c = find(it->second);
  if (c == nullptr || c->end_after) return;
  c->out.push(bytes);
  nghttp2_session_resume_data(h2_, c->id);
  flush();
}

void GrpcClientCodec::send_half_close(stream::StreamId id) {
  auto it = by_stream_.find(id);
  if (it == by_stream_.end()) return;
  Call* c = find(it->second);
  if (c == nullptr) return;
  c->end_after = true;
  nghttp2_session_resume_data(h2_, c->id);
  flush();
}

void GrpcClientCodec::send_cancel(stream::StreamId id, const Status&) {
  draining_.erase(id);
  auto it = by_stream_.find(id);
  if (it == by_stream_.end()) return;
  if (Call* c = find(it->second)) c->finished = true;
  nghttp2_submit_rst_stream(h2_, NGHTTP2_FLAG_NONE, it->second, NGHTTP2_CANCEL);
  flush();
}

void GrpcClientCodec::send_window(stream::StreamId id, stream::Credit credit) {
  if (auto d = draining_.find(id); d != draining_.end()) {
    std::unique_ptr<Call> c = std::move(d->second);
    draining_.erase(d);
    (void)c->core_credit.grant(credit);
    deliver(*c);
    if (!c->finished) draining_[id] = std::move(c);
    return;
  }
  auto it = by_stream_.find(id);
  if (it == by_stream_.end()) return;
  Call* c = find(it->second);
  if (c == nullptr) return;
  (void)c->core_credit.grant(credit);
  deliver(*c);
  flush();
}

void GrpcClientCodec::send_finish(stream::StreamId, const Status&, const stream::Metadata&) {}  // servers finish

void GrpcClientCodec::close_connection(const Status& status) { fatal(status); }

}  // namespace tern::protocol::http2
