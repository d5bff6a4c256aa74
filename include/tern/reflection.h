// tern/reflection.h - service descriptions: what a provider exposes, with the
// argument and result types of every method, as JSON. The built-in service
// "tern.Reflection" (every Server exposes it unless
// ServerOptions::reflection is false) answers them; `tern describe` prints them.
//
//   $ tern call --addr 127.0.0.1:20880 tern.Reflection.list '[]'
//   {"services":[{"name":"Calculator","methods":[{"name":"add","args":[{"type":"int32"},
//     {"type":"int32"}],"result":{"type":"int32"}}, ...],"types":{}}, ...]}
//
// Descriptions are built from the C++ types at compile time (the templates
// below are instantiated by Server::expose<I>()) and rendered once, when the
// server starts: answering costs a copy of a prepared string, and the call
// path of other services is untouched.
//
// Type grammar (a JSON object; "type" says which):
//   {"type":"bool"|"int8".."int64"|"uint8".."uint64"|"float"|"double"|"string"|"bytes"|"void"}
//   {"type":"json"}                              a JSON document (tern.Reflection's own results)
//   {"type":"array","items":T}                   std::vector, std::list, std::set, ... (bytes: vector<char/uint8_t/std::byte>)
//   {"type":"map","key":T,"value":T}             std::map, std::unordered_map
//   {"type":"optional","value":T}                std::optional
//   {"type":"tuple","items":[T,...]}             std::tuple, std::pair
//   {"type":"struct","name":"geo::Point"}        a TERN_STRUCT type, defined in "types"
//   {"type":"enum","name":"geo::Color"}          a C++ or protobuf enum, defined in "types"
//   {"type":"message","name":"demo.EchoRequest"} a protobuf message, defined in "types"
//   {"type":"unknown","cpp":"..."}               anything else (the C++ spelling)
// Protobuf fields use protobuf's scalar names ("int64", "sint32", "fixed64",
// "bytes", ...); repeated fields are arrays, map fields maps.
//
// Named types live once in the description's "types" object, by name:
//   "geo::Point":        {"kind":"struct","fields":[{"name":"x","type":T}, ...]}
//   "geo::Color":        {"kind":"enum","underlying":T}                      (C++: values are not known)
//   "demo.Op":           {"kind":"enum","values":[{"name":"OP_ADD","number":1}, ...]}
//   "demo.EchoRequest":  {"kind":"message","fields":[{"name":"text","number":1,"type":T}, ...]}
// so nested and recursive types are described once.
//
// A service description (one element of list's "services", and describe's answer):
//   {"name":"Calculator","version":"","group":"",
//    "methods":[{"name":"add","args":[T,T],"result":T}, ...], "types":{...}}
// Methods registered by hand with Server::add_method() carry no types:
//   {"name":"m","args":null,"result":null}.
// Stream methods (Server::add_stream_method, TERN_SERVICE stream methods
// (tern/service_stream.h), protoc-gen-tern's `stream`
// rpcs) add a "stream" field saying which kind they are; "args" is then the
// one request message type and "result" the reply message type (both null
// for a stream method registered with a raw handler):
//   {"name":"countdown","args":[T],"result":T,"stream":"server"}   one request, many replies
//   {"name":"sum",      "args":[T],"result":T,"stream":"client"}   many requests, one reply
//   {"name":"chat",     "args":[T],"result":T,"stream":"bidi"}     many both ways
// Unary methods have no "stream" field. The types a stream method uses join
// the service's "types".
//
// Thread safety: the functions are pure; call them from any thread.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "tern/reflect.h"
#include "tern/serialization/protobuf_message.h"  // is_protobuf_message_v, no protobuf header
#include "tern/service.h"
#include "tern/service_stream.h"

namespace google::protobuf {
class Descriptor;
}

