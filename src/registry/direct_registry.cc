// The fixed-list registry (see direct_registry.h).
#include "registry/direct_registry.h"

namespace tern {

Result<std::shared_ptr<Registry>> DirectRegistry::create(const Url& address, const RegistryOptions& /*options*/) {
  if (address.hosts().empty()) {
    return Status(StatusCode::kInvalidArgument, "direct registry needs at least one host:port: " + address.to_string());
  }
  for (const HostPort& hp : address.hosts()) {
    if (hp.port == 0) {
      return Status(StatusCode::kInvalidArgument,
                    "direct registry host without port: " + hp.to_string() + " in " + address.to_string());
    }
  }
  return std::shared_ptr<Registry>(new DirectRegistry(address));
}

std::vector<Url> DirectRegistry::providers_of(const std::string& service) const {
  std::vector<Url> out;
  out.reserve(address_.hosts().size());
  for (const HostPort& hp : address_.hosts()) {
    Url url(address_.scheme() == "grpc" ? "grpc" : "tern", {hp}, service);
    for (const auto& [key, value] : address_.params()) url.set_param(key, value);
    out.push_back(std::move(url));
  }
  return out;
}

Status DirectRegistry::register_provider(const Url& provider) {
  if (provider.path().empty() || provider.hosts().empty()) {
    return Status(StatusCode::kInvalidArgument, "provider URL needs a host and a service: " + provider.to_string());
  }
  return Status::ok();
}

Status DirectRegistry::unregister_provider(const Url& /*provider*/) { return Status::ok(); }

Result<SubscriptionId> DirectRegistry::subscribe(const std::string& service, RegistryListener listener) {
  if (service.empty()) return Status(StatusCode::kInvalidArgument, "empty service name");
  if (!listener) return Status(StatusCode::kInvalidArgument, "empty listener");
  SubscriptionId id = dispatcher_.add(service, std::move(listener));
  dispatcher_.push(id, std::make_shared<const std::vector<Url>>(providers_of(service)));
  return id;
}

void DirectRegistry::unsubscribe(SubscriptionId id) { dispatcher_.remove(id); }

Result<std::vector<Url>> DirectRegistry::lookup(const std::string& service) {
  if (service.empty()) return Status(StatusCode::kInvalidArgument, "empty service name");
  return providers_of(service);
}

Result<std::vector<std::string>> DirectRegistry::list_services() {
  return Status(StatusCode::kUnimplemented, "a direct:// registry serves any service; it cannot list them");
}

}  // namespace tern
