// tern/stream.h - streaming calls: server streaming, client streaming and
// bidirectional streams with per-stream flow control (docs/streaming.md,
// docs/protocol.md §12).
//
// One stream core serves every front end (shared/DESIGN.md §12): RawStream is
// the generic, bytes-level handle of one stream on either side, with a
// callback form of every operation; the typed ClientStream<Req, Resp> and
// ServerStream<Req, Resp> add serialization plus a coroutine form
// (`co_await s.read()`) and a blocking form (`s.read_sync()`), all three on
// the same handle.
//
// Consumer (coroutine form):
//   auto s = tern::ClientStream<std::string, std::string>::open(*ref, "chat");
//   co_await s.write("hi");
//   co_await s.writes_done();
//   while (auto reply = co_await s.read()) use(*reply);
//   tern::Status st = co_await s.finish();   // the provider's final status
//
// Provider:
//   server.add_stream_method<std::string, std::string>("Chat", "chat",
//       [](tern::ServerStream<std::string, std::string>& s) -> tern::Task<tern::Status> {
//         while (auto m = co_await s.read()) co_await s.write("echo " + *m);
//         co_return tern::Status();   // sent as the stream's final status
//       });
//
// Statuses (gRPC's canonical codes):
//   * UNIMPLEMENTED: no stream method of that name on the provider;
//   * DEADLINE_EXCEEDED: the stream outlived its deadline (either side
//     cancels it; the deadline covers the whole stream, as in gRPC);
//   * CANCELLED: either side cancelled ("cancelled by the peer: ...");
//   * RESOURCE_EXHAUSTED: a message over the limit (4 MiB by default), too
//     many streams on one connection (100), or a writer without credit;
//   * UNAVAILABLE: the connection was lost, or the provider is shutting down;
//   * INVALID_ARGUMENT: a typed message that does not decode (the stream is
//     cancelled with it);
//   * FAILED_PRECONDITION: local misuse (a write after writes_done, a second
//     write while one waits for flow-control credit); nothing is sent.
//
// Flow control: each direction has a window (4096 messages and 1 MiB by
// default) granted by the reader as it reads. A write completes when its
// message is on the wire; a writer without credit waits (its completion
// runs once the reader granted credit), so a slow reader bounds the
// writer's memory to one window plus one message.
//
// Threading: every method of every handle may be called from any thread, but
// one read and one write may be outstanding at a time (as gRPC's async API).
// Completions never run inline inside the call that started them (except on
// a consumer's handle kept past its Client: see Lifetime); they run
// on the connection's IO thread, or on the business pool where the
// dispatcher sends requests (provider) or responses (consumer). The blocking
// forms (`*_sync`) must not be called on an IO thread.
//
// Lifetime: handles are shared_ptr-owned; the stream's state lives until both
// the handle and the connection are done with it. Dropping a consumer's last
// handle before the stream ended cancels it. A consumer's handle may outlive
// its tern::Client: the Client's destruction ends the stream with CANCELLED
// "consumer shut down", and an operation started afterwards completes at
// once with that status, on the calling thread (the one inline completion).
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tern/detail/unique_function.h"
#include "tern/result.h"
#include "tern/serialization/codecs.h"
#include "tern/server_context.h"
#include "tern/status.h"
#include "tern/task.h"

namespace tern {

// Metadata of a stream: the consumer's attachments, the provider's trailers.
using StreamMetadata = std::vector<std::pair<std::string, std::string>>;

// One stream, on either side: the bytes-level handle every front end uses.
// Implemented by the stream core (src/rpc/stream_hub.h).
class RawStream {
 public:
  using Done = detail::UniqueFunction<void(Status)>;
  // `message` is set for a message; nullopt at the end of the peer's
  // messages, with `status` OK when the peer ended cleanly (its half-close,
  // or the provider's OK finish), else the stream's final status.
  using ReadDone = detail::UniqueFunction<void(std::optional<std::string> message, Status status)>;

  virtual ~RawStream() = default;

  // Sends one message; `done` runs once it is on the wire (OK), or with why
  // it cannot be (the final status of a stream that ended, RESOURCE_EXHAUSTED
  // for a message over the limit, FAILED_PRECONDITION for misuse).
  virtual void write(std::string bytes, Done done) = 0;
  // The next message of the peer (see ReadDone).
  virtual void read(ReadDone done) = 0;
  // Consumer: sends no more messages (half-close). `done` as write's.
  virtual void writes_done(Done done) = 0;
  // Consumer: `done` runs with the stream's final status once it ended
  // (the provider's finish, a cancel, the deadline or the connection's loss).
  // Unread messages stay readable.
  virtual void await_status(Done done) = 0;
  // Provider: ends the stream with `status` and trailing metadata. The
  // stream handlers' return value calls it; a second call does nothing.
  virtual void finish(Status status, StreamMetadata trailers = {}) = 0;
  // Either side: abandons the stream; the peer sees CANCELLED (or `why`).
  // Idempotent; no effect on an ended stream.
  virtual void cancel(Status why = Status(StatusCode::kCancelled, "cancelled")) = 0;
  // Runs `fn` where this stream's completions run, never inline (except on
  // a consumer's handle kept past its Client: see Lifetime).
  virtual void defer(detail::UniqueFunction<void()> fn) = 0;

