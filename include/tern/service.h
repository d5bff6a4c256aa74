// tern/service.h - TERN_SERVICE: declares a plain C++ interface as an RPC
// contract (interface binding, DESIGN §8).
//
//   struct Calculator {
//     virtual ~Calculator() = default;
//     virtual int add(int a, int b) = 0;
//     virtual std::string greet(std::string name) = 0;
//   };
//   TERN_SERVICE(Calculator, add, greet)                  // at global scope
//   TERN_SERVICE_NAMED(Calculator, "acme.Calculator", add, greet)  // explicit name
//
// Method identity on the wire is the service name plus the method's name as
// written here ("Calculator" / "add"), never a hash of a C++ symbol: renaming
// a method is a visible, explicit act. Methods must not be overloaded (the
// member pointer &Calculator::add must be unambiguous). Arguments are taken
// by value or const reference; results by value; a method may also return
// tern::Result<T> to answer with an explicit error status, tern::Task<T> to
// answer when a coroutine finishes (tern/task.h), or tern::Task<tern::Result<T>>
// for both. A consumer sees T in every case.
//
// Borrowing (no copy of large strings on the provider): a std::string_view
// parameter points into the request (MessagePack) or into a string decoded
// for the call (JSON), valid until the handler returns, or until its
// tern::Task completes; keep a copy to use it later. A std::string_view
// result must point into memory that is still valid when the handler
// returns or its Task completes (a std::string_view parameter, the
// service's own data; never a by-value std::string parameter or a local,
// which are gone by then); it is encoded then. Both travel as strings, so a
// consumer may declare std::string where the provider has std::string_view
// (same contract), and a consumer's Proxy returns a std::string_view result
// as std::string. Only as the parameter or result itself: inside a
// container, optional, tuple, pair or array it does not compile
// (detail::kViewsAtTopLevel; in a TERN_STRUCT, the JSON codec refuses it).
// A tern::Task method's parameters taken by reference (const T&) or as
// views stay valid until its Task completes. An echo taking and returning std::string_view copies
// the body once on the provider (into the response), where std::string in
// and out copies it twice (into the argument, into the response).
//
// A method whose one
// parameter is tern::ServerStream<Req, Resp>& is a stream method instead
// (TERN_STREAM_KIND declares its kind; tern/service_stream.h).
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "tern/detail/macros.h"
#include "tern/result.h"

