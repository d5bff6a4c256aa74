// tern/proxy.h - Proxy<I>: the typed front end of interface binding, C++'s
// form of Dubbo's dynamic proxy (DESIGN §8).
//
//   tern::Client client;
//   auto calc = client.refer<Calculator>("direct://127.0.0.1:20880").value();
//   tern::Result<int> r = calc.call<&Calculator::add>(1, 2);       // sync, with timeout
//   tern::Future<int> f = calc.async_call<&Calculator::add>(1, 2); // future
//   calc.callback<&Calculator::add>([](tern::Result<int> r) { ... }, 1, 2);  // callback
//   tern::Result<int> c = co_await calc.co_call<&Calculator::add>(1, 2);      // coroutine
//   calc.oneway<&Calculator::log>("hello");                        // fire and forget
//   calc.with(options).call<&Calculator::add>(1, 2);               // per-call timeout, attachments
//
// Stream methods of the interface (tern/service_stream.h) are opened, not
// called:
//   auto s = chat.stream<&Chat::sum>();                 // Result<ClientStream<int, long>>
//   auto t = chat.stream<&Chat::sum>(options);           // with a deadline, attachments
// call / async_call / callback / co_call / oneway of a stream method (and
// stream<>() of a unary one) fail to compile with a static_assert saying so.
//
// All five modes are thin adapters over one async core,
// Reference::invoke(); every call completes exactly once (value, remote
// error, timeout, connection lost, cancelled, consumer shutdown).
// Where completions run: callback, Future::then and the coroutine's
// continuation run on the client IO thread that received the response (or
// inline in the calling thread when the call fails before being sent, e.g.
// no provider). Keep them short; never make a sync call() there.
//
// Argument types are checked at compile time against the interface method:
// each argument must be convertible to the parameter type. The result type is
// the method's return type (Result<T> unwrapped to T).
//
// Contract mismatches (the provider's interface differs from the consumer's)
// show at run time, with MessagePack and JSON strict about types
// (docs/serialization.md): arguments the provider cannot decode come back as
// INVALID_ARGUMENT "argument 1 of 1: expected int32, received float64 6.5"
// (the handler did not run, though a remote INVALID_ARGUMENT reports
// may_have_executed() true, as a handler may return it too); a result the
// consumer cannot decode is INVALID_ARGUMENT "result: expected int32,
// received float64 6" with may_have_executed() true, since the handler ran.
//
// call<>() blocks the calling thread until the result, an error or the
// reference's timeout (default 3 s, never infinite). On one of the client's
// IO threads (a callback, a then() continuation, a coroutine continuation)
// it would wait for its own loop, so there it fails at once with
// FAILED_PRECONDITION and sends nothing; use the async modes there.
//
// Thread safety: a Proxy is a cheap handle (one shared_ptr); copies and
// concurrent calls from any threads are fine.
#pragma once

#include <atomic>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include <coroutine>

#include "tern/future.h"
#include "tern/reference.h"
#include "tern/serialization/codecs.h"
#include "tern/server_context.h"
#include "tern/service.h"
#include "tern/service_stream.h"
#include "tern/task.h"

namespace tern {

namespace detail {

// Passes an argument through when it already has the parameter's type,
// converts it otherwise (so "abc" becomes std::string before encoding).
template <typename P, typename A>
decltype(auto) as_param(A&& a) {
  if constexpr (std::is_same_v<std::remove_cvref_t<A>, P>) {
    return static_cast<const P&>(a);
  } else {
    return P(std::forward<A>(a));
  }
}

template <typename Tuple, typename... A>
struct ArgsCheck;
template <typename... P, typename... A>
struct ArgsCheck<std::tuple<P...>, A...> {
  static constexpr bool kArity = sizeof...(P) == sizeof...(A);
  static constexpr bool kConvertible = [] {
    if constexpr (sizeof...(P) == sizeof...(A)) {
      return (std::is_constructible_v<P, A&&> && ...);
    } else {
      return false;
    }
  }();

  template <typename Codec, typename Writer>
  static void encode(Writer& w, A&&... a) {
    Codec::encode_args(w, as_param<P>(std::forward<A>(a))...);
  }
};

struct SyncState {
  std::atomic<std::uint32_t> done{0};
  CallResult result;
};

}  // namespace detail

template <typename I>
class Proxy {
 public:
  static_assert(ServiceTraits<I>::kDefined, "declare the interface with TERN_SERVICE(Interface, methods...)");