  // Fast paths for code that already runs on the stream's IO thread (a
  // `direct` provider handler, a consumer's completions under the
  // `execution` or `direct` dispatcher). They never run a completion.
  //
  // try_write_now: when called on that thread with no write waiting and the
  // peer's window open, sends `bytes` as write() would and returns the
  // status write()'s `done` would have had (the message is moved from).
  // Anywhere else returns nullopt and leaves `bytes` alone: call write().
  // Writing many messages this way in one turn of the loop lets them leave
  // in one system call.
  virtual std::optional<Status> try_write_now(std::string& bytes) {
    (void)bytes;
    return std::nullopt;
  }
  // try_read_now: on that thread with no read waiting, the next message
  // already received, if one is; nullopt otherwise (also at the end): call
  // read().
  virtual std::optional<std::string> try_read_now() { return std::nullopt; }

  virtual const std::string& service() const noexcept = 0;
  virtual const std::string& method() const noexcept = 0;
  // Serialization id of the stream's messages (docs/protocol.md §4).
  virtual std::uint8_t serialization() const noexcept = 0;
  // Provider: the consumer's attachments. Consumer: the provider's trailers,
  // once await_status completed (empty before).
  virtual StreamMetadata metadata() const = 0;
  // The stream's deadline on this side (time_point::max() for none).
  virtual std::chrono::steady_clock::time_point deadline() const noexcept = 0;
};

namespace detail {

// std::string as a codec writer.
struct StringWriter {
  std::string out;
  void write(const char* p, std::size_t n) { out.append(p, n); }
};

// co_await on a callback operation: `start(callback)` begins it; the
// callback's value is the result of the co_await. The callback does not run
// inline inside start() (RawStream's contract, but for a handle kept past its
// Client), and await_suspend touches nothing after start(), so a completion
// on another thread, or inline, is safe.
// The ServerContext current at the co_await (a handler's, a stream's) is
// current again when the coroutine resumes, so nested calls keep inheriting
// its deadline and propagated attachments.
// A value set before the co_await (a fast path that finished at once) makes
// it complete without suspending.
template <typename T, typename Start>
struct CallbackAwaiter {
  Start start;
  std::optional<T> value;
  bool await_ready() const noexcept { return value.has_value(); }
  void await_suspend(std::coroutine_handle<> h) {
    ServerContext* context = ServerContext::current();
    start([this, h, context](T v) mutable {
      value.emplace(std::move(v));
      ServerContext* prev = ServerContext::exchange_current(context);
      h.resume();
      ServerContext::exchange_current(prev);
    });
  }
  T await_resume() { return std::move(*value); }
};
template <typename T, typename Start>
CallbackAwaiter<T, Start> make_awaiter(Start start) {
  return CallbackAwaiter<T, Start>{std::move(start), std::nullopt};
}

// The typed half shared by both ends: writes W, reads R.
template <typename W, typename R>
class TypedStream {
 public:
  explicit TypedStream(std::shared_ptr<RawStream> raw) : raw_(std::move(raw)) {}

  // Callback form: `done(Status)` once sent.
  void write(const W& value, RawStream::Done done) { write_encoded(encode(value), std::move(done)); }
  // Callback form: `done(message or nullopt, status)`; a message that does
  // not decode cancels the stream with INVALID_ARGUMENT and ends the reads.
  void read(detail::UniqueFunction<void(std::optional<R>, Status)> done) {
    raw_->read([raw = raw_, done = std::move(done)](std::optional<std::string> bytes, Status st) mutable {
      if (!bytes) {
        done(std::nullopt, std::move(st));
        return;
      }
      Result<R> v = decode(raw->serialization(), *bytes);
      if (!v.has_value()) {
        Status bad(StatusCode::kInvalidArgument, "stream message: " + v.status().message());
        raw->cancel(bad);
        done(std::nullopt, std::move(bad));
        return;
      }
      done(std::move(*v), Status());
    });
  }