namespace tern {

template <typename T>
class Task;

template <typename Interface>
struct ServiceTraits {
  static constexpr bool kDefined = false;
};

// Specialized per method by TERN_SERVICE: `name` and `Service`.
template <auto Method>
struct MethodTraits {
  static constexpr bool kDefined = false;
};

namespace detail {

template <typename T>
struct MemberFn;
template <typename R, typename C, typename... A>
struct MemberFn<R (C::*)(A...)> {
  using Class = C;
  using Return = R;
  using Args = std::tuple<std::remove_cvref_t<A>...>;
  // Whether a parameter is taken by reference (const T&, T&&).
  static constexpr bool kByReference = (std::is_reference_v<A> || ...);
  static constexpr std::size_t kArity = sizeof...(A);
};
template <typename R, typename C, typename... A>
struct MemberFn<R (C::*)(A...) const> : MemberFn<R (C::*)(A...)> {};
template <typename R, typename C, typename... A>
struct MemberFn<R (C::*)(A...) noexcept> : MemberFn<R (C::*)(A...)> {};
template <typename R, typename C, typename... A>
struct MemberFn<R (C::*)(A...) const noexcept> : MemberFn<R (C::*)(A...)> {};

// The argument of an explicit specialization, read back inside its body
// through the injected-class-name. The TERN_SERVICE and TERN_STRUCT bodies are
// in namespace tern's scope, where a user's `proto::Foo` (or `config::`,
// `net::`, ...) would find tern's own sub-namespace first; the bodies name the
// user's type only through this.
template <typename Specialization>
struct SpecializedFor;
template <typename T>
struct SpecializedFor<ServiceTraits<T>> {
  using type = T;
};
template <auto Method>
struct SpecializedFor<MethodTraits<Method>> {
  using type = typename MemberFn<decltype(Method)>::Class;
};

// Result<T> -> T; Task<T> -> T; Task<Result<T>> -> T; T -> T.
template <typename T>
struct UnwrapResult {
  using type = T;
  static constexpr bool kIsResult = false;
};
template <typename T>
struct UnwrapResult<Result<T>> {
  using type = T;
  static constexpr bool kIsResult = true;
};

template <auto M>
struct MethodEntry {
  std::string_view name;
};

// kIsResult is about the handler's own return type (a Result returned at
// once); a Task's Result arrives when it completes (method_handler.h).
template <typename T>
struct UnwrapResult<::tern::Task<T>> {
  using type = typename UnwrapResult<T>::type;
  static constexpr bool kIsResult = false;
};

}  // namespace detail

namespace detail {
// A result that borrows (std::string_view, a provider's answer pointing into
// its request) reaches a consumer as the value it owns (std::string).
template <typename T>
struct ConsumerValue {
  using type = T;
};
template <>
struct ConsumerValue<std::string_view> {
  using type = std::string;
};
}  // namespace detail

namespace detail {
// Whether T holds a std::string_view below its top level (in a container,
// optional, tuple, pair or array), where its bytes would not outlive decoding.
template <typename T>
struct HoldsView : std::false_type {};
template <>
struct HoldsView<std::string_view> : std::true_type {};
template <template <typename...> class C, typename... X>
struct HoldsView<C<X...>> : std::bool_constant<(HoldsView<X>::value || ...)> {};
template <typename X, std::size_t N>
struct HoldsView<std::array<X, N>> : HoldsView<X> {};
template <typename T>
inline constexpr bool kNestedView = !std::is_same_v<T, std::string_view> && HoldsView<T>::value;
template <typename Tuple>
struct AnyNestedView;
template <typename... A>
struct AnyNestedView<std::tuple<A...>> : std::bool_constant<(kNestedView<A> || ...)> {};

// True when `Method` uses std::string_view only as a parameter or as the
// result itself (tern/service.h "Borrowing"); checked by the provider's
// handler and by Proxy<I>.
template <auto Method>
inline constexpr bool kViewsAtTopLevel =
    !AnyNestedView<typename MemberFn<decltype(Method)>::Args>::value &&
    !kNestedView<typename UnwrapResult<typename MemberFn<decltype(Method)>::Return>::type>;
}  // namespace detail

// The value type a call of `Method` produces for a consumer (Result<T> and
// Task<T> unwrapped to T; a std::string_view result arrives as std::string).
template <auto Method>
using method_result_t =
    typename detail::ConsumerValue<typename detail::UnwrapResult<typename detail::MemberFn<decltype(Method)>::Return>::type>::type;

template <auto Method>
using method_args_t = typename detail::MemberFn<decltype(Method)>::Args;

}  // namespace tern

#define TERN_DETAIL_METHOD_ENTRY(Type, m) std::make_tuple(::tern::detail::MethodEntry<&Type::m>{#m}),
#define TERN_DETAIL_METHOD_TRAITS(Type, m)                                        \
  template <>                                                                     \
  struct tern::MethodTraits<&Type::m> {                                           \
    static constexpr bool kDefined = true;                                        \
    static constexpr std::string_view name = #m;                                  \
    using Service = typename ::tern::detail::SpecializedFor<MethodTraits>::type;  \
  };

#define TERN_SERVICE_NAMED(Type, Name, ...)                                                      \
  template <>                                                                                    \
  struct tern::ServiceTraits<Type> {                                                             \
    static constexpr bool kDefined = true;                                                       \
    static constexpr std::string_view name = Name;                                               \
    using TernSelf = typename ::tern::detail::SpecializedFor<ServiceTraits>::type;               \
    static constexpr auto methods() {                                                            \
      return std::tuple_cat(TERN_FOR_EACH(TERN_DETAIL_METHOD_ENTRY, TernSelf, __VA_ARGS__) std::tuple<>()); \
    }                                                                                            \
  };                                                                                             \
  TERN_FOR_EACH(TERN_DETAIL_METHOD_TRAITS, Type, __VA_ARGS__)

#define TERN_SERVICE(Type, ...) TERN_SERVICE_NAMED(Type, #Type, __VA_ARGS__)
