// StreamSession (stream_core.h): the stream table of one connection, driven
// by the state machine (state_machine.cc) and the windows (window.cc).
#include "stream/stream_core.h"

#include <string>

namespace tern::stream {
namespace {

std::string describe(StreamId id, const char* why) { return "stream " + std::to_string(id) + ": " + why; }

Status precondition(StreamId id, const char* why) {
  return Status(StatusCode::kFailedPrecondition, describe(id, why));
}

}  // namespace

Status validate(const StreamOptions& options) {
  auto bad = [](const std::string& what) { return Status(StatusCode::kInvalidArgument, "StreamOptions: " + what); };
  if (options.initial_window.messages < 1 || options.initial_window.messages > kMaxCredit) {
    return bad("initial_window.messages must be in [1, 2^31-1]");
  }
  if (options.initial_window.bytes < 1 || options.initial_window.bytes > kMaxCredit) {
    return bad("initial_window.bytes must be in [1, 2^31-1]");
  }
  if (options.max_concurrent_streams < 1) return bad("max_concurrent_streams must be at least 1");
  if (options.max_message_bytes > kMaxCredit) return bad("max_message_bytes must be at most 2^31-1");
  return Status::ok();
}

StreamSession::StreamSession(Role role, StreamOptions options, Sink& sink, Listener& listener)
    : role_(role), options_(options), sink_(sink), listener_(listener) {}

StreamSession::Stream* StreamSession::find(StreamId id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : &it->second;
}

const StreamSession::Stream* StreamSession::find(StreamId id) const {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : &it->second;
}

State StreamSession::received_state(StreamId id) const {
  if (const Stream* s = find(id)) return s->state;
  return id > last_id_ ? State::kIdle : State::kClosed;
}

bool StreamSession::admit(StreamId id, Event event, Stream** stream) {
  *stream = nullptr;
  if (dead_) return false;
  if (id == 0) {
    fail_connection("stream id 0 is not a stream");
    return false;
  }
  const Transition t = on_receive(role_, received_state(id), event);
  switch (t.verdict) {
    case Verdict::kAccept:
      *stream = find(id);
      // close_stream() moves a stream to closed (once, with its listener call).
      if (*stream != nullptr && t.next != State::kClosed) (*stream)->state = t.next;
      return true;
    case Verdict::kIgnore:
      return false;
    case Verdict::kResetStream:
      if (Stream* s = find(id)) reset(id, *s, Status(StatusCode::kInternal, describe(id, t.why), true));
      return false;
    case Verdict::kCloseConnection:
    case Verdict::kRejectLocal:
      fail_connection(describe(id, t.why) + std::string(" (") + to_string(event) + " received by the " +
                      to_string(role_) + ")");
      return false;
  }
  return false;
}

void StreamSession::on_open(StreamId id, OpenInfo info) {
  Stream* s = nullptr;
  if (!admit(id, Event::kOpen, &s)) return;
  last_id_ = id;
  if (open_ >= options_.max_concurrent_streams) {
    // Refused before it began (HTTP/2 REFUSED_STREAM): the handler never ran,
    // so the consumer may retry it elsewhere.
    sink_.send_cancel(id, Status(StatusCode::kResourceExhausted,
                                 describe(id, "refused: the connection's limit of open streams (") +
                                     std::to_string(options_.max_concurrent_streams) + ") is reached"));
    return;
  }
  auto [it, inserted] = streams_.try_emplace(id, options_.initial_window);
  (void)inserted;
  it->second.state = State::kOpen;
  ++open_;
  listener_.on_stream_opened(id, info);
}

void StreamSession::on_message(StreamId id, std::string bytes) {
  Stream* s = nullptr;
  if (!admit(id, Event::kMessage, &s)) return;
  if (bytes.size() > options_.max_message_bytes) {
    reset(id, *s, Status(StatusCode::kResourceExhausted,
                         describe(id, "message of ") + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                             std::to_string(options_.max_message_bytes),
                         true));
    return;
  }
  if (!s->recv.admit(bytes.size())) {
    reset(id, *s, Status(StatusCode::kResourceExhausted,
                         describe(id, "message sent without flow-control credit"), true));
    return;
  }
  s->inbox_bytes += bytes.size();
  s->inbox.push_back(std::move(bytes));
  listener_.on_readable(id);
}

void StreamSession::on_half_close(StreamId id) {
  Stream* s = nullptr;
  if (!admit(id, Event::kHalfClose, &s)) return;
  s->peer_done = true;
  listener_.on_readable(id);
}

void StreamSession::on_cancel(StreamId id, Status status) {
  Stream* s = nullptr;
  if (!admit(id, Event::kCancel, &s)) return;
  Status final(status.is_ok() ? StatusCode::kCancelled : status.code(),
               "cancelled by the peer" + (status.message().empty() ? std::string() : ": " + status.message()), true);
  close_stream(id, *s, std::move(final));
}

void StreamSession::on_window(StreamId id, Credit credit) {
  Stream* s = nullptr;
  if (!admit(id, Event::kWindow, &s)) return;
  if (!s->send.grant(credit)) {
    reset(id, *s, Status(StatusCode::kInternal, describe(id, "window grant overflows 2^31-1"), true));
    return;
  }
  flush_waiting(id, *s);
}

void StreamSession::on_finish(StreamId id, Status status, Metadata trailers) {
  Stream* s = nullptr;
  if (!admit(id, Event::kFinish, &s)) return;
  s->trailers = std::move(trailers);
  close_stream(id, *s, std::move(status));
}

void StreamSession::on_connection_lost(const Status& status) {
  if (dead_) return;
  dead_ = true;
  std::vector<StreamId> live;
  for (auto& [id, s] : streams_) {
    if (s.state != State::kClosed) live.push_back(id);
  }
  for (StreamId id : live) {
    if (Stream* s = find(id)) close_stream(id, *s, status);
  }
}

void StreamSession::fail_connection(std::string why) {
  if (dead_) return;
  Status reason(StatusCode::kInternal, "stream protocol error: " + why);
  sink_.close_connection(reason);
  on_connection_lost(Status(StatusCode::kUnavailable, "connection closed: " + reason.message(), true));
}

void StreamSession::close_stream(StreamId id, Stream& s, Status status) {
  if (s.state == State::kClosed) return;
  s.state = State::kClosed;
  --open_;
  s.waiting.reset();
  s.half_close_waiting = false;
  s.peer_done = true;
  s.final = status;
  listener_.on_closed(id, status);
}

void StreamSession::reset(StreamId id, Stream& s, Status status) {
  if (s.state == State::kClosed) return;
  sink_.send_cancel(id, status);
  close_stream(id, s, std::move(status));
}

void StreamSession::send_message_now(StreamId id, Stream& s, std::string bytes) {
  s.send.spend(bytes.size());
  sink_.send_message(id, bytes);
}

void StreamSession::flush_waiting(StreamId id, Stream& s) {
  if (!s.waiting || !s.send.can_send() || !can_send_messages(s.state)) return;
  std::string bytes = std::move(*s.waiting);
  s.waiting.reset();
  send_message_now(id, s, std::move(bytes));
  if (s.half_close_waiting) {
    s.half_close_waiting = false;
    s.state = State::kHalfClosedLocal;
    sink_.send_half_close(id);
  }
  listener_.on_writable(id);
}

Result<StreamId> StreamSession::open(OpenInfo info) {
  if (role_ != Role::kClient) return Status(StatusCode::kFailedPrecondition, "only a client opens a stream");
  if (dead_) return Status(StatusCode::kUnavailable, "the connection is closed");
  if (open_ >= options_.max_concurrent_streams) {
    return Status(StatusCode::kResourceExhausted, std::to_string(open_) +
                                                      " streams are open, the limit of this connection");
  }
  const StreamId id = ++last_id_;
  auto [it, inserted] = streams_.try_emplace(id, options_.initial_window);
  (void)inserted;
  it->second.state = on_send(role_, State::kIdle, Event::kOpen).next;
  ++open_;
  if (Status sent = sink_.send_open(id, info); !sent.is_ok()) {
    streams_.erase(id);  // the peer never saw it; the id stays used
    --open_;
    return sent;
  }
  return id;
}

Status StreamSession::write(StreamId id, std::string bytes) {
  Stream* s = find(id);
  if (s == nullptr) return precondition(id, "unknown stream");
  const Transition t = on_send(role_, s->state, Event::kMessage);
  if (t.verdict == Verdict::kIgnore) {
    return s->final && !s->final->is_ok() ? *s->final : precondition(id, "the stream is closed");
  }
  if (t.verdict != Verdict::kAccept) return precondition(id, t.why);
  if (s->half_close_waiting) return precondition(id, "write after writes_done");
  if (bytes.size() > options_.max_message_bytes) {
    return Status(StatusCode::kResourceExhausted, describe(id, "message of ") + std::to_string(bytes.size()) +
                                                      " bytes exceeds the limit of " +
                                                      std::to_string(options_.max_message_bytes));
  }
  if (s->waiting) return precondition(id, "a write is already waiting for flow-control credit");
  if (s->send.can_send()) {
    send_message_now(id, *s, std::move(bytes));
  } else {
    s->waiting = std::move(bytes);
  }
  return Status::ok();
}

bool StreamSession::writable(StreamId id) const {
  const Stream* s = find(id);
  return s != nullptr && can_send_messages(s->state) && !s->waiting && !s->half_close_waiting &&
         s->send.can_send();
}

Status StreamSession::writes_done(StreamId id) {
  Stream* s = find(id);
  if (s == nullptr) return precondition(id, "unknown stream");
  const Transition t = on_send(role_, s->state, Event::kHalfClose);
  if (t.verdict == Verdict::kIgnore) {
    return s->final && !s->final->is_ok() ? *s->final : precondition(id, "the stream is closed");
  }
  if (t.verdict != Verdict::kAccept) return precondition(id, t.why);
  if (s->half_close_waiting) return precondition(id, "writes_done called twice");
  if (s->waiting) {
    s->half_close_waiting = true;
  } else {
    s->state = t.next;
    sink_.send_half_close(id);
  }
  return Status::ok();
}

Status StreamSession::finish(StreamId id, Status status, Metadata trailers) {
  Stream* s = find(id);
  if (s == nullptr) return precondition(id, "unknown stream");
  const Transition t = on_send(role_, s->state, Event::kFinish);
  if (t.verdict == Verdict::kIgnore) return precondition(id, "the stream is closed");
  if (t.verdict != Verdict::kAccept) return precondition(id, t.why);
  if (s->waiting && status.is_ok()) {
    // The reader never granted credit for the last message: report it rather
    // than end with OK and a lost message.
    status = Status(StatusCode::kResourceExhausted,
                    describe(id, "the reader did not grant credit for the last message"), true);
  }
  s->waiting.reset();
  sink_.send_finish(id, status, trailers);
  close_stream(id, *s, std::move(status));
  return Status::ok();
}

Status StreamSession::cancel(StreamId id, Status status) {
  Stream* s = find(id);
  if (s == nullptr || s->state == State::kClosed) return Status::ok();  // idempotent, as gRPC's TryCancel
  if (status.is_ok()) status = Status(StatusCode::kCancelled, "cancelled");
  reset(id, *s, std::move(status));
  return Status::ok();
}

std::optional<std::string> StreamSession::read(StreamId id) {
  Stream* s = find(id);
  if (s == nullptr || s->inbox.empty()) return std::nullopt;
  std::string bytes = std::move(s->inbox.front());
  s->inbox.pop_front();
  s->inbox_bytes -= bytes.size();
  s->recv.consumed(bytes.size());
  // Grant credit back only while the peer may still send on this stream.
  if (!dead_ && can_receive_messages(s->state)) {
    if (auto grant = s->recv.take_grant()) sink_.send_window(id, *grant);
  }
  return bytes;
}

bool StreamSession::ended(StreamId id) const {
  const Stream* s = find(id);
  return s == nullptr || (s->inbox.empty() && (s->peer_done || s->state == State::kClosed));
}

std::optional<Status> StreamSession::final_status(StreamId id) const {
  const Stream* s = find(id);
  if (s == nullptr) return std::nullopt;
  return s->final;
}

const Metadata* StreamSession::trailers(StreamId id) const {
  const Stream* s = find(id);
  return s == nullptr || !s->final ? nullptr : &s->trailers;
}

void StreamSession::release(StreamId id) {
  auto it = streams_.find(id);
  if (it != streams_.end() && it->second.state == State::kClosed) streams_.erase(it);
}

State StreamSession::state(StreamId id) const {
  const Stream* s = find(id);
  return s == nullptr ? State::kClosed : s->state;
}

std::size_t StreamSession::inbox_size(StreamId id) const {
  const Stream* s = find(id);
  return s == nullptr ? 0 : s->inbox.size();
}

std::size_t StreamSession::inbox_bytes(StreamId id) const {
  const Stream* s = find(id);
  return s == nullptr ? 0 : s->inbox_bytes;
}

}  // namespace tern::stream
