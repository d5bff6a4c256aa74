// tern/server_call.h - one incoming unary request as a provider's handler
// sees it at the generic level (service, method, serialization, bytes), and
// the connection it came on.
//
//   server.add_method("Echo", "echo", [](tern::ServerCall& call) {
//     if (call.body().empty()) return call.fail({tern::StatusCode::kInvalidArgument, "empty"});
//     auto b = call.start_response();
//     b.append_body(call.body());
//     call.respond(std::move(b));
//   });
//
// Typed services (Server::expose, generated protobuf stubs) get handlers
// built on this by tern/detail/method_handler.h; most code never touches a
// ServerCall.
//
// The contract: every request is answered exactly once, explicitly, with
// respond() (a result) or fail() (an error status); a oneway request is
// answered by nobody, but its handler may call either (nothing is sent, the
// filters see the outcome). The first answer wins; later ones are ignored.
// A handler that returns without answering a call it still holds gets
// INTERNAL "handler returned without a response". A handler that answers
// later (asynchronously) moves the call out of the reference it was given
// (`auto owned = std::make_shared<tern::ServerCall>(std::move(call))`) and
// answers that, from any thread.
//
// The destructor is a last resort, not the API: a call destroyed unanswered
// (a handler moved it away and lost it, or a coroutine handler's frame was
// destroyed before it finished) answers INTERNAL "the call was destroyed
// without a response" so that its consumer does not wait for its deadline,
// logs it at kError and counts it in Server::Stats::unanswered_calls. That
// is a bug in the handler; the server itself never relies on it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tern/protocol/compression.h"
#include "tern/protocol/frame.h"
#include "tern/result.h"
#include "tern/server_context.h"

namespace tern {

class ServerFilter;  // tern/filter.h

namespace rpc {
class ServerSession;
}
namespace detail {
struct ServerCallAccess;  // src/server/server_call_access.h: the server's side
}
namespace server_impl {
class MethodLimiter;
}

// The provider's side of one consumer connection, for services that talk
// back on their own (the embedded registry pushes provider lists this way).
// Obtained from ServerCall::connection() or ServerContext::connection(); the
// shared_ptr keeps the object valid after the connection closed (then push()
// returns false and is_open() is false).
// Thread safety: all methods may be called from any thread.
class ServerConnection {
 public:
  virtual ~ServerConnection() = default;
  // Unique per server for the server's lifetime (never reused); the id
  // Server::on_connect / on_disconnect report.
  virtual std::uint64_t id() const noexcept = 0;
  // Peer "ip:port".
  virtual const std::string& peer() const noexcept = 0;
  // Queues a complete frame (e.g. a FrameBuilder(kPush, 0) result) for the
  // connection's IO thread; never blocks, never runs anything inline. False
  // when the connection is closed, or speaks gRPC (which has no push frame).
  virtual bool push(std::string frame) = 0;
  virtual bool is_open() const noexcept = 0;
};

// One unary request or oneway request. Created by the server on the IO
// thread that decoded the request and handed to the method's handler by
// reference; the handler answers it there, or moves it away to answer later.
//
// Lifetime: the string_views returned below point into the request frame the
// call owns: valid while this object lives and is not moved from. The
// session it came on is kept alive by the call (not the connection: a call
// may outlive its connection, then its answer is dropped).
//
// Thread safety: one thread at a time (the handler's, then whichever thread
// answers); respond()/fail() may be called from any thread, never
// concurrently with another member function on the same call.
class ServerCall {
 public:
  // For the server (and tests): `session` null makes a detached call whose
  // answers go nowhere. `received` is when the request was read (the
  // server's clock; steady_clock::now() in the two-argument form): the
  // call's deadline is `received` plus the request's timeout (none when
  // its timeout is 0).
  ServerCall(std::shared_ptr<rpc::ServerSession> session, protocol::Frame frame,
             std::chrono::steady_clock::time_point received);
  ServerCall(std::shared_ptr<rpc::ServerSession> session, protocol::Frame frame)
      : ServerCall(std::move(session), std::move(frame), std::chrono::steady_clock::now()) {}
  // Moves the request and its state; the moved-from call counts as answered
  // (its respond()/fail() are ignored, its destruction answers nothing).
  ServerCall(ServerCall&&) noexcept;
  ServerCall& operator=(ServerCall&&) = delete;
  ServerCall(const ServerCall&) = delete;
  ServerCall& operator=(const ServerCall&) = delete;
  // Last resort (see the file comment): an unanswered, non-oneway call
  // answers INTERNAL "the call was destroyed without a response" (may have
  // executed when its handler had started), logged at kError and counted in
  // Server::Stats::unanswered_calls. Runs the filters' on_response inline.
  ~ServerCall();

