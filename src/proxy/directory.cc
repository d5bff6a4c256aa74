// The reference's directory: the live provider list from the registry turned
// into invokers (rebuild(), keeping each provider's stats, ejection state and
// warm-up across pushes), the contract check of each provider, and the
// dynamic configuration (docs/governance.md) that replaces the call policy
// (CallPolicy: timeout, retries, routers, balancer) and per-provider weights
// or disabled flags in the same snapshot (on_config()). Calls read one
// snapshot (snapshot()) and keep it for their whole life. See
// src/proxy/client_core.h for the types, src/proxy/reference.cc for the calls.
#include <algorithm>
#include <mutex>

#include "proxy/client_core.h"
#include "tern/cluster/load_balancer.h"
#include "tern/cluster/router.h"
#include "tern/governance.h"
#include "tern/log.h"

namespace tern {

void ReferenceCore::on_providers(const std::vector<Url>& urls) {
  std::lock_guard update(update_mu);
  provider_urls = urls;
  rebuild(snapshot()->policy);
}

void ReferenceCore::rebuild(std::shared_ptr<const CallPolicy> policy) {
  auto next = std::make_shared<Directory>();
  std::shared_ptr<const Directory> prev = snapshot();
  cluster::OutlierEjectionOptions ejection{options.eject_after,          options.eject_backoff,
                                          options.eject_backoff_max,    options.breaker_window,
                                          options.breaker_min_calls,    options.breaker_failure_rate,
                                          options.breaker_slow_call,    options.breaker_slow_rate};
  std::string excluded;
  for (const auto& u : provider_urls) {
    if (!options.version.empty() && u.param("version") != options.version) continue;
    if (!options.group.empty() && u.param("group") != options.group) continue;
    if (!contract.empty() && !check_contract(u, excluded)) continue;
    std::shared_ptr<EndpointInvoker> inv;
    if (prev) {
      // Same provider: keep its live stats, ejection state and warm-up.
      for (auto& old : prev->owners) {
        if (old->url() == u) inv = old;
      }
      for (auto& old : prev->disabled) {
        if (old->url() == u) inv = old;
      }
    }
    if (!inv) {
      // grpc://host:port, or a provider that announces protocol=grpc: the gRPC wire.
      const bool grpc = u.scheme() == "grpc" || u.param("protocol") == "grpc";
      inv = std::make_shared<EndpointInvoker>(u, client->channels.get(u.host_port(), grpc ? "grpc" : "tern"), ejection,
                                              *client->clock);
    }
    auto o = policy->providers.find(inv->id());
    if (o != policy->providers.end() && o->second.disabled) {
      next->disabled.push_back(std::move(inv));
      continue;
    }
    if (o != policy->providers.end() && o->second.weight) {
      next->views.push_back(std::make_unique<OverriddenInvoker>(*inv, *o->second.weight));
      next->ptrs.push_back(next->views.back().get());
    } else {
      next->ptrs.push_back(inv.get());
    }
    next->owners.push_back(std::move(inv));
  }
  next->policy = std::move(policy);
  {
    std::lock_guard lock(mu);
    directory = std::move(next);
    contract_excluded = std::move(excluded);
  }
  cv.notify_all();
}

Result<std::shared_ptr<const CallPolicy>> ReferenceCore::make_policy(const GovernanceConfig& config,
                                                                     std::uint64_t revision,
                                                                     const CallPolicy& current) const {
  auto p = std::make_shared<CallPolicy>();
  p->revision = revision;
  p->timeout = config.timeout.value_or(options.timeout);
  p->retries = config.retries.value_or(options.retries);
  p->load_balance = config.load_balance.value_or(options.load_balance);
  // The balancer in use stays while its name does (round robin keeps its rotation).
  if (p->load_balance == current.load_balance) {
    p->lb = current.lb;
  } else if (p->load_balance == base_policy->load_balance) {
    p->lb = base_policy->lb;
  } else {
    cluster::LoadBalancerOptions lbo;
    lbo.seed = options.seed;
    lbo.warmup = options.warmup;
    auto lb = cluster::create_load_balancer(p->load_balance, lbo);
    if (!lb) return Status(StatusCode::kInvalidArgument, "load_balance: " + lb.status().message());
    p->lb = std::move(*lb);
  }
  p->routes = config.routes.value_or(options.routes);
  if (p->routes == current.routes) {
    p->routers = current.routers;
  } else if (p->routes == base_policy->routes) {
    p->routers = base_policy->routers;
  } else {
    cluster::RouterOptions ro;
    ro.seed = options.seed;
    auto chain = cluster::RouterChain::create(p->routes, ro);
    if (!chain) return chain.status();
    p->routers = std::make_shared<const cluster::RouterChain>(std::move(*chain));
  }
  p->providers = config.providers;
  return std::shared_ptr<const CallPolicy>(std::move(p));
}

void ReferenceCore::on_config(const ConfigDocument& document) {
  std::lock_guard update(update_mu);
  if (document.revision == seen_revision) return;  // a repeated push (or none yet and none now)
  seen_revision = document.revision;
  auto current = snapshot()->policy;
  if (document.revision == 0) {
    rebuild(base_policy);
    TERN_LOG(kInfo, "dynamic configuration of {}: document removed (revision {} was in force); the reference's own "
             "options apply", service, current->revision);
    return;
  }
  auto reject = [&](const Status& why) {
    TERN_LOG(kWarn, "dynamic configuration of {}: revision {} rejected ({}); revision {} stays in force", service,
             document.revision, why.message(), current->revision);
  };
  auto config = parse_governance_config(document.text);
  if (!config) return reject(config.status());
  auto policy = make_policy(*config, document.revision, *current);
  if (!policy) return reject(policy.status());
  rebuild(std::move(*policy));
  TERN_LOG(kInfo, "dynamic configuration of {}: revision {} applied: {}", service, document.revision,
           describe_governance_config(*config));
  // An override for an address no provider has is legal (the provider may
  // come later) but usually a typo that makes a drain do nothing: say so.
  auto now = snapshot();
  std::string unmatched;
  for (const auto& [address, o] : config->providers) {
    bool found = false;
    for (const auto& inv : now->owners) found = found || inv->id() == address;
    for (const auto& inv : now->disabled) found = found || inv->id() == address;
    if (!found) unmatched += (unmatched.empty() ? "" : ", ") + address;
  }
  if (!unmatched.empty()) {
    TERN_LOG(kWarn, "dynamic configuration of {}: revision {}: providers {} match no provider of the service now "
             "(addresses are host:port exactly as registered)", service, document.revision, unmatched);
  }
}

bool ReferenceCore::check_contract(const Url& u, std::string& excluded) {
  auto mismatches = compare_contracts(contract, decode_contracts(u.param(kContractUrlParam)));
  if (mismatches.empty()) return true;
  for (const auto& m : mismatches) {
    std::string key = u.address() + " " + m.method + " " + m.provider_signature;
    bool fresh = false;
    {
      std::lock_guard lock(mu);
      fresh = contract_reported.insert(key).second;
    }
    if (!fresh) continue;
    if (contract_strict) {
      TERN_LOG(kError, "contract mismatch with provider {} of {}: {}; the provider is left out (contract_check=strict)",
               u.address(), service, m.message());
    } else {
      TERN_LOG(kWarn, "contract mismatch with provider {} of {}: {}", u.address(), service, m.message());
    }
  }
  if (!contract_strict) return true;
  if (excluded.empty()) excluded = "provider " + u.address() + ": " + mismatches.front().message();
  return false;
}

Status ReferenceCore::no_provider() const {
  std::string why;
  {
    std::lock_guard lock(mu);
    why = contract_excluded;
  }
  if (why.empty()) return Status(StatusCode::kUnavailable, "no provider for service '" + service + "'");
  return Status(StatusCode::kFailedPrecondition,
                "no provider for service '" + service + "' matches this consumer's contract: " + why);
}

std::shared_ptr<const Directory> ReferenceCore::snapshot() const {
  std::lock_guard lock(mu);
  return directory;
}

}  // namespace tern