namespace tern {

// The name of the built-in reflection service and its methods:
//   list()                    -> {"services":[service description, ...]}
//   describe(string service)  -> service description; UNIMPLEMENTED
//                                "unknown service 'S'" when S is not exposed
// Arguments and results travel in the request's serialization: JSON (the
// description itself), MessagePack (the same document as a MessagePack
// value); protobuf requests are refused with INVALID_ARGUMENT.
inline constexpr std::string_view kReflectionService = "tern.Reflection";

namespace reflection {

// The C++ spelling of T as the compiler prints it ("geo::Color").
template <typename T>
constexpr std::string_view type_name() noexcept {
  std::string_view p = __PRETTY_FUNCTION__;
  auto start = p.find("T = ");
  if (start == std::string_view::npos) return "?";
  start += 4;
  auto end = p.find_first_of(";]", start);
  return p.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

// Describes a protobuf message (and, in `types`, every message and enum it
// reaches) from its descriptor; returns {"type":"message","name":full name}.
nlohmann::json describe_message(const google::protobuf::Descriptor* descriptor, nlohmann::json& types);

namespace detail {

template <typename T, template <typename...> class Tmpl>
struct IsSpecialization : std::false_type {};
template <template <typename...> class Tmpl, typename... A>
struct IsSpecialization<Tmpl<A...>, Tmpl> : std::true_type {};
template <typename T, template <typename...> class Tmpl>
inline constexpr bool is_specialization_v = IsSpecialization<T, Tmpl>::value;

template <typename T>
struct IsStdArray : std::false_type {};
template <typename T, std::size_t N>
struct IsStdArray<std::array<T, N>> : std::true_type {};

inline nlohmann::json simple(std::string_view name) { return nlohmann::json{{"type", name}}; }

template <typename T>
nlohmann::json integer() {
  std::string name = std::is_signed_v<T> ? "int" : "uint";
  return simple(name + std::to_string(sizeof(T) * 8));
}

template <typename Tuple, std::size_t... I>
nlohmann::json describe_tuple(nlohmann::json& types, std::index_sequence<I...>);

}  // namespace detail

// The description of T (grammar above); named types are added to `types`
// (a JSON object) once.
template <typename T0>
nlohmann::json describe_type(nlohmann::json& types) {
  using T = std::remove_cvref_t<T0>;
  if constexpr (std::is_void_v<T>) {
    return detail::simple("void");
  } else if constexpr (std::is_same_v<T, bool>) {
    return detail::simple("bool");
  } else if constexpr (std::is_enum_v<T>) {
    std::string name(type_name<T>());
    if (!types.contains(name)) {
      types[name] = {{"kind", "enum"}, {"underlying", describe_type<std::underlying_type_t<T>>(types)}};
    }
    return {{"type", "enum"}, {"name", name}};
  } else if constexpr (std::is_integral_v<T>) {
    return detail::integer<T>();
  } else if constexpr (std::is_same_v<T, float>) {
    return detail::simple("float");
  } else if constexpr (std::is_floating_point_v<T>) {
    return detail::simple("double");
  } else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>) {
    return detail::simple("string");
  } else if constexpr (std::is_same_v<T, std::vector<char>> || std::is_same_v<T, std::vector<unsigned char>> ||
                       std::is_same_v<T, std::vector<std::byte>>) {
    return detail::simple("bytes");
  } else if constexpr (is_reflected_v<T>) {
    std::string name(Reflect<T>::name());
    if (!types.contains(name)) {
      types[name] = nlohmann::json::object();  // placeholder: a recursive struct refers to itself by name
      nlohmann::json fields = nlohmann::json::array();
      std::apply(
          [&](const auto&... field) {
            (fields.push_back({{"name", field.first},
                               {"type", describe_type<std::remove_cvref_t<decltype(std::declval<T&>().*(field.second))>>(
                                            types)}}),
             ...);
          },
          Reflect<T>::fields());
      types[name] = {{"kind", "struct"}, {"fields", std::move(fields)}};
    }
    return {{"type", "struct"}, {"name", name}};
  } else if constexpr (serialization::is_protobuf_message_v<T>) {
    return describe_message(T::descriptor(), types);
  } else if constexpr (detail::is_specialization_v<T, std::optional>) {
    return {{"type", "optional"}, {"value", describe_type<typename T::value_type>(types)}};
  } else if constexpr (detail::is_specialization_v<T, std::map> || detail::is_specialization_v<T, std::unordered_map> ||
                       detail::is_specialization_v<T, std::multimap>) {
    return {{"type", "map"},
            {"key", describe_type<typename T::key_type>(types)},
            {"value", describe_type<typename T::mapped_type>(types)}};
  } else if constexpr (detail::is_specialization_v<T, std::vector> || detail::is_specialization_v<T, std::list> ||
                       detail::is_specialization_v<T, std::deque> || detail::is_specialization_v<T, std::set> ||
                       detail::is_specialization_v<T, std::unordered_set> || detail::IsStdArray<T>::value) {
    return {{"type", "array"}, {"items", describe_type<typename T::value_type>(types)}};
  } else if constexpr (detail::is_specialization_v<T, std::tuple> || detail::is_specialization_v<T, std::pair>) {
    return detail::describe_tuple<T>(types, std::make_index_sequence<std::tuple_size_v<T>>{});
  } else {
    return {{"type", "unknown"}, {"cpp", type_name<T>()}};
  }
}

template <typename Tuple, std::size_t... I>
nlohmann::json detail::describe_tuple(nlohmann::json& types, std::index_sequence<I...>) {
  nlohmann::json items = nlohmann::json::array();
  (items.push_back(describe_type<std::tuple_element_t<I, Tuple>>(types)), ...);
  return {{"type", "tuple"}, {"items", std::move(items)}};
}

namespace detail {
template <typename Tuple>
struct ArgsDescriber;
template <typename... A>
struct ArgsDescriber<std::tuple<A...>> {
  static nlohmann::json describe(nlohmann::json& types) {
    nlohmann::json args = nlohmann::json::array();
    (args.push_back(describe_type<A>(types)), ...);
    return args;
  }
};
}  // namespace detail

// {"args":[T...],"result":T} of a method: its decayed parameter types and its
// result with tern::Result<T> / tern::Task<T> unwrapped to T.
template <auto M>
nlohmann::json describe_method(nlohmann::json& types) {
  nlohmann::json args = detail::ArgsDescriber<method_args_t<M>>::describe(types);
  return {{"args", std::move(args)}, {"result", describe_type<method_result_t<M>>(types)}};
}

// The methods and types of a TERN_SERVICE interface:
//   {"methods":[{"name":"add","args":[...],"result":...}, ...],"types":{...}}
// in the order TERN_SERVICE lists the methods. Stream methods
// (tern/service_stream.h) are left out: Server::expose registers their
// descriptions, with "stream", as add_stream_method does.
template <typename Interface>
nlohmann::json describe_interface() {
  static_assert(ServiceTraits<Interface>::kDefined, "declare the interface with TERN_SERVICE(Interface, methods...)");
  nlohmann::json types = nlohmann::json::object();
  nlohmann::json methods = nlohmann::json::array();
  std::apply(
      [&](const auto&... entry) {
        auto one = [&]<auto M>(const ::tern::detail::MethodEntry<M>& e) {
          // Stream methods are described when Server::expose registers them.
          if constexpr (!is_stream_method_v<M>) {
            nlohmann::json m = describe_method<M>(types);
            m["name"] = std::string(e.name);
            methods.push_back(std::move(m));
          } else {
            (void)e;
          }
        };
        (one(entry), ...);
        (void)one;  // a service of stream methods only lists none here
      },
      ServiceTraits<Interface>::methods());
  return {{"methods", std::move(methods)}, {"types", std::move(types)}};
}

}  // namespace reflection
}  // namespace tern