  // The names the consumer called (from the request's metadata).
  std::string_view service() const noexcept { return frame_.meta().substr(service_.first, service_.second); }
  std::string_view method() const noexcept { return frame_.meta().substr(method_.first, method_.second); }
  // The encoded arguments, decompressed when the request was compressed.
  std::string_view body() const noexcept { return frame_.body(); }
  // The raw metadata (docs/protocol.md §3); ServerContext::attachment() reads it.
  std::string_view meta() const noexcept { return frame_.meta(); }
  // The serialization id of the request (tern/serialization/codecs.h); the
  // response must use the same one (start_response() sets it).
  std::uint8_t serialization() const noexcept { return frame_.header.serialization; }
  std::uint64_t request_id() const noexcept { return frame_.header.request_id; }
  // A oneway request: nothing is ever sent back.
  bool oneway() const noexcept { return frame_.header.type == protocol::FrameType::kOneway; }
  // From the request's timeout; time_point::max() when it has none.
  std::chrono::steady_clock::time_point deadline() const noexcept { return deadline_; }
  // Peer "ip:port". Requires a call made by the server (non-null session).
  const std::string& peer() const noexcept;
  // The call's context (also ServerContext::current() inside the handler);
  // lives as long as the call, moves with it.
  ServerContext& context() noexcept { return context_; }
  // The connection the request came on (null for a detached call).
  std::shared_ptr<ServerConnection> connection() const noexcept;

  // A response frame builder with the request id, the serialization and the
  // response attachments set so far filled in; write the body into it and
  // pass it to respond().
  protocol::FrameBuilder start_response();
  // Answers with a result (status OK). Never blocks: the frame is queued
  // for the connection's IO thread. Inline, on the calling thread: the
  // response is compressed when the consumer accepts it, and the provider
  // filters' on_response run. When the frame is larger than the provider's
  // limits.max_body, or than the room left under max_write_queue_bytes, the
  // result is dropped and the call answered RESOURCE_EXHAUSTED (may have
  // executed) naming the limit instead (docs/protocol.md §9). Ignored after
  // the call was answered; for a oneway request only the filters run.
  void respond(protocol::FrameBuilder&& builder);
  // Answers with an error: `error`'s code and message (an OK status is
  // sent as INTERNAL: an answer without a result is an error). A
  // may_have_executed() RESOURCE_EXHAUSTED, UNIMPLEMENTED or UNAVAILABLE
  // carries the `tern-executed` mark (docs/protocol.md §7) so that failover
  // does not rerun it. Never blocks; filters as respond(). Ignored after the
  // call was answered.
  void fail(const Status& error);
  // The same as fail(); the older name, kept for existing handlers.
  void respond(const Status& error) { fail(error); }
  // True once respond() or fail() was called (or the call was moved from).
  bool responded() const noexcept { return responded_; }

 private:
  friend class rpc::ServerSession;
  friend class ServerContext;
  friend struct detail::ServerCallAccess;
  std::shared_ptr<rpc::ServerSession> session_;
  protocol::Frame frame_;
  std::pair<std::size_t, std::size_t> service_{0, 0};  // offset, length in meta
  std::pair<std::size_t, std::size_t> method_{0, 0};
  std::chrono::steady_clock::time_point deadline_;
  void after_response(const Status& status);
  ServerContext context_{this};
  bool responded_ = false;
  std::uint64_t response_bytes_ = 0;  // size of the response frame sent
  bool holds_slot_ = false;           // counted in the session's in-flight calls
  void release_slot() noexcept;
  // Filters whose on_request ran (their on_response runs at respond time).
  const std::vector<std::shared_ptr<ServerFilter>>* filters_ = nullptr;
  std::size_t filters_ran_ = 0;
  std::chrono::steady_clock::time_point started_{};
  std::unique_ptr<std::vector<std::pair<std::string, std::string>>> response_attachments_;
  // The method's limiter while the call holds one of its slots (tern/overload.h).
  std::shared_ptr<server_impl::MethodLimiter> limiter_;
  std::chrono::steady_clock::time_point arrived_{};
  // Before the answer leaves (the consumer may send its next call at once).
  void release_limit(bool sample) noexcept;
  void release_limit(const Status& answer) noexcept;
  // Response compression the consumer accepts, and the server's threshold.
  protocol::Compression response_compression_ = protocol::Compression::kNone;
  std::size_t compression_threshold_ = 0;
};

// A method's handler at the generic level (Server::add_method). Runs where
// the dispatcher sends the service's requests (tern/dispatcher.h: a business
// thread, or the IO thread with `direct`), with ServerContext::current() set
// to the call's context. It answers `call` (or moves it away and answers
// later, see above). An exception it throws answers the call: an RpcError
// its status, anything else INTERNAL with what() (may have executed),
// counted in Server::Stats::handler_errors; it never escapes into the server.
using MethodHandler = std::function<void(ServerCall& call)>;

}  // namespace tern
