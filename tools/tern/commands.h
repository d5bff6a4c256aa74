// The `tern` subcommands, one file each group (main.cc wires them to CLI11).
// Every command returns the process exit code: 0 on success; on an error it
// prints "error: CODE: message" to stderr and returns the numeric status code
// (INVALID_ARGUMENT 3, UNIMPLEMENTED 12, UNAVAILABLE 14, ...), never 0.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "tern/registry.h"
#include "tern/status.h"
#include "tern/tls.h"

namespace tern::cli {

// Set by SIGINT/SIGTERM; long-running commands poll it.
extern std::atomic<bool> g_stop;
void install_stop_signals();

// Prints the status to stderr and returns its exit code (never 0).
int fail(const Status& s);

// "1 provider", "2 providers", "0 providers".
std::string providers_text(std::size_t n);

// Where to find a service: a registry URL, or one provider address; and how
// to talk to it.
struct Target {
  std::string registry = "tern://127.0.0.1:9090";
  std::string addr;  // "host:port": direct://host:port, no registry
  std::chrono::milliseconds timeout{3000};
  bool timeout_given = false;  // --timeout on the command line (a stream's deadline; else none)
  tern::TlsOptions tls;                    // to the providers (--tls-*)
  tern::RegistryOptions registry_options;  // to the registry (--registry-tls-*)
  std::string token;                       // TokenAuthClientFilter's token (--token); empty = none
};

int run_registry(const std::string& listen, int heartbeat_ms, const tern::TlsOptions& tls);
int run_ls(const std::string& registry_url, const std::string& service, const tern::RegistryOptions& options);
int run_watch(const std::string& registry_url, const std::string& service, const tern::RegistryOptions& options);
// tern config get|set|rm|watch <service> [file|-]: the service's dynamic
// configuration document (docs/governance.md). `action` is get, set, rm or
// watch; `file` is set's YAML ("-" = stdin), validated with
// parse_governance_config before anything is stored: an invalid one prints
// the error and returns 2. get prints the text and "# revision N"; set prints
// the revision stored; watch prints "push: <service>" and the document on
// every push until SIGINT/SIGTERM.
int run_config(const std::string& action, const std::string& registry_url, const std::string& service,
               const std::string& file, const tern::RegistryOptions& options);

// tern monitor: dashboard at http://listen/ for the providers in `registry_url`
// (`registry_tls`: TLS to an embedded registry). `auth_token_file` (empty:
// none) holds the bearer token that the dashboard's write actions require;
// without it the dashboard is read-only.
int run_monitor(const std::string& registry_url, const std::string& listen, int interval_ms,
                const tern::TlsOptions& registry_tls, const std::string& auth_token_file);

// tern describe <service>: methods and providers.
int run_describe(const std::string& service, const Target& target);
// tern call <service>.<method> ['<json args>']: prints the JSON result
// (args default to "[]"). On a stream method (the provider refuses the unary
// call): sends args, if given, as the first message, then (client and bidi
// streams, or a server stream without args) each line of stdin as one JSON
// message until EOF, half-closes, and prints each message that arrives as a
// JSON line; the exit code is the stream's final status.
int run_call(const std::string& qualified_method, const std::optional<std::string>& json_args, const Target& target);

struct BenchOptions {
  std::size_t concurrency = 1;
  std::size_t count = 0;                 // calls in total (0: use duration)
  std::chrono::milliseconds duration{0};  // run time (0: use count)
  bool progress = true;                  // progress bar on stderr (main: off unless stderr is a terminal)
};
// tern bench <service>.<method> '<json>': load with a progress bar, then a
// latency percentile table.
int run_bench(const std::string& qualified_method, const std::string& json_args, const Target& target,
              const BenchOptions& options);

}  // namespace tern::cli
