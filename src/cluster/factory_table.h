// src/cluster/factory_table.h - the name -> factory table behind every
// extension point of the cluster layer chosen by name (load balancers,
// routers), so each keeps the same rules:
//   - register_factory() replaces an entry (an application's own extension);
//   - add_builtin() never replaces one, so an application that registered its
//     own under a built-in name before the first lookup keeps it;
//   - find() returns a copy of the factory, to be called outside the lock
//     (a factory may itself look up other extensions), or INVALID_ARGUMENT
//     "unknown <kind> '<name>' (known: a, b, c)" with the names in order.
//     An empty factory counts as unknown.
// Thread safety: every member is safe to call concurrently (one mutex).
// Lifetime: instances are meant to be function-local statics created with
// `new` and never destroyed, so lookups work during static destruction.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "tern/result.h"
#include "tern/status.h"

namespace tern::cluster {

template <typename Factory>
class FactoryTable {
 public:
  // `kind` names the extension point in errors ("load balancer", "router").
  explicit FactoryTable(std::string kind) : kind_(std::move(kind)) {}

  void register_factory(std::string name, Factory factory) {
    std::lock_guard lock(mu_);
    factories_.insert_or_assign(std::move(name), std::move(factory));
  }

  void add_builtin(std::string_view name, Factory factory) {
    std::lock_guard lock(mu_);
    factories_.try_emplace(std::string(name), std::move(factory));
  }

  Result<Factory> find(std::string_view name) const {
    std::lock_guard lock(mu_);
    auto it = factories_.find(name);
    if (it != factories_.end() && it->second) return it->second;  // an empty one counts as unknown
    std::string known;
    for (const auto& entry : factories_) {
      if (!entry.second) continue;
      if (!known.empty()) known += ", ";
      known += entry.first;
    }
    return Status(StatusCode::kInvalidArgument,
                  "unknown " + kind_ + " '" + std::string(name) + "' (known: " + known + ")");
  }

 private:
  const std::string kind_;
  mutable std::mutex mu_;
  std::map<std::string, Factory, std::less<>> factories_;
};

}  // namespace tern::cluster
