// Each method's limiter, built at Server::start() (server_impl.h), and
// Server::limit_state().
#include "server/server_impl.h"

namespace tern::server_impl {

Status build_limiters(const std::string& service, ServiceEntry& svc) {
  auto check = [&](const std::string& what, const MethodLimit& l) {
    if (l.max_concurrency < 0 || l.max_qps < 0) {
      return Status(StatusCode::kInvalidArgument,
                    "service '" + service + "': " + what + ": max_concurrency and max_qps must be >= 0");
    }
    return Status();
  };
  if (Status s = check("limit", svc.options.limit); !s.is_ok()) return s;
  for (const auto& [method, l] : svc.options.method_limits) {
    if (svc.methods.find(method) == svc.methods.end()) {
      return Status(StatusCode::kInvalidArgument,
                    "service '" + service + "': method_limits names no method of it: '" + method + "'");
    }
    if (Status s = check("method_limits['" + method + "']", l); !s.is_ok()) return s;
  }
  for (auto& [method, entry] : svc.methods) {
    auto it = svc.options.method_limits.find(method);
    const MethodLimit& l = it != svc.options.method_limits.end() ? it->second : svc.options.limit;
    entry.limiter = l.enabled() ? std::make_shared<MethodLimiter>(service + "." + method, l) : nullptr;
  }
  return Status();
}

}  // namespace tern::server_impl

namespace tern {

std::optional<Server::LimitState> Server::limit_state(std::string_view service, std::string_view method) const {
  std::lock_guard lock(impl_->mu);
  if (!impl_->started) return std::nullopt;
  auto s = impl_->services.find(std::string(service));
  if (s == impl_->services.end()) return std::nullopt;
  auto m = s->second.methods.find(std::string(method));
  if (m == s->second.methods.end() || !m->second.limiter) return std::nullopt;
  return LimitState{m->second.limiter->in_flight(), m->second.limiter->concurrency_limit()};
}

}  // namespace tern
