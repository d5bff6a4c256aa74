// `tern` - the command-line tool: runs the embedded registry, inspects
// registries, calls and load-tests services, and runs the monitor dashboard.
//   tern registry [--listen host:port] [--heartbeat-interval MS]
//                 [--tls-cert PEM --tls-key PEM [--tls-ca PEM [--tls-client-auth]]]
//   tern ls --registry URL [service] [--tls-ca PEM [--tls-server-name NAME] [--tls-cert PEM --tls-key PEM]]
//   tern watch <service> --registry URL [the same --tls-* options as ls]
//   tern config get|set|rm|watch <service> [file|-] --registry URL [the same --tls-* options as ls]
//               (the service's dynamic configuration document, docs/governance.md;
//                set validates it first: an invalid document exits 2, nothing stored)
//   tern monitor --registry URL --listen host:port [--auth-token-file FILE] [the same --tls-* options as ls]
//                (with a token the dashboard can disable and re-weight providers)
//   tern describe <service> (--registry URL | --addr host:port) [--token T]
//   tern call <service>.<method> ['<json args>'] (--registry URL | --addr host:port) [--token T]
//             (a stream method: stdin's JSON lines are its messages, replies print as JSON lines)
//   tern bench <service>.<method> '<json args>' -c N (-n COUNT | -d DURATION) [--token T]
// describe, call and bench: --tls-ca/--tls-server-name/--tls-cert/--tls-key
// for TLS to the providers, --registry-tls-* the same for the registry.
// docs/monitoring.md shows each with real output.
// `tern --config tern.yaml <command>` takes the registry from a configuration
// file (tern/config.h, docs/configuration.md) unless --registry is given: for
// describe/call/bench the named service's reference registry, else the file's
// registry; `tern --config F registry` listens on the file's tern:// registry
// address with its heartbeat_interval unless --listen/--heartbeat-interval.
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cmath>
#include <csignal>
#include <initializer_list>
#include <iostream>
#include <thread>
#include <vector>

#include "commands.h"
#include "tern/client.h"
#include "tern/config.h"
#include "tern/log.h"
#include "tern/provider.h"
#include "tern/registry_server.h"

