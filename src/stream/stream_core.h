// StreamSession: the streams of one connection, independent of the wire
// (shared/DESIGN.md §12). A codec (the Tern protocol's stream frames, or
// HTTP/2 through nghttp2) decodes frames into the six call events and feeds
// them to on_open .. on_finish; the session checks each against the stream's
// state machine (state_machine.h) and flow-control windows (window.h), keeps a
// bounded inbox per stream, and tells the codec what to put on the wire
// through its Sink. The front ends (consumer and provider stream APIs, in
// every call mode) sit on the application side: open/write/writes_done/read/
// finish/cancel, with Listener upcalls when a stream becomes readable,
// writable or closed.
//
//   codec ──on_*()──> StreamSession ──Listener──> consumer / provider front end
//   codec <──Sink──── StreamSession <──write()─── consumer / provider front end
//
// Rules the session enforces, whichever wire carries the stream:
//   * stream ids are chosen by the client, per connection, strictly
//     increasing: an open with an id in use or already used closes the
//     connection ("stream id reused"), as HTTP/2 does (RFC 9113 §5.1.1);
//   * at most `max_concurrent_streams` open streams; one more is refused by
//     resetting it with RESOURCE_EXHAUSTED (HTTP/2's REFUSED_STREAM);
//   * a message larger than `max_message_bytes`, or one the writer had no
//     credit for, resets that stream with RESOURCE_EXHAUSTED;
//   * each stream ends exactly once (Listener::on_closed), with the server's
//     final status, a cancel's CANCELLED, a reset's status, or the
//     connection's loss (UNAVAILABLE);
//   * messages that arrived before the end stay readable after it.
//
// Thread safety: none. A session belongs to its connection's IO thread; the
// front ends post to that thread. Listener and Sink calls run inline, on the
// thread that called into the session. They may call back into the session
// (a read() from on_readable, a write() from on_writable), but must not
// destroy it.
//
// Ownership: the session references `sink` and `listener`, which must outlive
// it. A closed stream's entry (its unread messages and final status) stays
// until release(id).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "stream/state_machine.h"
#include "stream/window.h"
#include "tern/result.h"
#include "tern/status.h"

namespace tern::stream {

using StreamId = std::uint64_t;

// Key/value pairs: request metadata, attachments, trailing metadata.
using Metadata = std::vector<std::pair<std::string, std::string>>;

// What a stream opens with (the request headers of gRPC).
struct OpenInfo {
  std::string service;                    // "Chat" or "pkg.Chat"
  std::string method;                     // "talk"
  std::uint8_t serialization = 0;         // serialization id (docs/protocol.md §4)
  std::chrono::milliseconds timeout{0};   // remaining deadline when sent; 0 = none
  Metadata metadata;                      // attachments
};

// The default window of each direction of a stream (StreamOptions::initial_window).
inline constexpr Credit kDefaultWindow{4096, 1u << 20};

struct StreamOptions {
  // Credit each reader grants at open, per direction (window.h). Default:
  // 4096 messages and 1 MiB. The bytes bound the reader's memory (nghttp2's
  // order of magnitude); the message count bounds per-message bookkeeping and
  // is as many 16-byte messages as HTTP/2's 65,535-byte initial window holds,
  // so small messages stream without waiting for credit (64 held a 16-byte
  // stream to a fifth of its speed). Each count in [1, kMaxCredit].
  Credit initial_window = kDefaultWindow;
  // Open streams at once on this connection (HTTP/2's
  // SETTINGS_MAX_CONCURRENT_STREAMS). Default 100, as gRPC servers advertise.
  std::uint32_t max_concurrent_streams = 100;
  // The largest message accepted, in bytes. Default 4 MiB, gRPC's default.
  std::uint32_t max_message_bytes = 4u << 20;
};

// INVALID_ARGUMENT when a field is out of its range above.
Status validate(const StreamOptions& options);

// What the session asks its codec to send. Called inline from session calls.
// The reference implementation is the recording sink of tests/stream.
class Sink {
 public:
  virtual ~Sink() = default;
  // Non-OK when the codec cannot put this open on the wire (its metadata does
  // not fit a frame): open() then fails with that status and sends nothing.
  virtual Status send_open(StreamId id, const OpenInfo& info) = 0;
  virtual void send_message(StreamId id, const std::string& bytes) = 0;
  virtual void send_half_close(StreamId id) = 0;
  // Resets the stream on the peer (RST_STREAM); `status` says why.
  virtual void send_cancel(StreamId id, const Status& status) = 0;
  virtual void send_window(StreamId id, Credit credit) = 0;
  virtual void send_finish(StreamId id, const Status& status, const Metadata& trailers) = 0;
  // The peer broke a connection rule: close the connection with `status`
  // (INTERNAL, the reason in its message). Called once; the session is dead after it.
  virtual void close_connection(const Status& status) = 0;
};

// What the session tells the front ends. Called inline.
class Listener {
 public:
  virtual ~Listener() = default;
  // Server only: a peer opened stream `id`. The stream is open; read() gives
  // its messages.
  virtual void on_stream_opened(StreamId id, const OpenInfo& info) = 0;
  // A message arrived, or the peer's side ended (read() returns the end).
  virtual void on_readable(StreamId id) = 0;
  // A write that was queued for lack of credit has been sent; write() may be
  // called again.
  virtual void on_writable(StreamId id) = 0;
  // The stream ended with `status` (exactly once per stream).
  virtual void on_closed(StreamId id, const Status& status) = 0;
};

class StreamSession {
 public:
  StreamSession(Role role, StreamOptions options, Sink& sink, Listener& listener);
  StreamSession(const StreamSession&) = delete;
  StreamSession& operator=(const StreamSession&) = delete;

