// ServerCall (tern/server_call.h): one unary request, its answer (result,
// error, or the destructor's last-resort INTERNAL) and the bookkeeping an
// answer releases: the connection's in-flight slot and request id, the
// method's limiter slot, the filters' on_response.
#include "tern/server_call.h"

#include "rpc/protocol_log.h"
#include "server/server_impl.h"
#include "server/server_session.h"
#include "tern/filter.h"
#include "tern/log.h"

namespace tern {

ServerCall::ServerCall(std::shared_ptr<rpc::ServerSession> session, protocol::Frame frame,
                       std::chrono::steady_clock::time_point received)
    : session_(std::move(session)), frame_(std::move(frame)) {
  deadline_ = frame_.header.timeout_ms == 0 ? std::chrono::steady_clock::time_point::max()
                                            : received + std::chrono::milliseconds(frame_.header.timeout_ms);
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
    // The last resort of tern/server_call.h: a handler lost its call (the
    // server answers every call it refuses itself). Answered so that the
    // consumer does not wait for its deadline; may have executed when its
    // handler started, so failover does not rerun it.
    const bool started = started_ != std::chrono::steady_clock::time_point{};
    auto n = session_->server()->unanswered_calls.fetch_add(1, std::memory_order_relaxed);
    if (n % 1000 == 0) {
      TERN_LOG(kError,
               "call {}.{} (request {} from {}) was destroyed without a response: its handler lost the "
               "ServerCall; answered INTERNAL ({} such calls so far)",
               service(), method(), request_id(), session_->peer(), n + 1);
    }
    fail(Status(StatusCode::kInternal, "the call was destroyed without a response", started));
  }
  release_slot();  // oneway calls, and calls dropped with their connection
  release_limit(oneway() && started_ != std::chrono::steady_clock::time_point{});
}

const std::string& ServerCall::peer() const noexcept { return session_->peer(); }
std::shared_ptr<ServerConnection> ServerCall::connection() const noexcept { return session_; }

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
    fail(too_large);  // the result is dropped; a small error takes its place
    return;
  }
  response_bytes_ = frame.size();  // on the wire: compressed, when it is
  release_slot();  // before the response leaves: the consumer may send its next call at once
  release_limit(Status());
  session_->send_response(std::move(frame));
  after_response(Status());
}

void ServerCall::fail(const Status& error) {
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

}  // namespace tern
