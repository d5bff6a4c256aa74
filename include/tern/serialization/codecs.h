// tern/serialization/codecs.h - picks the typed codec for a serialization id
// at run time, so one typed handler serves every serialization the request
// names (DESIGN §3: the provider answers in the serialization of the request).
//
//   Status s = tern::serialization::with_codec(id, [&]<typename Codec>() { ... });
//
// The codecs, each with the same static interface (encode_args, decode_args,
// encode_value, encode_void, decode_value, kId, kName):
//   3 msgpack   MsgpackCodec   (msgpack_codec.h)   every supported C++ type
//   2 json      JsonCodec      (json_codec.h)      every supported C++ type and protobuf messages
//   1 protobuf  ProtobufCodec  (protobuf_codec.h)  protobuf messages only
//
// with_codec instantiates the callable with every codec, so it must compile
// for types protobuf cannot carry: for id 1 it hands over
// detail::ProtobufDispatchCodec, which is ProtobufCodec for messages and
// answers INVALID_ARGUMENT at run time for other types. Code that knows the
// method's types uses with_method_codec, which refuses protobuf for a method
// whose arguments or result are not all messages before anything runs:
// INVALID_ARGUMENT "method X does not take protobuf messages".
//
// Both return INVALID_ARGUMENT "unsupported serialization id N" for ids this
// build does not handle (0 raw is not typed).
//
// Headers: the three codecs are compiled in, because the provider answers in
// whatever serialization a request names (`tern call` speaks JSON to every
// typed method) and a reference picks its serialization at run time from a
// URL or a config file. Choosing the codecs by which headers a translation
// unit included would give one inline template (Proxy<I>::encode<M>, a
// method's handler) different bodies in different translation units, so the
// linker would keep one at random. What this header costs: msgpack-cxx and
// nlohmann/json; no google/protobuf header (protobuf_codec.h and the protobuf
// glue of the other two codecs go through protobuf_message.h, out of line),
// and no Asio.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "tern/serialization/json_codec.h"
#include "tern/serialization/msgpack_codec.h"
#include "tern/serialization/protobuf_codec.h"
#include "tern/status.h"

namespace tern::serialization {

// The id of a serialization name ("msgpack" -> 3); false if unknown.
bool serialization_id(std::string_view name, std::uint8_t* id) noexcept;
// The name of an id ("msgpack"), or "unknown".
std::string_view serialization_name(std::uint8_t id) noexcept;

namespace detail {

// ProtobufCodec where the types are messages; elsewhere a codec that compiles
// and fails at run time (the protobuf request of a non-message method reaches
// the provider with an empty body and is refused there).
struct ProtobufDispatchCodec {
  static constexpr std::uint8_t kId = ProtobufCodec::kId;
  static constexpr std::string_view kName = ProtobufCodec::kName;

  template <typename Writer, typename... Args>
  static void encode_args(Writer& out, const Args&... args) {
    if constexpr (ProtobufCodec::kAccepts<Args...>) {
      ProtobufCodec::encode_args(out, args...);
    } else {
      (void)out;
      ((void)args, ...);
    }
  }
  template <typename... Args>
  static Result<std::tuple<Args...>> decode_args(std::string_view bytes) {
    if constexpr (ProtobufCodec::kAccepts<Args...>) {
      return ProtobufCodec::decode_args<Args...>(bytes);
    } else {
      return Status(StatusCode::kInvalidArgument, "the arguments are not protobuf messages");
    }
  }
  template <typename Writer, typename T>
  static void encode_value(Writer& out, const T& v) {
    if constexpr (is_protobuf_message_v<T>) {
      ProtobufCodec::encode_value(out, v);
    } else {
      (void)out;
      (void)v;
    }
  }
  template <typename Writer>
  static void encode_void(Writer& out) {
    ProtobufCodec::encode_void(out);
  }
  template <typename T>
  static Result<T> decode_value(std::string_view bytes) {
    if constexpr (is_protobuf_message_v<T>) {
      return ProtobufCodec::decode_value<T>(bytes);
    } else {
      return Status(StatusCode::kInvalidArgument, "the result type is not a protobuf message");
    }
  }
};

template <typename R, typename ArgsTuple>
struct ProtobufMethod;
template <typename R, typename... A>
struct ProtobufMethod<R, std::tuple<A...>> {
  static constexpr bool value =
      (std::is_void_v<R> || is_protobuf_message_v<R>) && ProtobufCodec::kAccepts<std::remove_cvref_t<A>...>;
};

}  // namespace detail

// True when a method returning R (void allowed: empty body) and taking the
// arguments of std::tuple ArgsTuple can be carried by the protobuf serialization.
template <typename R, typename ArgsTuple>
inline constexpr bool protobuf_method_v = detail::ProtobufMethod<R, ArgsTuple>::value;

// Calls f.template operator()<Codec>() with the codec of serialization `id`
// and returns its Status.
template <typename F>
Status with_codec(std::uint8_t id, F&& f) {
  switch (id) {
    case MsgpackCodec::kId:
      return f.template operator()<MsgpackCodec>();
    case JsonCodec::kId:
      return f.template operator()<JsonCodec>();
    case ProtobufCodec::kId:
      return f.template operator()<detail::ProtobufDispatchCodec>();
    default:
      return Status(StatusCode::kInvalidArgument, "unsupported serialization id " + std::to_string(id));
  }
}

// with_codec for a method of known types: R its result (Result<T>/Task<T>
// already unwrapped to T; void allowed), ArgsTuple std::tuple of its decayed
// parameter types. Protobuf is refused up front, naming `method`, unless
// protobuf_method_v<R, ArgsTuple>.
template <typename R, typename ArgsTuple, typename F>
Status with_method_codec(std::uint8_t id, std::string_view method, F&& f) {
  if constexpr (!protobuf_method_v<R, ArgsTuple>) {
    if (id == ProtobufCodec::kId) {
      return Status(StatusCode::kInvalidArgument, "method " + std::string(method) + " does not take protobuf messages");
    }
  }
  return with_codec(id, static_cast<F&&>(f));
}

}  // namespace tern::serialization
