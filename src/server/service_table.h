// src/server/service_table.h - the provider's services and their methods
// (internal): what Server::add_method() and add_stream_method() register, and
// how a request's service, method, version and group find the handler.
//
// Looked up once per request on the IO thread, so the lookup takes the
// names as std::string_view straight from the request's metadata and
// allocates nothing (transparent hash and equality); only the error answers
// (UNIMPLEMENTED, with "did you mean") build strings.
//
// Thread safety: filled before Server::start() under Server::Impl::mu, then
// immutable (find() and resolve() from any thread without a lock); a
// method's LimiterSlot is the one field replaced later (atomically, by
// Server::set_limits()).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/adaptive_placement.h"
#include "server/overload/method_limiter.h"
#include "tern/result.h"
#include "tern/server.h"

namespace tern::server_impl {

// std::hash of the characters, for std::string keys looked up by
// std::string_view or const char* without building a std::string.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

struct MethodEntry {
  MethodHandler handler;
  // Its limits (tern/overload.h), built at start() and replaced by
  // Server::set_limits(); null = none.
  LimiterSlot limiter;
  // Where the `adaptive` dispatcher runs its requests (built at start() when
  // its service is dispatched `adaptive`); null otherwise.
  std::unique_ptr<AdaptivePlacement> placement;
  // "service.method", for logs written after the handler ran (the handler may
  // have moved the ServerCall away, and its names with it).
  std::string full_name;
};

struct ServiceEntry {
  ServiceOptions options;  // options.name is the service's name
  bool pooled = true;      // requests go to the business pool (resolved at start)
  StringMap<MethodEntry> methods;
  std::vector<std::string> method_names;  // in registration order (provider URL, reflection)
  nlohmann::json description;             // reflection (tern/reflection.h); null = none
  // Stream methods by name: {"stream":kind,"args":...,"result":...,"types":{...}}
  // (add_stream_method), merged into the reflection description.
  std::unordered_map<std::string, nlohmann::json> stream_descriptions;

  // The method named `method`; null when there is none.
  const MethodEntry* find_method(std::string_view method) const noexcept {
    auto it = methods.find(method);
    return it == methods.end() ? nullptr : &it->second;
  }
};

// What a request names, found: both pointers non-null, valid as long as the
// table (which does not change after start()).
struct ResolvedMethod {
  const ServiceEntry* service = nullptr;
  const MethodEntry* method = nullptr;
};

class ServiceTable {
 public:
  using Map = StringMap<ServiceEntry>;

  // Registers `handler` as service.method; the service is created on its
  // first method, and takes `options` (each call replaces them, name set to
  // `service`). ALREADY_EXISTS when the method is registered already
  // (nothing changed).
  Status add_method(std::string_view service, std::string_view method, MethodHandler handler,
                    const ServiceOptions& options);

  // The service named `name`; null when there is none. No allocation.
  ServiceEntry* find(std::string_view name) noexcept;
  const ServiceEntry* find(std::string_view name) const noexcept;
  bool contains(std::string_view name) const noexcept { return services_.find(name) != services_.end(); }
  // The service named `name`, created empty (default options) when absent.
  ServiceEntry& find_or_add(std::string_view name);

  // The handler for a request naming service, method and, when not empty,
  // version and group. No allocation when found. Errors (UNIMPLEMENTED, the
  // consumer's "not here"): "unknown service 'S'", "service 'S' version 'V'
  // group 'G' is not exposed here" (the service has a version or group and
  // the request names another), "unknown method 'S.M'"; the unknown-name
  // messages end in " (did you mean 'x'?)" when a registered name is a likely
  // typo (suggest.h).
  Result<ResolvedMethod> resolve(std::string_view service, std::string_view method, std::string_view version,
                                 std::string_view group) const;

  // The services' names (any order).
  std::vector<std::string_view> names() const;
  std::size_t size() const noexcept { return services_.size(); }
  // Iterates (name, ServiceEntry) pairs in no particular order.
  Map::iterator begin() noexcept { return services_.begin(); }
  Map::iterator end() noexcept { return services_.end(); }
  Map::const_iterator begin() const noexcept { return services_.begin(); }
  Map::const_iterator end() const noexcept { return services_.end(); }

 private:
  Map services_;
};

}  // namespace tern::server_impl