  Proxy() = default;
  explicit Proxy(std::shared_ptr<Reference> ref) : ref_(std::move(ref)) {}

  // A copy of this proxy whose calls use `options` (timeout, attachments,
  // response attachments). Cheap; the options are shared by the copies.
  Proxy with(CallOptions options) const {
    Proxy p(ref_);
    p.options_ = std::make_shared<CallOptions>(std::move(options));
    return p;
  }

  // Synchronous call; see the header comment.
  template <auto M, typename... A>
    requires(!is_stream_method_v<M>)
  Result<method_result_t<M>> call(A&&... args) const {
    if (ref_->on_client_io_thread()) {
      return Status(StatusCode::kFailedPrecondition,
                    "sync call of " + std::string(MethodTraits<M>::name) +
                        " on a client IO thread would wait for its own loop; use async_call, callback or co_call",
                    false);
    }
    std::string request;
    Status s = encode<M>(/*oneway=*/false, request, std::forward<A>(args)...);
    if (!s.is_ok()) return s;
    auto st = std::make_shared<detail::SyncState>();
    ref_->invoke(MethodTraits<M>::name, std::move(request), timeout(), [st](CallResult&& r) {
      st->result = std::move(r);
      st->done.store(1, std::memory_order_release);
      st->done.notify_one();
    });
    st->done.wait(0, std::memory_order_acquire);
    if (options_ && options_->response_attachments) {
      (void)protocol::for_each_meta(st->result.frame.meta(), [&](std::string_view k, std::string_view v) {
        options_->response_attachments->emplace_back(std::string(k), std::string(v));
      });
    }
    return decode<M>(std::move(st->result));
  }

  // Future call: returns at once; see tern/future.h (get, wait_for, then, cancel).
  template <auto M, typename... A>
    requires(!is_stream_method_v<M>)
  Future<method_result_t<M>> async_call(A&&... args) const {
    using R = method_result_t<M>;
    Promise<R> promise;
    std::string request;
    Status s = encode<M>(/*oneway=*/false, request, std::forward<A>(args)...);
    if (!s.is_ok()) {
      promise.set(s);
      return promise.future();
    }
    auto control = std::make_shared<CallControl>();
    promise.set_control(control);
    ref_->invoke(MethodTraits<M>::name, std::move(request), timeout(),
                 [self = *this, promise](CallResult&& r) { promise.set(self.template decode<M>(std::move(r))); },
                 control);
    return promise.future();
  }

  // Callback call: returns at once; `on_done(tern::Result<R>)` runs exactly
  // once (value or failure), also on timeout, connection loss and consumer
  // shutdown. See the header comment for the thread it runs on.
  template <auto M, typename F, typename... A>
    requires(!is_stream_method_v<M>)
  void callback(F&& on_done, A&&... args) const {
    using R = method_result_t<M>;
    static_assert(std::is_invocable_v<F&, Result<R>>, "the callback must accept tern::Result<R>");
    std::string request;
    Status s = encode<M>(/*oneway=*/false, request, std::forward<A>(args)...);
    if (!s.is_ok()) {
      on_done(Result<R>(s));
      return;
    }
    ref_->invoke(MethodTraits<M>::name, std::move(request), timeout(),
                 [self = *this, f = std::forward<F>(on_done)](CallResult&& r) mutable {
                   f(self.template decode<M>(std::move(r)));
                 });
  }

