// tern/monitor/monitor_center.h - the monitor center of DESIGN §9, the data
// side of `tern monitor`: discovers providers through a registry, scrapes
// each provider's admin endpoint (the `admin` URL parameter,
// tern/monitor/admin_server.h) every interval, and keeps a short history of
// per-method QPS, error rate and latency percentiles for the dashboard.
//
//   tern::monitor::MonitorCenter center({.registry = "tern://127.0.0.1:9090"});
//   center.start();                          // a background thread ticks every second
//   std::string json = center.state_json();  // what the dashboard polls
//
// One tick: list_services() + lookup() + list_consumers() of each service; GET /status of each
// distinct admin address (in turn, each bounded by scrape_timeout); the
// difference to the previous scrape of the same endpoint gives that
// interval's calls, errors and latency histogram, summed over the providers
// of a method, from which QPS, error rate and p50/p90/p99/p999 are computed.
// A provider whose scrape fails is "down"; one without an admin parameter is
// "no-admin" (listed from the registry, no metrics). An endpoint whose uptime
// went backwards restarted: its counters start over from that scrape.
// Between ticks it keeps an event log (the last 200) of providers that
// joined, left (gracefully: the admin endpoint still answers), expired (left
// and the admin endpoint no longer answers: a killed or crashed process),
// went down or came back up (src/monitor/provider_events.h).
//
// Thread safety: every method may be called from any thread; tick() calls
// are serialized internally.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "tern/result.h"
#include "tern/tls.h"

namespace tern::monitor {

struct MonitorOptions {
  // Registry address (tern://, zookeeper://, etcd://). Required.
  std::string registry;
  // TLS to an embedded (tern://) registry (RegistryOptions::tls,
  // tern/tls.h). Default off.
  TlsOptions registry_tls{};
  // Time between ticks. Default 1 s.
  std::chrono::milliseconds interval{1000};
  // Bound of one /status scrape. Default 800 ms.
  std::chrono::milliseconds scrape_timeout{800};
  // Points kept per method (at one per interval: 5 minutes). Default 300.
  std::size_t history = 300;
};

class MonitorCenter {
 public:
  explicit MonitorCenter(MonitorOptions options);
  ~MonitorCenter();  // shutdown()
  MonitorCenter(const MonitorCenter&) = delete;
  MonitorCenter& operator=(const MonitorCenter&) = delete;

  // Connects the registry (INVALID_ARGUMENT for a bad URL or scheme) and
  // starts ticking in a background thread (the first tick at once).
  Status start();
  void shutdown();

  // One discovery and scrape round, on the calling thread (tests; start()
  // calls it every interval). Registry errors are kept for state_json().
  void tick();

  // Everything the dashboard shows, as JSON:
  //   {"now_ms": <unix ms>, "registry": "...", "registry_error": "", "interval_ms": 1000, "ticks": 12,
  //    "services": [{"name": "Calculator",
  //      "providers": [{"address": "127.0.0.1:4242", "url": "tern://...", "weight": 100, "version": "",
  //                     "group": "", "admin": "127.0.0.1:4343", "status": "up" | "down" | "no-admin",
  //                     "last_scrape_age_ms": 310 | null, "error": "", "qps": 12.0, "calls": 345, "in_flight": 0}],
  //      "consumers": [{"host": "10.0.0.7", "application": "shop", "hostname": "web-3", "pid": "4242",
  //                     "version": "", "group": "", "url": "consumer://..."}],
  //      "methods": [{"name": "add", "calls": 345, "errors": 2, "errors_by_code": {"INTERNAL": 2},
  //                   "series": [{"t": <unix ms>, "qps": 12.0, "error_rate": 0.0,
  //                               "p50": 0.05, "p90": 0.1, "p99": 0.2, "p999": 0.2}]}]}],
  //    "events": [{"t": <unix ms>, "kind": "joined" | "left" | "expired" | "down" | "up", "service": "Calculator",
  //                "address": "127.0.0.1:4242", "url": "tern://...", "detail": "admin ... unreachable: ..."}]}
  // last_scrape_age_ms is the time since this provider's /status was last
  // read successfully (not a registry heartbeat); null before the first.
  // errors_by_code and calls are totals over the providers; events are newest first.
  // Percentiles are in milliseconds, null for an interval without calls;
  // error_rate is errors / calls of the interval (0 without calls).
  std::string state_json() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace tern::monitor
