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
// Each tick also reads every service's dynamic configuration document
// (Registry::get_config, tern/governance.h) to show the rules in force, and
// change_provider_override() edits one provider's entry in it (the
// dashboard's Disable / Enable / weight buttons).
//
// Thread safety: every method may be called from any thread; tick() calls
// are serialized internally.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tern/registry.h"
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

// One change to one provider's entry under `providers:` of a service's
// configuration document (tern/governance.h). Fields left unset keep what
// the document says.
struct ProviderOverrideChange {
  std::optional<int> weight;     // the weight override, 0 to 1000000
  std::optional<bool> disabled;  // true: left out of the consumers' directories
  bool clear = false;            // remove the provider's entry (weight and disabled); alone
};

// What change_provider_override() stored.
struct ProviderOverrideResult {
  ConfigDocument document;  // as read back from the registry after the write
  std::string summary;      // describe_governance_config() of what was written
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

  // Reads the configuration document of `service`, applies `change` to its
  // `providers["<address>"]` entry (an entry left with no override is
  // removed), and writes the canonical text back
  // (format_governance_config: comments and layout of the stored text are
  // not kept). Runs on the calling thread and blocks on the registry (a few
  // round trips, each bounded by 1 s). Statuses:
  //   INVALID_ARGUMENT     `service` is not among the services the last tick
  //                        saw; `address` is not host:port, or neither a
  //                        provider of the service nor in the document; a
  //                        weight out of [0, 1000000]; clear together with
  //                        another field, or no field at all
  //   FAILED_PRECONDITION  before start(), or the stored document does not
  //                        parse in this process (the message says why; an
  //                        application's own routers are unknown here): fix
  //                        it with `tern config set`
  //   UNIMPLEMENTED        the registry keeps no configuration (direct://)
  //   UNAVAILABLE          the registry could not be reached (a write that
  //                        timed out may still have been applied)
  // There is no compare-and-set in the registry: a `tern config set` (or
  // another dashboard) writing between this read and this write is
  // overwritten. The next state_json() shows the new document at once.
  // Thread safety: any thread; changes are serialized with each other (not
  // with other writers of the registry).
  Result<ProviderOverrideResult> change_provider_override(const std::string& service, const std::string& address,
                                                          const ProviderOverrideChange& change);

  // Everything the dashboard shows, as JSON:
  //   {"now_ms": <unix ms>, "registry": "...", "registry_error": "", "interval_ms": 1000, "ticks": 12,
  //    "services": [{"name": "Calculator",
  //      "providers": [{"address": "127.0.0.1:4242", "url": "tern://...", "weight": 100, "version": "",
  //                     "group": "", "admin": "127.0.0.1:4343", "status": "up" | "down" | "no-admin",
  //                     "last_scrape_age_ms": 310 | null, "error": "", "qps": 12.0, "calls": 345, "in_flight": 0,
  //                     "override_weight": 0 | null, "disabled": false}],
  //      "config": {"revision": 7, "text": "providers: ...", "summary": "providers 127.0.0.1:4242 disabled",
  //                 "error": ""} | null,
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
  // config is the service's configuration document as the last tick (or
  // change) read it: revision 0 and text "" when there is none, null when
  // the registry keeps none (UNIMPLEMENTED); error says why it could not be
  // read ("cannot read it: ...", the last document read stays shown) or
  // does not parse ("does not parse: ...", then summary is "" and no
  // override is shown).
  // override_weight and disabled are that document's entry for the
  // provider (weight the URL's own).
  // Percentiles are in milliseconds, null for an interval without calls;
  // error_rate is errors / calls of the interval (0 without calls).
  std::string state_json() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace tern::monitor