  // Coroutine call: `co_await proxy.co_call<&I::m>(args...)` yields
  // tern::Result<R> inside any C++20 coroutine (tern::Task above all). The
  // request is encoded here; it is sent when awaited. The awaiting coroutine
  // resumes on the client IO thread that completed the call, with the
  // provider's ServerContext (deadline, propagated attachments) still current
  // when it runs inside a handler.
  template <auto M, typename... A>
    requires(!is_stream_method_v<M>)
  auto co_call(A&&... args) const {
    struct Awaiter {
      Proxy proxy;
      std::string request;
      Status encode_status;
      CallResult result;
      ServerContext* context = nullptr;
      std::shared_ptr<CallControl> control = std::make_shared<CallControl>();
      // Inside a handler: cancels this call when the handler's own call is
      // cancelled (its consumer cancelled or closed the connection).
      ServerContext::CancelRegistration on_gone{};

      bool await_ready() const noexcept { return !encode_status.is_ok(); }
      void await_suspend(std::coroutine_handle<> h) {
        context = ServerContext::current();
        if (context) on_gone = context->on_cancel([c = control] { c->cancel(); });
        auto ref = proxy.ref_;
        ref->invoke(
            MethodTraits<M>::name, std::move(request), proxy.timeout(),
            [this, h](CallResult&& r) {
              result = std::move(r);
              on_gone.reset();
              ServerContext* prev = ServerContext::exchange_current(context);
              h.resume();
              ServerContext::exchange_current(prev);
            },
            control);
      }
      Result<method_result_t<M>> await_resume() {
        if (!encode_status.is_ok()) return encode_status;
        return proxy.template decode<M>(std::move(result));
      }
      // Cancels the call while suspended (from another thread).
      bool cancel() { return control->cancel(); }
    };
    Awaiter a{*this, {}, {}, {}};
    a.encode_status = encode<M>(/*oneway=*/false, a.request, std::forward<A>(args)...);
    return a;
  }

  // Oneway call: returns once the request is queued; the provider sends no
  // response. Only local failures (no provider, cannot encode, connection
  // known broken) are reported.
  template <auto M, typename... A>
    requires(!is_stream_method_v<M>)
  Status oneway(A&&... args) const {
    std::string request;
    Status s = encode<M>(/*oneway=*/true, request, std::forward<A>(args)...);
    if (!s.is_ok()) return s;
    return ref_->invoke_oneway(MethodTraits<M>::name, std::move(request));
  }

  // Opens a stream on stream method M (a TERN_SERVICE method taking
  // tern::ServerStream<Req, Resp>&, tern/service_stream.h): a
  // tern::ClientStream<Req, Resp>, used as tern/stream.h says (coroutine,
  // callback and blocking forms). The load balancer picks one provider and
  // the stream stays on it. Without `options`, those of with() apply (if
  // any): attachments, and the deadline that covers the whole stream (0 =
  // none: the reference's timeout is for unary calls). The error, if any, is local (tern::open_stream):
  // FAILED_PRECONDITION for a Proxy without a reference, UNAVAILABLE "no
  // provider" for an empty directory, a refused attachment; a provider that
  // cannot be reached ends the stream UNAVAILABLE instead (first read or
  // finish). Thread safety: as the other call forms (any thread); the
  // returned stream is the caller's (tern/stream.h's rules).
  template <auto M>
  auto stream() const {
    return open_typed_stream<M>(options_.get());
  }
  template <auto M>
  auto stream(const CallOptions& options) const {
    return open_typed_stream<M>(&options);
  }

  // The unary call forms refuse stream methods (these overloads only fail).
  template <auto M, typename... A>
    requires is_stream_method_v<M>
  auto call(A&&...) const {
    static_assert(!is_stream_method_v<M>,
                  "tern::Proxy::call: this is a stream method (it takes tern::ServerStream<Req, Resp>&); "
                  "open it with proxy.stream<&Interface::method>()");
  }
  template <auto M, typename... A>
    requires is_stream_method_v<M>
  auto async_call(A&&...) const {
    static_assert(!is_stream_method_v<M>,
                  "tern::Proxy::async_call: this is a stream method (it takes tern::ServerStream<Req, Resp>&); "
                  "open it with proxy.stream<&Interface::method>()");
  }
  template <auto M, typename F, typename... A>
    requires is_stream_method_v<M>
  auto callback(F&&, A&&...) const {
    static_assert(!is_stream_method_v<M>,
                  "tern::Proxy::callback: this is a stream method (it takes tern::ServerStream<Req, Resp>&); "
                  "open it with proxy.stream<&Interface::method>()");
  }
  template <auto M, typename... A>
    requires is_stream_method_v<M>
  auto co_call(A&&...) const {
    static_assert(!is_stream_method_v<M>,
                  "tern::Proxy::co_call: this is a stream method (it takes tern::ServerStream<Req, Resp>&); "
                  "open it with proxy.stream<&Interface::method>()");
  }
  template <auto M, typename... A>
    requires is_stream_method_v<M>
  auto oneway(A&&...) const {
    static_assert(!is_stream_method_v<M>,
                  "tern::Proxy::oneway: this is a stream method (it takes tern::ServerStream<Req, Resp>&); "
                  "open it with proxy.stream<&Interface::method>()");
  }

  const std::shared_ptr<Reference>& reference() const noexcept { return ref_; }

