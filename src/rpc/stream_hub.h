// src/rpc/stream_hub.h - the streams of one connection, joined to the
// application (internal). Both the provider's ServerSession and the
// consumer's ChannelSession own one, created at the first stream frame or
// open, so connections without streams pay nothing.
//
//   connection ──stream frames──> StreamHub::feed ──> TernStreamCodec ──> StreamSession
//                                                                            │ Listener
//   RawStream (StreamCall) <── completions (posted / business pool) <───── StreamHub
//
// The hub is the stream core's Listener; its StreamCall objects implement
// tern::RawStream (tern/stream.h) for every front end. The codec is the
// Tern protocol's (protocol/tern_stream_codec.h); the HTTP/2 codec will plug
// in as another stream::Sink with the same hub above it (shared/DESIGN.md §12).
//
// Threading: the session, the codec and every StreamCall's live state belong
// to the connection's IO thread. RawStream methods post there. Completions
// run through `dispatch` (the business pool, or a post to the IO loop), never
// inline inside the session's callbacks or inside the call that started them.
//
// Lifetime: the hub is shared_ptr-owned by its session; StreamCalls hold it
// weakly, and the hub holds each call until the stream ended and its end was
// settled (messages left in the inbox move into the call, so they stay
// readable after the hub is gone).
#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <deque>
#include <mutex>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol/tern_stream_codec.h"
#include "stream/stream_core.h"
#include "tern/detail/unique_function.h"
#include "tern/stream.h"

namespace tern::rpc {

class StreamHub;

// Runs a completion: on the business pool, or posted to the IO loop.
using StreamDispatch = std::function<void(detail::UniqueFunction<void()>)>;

class StreamCall final : public RawStream, public std::enable_shared_from_this<StreamCall> {
 public:
  StreamCall(std::weak_ptr<StreamHub> hub, asio::io_context& loop, StreamDispatch dispatch, stream::OpenInfo info,
             std::string peer, bool provider_side);
  ~StreamCall() override;

  // RawStream
  void write(std::string bytes, Done done) override;
  void read(ReadDone done) override;
  void writes_done(Done done) override;
  void await_status(Done done) override;
  void finish(Status status, StreamMetadata trailers) override;
  void cancel(Status why) override;
  void defer(detail::UniqueFunction<void()> fn) override;
  std::optional<Status> try_write_now(std::string& bytes) override;
  std::optional<std::string> try_read_now() override;
  const std::string& service() const noexcept override { return info_.service; }
  const std::string& method() const noexcept override { return info_.method; }
  std::uint8_t serialization() const noexcept override { return info_.serialization; }
  StreamMetadata metadata() const override;
  std::chrono::steady_clock::time_point deadline() const noexcept override { return deadline_; }

  const std::string& peer() const noexcept { return peer_; }
  // Server, IO thread, before the handler starts: where completions run.
  void set_dispatch(StreamDispatch dispatch) { dispatch_ = std::move(dispatch); }
  // A stream that failed before it could open (no connection): its final
  // status is `why`.
  static std::shared_ptr<StreamCall> failed(asio::io_context& loop, StreamDispatch dispatch, stream::OpenInfo info,
                                            Status why);
  // True once the stream ended and its end was settled (IO thread).
  bool settled() const noexcept { return final_.has_value(); }
  // As settled(), from any thread.
  bool ended() const noexcept { return ended_.load(std::memory_order_acquire); }
  // Messages and their payload bytes received (read, or left unread at the
  // end) / accepted from the writer so far (any thread; relaxed counters for metrics).
  std::uint64_t messages_received() const noexcept { return messages_in_.load(std::memory_order_relaxed); }
  std::uint64_t messages_sent() const noexcept { return messages_out_.load(std::memory_order_relaxed); }
  std::uint64_t bytes_received() const noexcept { return bytes_in_.load(std::memory_order_relaxed); }
  std::uint64_t bytes_sent() const noexcept { return bytes_out_.load(std::memory_order_relaxed); }

 private:
  friend class StreamHub;
  // IO thread: runs `fn` with the live hub, or fails with UNAVAILABLE when
  // the connection is gone before the stream could end normally.
  template <typename F>
  void on_loop(F fn);
  void complete(detail::UniqueFunction<void()> fn) { dispatch_(std::move(fn)); }

