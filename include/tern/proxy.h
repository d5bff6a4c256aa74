// tern/proxy.h - Proxy<I>: the typed front end of interface binding, C++'s
// form of Dubbo's dynamic proxy (DESIGN §8).
//
//   tern::Client client;
//   auto calc = client.refer<Calculator>("direct://127.0.0.1:20880").value();
//   tern::Result<int> r = calc.call<&Calculator::add>(1, 2);       // sync, with timeout
//   calc.oneway<&Calculator::log>("hello");                        // fire and forget
//
// Argument types are checked at compile time against the interface method:
// each argument must be convertible to the parameter type. The result type is
// the method's return type (Result<T> unwrapped to T).
//
// call<>() blocks the calling thread until the result, an error or the
// reference's timeout (default 3 s, never infinite). Do not call it on one of
// the client's IO threads (it would wait for itself); use the async modes there.
//
// Thread safety: a Proxy is a cheap handle (one shared_ptr); copies and
// concurrent calls from any threads are fine.
#pragma once

#include <atomic>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include "tern/reference.h"
#include "tern/serialization/codecs.h"
#include "tern/service.h"

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

  // Synchronous call; see the header comment.
  template <auto M, typename... A>
  Result<method_result_t<M>> call(A&&... args) const {
    std::string request;
    Status s = encode<M>(/*oneway=*/false, request, std::forward<A>(args)...);
    if (!s.is_ok()) return s;
    auto st = std::make_shared<detail::SyncState>();
    ref_->invoke(MethodTraits<M>::name, std::move(request), std::chrono::milliseconds(0),
                 [st](CallResult&& r) {
                   st->result = std::move(r);
                   st->done.store(1, std::memory_order_release);
                   st->done.notify_one();
                 });
    st->done.wait(0, std::memory_order_acquire);
    return decode<M>(std::move(st->result));
  }

  // Oneway call: returns once the request is queued; the provider sends no
  // response. Only local failures (no provider, cannot encode, connection
  // known broken) are reported.
  template <auto M, typename... A>
  Status oneway(A&&... args) const {
    std::string request;
    Status s = encode<M>(/*oneway=*/true, request, std::forward<A>(args)...);
    if (!s.is_ok()) return s;
    return ref_->invoke_oneway(MethodTraits<M>::name, std::move(request));
  }

  const std::shared_ptr<Reference>& reference() const noexcept { return ref_; }

  // --- building blocks of the call modes (also used by the async modes) -----

  // Encodes a request for method M into `out`.
  template <auto M, typename... A>
  Status encode(bool oneway, std::string& out, A&&... args) const {
    static_assert(MethodTraits<M>::kDefined, "method not listed in TERN_SERVICE");
    static_assert(std::is_same_v<typename MethodTraits<M>::Service, I>, "method belongs to another interface");
    using Check = detail::ArgsCheck<method_args_t<M>, A...>;
    static_assert(Check::kArity, "wrong number of arguments for this method");
    static_assert(Check::kConvertible, "an argument is not convertible to the method's parameter type");
    auto b = ref_->new_request(MethodTraits<M>::name, oneway);
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
      Result<R> out = Status(StatusCode::kInternal, "unset");
      Status s = serialization::with_codec(r.frame.header.serialization, [&]<typename Codec>() -> Status {
        out = Codec::template decode_value<R>(r.body());
        return Status();
      });
      if (!s.is_ok()) return s;
      return out;
    }
  }

 private:
  std::shared_ptr<Reference> ref_;
};

}  // namespace tern
