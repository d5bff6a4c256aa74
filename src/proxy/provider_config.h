// src/proxy/provider_config.h - the provider's side of dynamic
// configuration (tern/provider.h, docs/governance.md): watches the document
// of each registered service and applies its `limits` key to the server.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "tern/provider.h"

namespace tern {

// Owned by a Provider (shared with nothing else). Thread safety: watch() and
// stop() from the provider's start()/shutdown(); pushes arrive on the
// registry's listener thread; revision() from any thread.
struct Provider::ConfigWatch {
  ConfigWatch(Server& server, std::shared_ptr<Registry> registry) : server_(server), registry_(std::move(registry)) {}

  // Starts watching `service` (once per name). A registry without
  // configuration storage (UNIMPLEMENTED) is skipped silently.
  void watch(const std::string& service);
  // Stops every watch; once it returns no push runs (Registry::unwatch_config).
  void stop();
  // The revision whose limits are in force for `service` (0 = its own).
  std::uint64_t revision(std::string_view service) const;

 private:
  void on_document(const std::string& service, const ConfigDocument& document);

  Server& server_;
  std::shared_ptr<Registry> registry_;
  std::vector<SubscriptionId> ids_;  // start()/shutdown() only
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t, std::less<>> applied_;  // service -> revision in force (guarded by mu_)
};

}  // namespace tern
