// src/server/grpc_health.h - the standard gRPC health service
// grpc.health.v1.Health, served by every provider on both wires (internal
// header; docs/grpc.md "Health").
//
// It reports Tern's own serving state, as grpc's health-checking protocol
// (doc/health-checking.md) defines it:
//   * Check(""): SERVING while the server runs, NOT_SERVING once shutdown()
//     began (in practice a new call is then refused UNAVAILABLE before it
//     runs, as every call is during a graceful shutdown);
//   * Check(a service the server exposes): the same;
//   * Check(any other name): the call fails NOT_FOUND;
//   * Watch(name): sends the current status at once (SERVICE_UNKNOWN for an
//     unknown name, without ending the call), then each change. When
//     shutdown() begins a watcher gets NOT_SERVING and the call then ends
//     UNAVAILABLE, so that the graceful shutdown is not held up by it.
// Registered by Server::start() like tern.Reflection (ServerOptions::grpc_health),
// never announced in the registry.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tern/detail/unique_function.h"
#include "tern/server.h"

namespace tern::rpc {

class GrpcHealth : public std::enable_shared_from_this<GrpcHealth> {
 public:
  // HealthCheckResponse.ServingStatus values.
  enum ServingStatus : int { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };

  static std::shared_ptr<GrpcHealth> create() { return std::shared_ptr<GrpcHealth>(new GrpcHealth()); }

  // Registers Check (unary) and Watch (server stream) on `server`, before
  // its start(). The errors are add_method's.
  Status install(Server& server);
  // The service names that are known (the server's services, these built-ins
  // included). Set once, before the server accepts connections.
  void set_services(std::vector<std::string> names);
  // shutdown() began: "" and every known service turn NOT_SERVING, and the
  // watchers hear it. Idempotent; any thread.
  void stop_serving();

  // The status of `service` ("" = the whole server); nullopt for an unknown name.
  std::optional<ServingStatus> status(std::string_view service) const;
  // Counts the changes of the serving state.
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
  // Runs `fn` once the generation is past `seen` (inline, at once, when it is
  // already); returns an id for unwatch (0 when `fn` already ran).
  std::uint64_t watch(std::uint64_t seen, detail::UniqueFunction<void()> fn);
  // Forgets a watcher that has not run (a Watch call that ended).
  void unwatch(std::uint64_t id);
  // Watchers registered and not yet run (tests).
  std::size_t watchers() const;

 private:
  GrpcHealth() = default;
  std::unordered_set<std::string> services_;  // immutable once the server accepts
  std::atomic<bool> serving_{true};
  std::atomic<std::uint64_t> generation_{0};
  mutable std::mutex mu_;
  std::uint64_t next_id_ = 1;                                                   // guarded by mu_
  std::unordered_map<std::uint64_t, detail::UniqueFunction<void()>> watchers_;  // guarded by mu_
};

}  // namespace tern::rpc
