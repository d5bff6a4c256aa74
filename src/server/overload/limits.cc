// Each method's limiter, built at Server::start() (server_impl.h), and
// Server::limit_state().
#include "server/server_impl.h"

namespace tern::server_impl {

Status build_limiters(const std::string& service, ServiceEntry& svc, const MethodLimit& limit,
                      const std::map<std::string, MethodLimit, std::less<>>& method_limits) {
  auto check = [&](const std::string& what, const MethodLimit& l) {
    if (l.max_concurrency < 0 || l.max_qps < 0) {
      return Status(StatusCode::kInvalidArgument,
                    "service '" + service + "': " + what + ": max_concurrency and max_qps must be >= 0");
    }
    return Status();
  };
  if (Status s = check("limit", limit); !s.is_ok()) return s;
  for (const auto& [method, l] : method_limits) {
    if (svc.find_method(method) == nullptr) {
      return Status(StatusCode::kInvalidArgument,
                    "service '" + service + "': method_limits names no method of it: '" + method + "'");
    }
    if (Status s = check("method_limits['" + method + "']", l); !s.is_ok()) return s;
  }
  for (auto& [method, entry] : svc.methods) {
    auto it = method_limits.find(method);
    const MethodLimit& l = it != method_limits.end() ? it->second : limit;
    entry.limiter.store(l.enabled() ? std::make_shared<MethodLimiter>(service + "." + method, l) : nullptr);
  }
  return Status();
}

}  // namespace tern::server_impl

namespace tern {

std::optional<Server::LimitState> Server::limit_state(std::string_view service, std::string_view method) const {
  std::lock_guard lock(impl_->mu);
  if (!impl_->started) return std::nullopt;
  const auto* s = impl_->services.find(service);
  if (s == nullptr) return std::nullopt;
  const auto* m = s->find_method(method);
  if (m == nullptr) return std::nullopt;
  auto limiter = m->limiter.load();
  if (!limiter) return std::nullopt;
  return LimitState{limiter->in_flight(), limiter->concurrency_limit()};
}

Status Server::set_limits(std::string_view service, const MethodLimit& limit,
                          const std::map<std::string, MethodLimit, std::less<>>& method_limits) {
  std::lock_guard lock(impl_->mu);  // services do not change after start(); this orders writers
  if (!impl_->started) return Status(StatusCode::kFailedPrecondition, "set_limits before start()");
  auto* s = impl_->services.find(service);
  if (s == nullptr) {
    return Status(StatusCode::kNotFound, "service '" + std::string(service) + "' is not exposed here");
  }
  return server_impl::build_limiters(s->options.name, *s, limit, method_limits);
}

Status Server::reset_limits(std::string_view service) {
  std::lock_guard lock(impl_->mu);
  if (!impl_->started) return Status(StatusCode::kFailedPrecondition, "reset_limits before start()");
  auto* s = impl_->services.find(service);
  if (s == nullptr) {
    return Status(StatusCode::kNotFound, "service '" + std::string(service) + "' is not exposed here");
  }
  return server_impl::build_limiters(s->options.name, *s, s->options.limit, s->options.method_limits);
}

}  // namespace tern
