// tern/serialization/json_codec.h - typed JSON encoding of RPC arguments and
// results (nlohmann/json); the serialization of generic invocation
// (`tern call Calculator.add '[1,2]'`, tern/json_call.h) and of browsers/tools.
//
// Same static interface as MsgpackCodec (msgpack_codec.h), serialization id 2:
//   arguments  one JSON array holding each argument in order: [1, "two", {"x":1}]
//              (a method with exactly one parameter also accepts that
//              parameter's JSON object on its own: {"text":"hi"} for Say(Req));
//              with parameter names (decode_named_args) also an object
//              {"a":1,"b":2}
//   result     one JSON value; void is null
// Type mapping: integers and floating point as JSON numbers (NaN and the
// infinities, which JSON numbers cannot carry, as the strings "NaN",
// "Infinity" and "-Infinity", as in protobuf's JSON mapping; decoding a
// floating-point value accepts those strings too); bool; std::string
// (UTF-8; invalid bytes are replaced by U+FFFD when encoding; a
// std::string_view encodes as a string, and a provider's std::string_view
// parameter is decoded into a std::string the handler's call borrows from,
// tern/detail/method_handler.h); enums as their
// underlying integer; std::optional as null or the value; std::vector as an
// array; std::map/unordered_map with string keys as an object; TERN_STRUCT
// types as an object keyed by field name (tern/reflect.h: unknown fields are
// ignored, missing fields keep their defaults); protobuf messages (Message
// subclasses) through protobuf's JSON mapping (unknown fields ignored), out of
// line (protobuf_message.h): this header includes no google/protobuf header.
//
// Untrusted input: decoding never throws and never crashes. Nesting deeper
// than kMaxDepth (64) is refused before parsing; a parse error, a wrong type
// (a string where an integer is expected, an integer out of the parameter's
// range, a number beyond a float's range, a fraction for an integer) gives
// INVALID_ARGUMENT naming the failing argument and path:
// "argument 2 of 2: .tags[1]: expected an integer, got string".
//
// Thread safety: stateless; call from any thread.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tern/reflect.h"
#include "tern/result.h"
#include "tern/serialization/protobuf_message.h"

// --- nlohmann glue: std::optional and protobuf messages ---------------------
// nlohmann/json 3.11 has no std::optional support; TERN_STRUCT fields and
// arguments of optional type need it. Messages nest inside vectors, maps and
// TERN_STRUCTs through protobuf's JSON mapping.
namespace nlohmann {
template <typename T>
struct adl_serializer<std::optional<T>> {
  static void to_json(json& j, const std::optional<T>& v) {
    if (v) j = *v;
    else j = nullptr;
  }
  static void from_json(const json& j, std::optional<T>& v) {
    if (j.is_null()) v.reset();
    else v = j.get<T>();
  }
};

template <typename T>
struct adl_serializer<T, std::enable_if_t<tern::serialization::is_protobuf_message_v<T>>> {
  static void to_json(json& j, const T& v) {
    std::string s;
    if (!tern::serialization::pb::to_json(v, &s)) {
      j = nullptr;
      return;
    }
    j = json::parse(s, nullptr, /*allow_exceptions=*/false);
  }
  static void from_json(const json& j, T& v) {
    std::string error;
    if (!tern::serialization::pb::from_json(j.dump(), v, &error)) {
      throw json::other_error::create(501, "protobuf " + tern::serialization::pb::type_name(v) + ": " + error, &j);
    }
  }
};
}  // namespace nlohmann

