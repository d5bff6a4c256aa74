// src/registry/embedded/registry_protocol.h - the embedded registry is
// itself a Tern service (DESIGN §2, §6): this is its contract, shared by the
// registry server (`tern registry`) and the `tern://` registry backend.
//
// Registrations belong to the connection that made them: they are renewed
// by heartbeat() calls on that connection and removed when it closes or after
// 3 heartbeat intervals without a renewal. Subscriptions belong to their
// connection too; every change of a subscribed service's provider list is
// pushed to it as a push frame:
//   type = push, metadata: service = "tern.Registry", event = "providers",
//   topic = <service>; body: a ProviderList (MessagePack map).
// Every list carries the registry's epoch (random per registry process) and
// the revision of the change that produced it (monotonic per epoch), so a
// consumer can drop a list older than one it already has: a subscribe()
// response and a concurrent push may arrive in either order.
//
// Dynamic configuration (tern/registry.h set_config() ...): one opaque text
// document per service, kept in the registry process's memory (lost when it
// restarts), not owned by any connection. Watchers (watch_config(), owned by
// their connection) get every change as a push frame:
//   type = push, metadata: service = "tern.Registry", event = "config",
//   topic = <service>; body: a ConfigEntry.
// A ConfigEntry's `revision` is the registry's configuration change counter
// at the entry's last change (set or remove; the counter starts at the
// registry's start time in microseconds, so it grows across restarts); the
// document's revision (ConfigDocument::revision) is that counter when
// `exists`, 0 otherwise. A registry older than these methods answers
// UNIMPLEMENTED.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tern/reflect.h"
#include "tern/service.h"

namespace tern::registry {

inline constexpr char kServiceName[] = "tern.Registry";
inline constexpr char kPushEvent[] = "providers";
inline constexpr char kConfigEvent[] = "config";

struct ProviderList {
  std::uint64_t epoch = 0;
  std::uint64_t revision = 0;
  std::vector<std::string> urls;
};

struct ConfigEntry {
  std::uint64_t epoch = 0;
  std::uint64_t revision = 0;  // change counter of the entry's last change; 0 = never changed
  bool exists = false;
  std::string text;
};

struct RegistryApi {
  virtual ~RegistryApi() = default;
  // Adds (or renews) a provider URL owned by the calling connection.
  virtual bool register_provider(std::string url) = 0;
  virtual bool unregister_provider(std::string url) = 0;
  // Subscribes the calling connection; returns the current list.
  virtual ProviderList subscribe(std::string service) = 0;
  virtual bool unsubscribe(std::string service) = 0;
  virtual ProviderList lookup(std::string service) = 0;
  virtual std::vector<std::string> list_services() = 0;
  // Renews every registration of the calling connection (providers and
  // consumers); returns how many it holds (both kinds; a registry older than
  // consumers counts providers only).
  virtual int heartbeat() = 0;
  // Consumers (tern/registry.h), owned by the calling connection like
  // providers, never pushed to subscribers. A registry older than these
  // answers UNIMPLEMENTED.
  virtual bool register_consumer(std::string url) = 0;
  virtual bool unregister_consumer(std::string url) = 0;
  virtual std::vector<std::string> list_consumers(std::string service) = 0;
  // Dynamic configuration (see above). Each returns the entry after the call;
  // INVALID_ARGUMENT for an empty service.
  virtual ConfigEntry set_config(std::string service, std::string text) = 0;
  virtual ConfigEntry remove_config(std::string service) = 0;
  virtual ConfigEntry get_config(std::string service) = 0;
  // Watches the calling connection; returns the current entry.
  virtual ConfigEntry watch_config(std::string service) = 0;
  virtual bool unwatch_config(std::string service) = 0;
};

}  // namespace tern::registry

TERN_STRUCT(tern::registry::ProviderList, epoch, revision, urls)
TERN_STRUCT(tern::registry::ConfigEntry, epoch, revision, exists, text)
TERN_SERVICE_NAMED(tern::registry::RegistryApi, "tern.Registry", register_provider, unregister_provider, subscribe,
                   unsubscribe, lookup, list_services, heartbeat, register_consumer, unregister_consumer,
                   list_consumers, set_config, remove_config, get_config, watch_config, unwatch_config)
