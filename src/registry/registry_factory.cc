// The registry backend table: URL scheme -> factory (tern/registry.h).
//
// Built-ins are registered by register_builtin_registries(), one visible
// function (STYLE 2), which create_registry() also calls once so that a
// program that never heard of it still finds direct/zookeeper/etcd. A backend
// registered by the application under a built-in name is kept: built-ins
// only fill schemes that are still free.
#include <map>
#include <mutex>
#include <string>

#include "registry/caching_registry.h"
#include "registry/direct_registry.h"
#include "registry/etcd_registry.h"
#include "registry/zookeeper_registry.h"
#include "tern/registry.h"

namespace tern {
namespace {

struct BackendTable {
  std::mutex mu;
  std::map<std::string, RegistryFactory> factories;
};

BackendTable& table() {
  static BackendTable t;  // never destroyed before its last user: function-local static
  return t;
}

void register_if_absent(std::string scheme, RegistryFactory factory) {
  BackendTable& t = table();
  std::lock_guard lock(t.mu);
  t.factories.try_emplace(std::move(scheme), std::move(factory));
}

}  // namespace

void register_registry_backend(std::string scheme, RegistryFactory factory) {
  BackendTable& t = table();
  std::lock_guard lock(t.mu);
  t.factories[std::move(scheme)] = std::move(factory);
}

void register_builtin_registries() {
  register_if_absent("direct", &DirectRegistry::create);
  register_if_absent("grpc", &DirectRegistry::create);  // grpc://h:p,h:p: a fixed list of gRPC servers
  register_if_absent("zookeeper", &make_zookeeper_registry);
  register_if_absent("etcd", &make_etcd_registry);
}

Result<std::shared_ptr<Registry>> create_registry(const Url& address, const RegistryOptions& options) {
  static std::once_flag builtins;
  std::call_once(builtins, register_builtin_registries);

  RegistryFactory factory;
  std::string known;
  {
    BackendTable& t = table();
    std::lock_guard lock(t.mu);
    auto it = t.factories.find(address.scheme());
    if (it != t.factories.end()) {
      factory = it->second;
    } else {
      for (const auto& [scheme, f] : t.factories) {
        if (!known.empty()) known += ", ";
        known += scheme;
      }
    }
  }
  if (!factory) {
    return Status(StatusCode::kInvalidArgument,
                  "unknown registry scheme \"" + address.scheme() + "\" in " + address.to_string() +
                      " (known: " + known + ")");
  }
  // Run the factory outside the lock: it may be slow or register backends itself.
  auto registry = factory(address, options);
  if (!registry || options.cache_file.empty() || address.scheme() == "direct" || address.scheme() == "grpc") {
    return registry;
  }
  return std::shared_ptr<Registry>(std::make_shared<CachingRegistry>(
      std::move(*registry), address.to_string(), ProviderCacheFile::open(options.cache_file), options.request_timeout));
}

}  // namespace tern
