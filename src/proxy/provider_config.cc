// The provider's side of dynamic configuration (provider_config.h): the
// `limits` key of each service's document, applied through
// Server::set_limits(); everything else in the document is for consumers.
#include "proxy/provider_config.h"

#include "tern/governance.h"
#include "tern/log.h"

namespace tern {

void Provider::ConfigWatch::watch(const std::string& service) {
  {
    std::lock_guard lock(mu_);
    if (!applied_.emplace(service, 0).second) return;  // one watch per service
  }
  auto id = registry_->watch_config(
      service, [this](const std::string& s, const ConfigDocument& document) { on_document(s, document); });
  if (id) {
    ids_.push_back(*id);
  } else if (id.status().code() != StatusCode::kUnimplemented) {
    TERN_LOG(kWarn, "dynamic configuration of {}: the provider cannot watch it: {}", service, id.status().to_string());
  }
}

void Provider::ConfigWatch::stop() {
  for (auto id : ids_) registry_->unwatch_config(id);
  ids_.clear();
}

std::uint64_t Provider::ConfigWatch::revision(std::string_view service) const {
  std::lock_guard lock(mu_);
  auto it = applied_.find(service);
  return it == applied_.end() ? 0 : it->second;
}

void Provider::ConfigWatch::on_document(const std::string& service, const ConfigDocument& document) {
  std::uint64_t in_force = revision(service);
  if (document.revision != 0 && document.revision == in_force) return;  // a re-push after a reconnection
  auto set_in_force = [&](std::uint64_t r) {
    std::lock_guard lock(mu_);
    applied_[service] = r;
  };
  auto own_limits = [&](const char* why) {
    if (in_force == 0) return;  // already the service's own
    if (Status s = server_.reset_limits(service); !s.is_ok()) {
      TERN_LOG(kWarn, "dynamic configuration of {}: restoring the provider's own limits failed: {}", service,
               s.to_string());
      return;
    }
    TERN_LOG(kInfo, "dynamic configuration of {}: {} (revision {} was in force); the provider's own limits apply",
             service, why, in_force);
    set_in_force(0);
  };
  if (document.revision == 0) {
    own_limits("document removed");
    return;
  }
  auto reject = [&](const Status& why) {
    TERN_LOG(kWarn, "dynamic configuration of {}: revision {} rejected by the provider ({}); revision {} stays in force",
             service, document.revision, why.message(), in_force);
  };
  auto config = parse_governance_config(document.text, {.check_extensions = false});
  if (!config) return reject(config.status());
  if (!config->limits) {
    own_limits("no limits in the new document");
    return;
  }
  MethodLimit every;
  std::map<std::string, MethodLimit, std::less<>> by_method;
  for (const auto& [method, l] : *config->limits) {
    if (method == "*") {
      every = l;
    } else {
      by_method.emplace(method, l);
    }
  }
  if (Status s = server_.set_limits(service, every, by_method); !s.is_ok()) return reject(s);
  set_in_force(document.revision);
  GovernanceConfig applied;  // what the provider took from the document
  applied.limits = std::move(config->limits);
  TERN_LOG(kInfo, "dynamic configuration of {}: revision {} applied by the provider: {}", service, document.revision,
           describe_governance_config(applied));
}

}  // namespace tern