namespace tern::cli {

std::atomic<bool> g_stop{false};

namespace {
void on_signal(int) { g_stop = true; }
}  // namespace

void install_stop_signals() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

std::string providers_text(std::size_t n) {
  return std::to_string(n) + (n == 1 ? " provider" : " providers");
}

int fail(const Status& s) {
  std::cerr << "error: " << s.to_string() << "\n";
  int code = static_cast<int>(s.code());
  return code == 0 ? 1 : code;
}

int run_registry(const std::string& listen, int heartbeat_ms, const tern::TlsOptions& tls) {
  tern::RegistryServerOptions o;
  o.listen = listen;
  o.tls = tls;
  o.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
  o.on_change = [](const std::string& service, const std::vector<std::string>& providers) {
    std::cout << "[registry] " << service << ": " << providers_text(providers.size()) << "\n";
    for (auto& p : providers) std::cout << "[registry]   " << p << "\n";
    std::cout.flush();
  };
  tern::RegistryServer server(o);
  if (auto s = server.start(); !s.is_ok()) return fail(s);
  std::cout << "[registry] listening on port " << server.port()
            << (tls.enabled ? (tls.require_client_cert ? " (TLS, client certificates required)" : " (TLS)") : "")
            << std::endl;
  install_stop_signals();
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  server.shutdown();
  std::cout << "[registry] stopped" << std::endl;
  return 0;
}

int run_ls(const std::string& registry_url, const std::string& service, const tern::RegistryOptions& ro) {
  auto url = tern::Url::parse(registry_url);
  if (!url) return fail(url.status());
  auto reg = tern::create_registry_any(*url, ro);
  if (!reg) return fail(reg.status());
  std::vector<std::string> services;
  if (!service.empty()) {
    services.push_back(service);
  } else {
    auto list = (*reg)->list_services();
    if (!list) return fail(list.status());
    services = *list;
    if (services.empty()) {
      std::cout << "no services registered at " << registry_url << "\n";
      return 0;
    }
  }
  for (auto& s : services) {
    auto providers = (*reg)->lookup(s);
    if (!providers) return fail(providers.status());
    // Consumers (consumer:// URLs) after the providers, when the backend
    // keeps them; a registry without them (an older `tern registry`) shows
    // providers only.
    auto consumers = (*reg)->list_consumers(s);
    std::size_t n = consumers ? consumers->size() : 0;
    std::cout << s << " (" << providers_text(providers->size());
    if (n > 0) std::cout << ", " << n << (n == 1 ? " consumer" : " consumers");
    std::cout << ")\n";
    for (auto& p : *providers) std::cout << "  " << p.to_string() << "\n";
    if (consumers) {
      for (auto& c : *consumers) std::cout << "  " << c.to_string() << "\n";
    }
  }
  return 0;
}

int run_watch(const std::string& registry_url, const std::string& service, const tern::RegistryOptions& ro) {
  auto url = tern::Url::parse(registry_url);
  if (!url) return fail(url.status());
  auto reg = tern::create_registry_any(*url, ro);
  if (!reg) return fail(reg.status());
  auto sub = (*reg)->subscribe(service, [](const std::string& s, const std::vector<tern::Url>& providers) {
    std::cout << "push: " << s << " has " << providers_text(providers.size()) << "\n";
    for (auto& p : providers) std::cout << "  " << p.to_string() << "\n";
    std::cout.flush();
  });
  if (!sub) return fail(sub.status());
  install_stop_signals();
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*reg)->unsubscribe(*sub);
  return 0;
}

}  // namespace tern::cli

