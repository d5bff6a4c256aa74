// tern/service_stream.h - stream methods in a TERN_SERVICE interface
// (docs/streaming.md "In a TERN_SERVICE interface").
//
// A TERN_SERVICE method whose one parameter is `tern::ServerStream<Req, Resp>&`
// is a stream method: Server::expose<I>() registers it as one (with
// Server::add_stream_method, or add_blocking_stream_method for the blocking
// form), and Proxy<I>::stream<&I::m>() opens it on the consumer side.
//
//   struct Chat {
//     virtual ~Chat() = default;
//     virtual int add(int a, int b) = 0;                                              // unary
//     virtual tern::Task<tern::Status> countdown(tern::ServerStream<int, std::string>& s) = 0;
//     virtual tern::Task<tern::Status> sum(tern::ServerStream<int, long>& s) = 0;
//     virtual tern::Task<tern::Status> chat(tern::ServerStream<std::string, std::string>& s) = 0;
//     virtual tern::Status shout(tern::ServerStream<std::string, std::string>& s) = 0;  // blocking
//   };
//   TERN_SERVICE(Chat, add, countdown, sum, chat, shout)
//   TERN_STREAM_KIND(Chat, countdown, kServer)
//   TERN_STREAM_KIND(Chat, sum, kClient)          // chat and shout: kBidi, the default
//
// Handler forms (the stream's final status is the returned one, as with
// add_stream_method):
//   tern::Task<tern::Status> m(tern::ServerStream<Req, Resp>&)   coroutine; holds no thread
//                                                                while it waits
//   tern::Status m(tern::ServerStream<Req, Resp>&)               blocking: runs on a business-pool
//                                                                thread it holds for the stream's
//                                                                life (add_blocking_stream_method)
// Any other return type, or a stream taken by value or const reference, is a
// compile-time error (static_assert) in Server::expose<I>().
//
// The kind (server, client or bidi streaming; tern/stream.h StreamKind) is
// declared per method with TERN_STREAM_KIND(Interface, method, kServer |
// kClient | kBidi) at global scope, after TERN_SERVICE and before the first
// expose<I>() or stream<&I::m>() of that method; a stream method without one
// is kBidi. It is what tern.Reflection and `tern describe` show ("stream":
// "server" | "client" | "bidi"); the stream core does not enforce it, as for
// add_stream_method. TERN_STREAM_KIND on a method that is not a stream method
// fails to compile.
//
// Thread safety: compile-time traits only; nothing here has state.
#pragma once

#include <type_traits>

#include "tern/service.h"
#include "tern/status.h"
#include "tern/stream.h"
#include "tern/task.h"

namespace tern {

// The declared kind of stream method `Method` (a member pointer listed in
// TERN_SERVICE). kBidi unless TERN_STREAM_KIND specializes it.
template <auto Method>
struct MethodStreamKind {
  static constexpr StreamKind value = StreamKind::kBidi;
};

namespace detail {

template <typename T>
struct IsServerStream : std::false_type {};
template <typename Req, typename Resp>
struct IsServerStream<ServerStream<Req, Resp>> : std::true_type {};

// The one parameter of a stream method, and its return type.
template <typename R, typename P>
struct StreamParam {
  static constexpr bool kIsStream = false;
  // A ServerStream taken by value or const&: refused with a message.
  static constexpr bool kMentionsStream = IsServerStream<std::remove_cvref_t<P>>::value;
};
template <typename R, typename Req, typename Resp>
struct StreamParam<R, ServerStream<Req, Resp>&> {
  static constexpr bool kIsStream = true;
  static constexpr bool kMentionsStream = true;
  using Request = Req;
  using Response = Resp;
  using Return = R;
  static constexpr bool kCoroutine = std::is_same_v<R, Task<Status>>;
  static constexpr bool kBlocking = std::is_same_v<R, Status>;
};

template <typename F>
struct StreamSignature {
  static constexpr bool kIsStream = false;
  static constexpr bool kMentionsStream = false;
};
template <typename R, typename C, typename P>
struct StreamSignature<R (C::*)(P)> : StreamParam<R, P> {};
template <typename R, typename C, typename P>
struct StreamSignature<R (C::*)(P) noexcept> : StreamParam<R, P> {};
template <typename R, typename C, typename P>
struct StreamSignature<R (C::*)(P) const> : StreamParam<R, P> {};
template <typename R, typename C, typename P>
struct StreamSignature<R (C::*)(P) const noexcept> : StreamParam<R, P> {};

}  // namespace detail

// True when `Method` is a stream method: its one parameter is
// `tern::ServerStream<Req, Resp>&`.
template <auto Method>
inline constexpr bool is_stream_method_v = detail::StreamSignature<decltype(Method)>::kIsStream;

// Req and Resp of stream method `Method` (what the consumer writes and reads).
template <auto Method>
using stream_request_t = typename detail::StreamSignature<decltype(Method)>::Request;
template <auto Method>
using stream_response_t = typename detail::StreamSignature<decltype(Method)>::Response;

// The ClientStream a consumer opens on stream method `Method`.
template <auto Method>
using client_stream_t = ClientStream<stream_request_t<Method>, stream_response_t<Method>>;

namespace detail {

// Compile-time checks of a TERN_SERVICE method that mentions a stream.
template <auto M>
constexpr void check_stream_method() {
  using Sig = StreamSignature<decltype(M)>;
  static_assert(Sig::kIsStream || !Sig::kMentionsStream,
                "a TERN_SERVICE stream method takes its stream as tern::ServerStream<Req, Resp>& "
                "(a non-const lvalue reference, the only parameter)");
  if constexpr (Sig::kIsStream) {
    static_assert(Sig::kCoroutine || Sig::kBlocking,
                  "a TERN_SERVICE stream method returns tern::Task<tern::Status> (coroutine) or "
                  "tern::Status (blocking)");
  }
}

}  // namespace detail

}  // namespace tern

// Declares the kind of a TERN_SERVICE stream method: kServer, kClient or
// kBidi (the default). At global scope, after TERN_SERVICE.
#define TERN_STREAM_KIND(Type, method, kind)                                                      \
  static_assert(::tern::is_stream_method_v<&Type::method>,                                        \
                "TERN_STREAM_KIND(" #Type ", " #method ", ...): not a stream method (its one "    \
                "parameter must be tern::ServerStream<Req, Resp>&)");                            \
  template <>                                                                                     \
  struct tern::MethodStreamKind<&Type::method> {                                                  \
    static constexpr ::tern::StreamKind value = ::tern::StreamKind::kind;                         \
  };
