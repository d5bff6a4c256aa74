// tern/detail/method_handler.h - the machinery behind Server::expose(): turns
// a TERN_SERVICE member function into a MethodHandler (tern/server_call.h)
// that decodes the arguments in the request's serialization, calls the
// implementation and answers the call with its result or error.
// Internal (detail): used by tern/server.h; may change without notice.
//
// What a handler made here answers (beside what tern/server.h lists):
//   INVALID_ARGUMENT  arguments that do not decode as the method's
//                     parameters; an unknown serialization id; protobuf for
//                     a method whose types are not all messages
//   the method's own error when it returns a Result<T> holding one, or a
//   Task<T> that completes with one.
// Plain methods answer before the handler returns, on the dispatcher's
// thread. A Task<T> method is started there and answered when the
// coroutine completes, on whichever thread resumed it last; the handler
// moves the call into shared ownership for that time.
// std::string_view parameters borrow (tern/service.h, "Borrowing"): they are
// decoded into views of the request (MessagePack) or into strings decoded for
// the call (JSON), kept, with the request, until a Task method completes;
// so are a Task method's parameters taken by reference.
#pragma once

#include <exception>
#include <memory>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "tern/result.h"
#include "tern/serialization/codecs.h"
#include "tern/server_call.h"
#include "tern/server_context.h"
#include "tern/service.h"
#include "tern/task.h"

