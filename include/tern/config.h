// tern/config.h - options from text: URL parameters (as Dubbo) and a YAML
// file, both through one parser per options struct, so a key means the same
// thing wherever it is written. docs/configuration.md lists every key with
// its type, unit, default and meaning (a test keeps that table and these
// parsers in step).
//
//   // A reference configured by its URL's parameters:
//   auto ref = tern::parse_reference_url("tern://127.0.0.1:9090/?timeout=500&load_balance=round_robin");
//   auto calc = client.refer<Calculator>(ref->registry, ref->options).value();
//
//   // Everything from one file:
//   auto config = tern::Config::load("tern.yaml");      // Result<Config>
//   if (!config) die(config.status());                 // "tern.yaml:7: timeout: ..."
//   tern::Provider provider(config->provider_options());
//   provider.expose<Calculator>(impl, config->service<Calculator>());
//   tern::Client client(config->client_options());
//   auto rc = config->reference<Calculator>();
//   auto calc = client.refer<Calculator>(rc.registry, rc.options).value();
//
// Values are text. Durations are milliseconds: a plain integer ("500"), or a
// number with a unit suffix "ms", "s" or "min" ("500ms", "3s", "2min").
// Counts and sizes are decimal integers (sizes in bytes). Names (load
// balancer, serialization, dispatcher, pool, cluster strategy) are checked
// against the built-in tables (and, for load balancers, those registered by
// the application before parsing).
//
// Errors: every function here returns INVALID_ARGUMENT naming the key, for an
// unknown key (the message lists the known ones) and for a value that does
// not parse or is out of range (the message says what was expected). A map of
// parameters is applied in key order and stops at the first error; the
// options passed in are then left partly updated (parse_* work on a copy).
//
// Thread safety: free functions are reentrant; a Config is a value type
// (const methods may be called concurrently).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tern/client.h"
#include "tern/provider.h"
#include "tern/reference.h"
#include "tern/registry.h"
#include "tern/result.h"
#include "tern/server.h"
#include "tern/service.h"
#include "tern/trace/tracer.h"

namespace tern {

// Key/value parameters, as Url::params() returns them.
using ConfigParams = std::map<std::string, std::string>;

// ---- one key at a time --------------------------------------------------
// Sets the field named `key` of `options` from the text `value`.
// INVALID_ARGUMENT for an unknown key or a bad value (see above).
// Keys per struct (docs/configuration.md has the full table):
//   ReferenceOptions  timeout serialization version group load_balance cluster
//                     retries forks idempotent_methods backup_request
//                     eject_after eject_backoff eject_backoff_max warmup seed
//                     breaker_window breaker_min_calls breaker_failure_rate
//                     breaker_slow_call breaker_slow_rate
//   ServerOptions     listen announce_host io_threads pool worker_threads
//                     worker_queue pool_keep_alive dispatcher
//                     io_block_threshold heartbeat_interval max_body max_meta
//                     max_connections max_in_flight_per_connection
//   ServiceOptions    name version group weight dispatcher parameters.<name>
//   RegistryOptions   heartbeat_interval initial_backoff max_backoff request_timeout
//                     cache_file
//   ChannelOptions    connect_timeout heartbeat_interval reconnect_backoff dispatcher
//                     callback_threads max_body max_meta
//   ClientOptions     io_threads, and the ChannelOptions keys (its `channel`)
Status apply_param(ReferenceOptions& options, std::string_view key, std::string_view value);
Status apply_param(ServerOptions& options, std::string_view key, std::string_view value);
Status apply_param(ServiceOptions& options, std::string_view key, std::string_view value);
Status apply_param(RegistryOptions& options, std::string_view key, std::string_view value);
Status apply_param(ChannelOptions& options, std::string_view key, std::string_view value);
Status apply_param(ClientOptions& options, std::string_view key, std::string_view value);
// TracerOptions keys (docs/tracing.md): service_name sampler (always | never |
// ratio) ratio (0..1) parent_based otlp_endpoint queue_capacity max_batch
// max_delay export_timeout shutdown_timeout rpcz rpcz_recent rpcz_slow.
Status apply_param(trace::TracerOptions& options, std::string_view key, std::string_view value);

// The current value of field `key` in the text form apply_param() accepts
// (durations as integer milliseconds, lists comma-separated, empty string for
// an empty name), so apply_param(o, k, param_value(o, k)) changes nothing.
// INVALID_ARGUMENT for an unknown key. For `parameters.<name>`: that
// parameter's value, empty when absent.
Result<std::string> param_value(const ReferenceOptions& options, std::string_view key);
Result<std::string> param_value(const ServerOptions& options, std::string_view key);
Result<std::string> param_value(const ServiceOptions& options, std::string_view key);
Result<std::string> param_value(const RegistryOptions& options, std::string_view key);
Result<std::string> param_value(const ChannelOptions& options, std::string_view key);
Result<std::string> param_value(const ClientOptions& options, std::string_view key);

// The keys apply_param() accepts for an options struct, sorted. ServiceOptions
// lists its per-name family as the pattern "parameters.<name>".
template <typename Options>
const std::vector<std::string>& param_keys();
template <>
const std::vector<std::string>& param_keys<ReferenceOptions>();
template <>
const std::vector<std::string>& param_keys<ServerOptions>();
template <>
const std::vector<std::string>& param_keys<ServiceOptions>();
template <>
const std::vector<std::string>& param_keys<RegistryOptions>();
template <>
const std::vector<std::string>& param_keys<ChannelOptions>();
template <>
const std::vector<std::string>& param_keys<ClientOptions>();

// ---- one parser per options struct ------------------------------------
// `base` with every parameter applied (in key order). The first bad key or
// value is the error. Cross-field rules the runtime checks later (e.g.
// eject_backoff <= eject_backoff_max) are checked here too where stated.
// parse_reference_options: also INVALID_ARGUMENT when eject_backoff >
// eject_backoff_max, or breaker_min_calls > breaker_window (window > 0). parse_registry_options: when initial_backoff > max_backoff.
Result<ReferenceOptions> parse_reference_options(const ConfigParams& params, ReferenceOptions base = {});
Result<ServerOptions> parse_server_options(const ConfigParams& params, ServerOptions base = {});
Result<ServiceOptions> parse_service_options(const ConfigParams& params, ServiceOptions base = {});
Result<RegistryOptions> parse_registry_options(const ConfigParams& params, RegistryOptions base = {});
Result<ChannelOptions> parse_channel_options(const ConfigParams& params, ChannelOptions base = {});
Result<ClientOptions> parse_client_options(const ConfigParams& params, ClientOptions base = {});

// A reference as one URL: the registry address, optionally the service as
// the path, and ReferenceOptions as parameters, e.g.
//   tern://127.0.0.1:9090/Calculator?timeout=500&retries=1&serialization=json
//   direct://10.0.0.5:20880,10.0.0.6:20880?load_balance=round_robin
struct ReferenceConfig {
  // Registry address without path and parameters ("tern://127.0.0.1:9090"),
  // as Client::reference() takes it. Empty when no registry is configured.
  std::string registry;
  // The URL's path ("Calculator"); empty when the URL has none.
  std::string service;
  ReferenceOptions options;
};

// Parses a reference URL (see ReferenceConfig). INVALID_ARGUMENT for a
// malformed URL, a URL without host, or a bad parameter (naming the key).
Result<ReferenceConfig> parse_reference_url(std::string_view url, ReferenceOptions base = {});

// ---- the YAML file ------------------------------------------------------
// One file for a process: the registry, the provider side (server options,
// each exposed service's options) and the consumer side (client options, each
// reference's options). Every section is optional:
//
//   registry: tern://127.0.0.1:9090          # or a map: address + RegistryOptions keys
//   server:   {listen: 0.0.0.0:20880, dispatcher: all}       # ServerOptions keys
//   services:
//     Calculator: {weight: 200, version: "1.0", parameters: {zone: eu}}  # ServiceOptions keys
//   client:   {io_threads: 2, connect_timeout: 1s}           # ClientOptions keys
//   references:
//     Calculator: {timeout: 500, load_balance: round_robin}  # ReferenceOptions keys (+ registry)
//     Echo: "direct://127.0.0.1:20880?timeout=200"            # or one reference URL
//   tracing:  {service_name: checkout, otlp_endpoint: "http://127.0.0.1:4318", rpcz: true}  # TracerOptions keys
//
// Scalars are read as text and go through apply_param(), so a key takes the
// same values in the file as in a URL; idempotent_methods may also be a YAML
// list. Errors are INVALID_ARGUMENT "<file>:<line>: <key>: <what>" for
// malformed YAML, unknown keys, wrong node types (a map where a value is
// expected, ...) and bad values; loading never throws.
class Config {
 public:
  Config() = default;

