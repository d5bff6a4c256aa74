// tern/registry.h - the Registry interface (DESIGN §6): where providers
// announce themselves and consumers learn where providers live.
//
// A provider is one URL (tern/url.h) whose path is the service name, e.g.
//   tern://10.0.0.5:20880/Calculator?version=1.0&weight=200
// Backends, chosen by the registry address's scheme (create_registry()):
//   tern://host:port         the embedded registry (`tern registry`)
//   zookeeper://h1:2181,...  ZooKeeper, ephemeral nodes under /tern/<service>/providers/
//                            (consumers under /tern/<service>/consumers/)
//   etcd://host:2379         etcd v3, keys under /tern/<service>/providers/ (and
//                            /consumers/) bound to a lease
//   direct://h1:p1,h2:p2     a fixed list, no registry at all
//
// A consumer is one URL too, for operators (`tern ls`, the monitor's
// consumer view), never for routing:
//   consumer://10.0.0.7/Calculator?application=shop&hostname=web-3&pid=4242&ref=1&version=1.0
// Client::reference() registers one per reference (path = the service
// referred to; `ref` tells two references of one process apart) and
// unregisters it when the Reference is destroyed.
//
// Semantics every backend keeps:
//  - register_provider() is idempotent; a registration lives until
//    unregister(), until the Registry object is destroyed, or until the
//    provider stops renewing (crash): then the backend removes it and pushes.
//  - subscribe() delivers the full current provider list of the service to the
//    listener soon after subscribing (also when it is empty), and then the full
//    list again after every change. Listeners get snapshots, never deltas, so a
//    missed intermediate state cannot corrupt the consumer's view.
//  - When the backend loses its connection it keeps the last lists (no empty
//    push), reconnects with backoff, re-registers its providers and re-reads
//    every subscribed service, pushing if anything changed meanwhile.
//
// Thread safety: every method may be called from any thread concurrently.
// Listeners run on a backend-owned thread, one at a time per Registry object
// (never concurrently with each other); they must not block for long and must
// not call unsubscribe() of their own subscription from inside the callback
// (doing so is safe but only takes effect after the callback returns).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tern/result.h"
#include "tern/tls.h"
#include "tern/url.h"

namespace tern {

// Receives the complete provider list of one service after every change.
using RegistryListener = std::function<void(const std::string& service, const std::vector<Url>& providers)>;

// One service's dynamic configuration document (docs/governance.md): the
// routing rules and overrides operators change at run time. The registry
// stores the text as it is given (tern/governance.h parses and validates
// it); `revision` grows with every change of that service's document
// within one backend (backend-specific numbers, meaningless across
// backends: the embedded registry's change counter, ZooKeeper's node mzxid,
// etcd's mod_revision), and is 0 when the service has no document (then
// `text` is empty). Consumers treat any different revision as a change.
struct ConfigDocument {
  std::string text;
  std::uint64_t revision = 0;
};

// Receives the current configuration document of one service after every
// change (a removed document arrives as revision 0).
using ConfigListener = std::function<void(const std::string& service, const ConfigDocument& document)>;

using SubscriptionId = std::uint64_t;

class Registry {
 public:
  virtual ~Registry() = default;

  // Announces a provider. `provider.path()` is the service name. Returns
  // UNAVAILABLE when the backend cannot be reached right now (the backend
  // still remembers the URL and registers it once connected), INVALID_ARGUMENT
  // for a URL without service or host.
  virtual Status register_provider(const Url& provider) = 0;

  // Removes a provider registered by this object (no-op if unknown).
  virtual Status unregister_provider(const Url& provider) = 0;

  // Starts watching `service`; see the push semantics above. Returns the id
  // for unsubscribe().
  virtual Result<SubscriptionId> subscribe(const std::string& service, RegistryListener listener) = 0;

  // Stops the pushes for `id`; once it returns, the listener is not running
  // and will not run again (unless called from inside that listener).
  virtual void unsubscribe(SubscriptionId id) = 0;

  // The current provider list of `service`, read from the backend (or the
  // last known list when it is unreachable and one is cached; UNAVAILABLE
  // when there is neither).
  virtual Result<std::vector<Url>> lookup(const std::string& service) = 0;

  // Announces a consumer (the URL form above; `consumer.path()` is the
  // service referred to). Same lifetime as a provider's registration: until
  // unregister_consumer(), the Registry's destruction, or a lost session
  // (crash), and re-registered after a reconnection. Statuses as
  // register_provider(). The default does nothing and returns OK, for
  // backends with nowhere to store it (direct://).
  virtual Status register_consumer(const Url& consumer) {
    (void)consumer;
    return Status();
  }
  // Removes a consumer registered by this object (no-op if unknown).
  virtual Status unregister_consumer(const Url& consumer) {
    (void)consumer;
    return Status();
  }
  // The consumers registered for `service`, read from the backend (empty
  // when none). UNAVAILABLE when the backend cannot be reached;
  // UNIMPLEMENTED (the default) when it keeps no consumers, or, for the
  // embedded registry, when the `tern registry` process predates them.
  virtual Result<std::vector<Url>> list_consumers(const std::string& service) {
    (void)service;
    return Status(StatusCode::kUnimplemented, "list_consumers not supported");
  }

