// The provider's service table: see service_table.h.
#include "server/service_table.h"

#include <fmt/format.h>

#include "server/suggest.h"

namespace tern::server_impl {

Status ServiceTable::add_method(std::string_view service, std::string_view method, MethodHandler handler,
                                const ServiceOptions& options) {
  ServiceEntry& svc = find_or_add(service);
  svc.options = options;
  svc.options.name = std::string(service);
  if (svc.methods.contains(method)) {
    return Status(StatusCode::kAlreadyExists, fmt::format("method '{}.{}' is exposed already", service, method));
  }
  svc.methods.emplace(std::string(method), MethodEntry{std::move(handler), {}, nullptr, std::string(service) + "." + std::string(method)});
  svc.method_names.emplace_back(method);
  return Status();
}

ServiceEntry* ServiceTable::find(std::string_view name) noexcept {
  auto it = services_.find(name);
  return it == services_.end() ? nullptr : &it->second;
}

const ServiceEntry* ServiceTable::find(std::string_view name) const noexcept {
  auto it = services_.find(name);
  return it == services_.end() ? nullptr : &it->second;
}

ServiceEntry& ServiceTable::find_or_add(std::string_view name) {
  if (auto it = services_.find(name); it != services_.end()) return it->second;
  return services_.emplace(std::string(name), ServiceEntry{}).first->second;
}

Result<ResolvedMethod> ServiceTable::resolve(std::string_view service, std::string_view method,
                                             std::string_view version, std::string_view group) const {
  const ServiceEntry* svc = find(service);
  if (svc == nullptr) {
    return Status(StatusCode::kUnimplemented,
                  fmt::format("unknown service '{}'{}", service, did_you_mean(service, names())));
  }
  if ((!svc->options.version.empty() && !version.empty() && version != svc->options.version) ||
      (!svc->options.group.empty() && !group.empty() && group != svc->options.group)) {
    return Status(StatusCode::kUnimplemented,
                  fmt::format("service '{}' version '{}' group '{}' is not exposed here", service, version, group));
  }
  const MethodEntry* entry = svc->find_method(method);
  if (entry == nullptr) {
    std::vector<std::string_view> candidates;
    candidates.reserve(svc->methods.size());
    for (const auto& [name, m] : svc->methods) candidates.push_back(name);
    return Status(StatusCode::kUnimplemented, fmt::format("unknown method '{}.{}'{}", service, method,
                                                          did_you_mean(method, candidates)));
  }
  return ResolvedMethod{svc, entry};
}

std::vector<std::string_view> ServiceTable::names() const {
  std::vector<std::string_view> out;
  out.reserve(services_.size());
  for (const auto& [name, svc] : services_) out.push_back(name);
  return out;
}

}  // namespace tern::server_impl