  // Reads and parses `path`. NOT_FOUND when the file cannot be opened;
  // otherwise as parse() with `path` as the source name.
  static Result<Config> load(const std::string& path);
  // Parses YAML text; `source` names it in error messages.
  static Result<Config> parse(std::string_view yaml, std::string_view source = "<config>");

  // The registry address ("" when the file names none).
  const std::string& registry() const noexcept { return registry_; }
  const RegistryOptions& registry_options() const noexcept { return registry_options_; }
  const ServerOptions& server_options() const noexcept { return server_; }
  // The `client` section, with registry_options() as its `registry` member.
  ClientOptions client_options() const;
  // server_options(), registry() and registry_options() together.
  ProviderOptions provider_options() const;
  // The `tracing` section as TracerOptions (defaults when absent); its
  // `enabled` key sets server_options().tracing and client_options().tracing.
  // Make the tracer with it before the Client and Server:
  //   tern::trace::Tracer::set_global(std::make_shared<tern::trace::Tracer>(config.tracing_options()));
  const trace::TracerOptions& tracing_options() const noexcept { return tracing_; }

  // The options of the service exposed as `name` (defaults when the file
  // does not list it; see services()).
  ServiceOptions service(std::string_view name) const;
  template <typename I>
  ServiceOptions service() const {
    return service(ServiceTraits<I>::name);
  }
  // The reference to `name`: its own registry when the file gives one, else
  // registry(); defaults when the file does not list it.
  ReferenceConfig reference(std::string_view name) const;
  template <typename I>
  ReferenceConfig reference() const {
    return reference(ServiceTraits<I>::name);
  }

  // Everything listed, by service name.
  const std::map<std::string, ServiceOptions, std::less<>>& services() const noexcept { return services_; }
  const std::map<std::string, ReferenceConfig, std::less<>>& references() const noexcept { return references_; }

 private:
  friend struct ConfigLoader;
  std::string registry_;
  RegistryOptions registry_options_;
  ServerOptions server_;
  ClientOptions client_;
  trace::TracerOptions tracing_;
  std::map<std::string, ServiceOptions, std::less<>> services_;
  std::map<std::string, ReferenceConfig, std::less<>> references_;
};

}  // namespace tern