  // IO thread only ----------------------------------------------------------
  void try_read(StreamHub* hub);  // hub may be null once final_ is set
  // The stream ended with `final`: take the leftover messages, complete every waiter.
  void settle(Status final, stream::Metadata trailers, std::deque<std::string> leftover);
  void count_read(const std::optional<std::string>& msg) noexcept {
    if (msg) count_read(*msg);
  }
  void count_read(const std::string& msg) noexcept {
    messages_in_.fetch_add(1, std::memory_order_relaxed);
    bytes_in_.fetch_add(msg.size(), std::memory_order_relaxed);
  }

  std::weak_ptr<StreamHub> hub_;
  asio::io_context& loop_;
  StreamDispatch dispatch_;
  const stream::OpenInfo info_;
  const std::string peer_;
  const bool provider_side_;
  const std::chrono::steady_clock::time_point deadline_;

  stream::StreamId id_ = 0;  // 0 until opened
  ReadDone read_waiter_;
  Done write_waiter_;
  Done half_close_waiter_;
  std::vector<Done> status_waiters_;
  std::optional<Status> final_;
  std::deque<std::string> leftover_;  // unread messages at the end
  std::unique_ptr<asio::steady_timer> deadline_timer_;
  std::atomic<bool> ended_{false};
  std::atomic<std::uint64_t> messages_in_{0}, messages_out_{0}, bytes_in_{0}, bytes_out_{0};
  mutable std::mutex meta_mu_;         // trailers_ is read from any thread
  stream::Metadata trailers_;
};

class StreamHub final : public stream::Listener, public std::enable_shared_from_this<StreamHub> {
 public:
  using Write = std::function<void(std::string frame)>;
  using Close = std::function<void(const Status& why)>;
  // Server: a consumer opened a stream (posted, on the IO thread).
  using OnOpened = std::function<void(std::shared_ptr<StreamCall>)>;

  // On the Tern protocol: the hub owns a TernStreamCodec writing frames
  // through `write`. `dispatch` runs completions; `on_opened` is required for
  // a server hub.
  StreamHub(stream::Role role, stream::StreamOptions options, asio::io_context& loop, std::string peer, Write write,
            Close close, StreamDispatch dispatch, OnOpened on_opened = nullptr);
  // On another wire: `codec` (HTTP/2's) is the session's Sink and feeds the
  // session itself (session()); the hub keeps it alive.
  StreamHub(stream::Role role, stream::StreamOptions options, asio::io_context& loop, std::string peer,
            std::shared_ptr<stream::Sink> codec, StreamDispatch dispatch, OnOpened on_opened = nullptr);

  // IO thread: one received Tern stream frame (a bad one closes the connection).
  void feed(const protocol::Frame& frame);
  // IO thread: the session, for a codec that feeds it directly.
  stream::StreamSession& session() noexcept { return session_; }
  // IO thread: the connection is gone; every live stream ends with `why`.
  void connection_lost(const Status& why);

  // Client, any thread: a new stream. The open itself is posted to the IO
  // thread; a failure there becomes the stream's final status.
  std::shared_ptr<StreamCall> open(stream::OpenInfo info);

  // Streams opened and not yet settled (any thread).
  std::size_t live() const noexcept { return live_.load(std::memory_order_acquire); }
  // Runs on the IO thread after a stream was settled (the consumer's channel
  // closes a connection that has a goaway once nothing is left on it).
  void set_on_settled(std::function<void()> fn) { on_settled_ = std::move(fn); }

  // stream::Listener (IO thread, inline from the session)
  void on_stream_opened(stream::StreamId id, const stream::OpenInfo& info) override;
  void on_readable(stream::StreamId id) override;
  void on_writable(stream::StreamId id) override;
  void on_closed(stream::StreamId id, const Status& status) override;

 private:
  friend class StreamCall;
  StreamCall* call(stream::StreamId id);
  void arm_deadline(const std::shared_ptr<StreamCall>& call);
  void settle(stream::StreamId id);

  asio::io_context& loop_;
  std::string peer_;
  StreamDispatch dispatch_;
  OnOpened on_opened_;
  std::shared_ptr<stream::Sink> codec_;          // the wire's codec
  protocol::TernStreamCodec* tern_ = nullptr;     // codec_ on the Tern protocol
  stream::StreamSession session_;
  std::unordered_map<stream::StreamId, std::shared_ptr<StreamCall>> calls_;
  std::atomic<std::size_t> live_{0};
  std::function<void()> on_settled_;
};

}  // namespace tern::rpc