  // Names every service that has at least one provider, when the backend can
  // list them (UNIMPLEMENTED otherwise). Used by `tern ls` and the monitor.
  virtual Result<std::vector<std::string>> list_services() { return Status(StatusCode::kUnimplemented, "list_services not supported"); }

  // ---- dynamic configuration (docs/governance.md) ----
  // One document per service, stored under /tern/<service>/config
  // (ZooKeeper: a persistent node; etcd: a key bound to no lease; embedded:
  // kept by the `tern registry` process). Unlike registrations it is not
  // tied to the writer's session: it stays until removed. The defaults
  // return UNIMPLEMENTED (direct://, backends without storage).
  //
  // Stores `text` as the document of `service` (replacing the previous one).
  // UNAVAILABLE when the backend cannot be reached or did not confirm in
  // time (nothing is retried: the caller decides; a write that timed out may
  // still have been applied — get_config() tells), INVALID_ARGUMENT for an
  // empty service name.
  virtual Status set_config(const std::string& service, const std::string& text) {
    (void)service;
    (void)text;
    return Status(StatusCode::kUnimplemented, "dynamic configuration not supported by this registry");
  }
  // Removes the document of `service` (OK when there is none).
  virtual Status remove_config(const std::string& service) {
    (void)service;
    return Status(StatusCode::kUnimplemented, "dynamic configuration not supported by this registry");
  }
  // The current document of `service`, read from the backend (revision 0
  // when there is none). UNAVAILABLE when the backend cannot be reached.
  virtual Result<ConfigDocument> get_config(const std::string& service) {
    (void)service;
    return Status(StatusCode::kUnimplemented, "dynamic configuration not supported by this registry");
  }
  // Starts watching the document of `service`, with the semantics of
  // subscribe(): the current document (revision 0 when none) soon after,
  // then the whole document after every change; after a lost connection the
  // backend re-reads it and pushes only if it changed. Listeners run on the
  // same thread as provider-list listeners, under the same rules.
  virtual Result<SubscriptionId> watch_config(const std::string& service, ConfigListener listener) {
    (void)service;
    (void)listener;
    return Status(StatusCode::kUnimplemented, "dynamic configuration not supported by this registry");
  }
  // Stops the pushes for `id` (as unsubscribe()).
  virtual void unwatch_config(SubscriptionId id) { (void)id; }
};

struct RegistryOptions {
  // How often a provider renews its registration (embedded registry
  // heartbeats; etcd lease keep-alive; ZooKeeper session timeout is 3x this).
  // After 3 missed renewals the registry drops the provider. Default 10 s.
  std::chrono::milliseconds heartbeat_interval{10000};
  // First reconnect delay after a lost registry connection; doubles up to
  // max_backoff. Defaults 100 ms and 5 s.
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  // Timeout of one request to the backend. Default 3 s.
  std::chrono::milliseconds request_timeout{3000};
  // TLS to an embedded registry (`tern://`; the zookeeper and etcd backends
  // ignore it) when tls.enabled (tern/tls.h): ca_file verifies the registry,
  // server_name names it, cert_file/key_file for mutual TLS. A file that
  // does not load makes creating the registry fail with INVALID_ARGUMENT.
  // Default off.
  TlsOptions tls{};
  // Provider-list file cache of consumers (as Dubbo's registry file cache;
  // DESIGN §6): when set, every provider list a subscription receives is
  // also written to this file, and a subscription that gets no answer from
  // the registry within request_timeout (a process started during a registry
  // outage) is served the list cached there, until the registry answers.
  // lookup() falls back to it too. Format and rules:
  // src/registry/caching_registry.h; one file per process (it may hold any
  // number of registries and services). Not used by direct://. Default ""
  // (no file; lists are still kept in memory while the process runs).
  std::string cache_file;
};

// Builds a Registry for an address such as zookeeper://127.0.0.1:2181.
using RegistryFactory =
    std::function<Result<std::shared_ptr<Registry>>(const Url& address, const RegistryOptions& options)>;

// Registers `factory` for URL scheme `scheme` (replacing an earlier one). Thread-safe.
void register_registry_backend(std::string scheme, RegistryFactory factory);

// Registers the backends of this module: direct, zookeeper, etcd. Idempotent.
// (The embedded `tern://` backend is registered by the proxy module, which
// sits above server and client.)
void register_builtin_registries();

// Creates the backend for `address.scheme()`. INVALID_ARGUMENT for an unknown
// scheme (the message lists the known ones) or a malformed address. Creating
// does not wait for the backend to be reachable: an unreachable backend gives
// a Registry that keeps retrying in the background.
Result<std::shared_ptr<Registry>> create_registry(const Url& address, const RegistryOptions& options = {});

}  // namespace tern