namespace {

// --<prefix>tls-ca, --<prefix>tls-server-name, --<prefix>tls-cert and
// --<prefix>tls-key: consumer-side TLS to the registry or to the providers.
enum class Peer { kRegistry, kProviders };
std::vector<CLI::Option*> add_tls_client_options(CLI::App* cmd, tern::TlsOptions& tls, const std::string& prefix,
                                                 Peer peer) {
  const std::string to = peer == Peer::kRegistry ? "TLS to the registry: " : "TLS to the providers: ";
  const std::string certificates = peer == Peer::kRegistry ? "its certificate" : "their certificates";
  auto* ca = cmd->add_option("--" + prefix + "tls-ca", tls.ca_file,
                             to + "PEM CA file that signs " + certificates + " (turns TLS on)");
  auto* name = cmd->add_option("--" + prefix + "tls-server-name", tls.server_name,
                               to + "name (or IP) " + certificates + " must carry (turns TLS on)");
  auto* cert = cmd->add_option("--" + prefix + "tls-cert", tls.cert_file,
                               to + "client certificate, for mutual TLS (turns TLS on)");
  auto* key = cmd->add_option("--" + prefix + "tls-key", tls.key_file, to + "private key of --" + prefix + "tls-cert");
  cert->needs(key);
  key->needs(cert);
  return {ca, name, cert, key};
}

// Any of these options given on the command line.
bool any_given(const std::vector<CLI::Option*>& options) {
  for (auto* o : options) {
    if (o->count() > 0) return true;
  }
  return false;
}

// Consumer-side TLS is on once a CA file, a server name or a client
// certificate is given.
void enable_if_configured(tern::TlsOptions& tls) {
  tls.enabled = !tls.ca_file.empty() || !tls.cert_file.empty() || !tls.server_name.empty();
}

// The options of a subcommand that calls a service (describe, call, bench):
// --registry / --addr / --timeout, TLS to the providers (--tls-*) and to the
// registry (--registry-tls-*), and --token. Returns the --tls-* options.
constexpr int kDayMs = 86400000;

std::vector<CLI::Option*> add_target_options(CLI::App* cmd, tern::cli::Target& target, int& timeout_ms) {
  auto* reg = cmd->add_option("--registry", target.registry, "registry URL")->capture_default_str();
  auto* addr = cmd->add_option("--addr", target.addr, "a provider's host:port (no registry)")->excludes(reg);
  cmd->add_option("--timeout", timeout_ms, "call timeout in ms (1 ms to 1 day)")
      ->capture_default_str()
      ->check(CLI::Range(1, kDayMs));
  auto provider_tls = add_tls_client_options(cmd, target.tls, "", Peer::kProviders);
  for (auto* o : add_tls_client_options(cmd, target.registry_options.tls, "registry-", Peer::kRegistry)) {
    o->excludes(addr);
  }
  cmd->add_option("--token", target.token,
                  "token for providers with token authentication (the 'token' attachment; "
                  "TERN_TOKEN in the environment keeps it out of the process list)")
      ->envname("TERN_TOKEN");
  return provider_tls;
}

// "10s", "500ms", "2m", or plain seconds ("3").
// Run time of `tern bench -d`: a positive finite number with unit s (default),
// ms, m or min, at least 1 ms.
bool parse_duration(const std::string& text, std::chrono::milliseconds* out) {
  std::size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(text, &pos);
  } catch (...) {
    return false;
  }
  std::string unit = text.substr(pos);
  double ms = 0;
  if (unit.empty() || unit == "s") ms = v * 1000;
  else if (unit == "ms") ms = v;
  else if (unit == "m" || unit == "min") ms = v * 60000;
  else return false;
  if (!std::isfinite(ms) || ms < 1 || ms > 1e12) return false;
  *out = std::chrono::milliseconds(static_cast<std::int64_t>(ms));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tern::cli;
  CLI::App app{"tern - Tern RPC command-line tool"};
  app.require_subcommand(1);
  std::string config_path;
  app.add_option("--config", config_path, "YAML configuration file (docs/configuration.md): the registry to use");
  app.fallthrough();  // `tern ls --config F` as well as `tern --config F ls`

  std::string listen = "0.0.0.0:9090";
  int heartbeat_ms = 10000;
  auto* registry = app.add_subcommand("registry", "run the embedded registry center");
  registry->add_option("--listen", listen, "address to listen on (host:port)")->capture_default_str();
  registry->add_option("--heartbeat-interval", heartbeat_ms, "provider heartbeat interval in ms (3 missed = removed)")
      ->capture_default_str()
      ->check(CLI::Range(1, kDayMs));
  tern::TlsOptions server_tls;
  auto* tls_cert = registry->add_option("--tls-cert", server_tls.cert_file, "TLS: PEM certificate chain (turns TLS on)");
  auto* tls_key = registry->add_option("--tls-key", server_tls.key_file, "TLS: PEM private key of --tls-cert");
  auto* tls_ca = registry->add_option("--tls-ca", server_tls.ca_file, "TLS: PEM CA file that signs client certificates");
  registry->add_flag("--tls-client-auth", server_tls.require_client_cert,
                     "TLS: require a client certificate signed by --tls-ca (mutual TLS)")
      ->needs(tls_ca);
  tls_cert->needs(tls_key);
  tls_key->needs(tls_cert);
  tls_ca->needs(tls_cert);

  std::string registry_url = "tern://127.0.0.1:9090";
  std::string service;
  auto* ls = app.add_subcommand("ls", "list services and providers in a registry");
  ls->add_option("--registry", registry_url, "registry URL")->capture_default_str();
  ls->add_option("service", service, "only this service");

  auto* watch = app.add_subcommand("watch", "print registry pushes for a service as they happen");
  watch->add_option("--registry", registry_url, "registry URL")->capture_default_str();
  watch->add_option("service", service, "service to watch")->required();