  // ---- events decoded by the codec (the peer's) -------------------------
  void on_open(StreamId id, OpenInfo info);
  void on_message(StreamId id, std::string bytes);
  void on_half_close(StreamId id);
  void on_cancel(StreamId id, Status status);
  void on_window(StreamId id, Credit credit);
  void on_finish(StreamId id, Status status, Metadata trailers);
  // The connection is gone: every stream not yet closed ends with `status`
  // (UNAVAILABLE, may have executed) and the session is dead.
  void on_connection_lost(const Status& status);

  // ---- the application's actions ----------------------------------------
  // Client only: opens a stream with the next id. RESOURCE_EXHAUSTED at the
  // concurrent-stream limit; FAILED_PRECONDITION on a server, UNAVAILABLE on
  // a dead session; the codec's status when it cannot send the open.
  Result<StreamId> open(OpenInfo info);

  // Sends one message now if the stream has credit, else holds it until
  // credit arrives (then on_writable). One message may wait at a time, as in
  // gRPC's async API: a second write() while one waits is
  // FAILED_PRECONDITION, so the writer's memory is bounded by the window plus
  // one message. FAILED_PRECONDITION after writes_done(); the final status
  // (CANCELLED, ...) once the stream is closed; RESOURCE_EXHAUSTED for a
  // message over max_message_bytes.
  Status write(StreamId id, std::string bytes);
  // True when write() would send at once (credit and no message waiting).
  bool writable(StreamId id) const;

  // Client only: no more messages (sent after any waiting message).
  Status writes_done(StreamId id);

  // Server only: ends the stream with `status` and trailing metadata. A
  // waiting message is sent first when the stream has credit for it, else
  // dropped (the status then says so only if it was OK: it becomes
  // RESOURCE_EXHAUSTED "reader did not grant credit").
  Status finish(StreamId id, Status status, Metadata trailers = {});

  // Either side: abandons the stream; the peer sees a reset. The stream's
  // final status becomes `status` (CANCELLED by default).
  Status cancel(StreamId id, Status status = Status(StatusCode::kCancelled, "cancelled"));

  // The next unread message, or nullopt when none is waiting. After the end
  // (ended(id)), nullopt for good.
  std::optional<std::string> read(StreamId id);
  // True when the peer will send no more messages and the inbox is empty.
  bool ended(StreamId id) const;
  // The final status once the stream is closed, nullopt before.
  std::optional<Status> final_status(StreamId id) const;

  // The server's trailing metadata once the stream is closed (empty unless
  // the server finished it), nullptr before. Valid until release(id).
  const Metadata* trailers(StreamId id) const;

  // Forgets a closed stream (its unread messages too). No effect on an open one.
  void release(StreamId id);

  State state(StreamId id) const;  // kClosed for unknown or released ids
  Role role() const noexcept { return role_; }
  bool dead() const noexcept { return dead_; }
  std::size_t open_streams() const noexcept { return open_; }
  std::size_t inbox_size(StreamId id) const;
  std::size_t inbox_bytes(StreamId id) const;

 private:
  struct Stream {
    explicit Stream(Credit window) : send(window), recv(window) {}
    State state = State::kIdle;
    SendWindow send;
    RecvWindow recv;
    std::deque<std::string> inbox;
    std::size_t inbox_bytes = 0;
    std::optional<std::string> waiting;  // a write held for credit
    bool half_close_waiting = false;     // writes_done() behind `waiting`
    bool peer_done = false;              // the peer sends no more messages
    std::optional<Status> final;
    Metadata trailers;
  };

  Stream* find(StreamId id);
  const Stream* find(StreamId id) const;
  // The state a received event applies to: the stream's, kIdle for an id
  // above every id seen, kClosed for an id already used and released.
  State received_state(StreamId id) const;
  // Applies a receive verdict; true when the event should be applied.
  bool admit(StreamId id, Event event, Stream** stream);
  void close_stream(StreamId id, Stream& s, Status status);
  void reset(StreamId id, Stream& s, Status status);
  void fail_connection(std::string why);
  void flush_waiting(StreamId id, Stream& s);
  void send_message_now(StreamId id, Stream& s, std::string bytes);

  Role role_;
  StreamOptions options_;
  Sink& sink_;
  Listener& listener_;
  std::unordered_map<StreamId, Stream> streams_;
  StreamId last_id_ = 0;  // the highest id opened (either side)
  std::size_t open_ = 0;  // streams not closed
  bool dead_ = false;
};

}  // namespace tern::stream
