// tern/serialization/msgpack_codec.h - typed MessagePack encoding of RPC
// arguments and results (msgpack-cxx); the default for interface binding.
//
// Arguments travel as one MessagePack array holding each argument in order;
// a result as one MessagePack value (nil for void). Supported types: what
// msgpack-cxx supports (integers, floating point, bool, std::string, vectors,
// maps, std::optional, tuples) plus TERN_STRUCT types (tern/reflect.h).
//
// Untrusted input: decoding caps every array/map/string/binary length at the
// payload's own size and nesting at 64 levels, so a forged length cannot make
// it allocate; any malformed or mistyped payload gives INVALID_ARGUMENT naming
// the failing argument ("argument 2 of 2: type mismatch"). Never throws.
//
// Thread safety: stateless; call from any thread.
#pragma once

#include <msgpack.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "tern/reflect.h"
#include "tern/result.h"

namespace tern::serialization {

struct MsgpackCodec {
  static constexpr std::uint8_t kId = 3;  // protocol::SerializationId::kMsgpack
  static constexpr std::string_view kName = "msgpack";

  // Appends the argument array to `out` (anything with write(const char*, size_t)).
  template <typename Writer, typename... Args>
  static void encode_args(Writer& out, const Args&... args) {
    msgpack::packer<Writer> pk(out);
    pk.pack_array(static_cast<std::uint32_t>(sizeof...(Args)));
    (pack_one(pk, args), ...);
  }

  // Decodes an argument array into decayed Args.
  template <typename... Args>
  static Result<std::tuple<Args...>> decode_args(std::string_view bytes) {
    msgpack::object_handle oh;
    Status s = unpack(bytes, oh);
    if (!s.is_ok()) return s;
    const msgpack::object& o = oh.get();
    if (o.type != msgpack::type::ARRAY) {
      return Status(StatusCode::kInvalidArgument, "arguments are not a MessagePack array");
    }
    if (o.via.array.size != sizeof...(Args)) {
      return Status(StatusCode::kInvalidArgument, "expected " + std::to_string(sizeof...(Args)) +
                                                       " arguments, got " + std::to_string(o.via.array.size));
    }
    std::tuple<Args...> out;
    Status err;
    convert_all(o, out, err, std::index_sequence_for<Args...>{});
    if (!err.is_ok()) return err;
    return out;
  }

  // Appends one value (a result). void results encode as nil.
  template <typename Writer, typename T>
  static void encode_value(Writer& out, const T& v) {
    msgpack::packer<Writer> pk(out);
    pack_one(pk, v);
  }
  template <typename Writer>
  static void encode_void(Writer& out) {
    msgpack::packer<Writer> pk(out);
    pk.pack_nil();
  }

  template <typename T>
  static Result<T> decode_value(std::string_view bytes) {
    msgpack::object_handle oh;
    Status s = unpack(bytes, oh);
    if (!s.is_ok()) return s;
    T v{};
    try {
      convert_one(oh.get(), v);
    } catch (const std::exception& e) {
      return Status(StatusCode::kInvalidArgument, std::string("result: type mismatch (") + e.what() + ")");
    }
    return v;
  }

 private:
  template <typename Pk, typename T>
  static void pack_one(Pk& pk, const T& v) {
    if constexpr (std::is_enum_v<T>) {
      pk.pack(static_cast<std::underlying_type_t<T>>(v));
    } else {
      pk.pack(v);
    }
  }
  template <typename T>
  static void convert_one(const msgpack::object& o, T& v) {
    if constexpr (std::is_enum_v<T>) {
      v = static_cast<T>(o.as<std::underlying_type_t<T>>());
    } else {
      o.convert(v);
    }
  }

  static Status unpack(std::string_view bytes, msgpack::object_handle& oh) {
    if (bytes.empty()) return Status(StatusCode::kInvalidArgument, "empty MessagePack payload");
    // No length inside the payload can legitimately exceed the payload.
    std::size_t n = bytes.size();
    msgpack::unpack_limit limit(n, n, n, n, n, 64);
    try {
      std::size_t off = 0;
      oh = msgpack::unpack(bytes.data(), bytes.size(), off, nullptr, nullptr, limit);
      if (off != bytes.size()) return Status(StatusCode::kInvalidArgument, "trailing bytes after MessagePack value");
    } catch (const std::exception& e) {
      return Status(StatusCode::kInvalidArgument, std::string("malformed MessagePack: ") + e.what());
    }
    return Status();
  }

  template <typename Tuple, std::size_t... I>
  static void convert_all(const msgpack::object& arr, Tuple& out, Status& err, std::index_sequence<I...>) {
    (convert_at<I>(arr, out, err), ...);
  }
  template <std::size_t I, typename Tuple>
  static void convert_at(const msgpack::object& arr, Tuple& out, Status& err) {
    if (!err.is_ok()) return;
    try {
      convert_one(arr.via.array.ptr[I], std::get<I>(out));
    } catch (const std::exception& e) {
      err = Status(StatusCode::kInvalidArgument, "argument " + std::to_string(I + 1) + " of " +
                                                     std::to_string(std::tuple_size_v<Tuple>) +
                                                     ": type mismatch (" + e.what() + ")");
    }
  }
};

}  // namespace tern::serialization