namespace tern::detail {

template <typename T>
struct IsTask : std::false_type {};
template <typename T>
struct IsTask<Task<T>> : std::true_type {};

// The answer to the exception being handled, as the server gives it for a
// handler that throws: an RpcError's status, else INTERNAL with what() (or
// "handler threw a non-standard exception"), may have executed. Call only
// inside a catch block.
inline Status current_exception_status() {
  try {
    throw;
  } catch (const RpcError& e) {
    return e.status();
  } catch (const std::exception& e) {
    return Status(StatusCode::kInternal, e.what(), true);
  } catch (...) {
    return Status(StatusCode::kInternal, "handler threw a non-standard exception", true);
  }
}

// Whether Codec decodes a std::string_view pointing into the payload
// (MsgpackCodec::kBorrowsStrings) rather than not at all.
template <typename Codec>
inline constexpr bool kBorrowsStrings = requires { requires Codec::kBorrowsStrings; };

// What a parameter of type T is decoded into before the call: T itself, but
// a std::string_view parameter is decoded into a std::string_view into the
// request where the codec borrows (MessagePack), else into a std::string
// (JSON strings may be escaped) that the call's std::string_view points into.
template <typename Codec, typename T>
struct ArgStorage {
  using type = T;
};
template <typename Codec>
struct ArgStorage<Codec, std::string_view> {
  using type = std::conditional_t<kBorrowsStrings<Codec>, std::string_view, std::string>;
};

template <typename Tuple>
struct HasBorrowedArg;
template <typename... A>
struct HasBorrowedArg<std::tuple<A...>> : std::bool_constant<(std::is_same_v<A, std::string_view> || ...)> {};

// A parameter value made from its decoded storage (ArgStorage): moved when
// the types agree, else a view of the stored std::string.
template <typename A, typename S>
A param_from(S& stored) {
  if constexpr (std::is_same_v<A, S>) {
    return std::move(stored);
  } else {
    return A(stored);
  }
}

// The arguments of a Task method, kept until its Task completes when a
// parameter is a reference or a view (the coroutine keeps the reference, or
// the view into `stored`): `params` are what the method is called with.
template <typename Stored, typename Params>
struct KeptArgs;
template <typename... S, typename... A>
struct KeptArgs<std::tuple<S...>, std::tuple<A...>> {
  explicit KeptArgs(std::tuple<S...>&& s)
      : stored(std::move(s)),
        params(std::apply([](S&... x) { return std::tuple<A...>(param_from<A>(x)...); }, stored)) {}
  std::tuple<S...> stored;
  std::tuple<A...> params;
};

template <typename Codec, typename Tuple>
struct ArgsDecoder;
template <typename Codec, typename... A>
struct ArgsDecoder<Codec, std::tuple<A...>> {
  using Stored = std::tuple<typename ArgStorage<Codec, A>::type...>;
  static Result<Stored> decode(std::string_view bytes) {
    return Codec::template decode_args<typename ArgStorage<Codec, A>::type...>(bytes);
  }
};

// The handler of TERN_SERVICE method M (a member function pointer of
// Impl's interface) on `impl`, which the handler keeps alive. Thread safety:
// the handler may run on several threads at once; M must allow that.
template <auto M, typename Impl>
MethodHandler make_method_handler(std::shared_ptr<Impl> impl) {
  using MF = MemberFn<decltype(M)>;
  using Args = typename MF::Args;
  using R = typename MF::Return;
  static_assert(kViewsAtTopLevel<M>,
                "std::string_view may be a parameter or the result itself, not inside a container, optional, "
                "tuple, pair or array: its bytes would not outlive decoding (tern/service.h, Borrowing)");
  return [impl = std::move(impl)](ServerCall& call) {
    // Protobuf is refused up front for methods whose types are not all messages.
    using Value = typename UnwrapResult<R>::type;
    Status s = serialization::with_method_codec<Value, Args>(call.serialization(), call.method(), [&]<typename Codec>() -> Status {
      using Decoder = ArgsDecoder<Codec, Args>;
      if constexpr (IsTask<R>::value) {
        using X = typename R::value_type;
        // Coroutine handler: own the call, answer when the coroutine finishes.
        // Decoded from the owned call, so borrowed arguments point into the
        // request that the completion below keeps alive; the arguments
        // themselves live as long when a parameter borrows from them.
        auto owned = std::make_shared<ServerCall>(std::move(call));
        auto decoded = Decoder::decode(owned->body());
        if (!decoded.has_value()) {
          owned->fail(decoded.status());
          return Status();
        }
        using Kept = KeptArgs<typename Decoder::Stored, Args>;
        constexpr bool kKeepArgs = HasBorrowedArg<Args>::value || MF::kByReference;
        std::shared_ptr<Kept> kept;
        if constexpr (kKeepArgs) kept = std::make_shared<Kept>(std::move(*decoded));
        ServerContext::Scope scope(&owned->context());
        R task = [&]() -> R {
          try {
            if constexpr (kKeepArgs) {
              return std::apply([&](auto&... a) { return ((*impl).*M)(std::move(a)...); }, kept->params);
            } else {
              return std::apply([&](auto&... a) { return ((*impl).*M)(std::move(a)...); }, *decoded);
            }
          } catch (...) {
            // Thrown before there was a task: the call is owned here now, so
            // answer it here; the rethrow reaches the server's handler wrapper
            // (counted there; its answer to the moved-from call is ignored).
            owned->fail(current_exception_status());
            throw;
          }
        }();
        std::move(task).start([owned, kept = std::move(kept)](Result<X> r) {
          ServerContext::Scope inner(&owned->context());
          if (owned->oneway()) return;
          if (!r.has_value()) {
            owned->fail(r.status());
            return;
          }
          // Task<Result<T>>: the method's own error answers the call, as a
          // plain handler's Result<T> does.
          if constexpr (UnwrapResult<X>::kIsResult) {
            if (!r->has_value()) {
              owned->fail(r->status());
              return;
            }
          }
          Status es = serialization::with_codec(owned->serialization(), [&]<typename C2>() -> Status {
            auto b = owned->start_response();
            if constexpr (std::is_void_v<Value>) {
              C2::encode_void(b);
            } else if constexpr (UnwrapResult<X>::kIsResult) {
              C2::encode_value(b, **r);
            } else {
              C2::encode_value(b, *r);
            }
            owned->respond(std::move(b));
            return Status();
          });
          if (!es.is_ok()) owned->fail(es);
        });
        return Status();
      } else {
        auto args = Decoder::decode(call.body());
        if (!args.has_value()) return args.status();
        auto invoke = [&]() -> decltype(auto) {
          return std::apply([&](auto&... a) -> decltype(auto) { return ((*impl).*M)(std::move(a)...); }, *args);
        };
        if constexpr (std::is_void_v<R>) {
          invoke();
          if (call.oneway()) return Status();
          auto b = call.start_response();
          Codec::encode_void(b);
          call.respond(std::move(b));
        } else if constexpr (UnwrapResult<R>::kIsResult) {
          R r = invoke();
          if (call.oneway()) return Status();
          if (!r.has_value()) return r.status();
          auto b = call.start_response();
          if constexpr (std::is_void_v<Value>) {  // Result<void>: success or a status
            Codec::encode_void(b);
          } else {
            Codec::encode_value(b, *r);
          }
          call.respond(std::move(b));
        } else {
          R r = invoke();
          if (call.oneway()) return Status();
          auto b = call.start_response();
          Codec::encode_value(b, r);
          call.respond(std::move(b));
        }
      }
      return Status();
    });
    if (!s.is_ok()) call.fail(s);
  };
}

}  // namespace tern::detail
