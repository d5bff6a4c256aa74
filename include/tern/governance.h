// tern/governance.h - the dynamic configuration document of one service
// (docs/governance.md "Dynamic configuration"): routing rules and overrides
// that operators change at run time. The registry stores the document as
// text under /tern/<service>/config (Registry::set_config, `tern config
// set`); every Reference of the service watches it (Registry::watch_config),
// parses it with parse_governance_config() and applies it to its next calls.
//
// The format is YAML, a map with these keys, all optional:
//
//   routes:                      # replaces ReferenceOptions::routes while present
//     - "condition: method = get => version = 2.0"
//     - "tag:"
//   timeout: 500ms               # replaces ReferenceOptions::timeout
//   retries: 1                   # replaces ReferenceOptions::retries
//   load_balance: round_robin    # replaces ReferenceOptions::load_balance
//   providers:                   # per provider, by its address host:port
//     "127.0.0.1:20880": {weight: 0}
//     "127.0.0.1:20881": {disabled: true}
//   limits:                      # provider side: replaces ServiceOptions::limit
//     "*": {adaptive: true}      #   and method_limits while present
//     export: {max_concurrency: 4, max_qps: 50}
//
//  routes        a list of route specs "<router>:<rule>" (tern/cluster/router.h);
//                `routes: []` removes the reference's own routes
//  timeout       a duration: milliseconds, or a whole number with ms, s or
//                min (500, 500ms, 3s, 2min); at least 1 ms, at most 1 day
//  retries       a whole number, 0 to 100
//  load_balance  a load balancer's name (tern/cluster/load_balancer.h)
//  providers     a map from "host:port" to a map of
//                  weight    a whole number, 0 to 1000000 (replaces the URL's
//                            `weight`; 0 = never picked)
//                  disabled  true or false; a disabled provider is left out
//                            of the consumers' directories (no call at all,
//                            broadcast included)
//  limits        applied by the service's providers (tern::Provider, through
//                Server::set_limits), ignored by consumers: a map from a
//                method name, or "*" for every method without an entry of
//                its own, to a map of (tern/overload.h)
//                  max_concurrency  a whole number, 0 to 1000000
//                  max_qps          a number, 0 to 1e9 (0.5 = one call per 2 s)
//                  adaptive         true or false
//                (all absent or zero = no limit). While present it replaces
//                the service's own limits entirely; `limits: {}` removes them.
//                A method the provider does not have rejects the document in
//                that provider (its last good one stays).
// An empty document (or only comments) overrides nothing.
//
// Parsing is strict: an unknown or repeated key, a value of the wrong kind or
// out of range, a malformed route or an unknown router or load balancer is
// INVALID_ARGUMENT "line N: <key>: <what is wrong>" (1-based line of the
// offending key or value). Routes are checked with RouterChain::create and
// load balancers with create_load_balancer, so routers and balancers an
// application registered are known only in that application's process.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tern/overload.h"
#include "tern/result.h"

namespace tern {

// Overrides for one provider (by "host:port").
struct ProviderOverride {
  std::optional<int> weight;  // replaces the provider URL's weight
  bool disabled = false;      // left out of the directory
};

// A parsed document; an absent key is nullopt (or empty for providers).
struct GovernanceConfig {
  std::optional<std::vector<std::string>> routes;
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<int> retries;
  std::optional<std::string> load_balance;
  std::map<std::string, ProviderOverride, std::less<>> providers;
  // Provider side: per-method limits, "*" = every other method (see above).
  std::optional<std::map<std::string, MethodLimit, std::less<>>> limits;
};

// The largest document accepted (1 MiB): a rule set is kilobytes; the limit
// keeps a mistake (a wrong file) from being pushed to every process.
inline constexpr std::size_t kMaxGovernanceDocument = 1 << 20;

// Parses and validates one document; see the format above. A text over
// kMaxGovernanceDocument bytes, or holding more than one YAML document
// ("---"), is INVALID_ARGUMENT.
Result<GovernanceConfig> parse_governance_config(std::string_view text);

struct GovernanceParseOptions {
  // true (the default, for consumers and `tern config set`): each route's
  // router and the load balancer are created to check them, so only those
  // registered in this process are known. false, for processes that do not
  // apply them (providers, the monitor): only their form is checked (a route
  // is a string "<router>:<rule>" with a non-empty router name, a load
  // balancer a non-empty name), so a router or balancer that only the
  // consumers register does not make the document fail there.
  bool check_extensions = true;
};
// As above, with `options`.
Result<GovernanceConfig> parse_governance_config(std::string_view text, const GovernanceParseOptions& options);

// One line describing what `config` overrides, for logs and `tern config`:
// "routes (2), timeout 500ms, retries 1, load_balance round_robin, providers
// 127.0.0.1:20880 weight 0, 127.0.0.1:20881 disabled, limits * {adaptive}
// export {max_concurrency 4 max_qps 50}"; "nothing" when empty.
std::string describe_governance_config(const GovernanceConfig& config);

// The canonical text of `config`: the document parse_governance_config()
// reads back to an equal GovernanceConfig, with the keys in the order of the
// format above, the timeout in milliseconds ("500ms"), strings double-quoted
// and escaped, and one line per provider ("127.0.0.1:20880": {weight: 0,
// disabled: true}; a provider without overrides is {}). An empty config is
// "{}\n" (a document that overrides nothing). Used by the dashboard to write
// a document back after changing one provider: comments and the layout of
// the stored text are not kept. Never fails; a value parse_governance_config
// would reject (say a weight out of range, set by hand on the struct) is
// written as it is and rejected when read back. Thread safe (pure function).
std::string format_governance_config(const GovernanceConfig& config);

}  // namespace tern
