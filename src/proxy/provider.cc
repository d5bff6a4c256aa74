// Provider = Server + registration (register after listening, unregister
// before draining).
#include "tern/provider.h"

#include <mutex>

#include "proxy/provider_config.h"
#include "registry/embedded/embedded_registry.h"
#include "tern/log.h"

namespace tern {

Result<std::shared_ptr<Registry>> create_registry_any(const Url& address, const RegistryOptions& options) {
  static std::once_flag once;
  std::call_once(once, [] {
    register_builtin_registries();
    register_registry_backend("tern", make_embedded_registry);
  });
  return create_registry(address, options);
}

Provider::Provider(ProviderOptions options) : options_(std::move(options)), server_(options_.server) {}

Provider::~Provider() { shutdown(std::chrono::milliseconds(0)); }

Status Provider::start() {
  std::shared_ptr<Registry> registry;
  if (!options_.registry.empty()) {
    auto url = Url::parse(options_.registry);
    if (!url) return url.status();
    auto reg = create_registry_any(*url, options_.registry_options);
    if (!reg) return reg.status();
    registry = *reg;
  }
  Status s = server_.start();
  if (!s.is_ok()) return s;
  urls_ = server_.provider_urls();
  if (registry) {
    registry_ = registry;
    for (const auto& u : urls_) {
      Status rs = registry_->register_provider(u);
      if (!rs.is_ok()) TERN_LOG(kWarn, "registering {} deferred: {}", u.to_string(), rs.to_string());
    }
    config_ = std::make_shared<ConfigWatch>(server_, registry_);
    for (const auto& u : urls_) config_->watch(u.path());
  }
  return Status();
}

void Provider::shutdown(std::chrono::milliseconds grace) {
  if (stopped_) return;
  stopped_ = true;
  if (config_) config_->stop();  // no push runs once it returns
  if (registry_) {
    for (const auto& u : urls_) (void)registry_->unregister_provider(u);
  }
  server_.shutdown(grace);
  registry_.reset();
}

std::uint64_t Provider::config_revision(std::string_view service) const {
  return config_ ? config_->revision(service) : 0;
}

}  // namespace tern