  // Coroutine form: `co_await s.write(v)` gives the Status of write().
  // On the stream's IO thread with credit left it completes without
  // suspending (RawStream::try_write_now).
  auto co_write(const W& value) {
    Result<std::string> bytes = encode(value);
    std::optional<Status> now;
    if (bytes.has_value()) now = raw_->try_write_now(*bytes);
    auto start = [this, bytes = std::move(bytes)](auto cb) mutable { write_encoded(std::move(bytes), std::move(cb)); };
    return CallbackAwaiter<Status, decltype(start)>{std::move(start), std::move(now)};
  }
  // Coroutine form: the next message, or nullopt at the end (then status()).
  // A message already received on the stream's IO thread is taken without
  // suspending (RawStream::try_read_now).
  auto co_read() {
    std::optional<std::optional<R>> now;
    if (std::optional<std::string> bytes = raw_->try_read_now()) {
      Result<R> v = decode(raw_->serialization(), *bytes);
      if (v.has_value()) {
        now.emplace(std::move(*v));
      } else {
        end_status_ = Status(StatusCode::kInvalidArgument, "stream message: " + v.status().message());
        raw_->cancel(end_status_);
        now.emplace(std::nullopt);
      }
    }
    auto start = [this](auto cb) {
      read([this, cb = std::move(cb)](std::optional<R> v, Status st) mutable {
        if (!v) end_status_ = std::move(st);
        cb(std::move(v));
      });
    };
    return CallbackAwaiter<std::optional<R>, decltype(start)>{std::move(start), std::move(now)};
  }

  // Blocking form: the same operations, waiting on this thread (never an IO
  // thread). `timeout` bounds the wait: DEADLINE_EXCEEDED (and the stream
  // cancelled) when it passes; 0 = wait for the stream's own deadline.
  Status write_sync(const W& value, std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
    auto p = std::make_shared<std::promise<Status>>();
    auto f = p->get_future();
    write(value, [p](Status st) { p->set_value(std::move(st)); });
    return wait(f, timeout);
  }
  std::optional<R> read_sync(std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
    auto p = std::make_shared<std::promise<std::pair<std::optional<R>, Status>>>();
    auto f = p->get_future();
    read([p](std::optional<R> v, Status st) { p->set_value({std::move(v), std::move(st)}); });
    if (timeout.count() > 0 && f.wait_for(timeout) != std::future_status::ready) {
      raw_->cancel(Status(StatusCode::kDeadlineExceeded, "read_sync timed out"));
    }
    auto [v, st] = f.get();
    if (!v) end_status_ = std::move(st);
    return std::move(v);
  }

  // The status that ended the reads (OK for a clean end), after a read gave nullopt.
  const Status& status() const noexcept { return end_status_; }
  void cancel(Status why = Status(StatusCode::kCancelled, "cancelled")) { raw_->cancel(std::move(why)); }
  const std::shared_ptr<RawStream>& raw() const noexcept { return raw_; }

 protected:
  // A value that did not encode fails the write (INVALID_ARGUMENT), sends nothing.
  void write_encoded(Result<std::string> bytes, RawStream::Done done) {
    if (!bytes.has_value()) {
      raw_->defer([st = bytes.status(), done = std::move(done)]() mutable { done(st); });
      return;
    }
    raw_->write(std::move(*bytes), std::move(done));
  }
  Status wait(std::future<Status>& f, std::chrono::milliseconds timeout) {
    if (timeout.count() > 0 && f.wait_for(timeout) != std::future_status::ready) {
      raw_->cancel(Status(StatusCode::kDeadlineExceeded, "blocking stream operation timed out"));
    }
    return f.get();
  }
  Result<std::string> encode(const W& value) const {
    StringWriter w;
    Status s = serialization::with_codec(raw_->serialization(), [&]<typename Codec>() -> Status {
      Codec::encode_value(w, value);
      return Status();
    });
    if (!s.is_ok()) return s;
    return std::move(w.out);
  }
  static Result<R> decode(std::uint8_t id, std::string_view bytes) {
    Result<R> out = Status(StatusCode::kInternal, "no codec");
    Status s = serialization::with_codec(id, [&]<typename Codec>() -> Status {
      out = Codec::template decode_value<R>(bytes);
      return Status();
    });
    if (!s.is_ok()) return s;
    return out;
  }