  // --- building blocks of the call modes (also used by the async modes) -----

  // Encodes a request for method M into `out`. INVALID_ARGUMENT when the
  // reference's serialization is protobuf and M's arguments or result are
  // not all protobuf messages (nothing is sent), or when a client filter or
  // an attachment is refused.
  template <auto M, typename... A>
  Status encode(bool oneway, std::string& out, A&&... args) const {
    static_assert(MethodTraits<M>::kDefined, "method not listed in TERN_SERVICE");
    static_assert(!is_stream_method_v<M>, "a stream method is opened with proxy.stream<&Interface::method>()");
    static_assert(std::is_same_v<typename MethodTraits<M>::Service, I>, "method belongs to another interface");
    static_assert(detail::kViewsAtTopLevel<M>,
                  "std::string_view may be a parameter or the result itself, not inside a container, optional, "
                  "tuple, pair or array: a result's bytes would not outlive decoding (tern/service.h, Borrowing)");
    using Check = detail::ArgsCheck<method_args_t<M>, A...>;
    static_assert(Check::kArity, "wrong number of arguments for this method");
    static_assert(Check::kConvertible, "an argument is not convertible to the method's parameter type");
    if constexpr (!serialization::protobuf_method_v<method_result_t<M>, method_args_t<M>>) {
      // Refused here: encoding would produce an empty body the provider refuses.
      if (ref_->serialization_id() == serialization::ProtobufCodec::kId) {
        return Status(StatusCode::kInvalidArgument,
                      "method " + std::string(MethodTraits<M>::name) +
                          " does not take protobuf messages (its arguments and result must be protobuf messages); "
                          "use the msgpack or json serialization");
      }
    }
    protocol::FrameBuilder b(protocol::FrameType::kRequest, 0);
    if (Status rs = ref_->new_request(MethodTraits<M>::name, oneway, options_.get(), &b); !rs.is_ok()) return rs;
    Status s = serialization::with_codec(ref_->serialization_id(), [&]<typename Codec>() -> Status {
      Check::template encode<Codec>(b, std::forward<A>(args)...);
      return Status();
    });
    if (!s.is_ok()) return s;
    out = b.finish();
    return Status();
  }

  // Turns a call's outcome into the method's result.
  template <auto M>
  Result<method_result_t<M>> decode(CallResult&& r) const {
    using R = method_result_t<M>;
    if (!r.status.is_ok()) return r.status;
    if constexpr (std::is_void_v<R>) {
      return Result<void>();
    } else {
      if constexpr (std::is_default_constructible_v<R>) {
        if (r.body().empty()) return R{};  // failsafe's empty OK body: a value-initialized result
      }
      // An OK response means the handler ran: a result that does not decode
      // (a contract mismatch, an unknown serialization id) may_have_executed,
      // so no one retries it elsewhere as if it had not.
      Result<R> out = Status(StatusCode::kInternal, "unset");
      Status s = serialization::with_codec(r.frame.header.serialization, [&]<typename Codec>() -> Status {
        out = Codec::template decode_value<R>(r.body());
        return Status();
      });
      if (s.is_ok() && !out.has_value()) s = out.status();
      if (!s.is_ok()) return Status(s.code(), s.message(), /*may_have_executed=*/true);
      return out;
    }
  }

 private:
  template <auto M>
  auto open_typed_stream(const CallOptions* options) const {
    static_assert(MethodTraits<M>::kDefined, "method not listed in TERN_SERVICE");
    static_assert(std::is_same_v<typename MethodTraits<M>::Service, I>, "method belongs to another interface");
    static_assert(is_stream_method_v<M>,
                  "tern::Proxy::stream: not a stream method (its one parameter must be "
                  "tern::ServerStream<Req, Resp>&); call unary methods with call / async_call / callback / co_call");
    if constexpr (is_stream_method_v<M>) {
      using Stream = client_stream_t<M>;
      if (!ref_) return Result<Stream>(Status(StatusCode::kFailedPrecondition, "tern::Proxy has no reference"));
      return Stream::open(*ref_, MethodTraits<M>::name, options);
    }
  }

  std::chrono::milliseconds timeout() const noexcept {
    return options_ ? options_->timeout : std::chrono::milliseconds(0);
  }
  std::shared_ptr<Reference> ref_;
  std::shared_ptr<CallOptions> options_;
};

}  // namespace tern