namespace tern::serialization {

namespace json_detail {

inline const char* type_name(const nlohmann::json& j) noexcept {
  switch (j.type()) {
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      return "integer";
    case nlohmann::json::value_t::number_float:
      return "number";
    default:
      return j.type_name();
  }
}

// Checks nesting before nlohmann parses (its SAX parser is iterative, but
// converting and destroying a deep document is not free). Counts brackets
// outside strings.
inline bool depth_ok(std::string_view s, int max_depth) noexcept {
  int depth = 0;
  bool in_string = false;
  bool escape = false;
  for (char c : s) {
    if (in_string) {
      if (escape) escape = false;
      else if (c == '\\') escape = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <typename T>
struct IsVector : std::false_type {};
template <typename T, typename A>
struct IsVector<std::vector<T, A>> : std::true_type {};
template <typename T>
struct IsStringMap : std::false_type {};
template <typename V, typename C, typename A>
struct IsStringMap<std::map<std::string, V, C, A>> : std::true_type {};
template <typename V, typename H, typename E, typename A>
struct IsStringMap<std::unordered_map<std::string, V, H, E, A>> : std::true_type {};

// Failure description: path ("" = the value itself) and reason.
struct Error {
  std::string path;
  std::string what;
};

inline bool fail(Error& e, std::string path, std::string what) {
  e.path = std::move(path);
  e.what = std::move(what);
  return false;
}

// Strict conversion of `j` into `v`: no silent truncation or wrapping of
// integers, no numbers for strings. Types it does not know fall back to
// nlohmann's from_json (errors still reported, never thrown).
template <typename T>
bool from_json(const nlohmann::json& j, T& v, const std::string& path, Error& e) {
  static_assert(!std::is_same_v<T, std::string_view>,
                "std::string_view is a parameter or result type only (not inside a vector, map, optional, tuple "
                "or struct): a JSON string may be escaped, so it cannot borrow from the payload");
  using nlohmann::json;
  if constexpr (std::is_same_v<T, bool>) {
    if (!j.is_boolean()) return fail(e, path, std::string("expected a boolean, got ") + type_name(j));
    v = j.get<bool>();
    return true;
  } else if constexpr (std::is_enum_v<T>) {
    std::underlying_type_t<T> u{};
    if (!from_json(j, u, path, e)) return false;
    v = static_cast<T>(u);
    return true;
  } else if constexpr (std::is_integral_v<T>) {
    if (j.is_number_unsigned()) {
      auto u = j.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
        return fail(e, path, "integer " + std::to_string(u) + " out of range");
      }
      v = static_cast<T>(u);
      return true;
    }
    if (j.is_number_integer()) {
      auto s = j.get<std::int64_t>();
      if constexpr (std::is_signed_v<T>) {
        if (s < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
            s > static_cast<std::int64_t>(std::numeric_limits<T>::max())) {
          return fail(e, path, "integer " + std::to_string(s) + " out of range");
        }
      } else {
        if (s < 0 || static_cast<std::uint64_t>(s) > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
          return fail(e, path, "integer " + std::to_string(s) + " out of range");
        }
      }
      v = static_cast<T>(s);
      return true;
    }
    return fail(e, path, std::string("expected an integer, got ") + type_name(j));
  } else if constexpr (std::is_floating_point_v<T>) {
    if (j.is_string()) {
      const auto& s = j.get_ref<const std::string&>();
      if (s == "NaN") v = std::numeric_limits<T>::quiet_NaN();
      else if (s == "Infinity") v = std::numeric_limits<T>::infinity();
      else if (s == "-Infinity") v = -std::numeric_limits<T>::infinity();
      else return fail(e, path, "expected a number, got string");
      return true;
    }
    if (!j.is_number()) return fail(e, path, std::string("expected a number, got ") + type_name(j));
    if constexpr (sizeof(T) < sizeof(double)) {
      // 1e300 for a float would silently become infinity, which JSON cannot
      // carry back (it prints as null): out of range, like an integer.
      double d = j.get<double>();
      if (std::isfinite(d) && std::fabs(d) > static_cast<double>(std::numeric_limits<T>::max())) {
        return fail(e, path, "number " + j.dump() + " out of range");
      }
    }
    v = j.get<T>();
    return true;
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!j.is_string()) return fail(e, path, std::string("expected a string, got ") + type_name(j));
    v = j.get_ref<const std::string&>();
    return true;
  } else if constexpr (IsOptional<T>::value) {
    if (j.is_null()) {
      v.reset();
      return true;
    }
    typename T::value_type inner{};
    if (!from_json(j, inner, path, e)) return false;
    v = std::move(inner);
    return true;
  } else if constexpr (IsVector<T>::value) {
    if (!j.is_array()) return fail(e, path, std::string("expected an array, got ") + type_name(j));
    v.clear();
    v.reserve(j.size());
    for (std::size_t i = 0; i < j.size(); ++i) {
      typename T::value_type item{};
      if (!from_json(j[i], item, path + "[" + std::to_string(i) + "]", e)) return false;
      v.push_back(std::move(item));
    }
    return true;
  } else if constexpr (IsStringMap<T>::value) {
    if (!j.is_object()) return fail(e, path, std::string("expected an object, got ") + type_name(j));
    v.clear();
    for (auto it = j.begin(); it != j.end(); ++it) {
      typename T::mapped_type item{};
      if (!from_json(it.value(), item, path + "." + it.key(), e)) return false;
      v.emplace(it.key(), std::move(item));
    }
    return true;
  } else if constexpr (is_reflected_v<T>) {
    if (!j.is_object()) return fail(e, path, std::string("expected an object, got ") + type_name(j));
    bool ok = true;
    for_each_field(v, [&](std::string_view name, auto& field) {
      if (!ok) return;
      auto it = j.find(std::string(name));
      if (it == j.end()) return;  // missing: keep the default
      ok = from_json(*it, field, path + "." + std::string(name), e);
    });
    return ok;
  } else if constexpr (is_protobuf_message_v<T>) {
    // Usually an object; well-known types map to strings, numbers, arrays.
    std::string error;
    if (!pb::from_json(j.dump(), v, &error)) return fail(e, path, "protobuf " + pb::type_name(v) + ": " + error);
    return true;
  } else {
    try {
      j.get_to(v);
      return true;
    } catch (const std::exception& ex) {
      return fail(e, path, ex.what());
    }
  }
}

// Replaces NaN and the infinities in `j` (which dump() would print as null)
// by the strings "NaN", "Infinity", "-Infinity".
inline void name_non_finite(nlohmann::json& j) {
  if (j.is_number_float()) {
    double d = j.get<double>();
    if (std::isnan(d)) j = "NaN";
    else if (std::isinf(d)) j = d > 0 ? "Infinity" : "-Infinity";
  } else if (j.is_structured()) {
    for (auto& child : j) name_non_finite(child);
  }
}

// Appends the JSON text of one value to `out`.
template <typename Writer, typename T>
void write_value(Writer& out, const T& v) {
  std::string s;
  if constexpr (is_protobuf_message_v<T>) {
    if (!pb::to_json(v, &s)) s = "null";
  } else {
    nlohmann::json j;
    if constexpr (std::is_enum_v<T>) {
      j = static_cast<std::underlying_type_t<T>>(v);
    } else {
      j = v;
    }
    // Strings, integers and booleans hold no float: skip the walk.
    if constexpr (!std::is_same_v<T, std::string> && !std::is_same_v<T, std::string_view> &&
                  !std::is_integral_v<T> && !std::is_enum_v<T>) {
      name_non_finite(j);
    }
    s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  out.write(s.data(), s.size());
}

inline std::string describe(std::size_t index, std::size_t count, const Error& e) {
  std::string m = "argument " + std::to_string(index + 1) + " of " + std::to_string(count) + ": ";
  if (!e.path.empty()) m += e.path + ": ";
  return m + e.what;
}

}  // namespace json_detail

struct JsonCodec {
  static constexpr std::uint8_t kId = 2;  // protocol::SerializationId::kJson
  static constexpr std::string_view kName = "json";
  // Deepest nesting of arrays/objects a payload may have.
  static constexpr int kMaxDepth = 64;

  // Appends the argument array to `out` (anything with write(const char*, size_t)).
  template <typename Writer, typename... Args>
  static void encode_args(Writer& out, const Args&... args) {
    out.write("[", 1);
    std::size_t i = 0;
    auto one = [&](const auto& a) {
      if (i++ != 0) out.write(",", 1);
      json_detail::write_value(out, a);
    };
    (one(args), ...);
    (void)one;  // unused for no arguments
    out.write("]", 1);
  }

  // Decodes an argument array into decayed Args. A method with one parameter
  // also accepts the parameter's JSON object (not wrapped in an array).
  template <typename... Args>
  static Result<std::tuple<Args...>> decode_args(std::string_view bytes) {
    nlohmann::json doc;
    if (Status s = parse(bytes, doc); !s.is_ok()) return s;
    std::tuple<Args...> out;
    if constexpr (sizeof...(Args) == 1) {
      if (doc.is_object()) {
        json_detail::Error e;
        if (!json_detail::from_json(doc, std::get<0>(out), "", e)) {
          return Status(StatusCode::kInvalidArgument, json_detail::describe(0, 1, e));
        }
        return out;
      }
    }
    if (!doc.is_array()) {
      return Status(StatusCode::kInvalidArgument,
                    std::string("arguments are not a JSON array (got ") + json_detail::type_name(doc) +
                        "): write them in [ ], e.g. [1, \"two\"]");
    }
    if (doc.size() != sizeof...(Args)) {
      return Status(StatusCode::kInvalidArgument, "expected " + std::to_string(sizeof...(Args)) +
                                                       " arguments, got " + std::to_string(doc.size()));
    }
    Status err;
    convert_all(
        [&](std::size_t i) -> const nlohmann::json* { return &doc[i]; }, out, err,
        std::index_sequence_for<Args...>{});
    if (!err.is_ok()) return err;
    return out;
  }

  // Like decode_args, and also accepts a JSON object keyed by parameter name
  // ({"a":1,"b":2} with names {"a","b"}). A name missing from the object is
  // an error unless its parameter is a std::optional (then nullopt); unknown
  // names are ignored. `names` must hold one name per parameter, in order.
  template <typename... Args>
  static Result<std::tuple<Args...>> decode_named_args(std::string_view bytes,
                                                       std::initializer_list<std::string_view> names) {
    if (names.size() != sizeof...(Args)) {
      return Status(StatusCode::kInternal, "decode_named_args: one name per parameter required");
    }
    nlohmann::json doc;
    if (Status s = parse(bytes, doc); !s.is_ok()) return s;
    if (!doc.is_object()) return decode_args<Args...>(bytes);
    const std::string_view* name = names.begin();
    std::tuple<Args...> out;
    Status err;
    convert_all(
        [&](std::size_t i) -> const nlohmann::json* {
          auto it = doc.find(std::string(name[i]));
          return it == doc.end() ? nullptr : &*it;
        },
        out, err, std::index_sequence_for<Args...>{}, name);
    if (!err.is_ok()) return err;
    return out;
  }

  // Appends one value (a result). void results encode as null.
  template <typename Writer, typename T>
  static void encode_value(Writer& out, const T& v) {
    json_detail::write_value(out, v);
  }
  template <typename Writer>
  static void encode_void(Writer& out) {
    out.write("null", 4);
  }

  template <typename T>
  static Result<T> decode_value(std::string_view bytes) {
    nlohmann::json doc;
    if (Status s = parse(bytes, doc); !s.is_ok()) return s;
    T v{};
    json_detail::Error e;
    if (!json_detail::from_json(doc, v, "", e)) {
      return Status(StatusCode::kInvalidArgument, "result: " + (e.path.empty() ? "" : e.path + ": ") + e.what);
    }
    return v;
  }

 private:
  static Status parse(std::string_view bytes, nlohmann::json& doc) {
    if (bytes.empty()) return Status(StatusCode::kInvalidArgument, "empty JSON payload");
    if (!json_detail::depth_ok(bytes, kMaxDepth)) {
      return Status(StatusCode::kInvalidArgument, "JSON nested deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    try {
      doc = nlohmann::json::parse(bytes.begin(), bytes.end());
    } catch (const std::exception& e) {
      return Status(StatusCode::kInvalidArgument, std::string("malformed JSON: ") + e.what());
    }
    return Status();
  }

  template <typename Lookup, typename Tuple, std::size_t... I>
  static void convert_all(Lookup&& lookup, Tuple& out, Status& err, std::index_sequence<I...>,
                          const std::string_view* names = nullptr) {
    (void)lookup;
    (void)names;
    (convert_at<I>(lookup, out, err, names), ...);
  }
  template <std::size_t I, typename Lookup, typename Tuple>
  static void convert_at(Lookup& lookup, Tuple& out, Status& err, const std::string_view* names) {
    if (!err.is_ok()) return;
    constexpr std::size_t n = std::tuple_size_v<Tuple>;
    using A = std::tuple_element_t<I, Tuple>;
    const nlohmann::json* j = lookup(I);
    if (j == nullptr) {
      if constexpr (json_detail::IsOptional<A>::value) return;
      err = Status(StatusCode::kInvalidArgument, "argument " + std::to_string(I + 1) + " of " + std::to_string(n) +
                                                     ": missing \"" + std::string(names[I]) + "\"");
      return;
    }
    json_detail::Error e;
    if (!json_detail::from_json(*j, std::get<I>(out), "", e)) {
      err = Status(StatusCode::kInvalidArgument, json_detail::describe(I, n, e));
    }
  }
};

}  // namespace tern::serialization
