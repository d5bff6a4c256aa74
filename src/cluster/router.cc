// src/cluster/router.cc - the router name table and the router chain
// (tern/cluster/router.h, docs/governance.md).
//
// Built-ins are registered in one visible function, register_builtin_routers(),
// never by static initializers.
#include "tern/cluster/router.h"

#include <mutex>

#include "cluster/factory_table.h"
#include "cluster/router/condition_router.h"
#include "cluster/router/tag_router.h"
#include "cluster/router/weighted_router.h"

namespace tern::cluster {
namespace {

FactoryTable<RouterFactory>& table() {
  // Never destroyed: usable during static destruction.
  static auto* t = new FactoryTable<RouterFactory>("router");
  return *t;
}

}  // namespace

void register_router(std::string name, RouterFactory factory) {
  table().register_factory(std::move(name), std::move(factory));
}

void register_builtin_routers() {
  static std::once_flag once;
  std::call_once(once, [] {
    // add_builtin: a router the application registered under a built-in
    // name before the first create_router() keeps its place.
    table().add_builtin(router::ConditionRouter::kName, &router::ConditionRouter::create);
    table().add_builtin(router::TagRouter::kName, &router::TagRouter::create);
    table().add_builtin(router::WeightedRouter::kName, &router::WeightedRouter::create);
  });
}

Result<std::unique_ptr<Router>> create_router(std::string_view name, std::string_view rule,
                                              const RouterOptions& options) {
  register_builtin_routers();
  auto factory = table().find(name);
  if (!factory) return factory.status();
  auto router = (*factory)(rule, options);  // outside the lock
  if (!router) return router.status();
  if (!*router) return Status(StatusCode::kInternal, "router factory '" + std::string(name) + "' returned null");
  return router;
}

namespace {

// splitmix64's finalizer: a well-mixed 64-bit value from `x`.
std::uint64_t mix64(std::uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

Result<RouterChain> RouterChain::create(std::span<const std::string> routes, const RouterOptions& options) {
  RouterChain chain;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    // Each router's own seed, derived from the chain's and its position: the
    // load balancer seeded with the same value, and two weighted routers of
    // one chain, would otherwise draw the same sequence in lockstep (a 5 %
    // split followed by a random pick would always pick the first canary).
    RouterOptions own = options;
    if (options.seed != 0) own.seed = mix64(options.seed + (i + 1) * 0x9e3779b97f4a7c15ULL) | 1;
    const std::string& spec = routes[i];
    const std::string where = "routes[" + std::to_string(i) + "] ";
    auto colon = spec.find(':');
    if (colon == std::string::npos) {
      return Status(StatusCode::kInvalidArgument,
                    where + "'" + spec + "' is not '<router>:<rule>' (e.g. 'condition:method = get => version = 2.0')");
    }
    std::string_view name(spec.data(), colon);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    auto router = create_router(name, std::string_view(spec).substr(colon + 1), own);
    if (!router) return Status(StatusCode::kInvalidArgument, where + router.status().message());
    chain.add(std::move(*router));
  }
  return Result<RouterChain>(std::move(chain));
}

void RouterChain::add(std::unique_ptr<Router> router) {
  needs_attachments_ = needs_attachments_ || router->needs_attachments();
  routers_.push_back(std::move(router));
}

Status RouterChain::route(std::span<Invoker* const> providers, const RouteContext& context,
                          std::vector<Invoker*>& out) const {
  if (routers_.empty()) {
    out.assign(providers.begin(), providers.end());
    return Status();
  }
  // Ping-pong between `out` and a per-thread scratch vector, arranged so the
  // last router writes into `out`: router i never reads what it writes.
  thread_local std::vector<Invoker*> scratch;
  const std::size_t n = routers_.size();
  std::span<Invoker* const> in = providers;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<Invoker*>& dest = (n - 1 - i) % 2 == 0 ? out : scratch;
    if (Status s = routers_[i]->route(in, context, dest); !s.is_ok()) return s;
    in = dest;
  }
  return Status();
}

}  // namespace tern::cluster