  std::shared_ptr<RawStream> raw_;
  Status end_status_;
};

}  // namespace detail

class Reference;
struct CallOptions;

// Opens a stream on `ref` (tern/reference.h): the load balancer picks one
// provider and the stream stays on it. Serialization, version and group are
// the reference's; `options` gives the attachments and the deadline (a
// stream's deadline covers the whole stream; 0 = none, as in gRPC: the
// reference's timeout is for unary calls. Opened while serving a call or a
// stream, the stream never outlives that deadline). A
// failure to reach the provider shows as the stream's final status
// (UNAVAILABLE), never as an exception; UNAVAILABLE "no provider" when the
// directory is empty. Defined in src/proxy/stream_reference.cc.
Result<std::shared_ptr<RawStream>> open_stream(Reference& ref, std::string_view method,
                                               const CallOptions* options = nullptr);

// A consumer's typed stream: writes Req, reads Resp. Server streaming = one
// write, writes_done, then reads; client streaming = writes, writes_done, one
// read; bidirectional = both at once.
template <typename Req, typename Resp>
class ClientStream : public detail::TypedStream<Req, Resp> {
  using Base = detail::TypedStream<Req, Resp>;

 public:
  explicit ClientStream(std::shared_ptr<RawStream> raw) : Base(std::move(raw)) {}
  ClientStream(ClientStream&&) noexcept = default;
  ClientStream& operator=(ClientStream&&) noexcept = default;
  // Cancels the stream if it has not ended (a consumer gives up).
  ~ClientStream() {
    if (this->raw_) this->raw_->cancel(Status(StatusCode::kCancelled, "consumer dropped the stream"));
  }

  // Opens `method` on `ref` (open_stream above). The error, if any, is local
  // (an empty directory, bad attachments).
  static Result<ClientStream> open(Reference& ref, std::string_view method, const CallOptions* options = nullptr) {
    auto raw = open_stream(ref, method, options);
    if (!raw.has_value()) return raw.status();
    return ClientStream(std::move(*raw));
  }

  auto write(const Req& v) { return this->co_write(v); }
  auto read() { return this->co_read(); }
  // co_await: half-close, OK once sent.
  auto writes_done() {
    return detail::make_awaiter<Status>([raw = this->raw_](auto cb) { raw->writes_done(std::move(cb)); });
  }
  // co_await: the provider's final status (after any unread messages, which
  // stay readable).
  auto finish() {
    return detail::make_awaiter<Status>([raw = this->raw_](auto cb) { raw->await_status(std::move(cb)); });
  }
  Status writes_done_sync() {
    auto p = std::make_shared<std::promise<Status>>();
    auto f = p->get_future();
    this->raw_->writes_done([p](Status st) { p->set_value(std::move(st)); });
    return f.get();
  }
  Status finish_sync() {
    auto p = std::make_shared<std::promise<Status>>();
    auto f = p->get_future();
    this->raw_->await_status([p](Status st) { p->set_value(std::move(st)); });
    return f.get();
  }
  // The provider's trailing metadata, after finish.
  StreamMetadata trailers() const { return this->raw_->metadata(); }
};

// A provider's typed stream: reads Req, writes Resp. The handler's returned
// Status finishes it.
template <typename Req, typename Resp>
class ServerStream : public detail::TypedStream<Resp, Req> {
  using Base = detail::TypedStream<Resp, Req>;

 public:
  explicit ServerStream(std::shared_ptr<RawStream> raw) : Base(std::move(raw)) {}
  auto read() { return this->co_read(); }
  auto write(const Resp& v) { return this->co_write(v); }
  // The consumer's attachments.
  StreamMetadata attachments() const { return this->raw_->metadata(); }
  std::string_view attachment(std::string_view key) const {
    for (const auto& [k, v] : attachments_cache()) {
      if (k == key) return v;
    }
    return {};
  }
  std::chrono::steady_clock::time_point deadline() const noexcept { return this->raw_->deadline(); }

 private:
  const StreamMetadata& attachments_cache() const {
    if (!cache_) cache_ = this->raw_->metadata();
    return *cache_;
  }
  mutable std::optional<StreamMetadata> cache_;
};

// The kind of a stream method, as a provider declares it when registering it
// (Server::add_stream_method) and as tern.Reflection and `tern describe` show
// it. It documents the method's shape; the stream core does not enforce it.
//   kServer  one request message, then any number of replies;
//   kClient  any number of request messages, then one reply;
//   kBidi    any number both ways, interleaved as the method likes (also the
//            kind of a stream method registered without one).
enum class StreamKind : std::uint8_t { kServer, kClient, kBidi };

// "server", "client" or "bidi" (the reflection description's "stream" field).
constexpr std::string_view stream_kind_name(StreamKind kind) noexcept {
  switch (kind) {
    case StreamKind::kServer:
      return "server";
    case StreamKind::kClient:
      return "client";
    case StreamKind::kBidi:
      break;
  }
  return "bidi";
}

// A provider's stream handler at the generic level: runs once per stream; its
// result is the stream's final status. A coroutine that co_awaits reads and
// writes holds no thread while it waits.
using RawStreamHandler = std::function<Task<Status>(std::shared_ptr<RawStream>)>;

}  // namespace tern
