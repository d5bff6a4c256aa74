// tern/reflect.h - TERN_STRUCT: one macro that makes a plain struct usable as
// an RPC argument or result with every serializer (MessagePack and JSON).
//
//   namespace geo { struct Point { double x = 0; double y = 0; }; }
//   TERN_STRUCT(geo::Point, x, y)          // at global namespace scope
//
// The struct is encoded as a map from field name to value (MessagePack map,
// JSON object), so fields can be added later without breaking old peers:
// unknown fields are ignored on decode and missing fields keep their default
// values. Field types may be anything the serializers support: integers,
// floating point, bool, std::string, std::vector, std::map with string keys,
// std::optional, enums (as their underlying integer) and other TERN_STRUCTs.
//
// Constraints: use TERN_STRUCT at global namespace scope, once per type; the
// type must be default-constructible and its listed fields accessible.
#pragma once

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "tern/detail/macros.h"

namespace tern {

// Specialized by TERN_STRUCT: `fields` is a tuple of (name, member pointer).
template <typename T>
struct Reflect {
  static constexpr bool kReflected = false;
};

template <typename T>
inline constexpr bool is_reflected_v = Reflect<std::remove_cvref_t<T>>::kReflected;

namespace detail {
// T of Reflect<T>, read inside TERN_STRUCT's body through the
// injected-class-name: the body is in namespace tern's scope, where a user's
// `proto::Foo` would find tern's own sub-namespace first.
template <typename Specialization>
struct ReflectedType;
template <typename T>
struct ReflectedType<Reflect<T>> {
  using type = T;
};
}  // namespace detail

// Calls f(name, member_reference) for each field of `obj`, in declaration order.
template <typename T, typename F>
void for_each_field(T&& obj, F&& f) {
  using R = Reflect<std::remove_cvref_t<T>>;
  std::apply([&](const auto&... field) { (f(field.first, obj.*(field.second)), ...); }, R::fields());
}

}  // namespace tern

#define TERN_DETAIL_FIELD(Type, field) \
  std::make_tuple(std::pair<std::string_view, decltype(&Type::field)>{#field, &Type::field}),

#define TERN_STRUCT(Type, ...)                                                     \
  template <>                                                                      \
  struct tern::Reflect<Type> {                                                     \
    static constexpr bool kReflected = true;                                       \
    static constexpr std::string_view name() { return #Type; }                     \
    using TernSelf = typename ::tern::detail::ReflectedType<Reflect>::type;        \
    static constexpr auto fields() {                                               \
      return std::tuple_cat(TERN_FOR_EACH(TERN_DETAIL_FIELD, TernSelf, __VA_ARGS__) std::tuple<>()); \
    }                                                                              \
  };

// --- MessagePack adaptor for every reflected type --------------------------
namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {
namespace adaptor {

template <typename T>
struct pack<T, std::enable_if_t<tern::is_reflected_v<T>>> {
  template <typename Stream>
  packer<Stream>& operator()(packer<Stream>& o, const T& v) const {
    std::size_t n = std::tuple_size_v<decltype(tern::Reflect<T>::fields())>;
    o.pack_map(static_cast<uint32_t>(n));
    tern::for_each_field(v, [&](std::string_view name, const auto& field) {
      o.pack_str(static_cast<uint32_t>(name.size()));
      o.pack_str_body(name.data(), static_cast<uint32_t>(name.size()));
      using F = std::remove_cvref_t<decltype(field)>;
      if constexpr (std::is_enum_v<F>) {
        o.pack(static_cast<std::underlying_type_t<F>>(field));
      } else {
        o.pack(field);
      }
    });
    return o;
  }
};

template <typename T>
struct convert<T, std::enable_if_t<tern::is_reflected_v<T>>> {
  const msgpack::object& operator()(const msgpack::object& o, T& v) const {
    if (o.type != msgpack::type::MAP) throw msgpack::type_error();
    for (uint32_t i = 0; i < o.via.map.size; ++i) {
      const auto& kv = o.via.map.ptr[i];
      if (kv.key.type != msgpack::type::STR) throw msgpack::type_error();
      std::string_view key(kv.key.via.str.ptr, kv.key.via.str.size);
      tern::for_each_field(v, [&](std::string_view name, auto& field) {
        if (name != key) return;
        using F = std::remove_cvref_t<decltype(field)>;
        if constexpr (std::is_enum_v<F>) {
          field = static_cast<F>(kv.val.as<std::underlying_type_t<F>>());
        } else {
          kv.val.convert(field);
        }
      });
    }
    return o;
  }
};

}  // namespace adaptor
}  // MSGPACK_API_VERSION_NAMESPACE
}  // namespace msgpack

// --- JSON (nlohmann) serializer for every reflected type -------------------
namespace nlohmann {
template <typename T>
struct adl_serializer<T, std::enable_if_t<tern::is_reflected_v<T>>> {
  static void to_json(json& j, const T& v) {
    j = json::object();
    tern::for_each_field(v, [&](std::string_view name, const auto& field) { j[std::string(name)] = field; });
  }
  static void from_json(const json& j, T& v) {
    if (!j.is_object()) throw json::type_error::create(302, "expected an object for " + std::string(tern::Reflect<T>::name()), &j);
    tern::for_each_field(v, [&](std::string_view name, auto& field) {
      auto it = j.find(std::string(name));
      if (it != j.end()) it->get_to(field);
    });
  }
};
}  // namespace nlohmann