  std::string monitor_listen = "127.0.0.1:8080";
  int interval_ms = 1000;
  auto* monitor = app.add_subcommand("monitor", "scrape the providers of a registry and serve a web dashboard");
  monitor->add_option("--registry", registry_url, "registry URL")->capture_default_str();
  monitor->add_option("--listen", monitor_listen, "dashboard address (host:port; port 0 picks one)")
      ->capture_default_str();
  monitor->add_option("--interval", interval_ms, "scrape interval in ms (at least 100)")
      ->capture_default_str()
      ->check(CLI::Range(100, kDayMs));
  std::string monitor_token_file;
  monitor->add_option("--auth-token-file", monitor_token_file,
                      "file holding the bearer token the dashboard's write actions (disable, weight) require; "
                      "without it the dashboard is read-only");

  auto* config_cmd = app.add_subcommand("config", "get, set, remove or watch a service's dynamic configuration");
  config_cmd->require_subcommand(1);
  std::string config_file = "-";
  std::vector<CLI::App*> config_actions;
  for (const char* action : {"get", "set", "rm", "watch"}) {
    const std::string a = action;
    auto* cmd = config_cmd->add_subcommand(
        a, a == "get"   ? "print the document and its revision"
           : a == "set" ? "validate and store a YAML document (from a file, or - for stdin)"
           : a == "rm"  ? "remove the document (consumers go back to their own options)"
                        : "print the document on every change");
    cmd->add_option("--registry", registry_url, "registry URL")->capture_default_str();
    cmd->add_option("service", service, "service name")->required();
    if (a == "set") cmd->add_option("file", config_file, "YAML file, or - for stdin")->capture_default_str();
    config_actions.push_back(cmd);
  }

  // TLS to a `tern registry --tls-*` (ls, watch, monitor, config).
  tern::RegistryOptions registry_options;
  for (auto* cmd : {ls, watch, monitor}) add_tls_client_options(cmd, registry_options.tls, "", Peer::kRegistry);
  for (auto* cmd : config_actions) add_tls_client_options(cmd, registry_options.tls, "", Peer::kRegistry);

  Target target;
  int timeout_ms = 3000;
  auto* describe = app.add_subcommand("describe", "list a service's methods with argument and result types, and its providers");
  describe->add_option("service", service, "service name")->required();
  auto describe_tls = add_target_options(describe, target, timeout_ms);

  std::string qualified, json_args;
  auto* call = app.add_subcommand("call", "call a method with JSON arguments and print the JSON result");
  call->add_option("method", qualified, "<service>.<method>")->required();
  auto* call_args = call->add_option(
      "args", json_args,
      "JSON array of the arguments, e.g. '[1,2]' (default []); on a stream method, the first message "
      "(then stdin's JSON lines are sent, and replies print as JSON lines)");
  auto call_tls = add_target_options(call, target, timeout_ms);

  BenchOptions bench_options;
  std::string duration_text;
  bool no_progress = false;
  auto* bench = app.add_subcommand("bench", "load-test a method, then print throughput and latency percentiles");
  bench->add_option("method", qualified, "<service>.<method>")->required();
  bench->add_option("args", json_args, "JSON array of the arguments")->required();
  bench->add_option("-c,--concurrency", bench_options.concurrency, "calls in flight")->capture_default_str()
      ->check(CLI::Range(1, 1024));
  // Checked as a number first: an unsigned option would take "-5" as 2^64 - 5.
  auto* n_opt = bench->add_option("-n,--count", bench_options.count, "number of calls (default 1000)")
                    ->check(CLI::Range(std::int64_t{1}, std::int64_t{1000000000000}));
  bench->add_option("-d,--duration", duration_text, "run time instead of a count: 10s, 500ms, 2m")->excludes(n_opt);
  bench->add_flag("--no-progress", no_progress, "no progress bar (there is none when stderr is not a terminal)");
  auto bench_tls = add_target_options(bench, target, timeout_ms);

