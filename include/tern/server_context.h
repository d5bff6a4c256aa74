// tern/server_context.h - what a provider's handler can know about the call
// it is serving (as Dubbo's RpcContext / gRPC's ServerContext).
//
//   int CalculatorImpl::add(int a, int b) {
//     auto* ctx = tern::ServerContext::current();        // never null inside a handler
//     auto trace = ctx->attachment("trace-id");          // "" when absent
//     if (ctx->remaining() < 10ms) ...
//   }
//
// current() returns the context of the call the calling thread is serving,
// or nullptr outside a handler. The context and the string_views it returns
// are valid until the handler returns.
//
// Stream handlers (tern/stream.h) have a context too: current() inside the
// handler, and after each `co_await` of a stream read or write, so nested
// calls inherit the stream's deadline and propagated attachments. There
// attachment() reads the stream's open metadata, set_response_attachment()
// adds a trailer sent with the final status, request_bytes() and
// response_bytes() are the message bytes received and sent so far, and
// cancelled() turns true when the stream has ended (cancel, reset, deadline,
// lost connection). Provider filters (tern/filter.h) see a stream once: on_request
// before its handler starts (a non-OK status finishes the stream with it),
// on_response after its final status, with the stream's duration as latency.
// Thread safety: use it from the handler's thread; cancelled() may be read
// from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "tern/trace/context.h"

namespace tern {

class ServerCall;
class ServerConnection;
namespace detail {
struct StreamContextState;  // src/server/stream_context.h
}

class ServerContext {
 public:
  using Clock = std::chrono::steady_clock;

  static ServerContext* current() noexcept;

  std::string_view service() const noexcept;
  std::string_view method() const noexcept;
  // Peer address "ip:port".
  const std::string& peer() const noexcept;
  // Monotonic deadline from the request's timeout (Clock::time_point::max()
  // when the consumer sent none).
  Clock::time_point deadline() const noexcept;
  bool has_deadline() const noexcept { return deadline() != Clock::time_point::max(); }
  // Time left until the deadline (zero when past; 24 h when none).
  std::chrono::milliseconds remaining() const noexcept;
  // A request attachment (metadata entry that is not service/method/version/group),
  // propagated ones included; "" if absent.
  std::string_view attachment(std::string_view key) const noexcept;
  // Calls f(key, value) for each attachment marked for propagation (without
  // its '^' wire prefix); nested calls carry these automatically.
  template <typename F>
  void for_each_propagated(F&& f) const;
  // Adds a response attachment sent back with the response (before it is sent).
  void set_response_attachment(std::string key, std::string value);
  // Size of the request frame in bytes (24-byte header, metadata and body).
  std::uint64_t request_bytes() const noexcept;
  // Size of the response frame sent, in bytes; 0 before the response was
  // sent and for oneway requests (meaningful in ServerFilter::on_response).
  std::uint64_t response_bytes() const noexcept;
  // True when the consumer is gone for this call: it sent a cancel frame for
  // it (its timeout passed, or it cancelled), or the connection the request
  // came on has closed (nobody can read the answer). A long handler should
  // poll it and stop early.
  bool cancelled() const noexcept;

  // A callback registered with on_cancel(); destroying it (or reset())
  // unregisters the callback. Move-only; may outlive the context.
  class CancelRegistration {
   public:
    CancelRegistration() = default;
    CancelRegistration(CancelRegistration&& o) noexcept : undo_(std::move(o.undo_)) { o.undo_ = nullptr; }
    CancelRegistration& operator=(CancelRegistration&& o) noexcept {
      if (this != &o) {
        reset();
        undo_ = std::move(o.undo_);
        o.undo_ = nullptr;
      }
      return *this;
    }
    CancelRegistration(const CancelRegistration&) = delete;
    CancelRegistration& operator=(const CancelRegistration&) = delete;
    ~CancelRegistration() { reset(); }
    // Unregisters (a no-op when the callback ran already or was never set).
    void reset() noexcept {
      auto undo = std::move(undo_);
      undo_ = nullptr;
      if (undo) undo();
    }

   private:
    friend class ServerContext;
    std::function<void()> undo_;
  };
  // Runs `fn` once when cancelled() turns true for this unary call: a cancel
  // frame (or gRPC RST_STREAM) arrived for it, or its connection closed. It
  // runs on the provider's IO thread that noticed, so it must be quick (the
  // coroutine call mode uses it to cancel the calls a handler awaits,
  // Proxy::co_call); at once, on this thread, when cancelled() is true
  // already. A deadline needs no callback: nested calls inherit it. Stream
  // handlers' contexts do not call it (yet) unless already ended.
  // Thread safety: on_cancel() and the registration's reset() may be called
  // from any thread; reset() does not wait for an `fn` already running.
  [[nodiscard]] CancelRegistration on_cancel(std::function<void()> fn);

  bool oneway() const noexcept;
  // True when serving a stream method (tern/stream.h), false for unary calls.
  bool stream() const noexcept { return stream_ != nullptr; }
  // Stream messages received and sent so far (0 for unary calls).
  std::uint64_t messages_received() const noexcept;
  std::uint64_t messages_sent() const noexcept;
  // The connection the request came on (to push to it later).
  std::shared_ptr<ServerConnection> connection() const noexcept;

  // The trace context of this call's server span (tern/trace/context.h):
  // set by the tracing filter (tern/trace/trace_filter.h) before the handler
  // runs; calls the handler makes become its children. Invalid (all zero)
  // when tracing is off for this server.
  const trace::SpanContext& trace_context() const noexcept { return trace_; }
  // The span that called this one (invalid for a root span).
  trace::SpanId trace_parent() const noexcept { return trace_parent_; }
  // Used by the tracing filter; from the handler's thread before the handler runs.
  void set_trace_context(const trace::SpanContext& context, trace::SpanId parent) noexcept {
    trace_ = context;
    trace_parent_ = parent;
  }

  // Sets current() for this thread and returns the previous value (used by
  // the coroutine call mode to carry the context across a co_await).
  static ServerContext* exchange_current(ServerContext* ctx) noexcept;

  // Makes `ctx` current() on this thread for the lifetime of the scope.
  class Scope {
   public:
    explicit Scope(ServerContext* ctx) noexcept;
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    ServerContext* prev_;
  };

 private:
  friend class ServerCall;
  friend struct detail::StreamContextState;
  explicit ServerContext(ServerCall* call) : call_(call) {}
  explicit ServerContext(detail::StreamContextState* stream) : call_(nullptr), stream_(stream) {}
  std::string_view raw_meta() const noexcept;
  ServerCall* call_;                              // a unary call or oneway request, or
  detail::StreamContextState* stream_ = nullptr;  // a stream (then call_ is null)
  trace::SpanContext trace_{};
  trace::SpanId trace_parent_{};
};

template <typename F>
void ServerContext::for_each_propagated(F&& f) const {
  std::string_view meta = raw_meta();
  std::size_t i = 0;
  auto u16 = [&](std::size_t at) {
    return static_cast<std::size_t>((static_cast<unsigned char>(meta[at]) << 8) | static_cast<unsigned char>(meta[at + 1]));
  };
  while (meta.size() - i >= 2) {
    std::size_t klen = u16(i);
    i += 2;
    if (meta.size() - i < klen + 2) return;
    std::string_view key = meta.substr(i, klen);
    i += klen;
    std::size_t vlen = u16(i);
    i += 2;
    if (meta.size() - i < vlen) return;
    if (!key.empty() && key[0] == '^') f(key.substr(1), meta.substr(i, vlen));
    i += vlen;
  }
}

}  // namespace tern
