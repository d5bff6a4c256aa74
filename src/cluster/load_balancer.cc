// src/cluster/load_balancer.cc - the load balancer name table and the warm-up
// rule shared by every weighted balancer (DESIGN §7).
//
// Built-ins are registered in one visible function,
// register_builtin_load_balancers(), never by static initializers.
#include "tern/cluster/load_balancer.h"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <optional>
#include <mutex>
#include <string>

#include "cluster/factory_table.h"
#include "cluster/lb/consistent_hash_load_balancer.h"
#include "cluster/lb/lb_util.h"
#include "cluster/lb/least_active_load_balancer.h"
#include "cluster/lb/p2c_ewma_load_balancer.h"
#include "cluster/lb/random_load_balancer.h"
#include "cluster/lb/round_robin_load_balancer.h"
#include "cluster/lb/weighted_round_robin_load_balancer.h"

namespace tern::cluster {
namespace {

FactoryTable<LoadBalancerFactory>& table() {
  // Never destroyed: usable during static destruction.
  static auto* t = new FactoryTable<LoadBalancerFactory>("load balancer");
  return *t;
}

// The provider's own start time from the URL's `timestamp` parameter (ms
// since the Unix epoch), if present and well-formed.
std::optional<std::chrono::system_clock::time_point> provider_start(const Invoker& invoker) {
  const auto& params = invoker.url().params();
  auto it = params.find("timestamp");
  if (it == params.end()) return std::nullopt;
  const std::string& text = it->second;
  std::int64_t ms = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (ec != std::errc() || end != text.data() + text.size() || ms <= 0) return std::nullopt;
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

std::chrono::system_clock::time_point coarse_wall_now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

}  // namespace

namespace lb {

int effective_weight_at(const Invoker& invoker, const LoadBalancerOptions& options,
                        std::chrono::steady_clock::time_point now) {
  const int weight = invoker.weight();
  if (weight <= 0) return 0;
  const auto warmup = options.warmup;
  if (warmup.count() <= 0) return weight;

  // Age = the longer of "since this consumer discovered it" and "since the
  // provider started" (URL `timestamp`): a consumer that restarts does not
  // throttle long-running providers again, and a provider clock that runs
  // ahead cannot make an old provider look brand new.
  auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - invoker.discovered_at());
  if (auto start = provider_start(invoker)) {
    // A URL timestamp has millisecond resolution and warm-up lasts minutes:
    // the coarse wall clock (a tick's resolution, no counter read) will do.
    auto wall = options.wall_now ? options.wall_now() : coarse_wall_now();
    age = std::max(age, std::chrono::duration_cast<std::chrono::milliseconds>(wall - *start));
  }
  if (age >= warmup) return weight;
  if (age.count() <= 0) return 1;
  // weight * age / warmup without overflow: weight < 2^31, age < warmup.
  const auto ramped = static_cast<std::int64_t>(
      static_cast<long double>(weight) * static_cast<long double>(age.count()) /
      static_cast<long double>(warmup.count()));
  return static_cast<int>(std::clamp<std::int64_t>(ramped, 1, weight));
}

}  // namespace lb

int effective_weight(const Invoker& invoker, const LoadBalancerOptions& options) {
  return lb::effective_weight_at(invoker, options, lb::warmup_now(options));
}

void register_load_balancer(std::string name, LoadBalancerFactory factory) {
  table().register_factory(std::move(name), std::move(factory));
}

void register_builtin_load_balancers() {
  static std::once_flag once;
  std::call_once(once, [] {
    // add_builtin: an application that registered its own balancer under a
    // built-in name before the first create_load_balancer() keeps it.
    auto add = [](std::string_view name, LoadBalancerFactory f) { table().add_builtin(name, std::move(f)); };
    add(lb::RandomLoadBalancer::kName,
        [](const LoadBalancerOptions& o) { return std::make_unique<lb::RandomLoadBalancer>(o); });
    add(lb::RoundRobinLoadBalancer::kName,
        [](const LoadBalancerOptions& o) { return std::make_unique<lb::RoundRobinLoadBalancer>(o); });
    add(lb::WeightedRoundRobinLoadBalancer::kName,
        [](const LoadBalancerOptions& o) { return std::make_unique<lb::WeightedRoundRobinLoadBalancer>(o); });
    add(lb::LeastActiveLoadBalancer::kName,
        [](const LoadBalancerOptions& o) { return std::make_unique<lb::LeastActiveLoadBalancer>(o); });
    add(lb::ConsistentHashLoadBalancer::kName,
        [](const LoadBalancerOptions& o) { return std::make_unique<lb::ConsistentHashLoadBalancer>(o); });
    add(lb::P2cEwmaLoadBalancer::kName,
        [](const LoadBalancerOptions& o) { return std::make_unique<lb::P2cEwmaLoadBalancer>(o); });
  });
}

Result<std::unique_ptr<LoadBalancer>> create_load_balancer(std::string_view name,
                                                           const LoadBalancerOptions& options) {
  register_builtin_load_balancers();
  auto factory = table().find(name);
  if (!factory) return factory.status();
  // Called outside the lock: a factory may itself create other balancers.
  std::unique_ptr<LoadBalancer> balancer = (*factory)(options);
  if (!balancer) {
    return Status(StatusCode::kInternal, "load balancer factory '" + std::string(name) + "' returned null");
  }
  return balancer;
}

}  // namespace tern::cluster