  CLI11_PARSE(app, argc, argv);
  target.timeout = std::chrono::milliseconds(timeout_ms);
  if (!config_path.empty()) {
    auto config = tern::Config::load(config_path);
    if (!config) return fail(config.status());
    // An explicit --registry (or --addr) wins over the file.
    auto given = [](CLI::App* cmd, const char* name) { return cmd->get_option(name)->count() > 0; };
    std::vector<CLI::App*> registry_commands{ls, watch, monitor};
    registry_commands.insert(registry_commands.end(), config_actions.begin(), config_actions.end());
    for (CLI::App* cmd : registry_commands) {
      if (cmd->parsed() && !given(cmd, "--registry") && !config->registry().empty()) registry_url = config->registry();
    }
    for (CLI::App* cmd : {describe, call, bench}) {
      if (!cmd->parsed()) continue;
      // TLS to the providers: the file's client tls_* keys, unless --tls-* are given.
      auto& tls_options = cmd == describe ? describe_tls : cmd == call ? call_tls : bench_tls;
      if (!any_given(tls_options)) target.tls = config->client_options().channel.tls;
      if (given(cmd, "--registry")) continue;
      std::string svc = service;
      if (cmd != describe) svc = qualified.substr(0, qualified.rfind('.'));
      std::string reg = config->reference(svc).registry;
      if (!reg.empty()) target.registry = reg;
    }
    if (registry->parsed()) {
      auto url = tern::Url::parse(config->registry());
      if (!given(registry, "--listen") && url && url->scheme() == "tern" && !url->hosts().empty()) {
        listen = url->host_port().to_string();
      }
      if (!given(registry, "--heartbeat-interval")) {
        heartbeat_ms = static_cast<int>(config->registry_options().heartbeat_interval.count());
      }
    }
  }
  // One-shot commands print results, not the client's reconnect chatter.
  if (describe->parsed() || call->parsed() || bench->parsed() || config_cmd->parsed()) {
    tern::set_log_level(tern::LogLevel::kWarn);
  }
  server_tls.enabled = !server_tls.cert_file.empty();
  enable_if_configured(registry_options.tls);
  enable_if_configured(target.registry_options.tls);
  // --tls-* on the command line turn TLS to the providers on; without them a
  // --config file's client tls_* keys (copied above) decide.
  if (any_given(describe_tls) || any_given(call_tls) || any_given(bench_tls)) enable_if_configured(target.tls);
  if (registry->parsed()) return run_registry(listen, heartbeat_ms, server_tls);
  if (ls->parsed()) return run_ls(registry_url, service, registry_options);
  if (watch->parsed()) return run_watch(registry_url, service, registry_options);
  for (CLI::App* cmd : config_actions) {
    if (cmd->parsed()) return run_config(cmd->get_name(), registry_url, service, config_file, registry_options);
  }
  if (monitor->parsed()) return run_monitor(registry_url, monitor_listen, interval_ms, registry_options.tls, monitor_token_file);
  if (describe->parsed()) return run_describe(service, target);
  if (call->parsed()) {
    target.timeout_given = call->get_option("--timeout")->count() > 0;
    return run_call(qualified, call_args->count() > 0 ? std::optional<std::string>(json_args) : std::nullopt, target);
  }
  if (bench->parsed()) {
    if (!duration_text.empty() && !parse_duration(duration_text, &bench_options.duration)) {
      return fail(tern::Status(tern::StatusCode::kInvalidArgument,
                               "bad duration '" + duration_text + "' (a number of s, ms or m, at least 1 ms)"));
    }
    if (bench_options.count == 0 && bench_options.duration.count() == 0) bench_options.count = 1000;
    // A progress bar redraws one line with '\r': only for a person watching.
    bench_options.progress = !no_progress && ::isatty(STDERR_FILENO) == 1;
    return run_bench(qualified, json_args, target, bench_options);
  }
  return 1;
}
